"""LoRA settings: a plain dataclass (no torch import), used by model loading and by the run configs."""

from __future__ import annotations

from dataclasses import dataclass

LM_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
"""The linear layers of a Qwen2.5-VL decoder block that can carry adapters."""


@dataclass
class LoraSettings:
    """LoRA adapters on the language model's linear layers (the vision tower only with `include_vision`)."""

    r: int = 16
    """Adapter rank."""
    alpha: int = 32
    """Scaling numerator: the update is (alpha / r) * B @ A."""
    dropout: float = 0.0
    """Adapter dropout. 0 keeps the forward pass deterministic, so the PPO ratio is exactly 1 on the first
    inner step; raise it only if you accept that noise."""
    target_modules: tuple[str, ...] = LM_LINEAR
    """Which linear layers of each decoder block get adapters (names inside `self_attn` / `mlp`)."""
    include_vision: bool = False
    """Also adapt the vision blocks' linear layers (qkv, proj, gate/up/down_proj)."""

    def __post_init__(self) -> None:
        if self.r <= 0 or self.alpha <= 0:
            raise ValueError(f"LoRA r and alpha must be positive, got r={self.r}, alpha={self.alpha}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"LoRA dropout must be in [0, 1), got {self.dropout}")
        self.target_modules = tuple(self.target_modules)
        unknown = sorted(set(self.target_modules) - set(LM_LINEAR))
        if unknown or not self.target_modules:
            raise ValueError(f"LoRA target_modules {unknown or '()'} not among {list(LM_LINEAR)}")

    def target_regex(self) -> str:
        """A peft `target_modules` regex (peft full-matches it against module names) for the intended layers."""
        attn = [m for m in self.target_modules if m.endswith(("q_proj", "k_proj", "v_proj", "o_proj"))]
        mlp = [m for m in self.target_modules if m not in attn]
        parts = []
        if attn:
            parts.append(rf"self_attn\.(?:{'|'.join(attn)})")
        if mlp:
            parts.append(rf"mlp\.(?:{'|'.join(mlp)})")
        regex = rf"(?:.*\.)?language_model\.layers\.\d+\.(?:{'|'.join(parts)})"
        if self.include_vision:
            regex += (
                r"|(?:.*\.)?visual\.blocks\.\d+\.(?:attn\.(?:qkv|proj)|mlp\.(?:gate_proj|up_proj|down_proj))"
            )
        return regex
