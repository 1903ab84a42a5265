"""Per-GPU memory plan of a GRPO run before it starts (`rarl plan`): parts, peak, fits, and what would fit.

    facts = model_facts(resolve_model_config(source).config, "bfloat16", lora, freeze_vision)
    plan = plan_memory(facts, settings)          # parts in bytes per GPU, phases, fits, headroom

What would make a plan fit is in `rarl.model.memory_suggestions`, the table and JSON in
`rarl.model.memory_report`.

The parts, with the formulas in their functions below and in `rarl.model.memory_formulas`:

- weights, gradients, optimizer states and fp32 master weights, by strategy. `ddp` is what this trainer
  does under `accelerate launch` with the shipped ddp.yaml: AdamW (`torch.optim.AdamW`, foreach) on the
  parameters as loaded, so with a bf16 config the moments are bf16 and there is no fp32 master copy, and
  DDP's reducer keeps a second copy of the gradients in its buckets (`gradient_as_bucket_view=False`,
  accelerate's default) when N > 1. `zero2` / `zero3` are DeepSpeed with bf16: fp32 master weights and
  moments (12 bytes per trainable parameter, ZeRO paper Sec. 3.1) sharded over N, bf16 gradients sharded,
  weights replicated (zero2) or sharded (zero3). `fsdp` is accelerate's FSDP2 with mixed precision, which
  upcasts trainable parameters to fp32 (accelerate `fsdp2_prepare_model`): fp32 weights, gradients and
  moments, all sharded; frozen weights sharded in the config dtype.
- the reference model: without LoRA and with beta > 0 the trainer deep-copies the policy before
  `accelerator.prepare` (`rarl.model.loading.make_reference`), so a full, unsharded copy in the config
  dtype under every strategy; with LoRA the reference is the policy with adapters disabled (no copy).
- activations and logits of one update micro-batch (`memory_formulas.micro_batch_activations`).
- the rollout: HF generate's KV cache for the process's B*G rows, or a colocated vLLM engine's share.

Phases: memory held throughout (weights, optimizer, reference, a resident vLLM engine, runtime) plus the
rollout, the update (gradients, activations), or the optimizer step (AdamW's workspace); the peak is the
largest. Figures are upper bounds where inputs vary (every image at `max_pixels`, every completion at
`max_new_tokens`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rarl.model.lora_settings import LoraSettings
from rarl.model.memory_formulas import (
    LOGIT_BYTES_PER_ELEMENT,
    ActivationEstimate,
    Shapes,
    adapter_groups,
    distinct_prompts_per_micro_batch,
    kv_cache_bytes,
    layer_saved_bytes,
    micro_batch_activations,
    visual_tokens_per_image,
)
from rarl.model.memory_model import ModelFacts
from rarl.utils.config import ConfigError

__all__ = [
    "GIB",
    "STRATEGIES",
    "VLLM_DEFAULT_SHARE",
    "MemoryPlan",
    "Part",
    "PlanSettings",
    "plan_memory",
    "settings_from_config",
]

GIB = 1024**3
STRATEGIES = ("ddp", "fsdp", "zero2", "zero3")
RUNTIME_RESERVE = GIB
"""Assumed per-GPU memory outside PyTorch's tensors: the CUDA context, cuBLAS workspaces, NCCL buffers and
the caching allocator's fragmentation (not derived; the GPU check measures it)."""
VLLM_DEFAULT_SHARE = 0.3
"""`rarl.model.vllm_backend.VLLMBackend`'s default gpu_memory_utilization."""


