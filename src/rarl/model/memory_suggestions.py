"""What would make a memory plan fit: each change to the run recomputed through `plan_memory`.

    tries = suggestions(plan, facts_for)    # facts_for(lora) -> ModelFacts (LoRA changes the parameters)

The changes: the sharding strategy (zero3, fsdp; with 2 or more GPUs), a smaller micro-batch, gradient
checkpointing, LoRA (r = 16 on the language model), a lower `max_pixels`, fewer rows per HF `generate` call
(`rollout.backend_kwargs.batch_size`), and a lower vLLM memory share. A change with several values (halved
sizes, shares in steps of 0.05) takes the mildest that fits, else the strongest. When no single change fits,
they are combined greedily: each round adds the change that lowers the peak most, until the plan fits or no
change lowers it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from rarl.model.lora_settings import LoraSettings
from rarl.model.memory_model import ModelFacts
from rarl.model.memory_plan import VLLM_DEFAULT_SHARE, MemoryPlan, PlanSettings, plan_memory

__all__ = ["Suggestion", "suggestions"]


@dataclass(frozen=True)
class Suggestion:
    """A change to the run, and the plan it gives."""

    change: str
    override: str
    """How to make it: key=value for `rarl train`, or the launch config."""
    plan: MemoryPlan

    @property
    def fits(self) -> bool:
        return self.plan.fits


Option = tuple[str, str, dict[str, Any]]
"""(change, how, PlanSettings fields it sets)."""


def _halvings(value: int, floor: int, step: int = 1) -> list[int]:
    """value/2, value/4, ... (multiples of `step`) down to `floor`."""
    out = []
    while value // 2 >= floor:
        value = value // 2 // step * step
        out.append(value)
    return out


def _knobs(s: PlanSettings) -> dict[str, list[Option]]:
    """Each change's options for settings `s`, mildest first."""
    knobs: dict[str, list[Option]] = {}
    if s.gpus > 1:
        for name, label, how in (
            ("zero3", "DeepSpeed ZeRO-3", "a DeepSpeed config with zero_stage: 3"),
            ("fsdp", "FSDP2", "--config_file configs/accelerate/fsdp.yaml"),
        ):
            if s.strategy != name:
                knobs[name] = [(f"strategy {name} ({label})", f"accelerate launch {how}", {"strategy": name})]
    knobs["micro_batch"] = [
        (f"micro_batch_size {m}", f"micro_batch_size={m}", {"micro_batch_size": m})
        for m in _halvings(s.micro_batch_size, 1)
    ]
    if not s.gradient_checkpointing:
        knobs["checkpointing"] = [
            ("gradient checkpointing", "model.gradient_checkpointing=true", {"gradient_checkpointing": True})
        ]
    if s.lora is None:
        knobs["lora"] = [("LoRA r=16 on the language model", "model.lora.r=16", {"lora": LoraSettings()})]
    knobs["pixels"] = [
        (
            f"max_pixels {px} ({px // 784} visual tokens per image)",
            f"model.max_pixels={px}",
            {"max_pixels": px},
        )
        for px in _halvings(s.max_pixels, 4 * 784, 784)
    ]
    kw = dict(s.backend_kwargs)
    if s.backend == "hf":
        rows = min(int(kw.get("batch_size") or s.rows_per_gpu), s.rows_per_gpu)
        knobs["generate"] = [
            (f"HF generate {n} rows per call", f"rollout.backend_kwargs.batch_size={n}",
             {"backend_kwargs": {**kw, "batch_size": n}})
            for n in _halvings(rows, 1)
        ]  # fmt: skip
    elif s.backend == "vllm" and kw.get("kv_cache_memory_bytes") is None:
        share = float(kw.get("gpu_memory_utilization", VLLM_DEFAULT_SHARE))
        knobs["vllm"] = [
            (f"vLLM gpu_memory_utilization {x:g}", f"rollout.backend_kwargs.gpu_memory_utilization={x:g}",
             {"backend_kwargs": {**kw, "gpu_memory_utilization": x}})
            for x in (round(share - 0.05 * i, 2) for i in range(1, round(share / 0.05)))
        ]  # fmt: skip
    return {k: v for k, v in knobs.items() if v}


def suggestions(plan: MemoryPlan, facts_for: Callable[[LoraSettings | None], ModelFacts]) -> list[Suggestion]:
    """Each single change recomputed (see the module docstring); when none fits, the greedy combination."""

    def make(s: PlanSettings, fields: dict[str, Any]) -> MemoryPlan:
        new = replace(s, **fields)
        return plan_memory(plan.facts if new.lora == plan.settings.lora else facts_for(new.lora), new)

    def best(s: PlanSettings, options: list[Option]) -> tuple[Option, MemoryPlan]:
        """The mildest option that fits, else the strongest."""
        for option in options:
            result = make(s, option[2])
            if result.fits:
                return option, result
        return options[-1], result

    knobs = _knobs(plan.settings)
    out = []
    for options in knobs.values():
        (change, how, _), result = best(plan.settings, options)
        out.append(Suggestion(change, how, result))
    if out and not any(t.fits for t in out):
        out.append(_combined(plan, knobs, make))
    return out


COSTLY = ("lora", "pixels")
"""Changes that change what is trained (the others change only how): combined last, relaxed first."""


def _combined(
    plan: MemoryPlan, knobs: dict[str, list[Option]], make: Callable[..., MemoryPlan]
) -> Suggestion:
    """The changes that keep the training the same at their strongest (the better strategy only), then LoRA,
    then a lower `max_pixels`, each kept only when it lowers the peak, until the plan fits; then each is
    relaxed to its mildest value that still fits with the others (`max_pixels` and LoRA first)."""
    strategies = [k for k in ("zero3", "fsdp") if k in knobs]
    if len(strategies) == 2:
        worse = max(strategies, key=lambda k: make(plan.settings, knobs[k][-1][2]).total)
        knobs = {k: v for k, v in knobs.items() if k != worse}
    taken: dict[str, Option] = {}
    current = plan
    free = [k for k in knobs if k not in COSTLY]
    costly = [k for k in COSTLY if k in knobs]
    for tier in (free + costly[:i] for i in range(len(costly) + 1)):  # a costly change only when needed
        progress = True
        while progress and not current.fits:  # again after each change: another part may now be the peak
            progress = False
            for key in (k for k in tier if k not in taken):
                fields = {k: v for o in taken.values() for k, v in o[2].items()}
                result = make(plan.settings, {**fields, **knobs[key][-1][2]})
                if result.total < current.total:
                    taken[key], current, progress = knobs[key][-1], result, True
    if current.fits:
        for key in sorted(taken, key=lambda k: k not in COSTLY):
            others = {k: v for other, o in taken.items() if other != key for k, v in o[2].items()}
            milder = knobs[key][: knobs[key].index(taken[key])]
            if key == "lora" and make(plan.settings, others).fits:
                taken.pop(key)
                current = make(plan.settings, others)
                continue
            for option in milder:
                result = make(plan.settings, {**others, **option[2]})
                if result.fits:
                    taken[key], current = option, result
                    break
    chosen = list(taken.values())
    return Suggestion(" + ".join(o[0] for o in chosen), " ".join(o[1] for o in chosen), current)
