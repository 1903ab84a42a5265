"""Evaluation settings: what `rarl eval` and the demos pass to a recipe's evaluation (a leaf contract type)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rarl.utils.config import ConfigError

__all__ = ["EvalSettings"]


@dataclass
class EvalSettings:
    split: str = "test"
    sizes: tuple[int, ...] = (1, 2, 4, 8)
    """Sample sizes to evaluate (the recipe says what a size is; RARL: images per sample)."""
    max_samples: int | None = None
    """Cap on samples per size (None: all)."""
    do_sample: bool = False
    temperature: float = 1.0
    max_new_tokens: int = 256
    batch_size: int = 16
    n_boot: int = 1000
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        """Bad values are one-line `ConfigError`s naming the setting and its `rarl eval` option."""

        def require(ok: bool, name: str, rule: str, value: object) -> None:
            if not ok:
                flag = "--" + name.replace("_", "-")
                raise ConfigError(f"{name} ({flag}) must be {rule}, got {value!r}")

        require(
            bool(self.sizes) and all(n >= 1 for n in self.sizes), "sizes", "positive integers", self.sizes
        )
        require(self.max_samples is None or self.max_samples >= 1, "max_samples", ">= 1", self.max_samples)
        require(self.max_new_tokens >= 1, "max_new_tokens", ">= 1", self.max_new_tokens)
        require(self.batch_size >= 1, "batch_size", ">= 1", self.batch_size)
        require(self.n_boot >= 1, "n_boot", ">= 1", self.n_boot)
        ok = math.isfinite(self.temperature) and (self.temperature > 0 or not self.do_sample)
        require(ok, "temperature", "a finite number > 0 with --sample", self.temperature)