@dataclass(frozen=True)
class PlanSettings:
    """What the plan depends on besides the model (a run config's values and the launch)."""

    gpus: int
    gpu_memory: int
    """Bytes per GPU."""
    strategy: str = "ddp"
    dtype: str = "bfloat16"
    lora: LoraSettings | None = None
    freeze_vision: bool = True
    gradient_checkpointing: bool = False
    max_pixels: int = 200_704
    images_per_prompt: int = 1
    prompt_text_tokens: int = 256
    """Prompt tokens besides the images (system and user text, chat markup)."""
    max_new_tokens: int = 256
    group_size: int = 8
    prompts_per_step: int = 64
    micro_batch_size: int = 8
    beta: float = 0.01
    share_prompt_prefill: bool = True
    backend: str = "hf"
    backend_kwargs: Mapping[str, Any] = field(default_factory=dict)
    runtime_reserve: int = RUNTIME_RESERVE

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"--strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        _check_backend_kwargs(self.backend, self.backend_kwargs)
        if self.prompts_per_step % self.gpus:
            raise ConfigError(
                f"prompts_per_step ({self.prompts_per_step}) must divide by the number of GPUs ({self.gpus}), "
                "as the trainer requires"
            )

    @property
    def rows_per_gpu(self) -> int:
        """Completions each process holds in a step: prompts_per_step / N x G."""
        return self.prompts_per_step // self.gpus * self.group_size


_BACKEND_NUMBERS = {
    ("vllm", "gpu_memory_utilization"): ("a number in (0, 1]", lambda v: 0 < v <= 1),
    ("vllm", "kv_cache_memory_bytes"): ("a whole number of bytes >= 1 (or null)", lambda v: v >= 1),
    ("hf", "batch_size"): ("a whole number >= 1 (or null)", lambda v: v >= 1),
}


def _check_backend_kwargs(backend: str, kwargs: Mapping[str, Any]) -> None:
    """The backend settings the plan reads must be numbers in range; ConfigError naming the key."""
    for (name, key), (rule, ok) in _BACKEND_NUMBERS.items():
        value = kwargs.get(key)
        if name != backend or value is None:
            continue
        whole = key != "gpu_memory_utilization"
        kind = int if whole else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind) or not ok(value):
            raise ConfigError(f"rollout.backend_kwargs.{key} must be {rule}, got {value!r}")


def settings_from_config(
    cfg: Any, *, gpus: int, gpu_memory: int, strategy: str, **extra: Any
) -> PlanSettings:
    """PlanSettings from a `rarl.train.config.TrainConfig` (its model, rollout, algorithm and batch values);
    `extra` sets the rest (images_per_prompt, prompt_text_tokens, max_pixels when the config has none)."""
    m = cfg.model
    values: dict[str, Any] = {
        "dtype": m.dtype,
        "lora": m.lora,
        "freeze_vision": m.freeze_vision,
        "gradient_checkpointing": m.gradient_checkpointing,
        "max_new_tokens": cfg.rollout.max_new_tokens,
        "group_size": cfg.rollout.num_generations,
        "prompts_per_step": cfg.prompts_per_step,
        "micro_batch_size": cfg.micro_batch_size,
        "beta": cfg.algorithm.beta,
        "share_prompt_prefill": m.share_prompt_prefill,
        "backend": cfg.rollout.backend,
        "backend_kwargs": dict(cfg.rollout.backend_kwargs),
    }
    values.update(extra)
    if m.max_pixels is not None:
        values["max_pixels"] = m.max_pixels
    return PlanSettings(gpus=gpus, gpu_memory=gpu_memory, strategy=strategy, **values)


@dataclass(frozen=True)
class Part:
    """One part of a GPU's memory: bytes per GPU, the phase it belongs to, its formula and a note."""

    key: str
    name: str
    bytes: int
    phase: str
    """held (all the time), rollout, update or step (the optimizer step)."""
    formula: str
    note: str = ""


@dataclass(frozen=True)
class MemoryPlan:
    settings: PlanSettings
    facts: ModelFacts
    parts: list[Part]
    phases: dict[str, int]
    """Bytes per GPU in each phase (held parts included)."""
    peak_phase: str
    activations: dict[str, ActivationEstimate]
    """The update micro-batch with (`checkpointing`) and without (`no_checkpointing`) gradient checkpointing."""
    prompt_tokens: int
    visual_tokens_per_image: int

    @property
    def total(self) -> int:
        return self.phases[self.peak_phase]

    @property
    def fits(self) -> bool:
        return self.total <= self.settings.gpu_memory

    @property
    def headroom(self) -> int:
        """GPU memory left at the peak (negative: missing)."""
        return self.settings.gpu_memory - self.total


def _gib(n: float) -> str:
    return f"{n / GIB:.2f} GiB"


def _shards(facts: ModelFacts, s: PlanSettings) -> list[Part]:
    """Weights, fp32 master weights, gradients, optimizer states and DDP buckets per GPU by strategy."""
    n, f = s.gpus, facts
    mixed = f.param_bytes < 4  # bf16/fp16 config: DeepSpeed and FSDP keep fp32 copies
    pt = f.trainable_params
    if s.strategy == "ddp":
        weights = Part("weights", "weights", f.weight_bytes, "held", "sum(numel*bytes) of every parameter")
        master = Part(
            "master", "master weights (fp32)", 0, "held", "0", "none: AdamW updates the parameters as loaded"
        )
        grads = Part("gradients", "gradients", f.trainable_bytes, "update", "trainable params x their bytes")
        optim = Part(
            "optimizer",
            "optimizer states (AdamW)",
            2 * f.trainable_bytes,
            "held",
            "2 moments x trainable params x their bytes",
            "moments in the parameters' dtype (zeros_like)",
        )
    elif s.strategy == "fsdp":
        train_w = 4 * pt if mixed else f.trainable_bytes
        weights = Part(
            "weights",
            "weights",
            math.ceil((train_w + f.frozen_bytes) / n),
            "held",
            "(4 x P_t + frozen bytes) / N",
            "trainable upcast to fp32 by accelerate's FSDP2, all sharded",
        )
        master = Part(
            "master",
            "master weights (fp32)",
            0,
            "held",
            "0",
            "the sharded fp32 parameters are the master copy",
        )
        grads = Part(
            "gradients", "gradients", math.ceil(4 * pt / n), "update", "4 x P_t / N", "fp32, sharded"
        )
        optim = Part(
            "optimizer",
            "optimizer states (AdamW)",
            math.ceil(8 * pt / n),
            "held",
            "8 x P_t / N",
            "two fp32 moments, sharded",
        )
    else:
        g = f.param_bytes
        w_all = f.total_params * g + f.adapter_params * g  # DeepSpeed casts the whole module to bf16
        shard_w = s.strategy == "zero3"
        weights = Part(
            "weights",
            "weights",
            math.ceil(w_all / n) if shard_w else w_all,
            "held",
            "b x P / N" if shard_w else "b x P",
            "sharded" if shard_w else "replicated",
        )
        master = Part(
            "master",
            "master weights (fp32)",
            math.ceil(4 * pt / n) if mixed else 0,
            "held",
            "4 x P_t / N" if mixed else "0",
            "ZeRO: fp32 copy of the trainable parameters, sharded",
        )
        grads = Part("gradients", "gradients", math.ceil(g * pt / n), "update", "b x P_t / N", "sharded")
        optim = Part(
            "optimizer",
            "optimizer states (AdamW)",
            math.ceil(8 * pt / n),
            "held",
            "8 x P_t / N",
            "two fp32 moments, sharded (ZeRO paper: K = 12 with the master copy)",
        )
    buckets = f.trainable_bytes if s.strategy == "ddp" and n > 1 else 0
    bucket = Part(
        "buckets",
        "DDP gradient buckets",
        buckets,
        "held",
        "trainable bytes when N > 1 (ddp)",
        "DDP's reducer copy of the gradients (gradient_as_bucket_view=False)",
    )
    return [weights, master, grads, optim, bucket]


def _transients(facts: ModelFacts, s: PlanSettings) -> list[Part]:
    """Update and optimizer-step transients: gathered shards, one gradient in flight, AdamW's workspace."""
    f, n = facts, s.gpus
    gathered = 0
    if s.strategy in ("fsdp", "zero3") and n > 1:
        gathered = f.param_bytes * (f.root_params + 2 * f.layer_params)
    flight = f.largest_trainable_bytes * (2 if f.tied_trainable else 1)
    if s.strategy == "ddp":
        workspace = f.trainable_bytes
    elif s.strategy == "fsdp":
        workspace = math.ceil(4 * f.trainable_params / n)
    else:
        workspace = 0  # DeepSpeed's fused Adam updates in place
    return [
        Part(
            "gathered",
            "gathered shards",
            gathered,
            "update",
            "b x (root params + 2 decoder layers)",
            "fsdp/zero3: the root unit (embeddings, LM head) and the layer in use plus the prefetched one",
        ),
        Part(
            "grad_in_flight",
            "gradient in flight",
            flight,
            "update",
            "largest trainable tensor (x2 if tied)",
            "a new gradient before it is added to .grad; a tied embedding's two uses meet in backward",
        ),
        Part(
            "adam_workspace",
            "AdamW step workspace",
            workspace,
            "step",
            "sqrt(v) of every trainable tensor",
            "torch's foreach AdamW (ddp, fsdp); none for DeepSpeed's fused Adam",
        ),
    ]


def _activation_parts(
    f: ModelFacts, s: PlanSettings
) -> tuple[list[Part], dict[str, ActivationEstimate], int, int]:
    """The update micro-batch's activations and logits, for both checkpointing settings."""
    v = visual_tokens_per_image(s.max_pixels, f.patch_size, f.merge_size)
    prompt = s.prompt_text_tokens + s.images_per_prompt * (v + 2)  # + vision start/end markers
    rows = min(s.micro_batch_size, s.rows_per_gpu)
    u = distinct_prompts_per_micro_batch(s.rows_per_gpu, s.group_size, rows)
    b, lora = f.param_bytes, f.lora
    groups = adapter_groups(lora.target_modules, f.hidden, f.intermediate) if lora else None
    text = layer_saved_bytes(
        f.hidden, f.intermediate, b, lora_groups=groups, a=f.adapter_bytes or 4, r=lora.r if lora else 0
    )
    vision = None
    if f.vision_trainable:
        vgroups = None
        if lora is not None and lora.include_vision:
            vgroups = [
                (1, f.vision_hidden, False),
                (1, f.vision_hidden, True),
                (2, f.vision_hidden, False),
                (1, f.vision_intermediate, False),
            ]
        vision = layer_saved_bytes(
            f.vision_hidden,
            f.vision_intermediate,
            b,
            lora_groups=vgroups,
            a=f.adapter_bytes or 4,
            r=lora.r if lora else 0,
        )
    norm = 4 * f.hidden + (0 if lora else 2 * b * f.hidden)  # the final norm (its weight trains without LoRA)
    shapes = Shapes(
        f.hidden,
        f.intermediate,
        f.layers,
        f.kv_heads * f.head_dim,
        f.vocab,
        f.vision_hidden,
        f.vision_intermediate,
        f.vision_depth,
        b,
    )
    patches = s.images_per_prompt * v * f.merge_size**2
    est = {
        key: micro_batch_activations(
            shapes,
            prompt_tokens=prompt,
            completion_tokens=s.max_new_tokens,
            rows=rows,
            distinct=u,
            patches_per_prompt=patches,
            checkpointing=gc,
            share_prefill=s.share_prompt_prefill,
            layer_bytes=text,
            vision_layer_bytes=vision,
            norm_bytes=norm,
        )
        for key, gc in (("checkpointing", True), ("no_checkpointing", False))
    }
    used = est["checkpointing" if s.gradient_checkpointing else "no_checkpointing"]
    other = est["no_checkpointing" if s.gradient_checkpointing else "checkpointing"]
    state = "on" if s.gradient_checkpointing else "off"
    parts = [
        Part(
            "activations",
            f"activations (checkpointing {state})",
            used.peak - used.logits,
            "update",
            f"{used.tokens} tokens x saved bytes per token and layer",
            f"micro-batch of {rows} rows, {u} prompt(s); checkpointing {'off' if s.gradient_checkpointing else 'on'}: "
            f"{_gib(other.peak)} with logits",
        ),
        Part(
            "logits",
            "logits (fp32 log-probs)",
            used.logits,
            "update",
            f"{LOGIT_BYTES_PER_ELEMENT} x {rows} rows x {s.max_new_tokens} x V={f.vocab}",
        ),
    ]
    return parts, est, prompt, v


def _rollout_part(f: ModelFacts, s: PlanSettings, prompt: int) -> tuple[Part, bool]:
    """HF generate's KV cache, or a colocated vLLM engine's share; whether the part is held throughout."""
    tokens = prompt + s.max_new_tokens
    if s.backend == "vllm":
        kw = s.backend_kwargs
        sleep = bool(kw.get("sleep", False))
        if kw.get("kv_cache_memory_bytes") is not None:
            size = f.base_bytes + int(kw["kv_cache_memory_bytes"])
            formula = "weights (b x P) + kv_cache_memory_bytes"
        else:
            share = float(kw.get("gpu_memory_utilization", VLLM_DEFAULT_SHARE))
            size = int(share * s.gpu_memory)
            formula = f"gpu_memory_utilization {share:g} x GPU memory"
        need = f.base_bytes + kv_cache_bytes(
            s.group_size * tokens, f.layers, f.kv_heads * f.head_dim, f.param_bytes
        )
        note = "released between rollouts (sleep)" if sleep else "held all the time (sleep: false)"
        if size < need:
            note += f"; below the {_gib(need)} its weights and one group's KV cache need"
        return Part(
            "rollout", "vLLM engine (colocated)", size, "rollout" if sleep else "held", formula, note
        ), not sleep
    if s.backend != "hf":
        note = f"rollout.backend {s.backend!r}: its memory is not modelled"
        return Part("rollout", f"rollout ({s.backend})", 0, "rollout", "not modelled", note), False
    rows = s.backend_kwargs.get("batch_size") or s.rows_per_gpu
    rows = min(int(rows), s.rows_per_gpu)
    kv = kv_cache_bytes(rows * tokens, f.layers, f.kv_heads * f.head_dim, f.param_bytes)
    return Part(
        "rollout",
        "rollout KV cache (HF generate)",
        kv,
        "rollout",
        f"{rows} rows x {tokens} tokens x L x 2 x kv x b",
        "rows per generate call: rollout.backend_kwargs.batch_size, else all the process's rows",
    ), False


def plan_memory(facts: ModelFacts, settings: PlanSettings) -> MemoryPlan:
    """The per-GPU plan of `settings` on the model `facts` describes (see the module docstring)."""
    s, f = settings, facts
    parts = _shards(f, s)
    copy = s.beta > 0 and f.lora is None
    parts.append(
        Part(
            "reference",
            "reference model",
            f.base_bytes if copy else 0,
            "held",
            "b x P (a full copy)" if copy else "0",
            "copied before accelerator.prepare: never sharded"
            if copy
            else ("LoRA: the policy with adapters disabled" if s.beta > 0 else "beta = 0: no KL term"),
        )
    )
    act_parts, est, prompt, v = _activation_parts(f, s)
    parts += act_parts
    rollout, held = _rollout_part(f, s, prompt)
    parts += _transients(f, s)
    parts.append(rollout)
    parts.append(Part("runtime", "CUDA context, NCCL, allocator", s.runtime_reserve, "held", "1 GiB assumed"))
    held_bytes = sum(p.bytes for p in parts if p.phase == "held")
    phases = {
        "rollout": held_bytes + (0 if held else rollout.bytes),
        "update": held_bytes + sum(p.bytes for p in parts if p.phase == "update"),
        "step": held_bytes + sum(p.bytes for p in parts if p.key in ("gradients", "adam_workspace")),
    }
    peak = max(phases, key=lambda k: phases[k])
    return MemoryPlan(s, f, parts, phases, peak, est, prompt, v)
