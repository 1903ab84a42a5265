"""A memory plan as `rarl plan` shows it: a rich table per part, and one JSON object (`--json`).

    options = PlanOptions.parse(gpus, gpu_memory, strategy, images, prompt_tokens)   # ConfigError if bad
    show_plan(cfg, source, options, as_json=False)          # resolve, plan, suggest, print

plan, tries, origin = make_plan(cfg, source, gpus=8, gpu_memory=80 * GIB, strategy="ddp", ...)
renderables = plan_tables(plan, tries, model=origin)    # print each with a rich Console
data = plan_json(plan, tries, model=origin)             # json.dumps(data)
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from rarl.model.lora_settings import LoraSettings
from rarl.model.memory_model import ModelFacts, model_facts, resolve_model_config
from rarl.model.memory_plan import GIB, STRATEGIES, MemoryPlan, plan_memory, settings_from_config
from rarl.model.memory_suggestions import Suggestion, suggestions
from rarl.utils.config import ConfigError

__all__ = ["PlanOptions", "make_plan", "plan_json", "plan_tables", "show_plan"]

PHASES = {"held": "held", "rollout": "rollout", "update": "update", "step": "optimizer step"}


def _gib(n: float) -> str:
    return f"{n / GIB:,.2f}"


def _summary(plan: MemoryPlan) -> str:
    s = plan.settings
    word = "fits" if plan.fits else "does not fit"
    left = "headroom" if plan.fits else "missing"
    return (
        f"peak {_gib(plan.total)} GiB per GPU ({PHASES[plan.peak_phase]} phase) of {_gib(s.gpu_memory)} GiB: "
        f"{word} ({left} {_gib(abs(plan.headroom))} GiB)"
    )


def plan_tables(plan: MemoryPlan, tries: Sequence[Suggestion], *, model: str) -> list[Any]:
    """The rich renderables `rarl plan` prints: the model and run line, the parts, the verdict, the changes."""
    s, f = plan.settings, plan.facts
    head = Text()
    head.append(f"{model}\n", style="bold")
    head.append(
        f"{f.total_params:,} parameters, {f.trainable_params:,} trainable"
        + (f" ({f.adapter_params:,} LoRA r={f.lora.r})" if f.lora else "")
        + f"; {s.dtype}; {s.gpus} GPU(s) x {_gib(s.gpu_memory)} GiB, {s.strategy}\n"
    )
    head.append(
        f"prompt {plan.prompt_tokens} tokens ({s.prompt_text_tokens} text + {s.images_per_prompt} image(s) x "
        f"{plan.visual_tokens_per_image} visual tokens at max_pixels {s.max_pixels}), completions "
        f"{s.max_new_tokens}, G {s.group_size}, {s.rows_per_gpu} rows per GPU per step, micro-batch "
        f"{min(s.micro_batch_size, s.rows_per_gpu)}"
    )
    table = Table(title="memory per GPU", title_justify="left")
    table.add_column("part")
    table.add_column("GiB", justify="right")
    table.add_column("phase")
    table.add_column("formula / note", overflow="fold")
    for p in plan.parts:
        note = p.formula + (f"; {p.note}" if p.note else "")
        table.add_row(p.name, _gib(p.bytes), PHASES[p.phase], note)
    for phase, size in plan.phases.items():
        style = "bold" if phase == plan.peak_phase else ""
        table.add_row(
            Text(f"total: {PHASES[phase]} phase", style=style), Text(_gib(size), style=style), "", ""
        )
    verdict = Text(_summary(plan), style="bold green" if plan.fits else "bold red")
    out: list[Any] = [head, table, verdict]
    if tries:
        changes = Table(title="changes, each recomputed", title_justify="left")
        changes.add_column("change")
        changes.add_column("peak GiB", justify="right")
        changes.add_column("fits")
        changes.add_column("how", overflow="fold")
        for t in tries:
            changes.add_row(t.change, _gib(t.plan.total), "yes" if t.fits else "no", t.override)
        out.append(changes)
        fitting = [t.change for t in tries if t.fits]
        line = f"fits with: {'; '.join(fitting)}" if fitting else "no change listed makes it fit"
        out.append(Text(line, style="green" if fitting else "red"))
    return out


def _plan_dict(plan: MemoryPlan) -> dict[str, Any]:
    return {
        "peak_bytes": plan.total,
        "peak_phase": plan.peak_phase,
        "fits": plan.fits,
        "headroom_bytes": plan.headroom,
    }


def plan_json(plan: MemoryPlan, tries: Sequence[Suggestion], *, model: str) -> dict[str, Any]:
    """One JSON-ready object: exact parameter counts, each part, the phases, `fits`, and the changes."""
    s, f = plan.settings, plan.facts
    act = {
        key: {"tokens": e.tokens, "saved_bytes": e.saved, "logits_bytes": e.logits, "peak_bytes": e.peak}
        for key, e in plan.activations.items()
    }
    return {
        "model": model,
        "parameters": {
            "total": f.total_params,
            "trainable": f.trainable_params,
            "lora_adapters": f.adapter_params,
        },
        "settings": {
            "gpus": s.gpus,
            "gpu_memory_bytes": s.gpu_memory,
            "strategy": s.strategy,
            "dtype": s.dtype,
            "lora_r": s.lora.r if s.lora else None,
            "freeze_vision": s.freeze_vision,
            "gradient_checkpointing": s.gradient_checkpointing,
            "max_pixels": s.max_pixels,
            "images_per_prompt": s.images_per_prompt,
            "prompt_tokens": plan.prompt_tokens,
            "visual_tokens_per_image": plan.visual_tokens_per_image,
            "max_new_tokens": s.max_new_tokens,
            "group_size": s.group_size,
            "micro_batch_size": s.micro_batch_size,
            "rows_per_gpu": s.rows_per_gpu,
            "backend": s.backend,
        },
        "parts": [
            {
                "key": p.key,
                "name": p.name,
                "bytes": p.bytes,
                "phase": p.phase,
                "formula": p.formula,
                "note": p.note,
            }
            for p in plan.parts
        ],
        "phases": dict(plan.phases),
        "activations": act,
        **_plan_dict(plan),
        "suggestions": [{"change": t.change, "how": t.override, **_plan_dict(t.plan)} for t in tries],
    }


def make_plan(
    cfg: Any,
    source: str,
    *,
    gpus: int,
    gpu_memory: int,
    strategy: str,
    images_per_prompt: int,
    prompt_text_tokens: int,
) -> tuple[MemoryPlan, list[Suggestion], str]:
    """The plan of a run config (`TrainConfig`) on the model at `source` (a folder, a released hub id, or
    `tiny`), the changes that would make it fit (none when it fits), and where the model's config came from."""
    resolved = resolve_model_config(source)
    extra: dict[str, Any] = {"images_per_prompt": images_per_prompt, "prompt_text_tokens": prompt_text_tokens}
    if cfg.model.max_pixels is None and resolved.max_pixels is not None:
        extra["max_pixels"] = resolved.max_pixels
    settings = settings_from_config(cfg, gpus=gpus, gpu_memory=gpu_memory, strategy=strategy, **extra)
    cache: dict[str, ModelFacts] = {}

    def facts_for(lora: LoraSettings | None) -> ModelFacts:
        key = repr(lora)
        if key not in cache:
            cache[key] = model_facts(resolved.config, settings.dtype, lora, settings.freeze_vision)
        return cache[key]

    plan = plan_memory(facts_for(settings.lora), settings)
    tries = [] if plan.fits else suggestions(plan, facts_for)
    return plan, tries, resolved.origin


@dataclass(frozen=True)
class PlanOptions:
    """`rarl plan`'s options, checked: GPUs, bytes per GPU, strategy, images per prompt (None: from the
    config), prompt text tokens."""

    gpus: int
    gpu_memory: int
    strategy: str
    images: int | None
    prompt_tokens: int

    @classmethod
    def parse(
        cls, gpus: str | None, gpu_memory: str | None, strategy: str, images: str | None, prompt_tokens: str
    ) -> PlanOptions:
        """From the option strings; ConfigError naming the first bad or missing option."""
        for option, value in (("--gpus", gpus), ("--gpu-memory", gpu_memory)):
            if value is None:
                raise ConfigError(f"{option} is required (e.g. --gpus 8 --gpu-memory 80)")
        assert gpus is not None and gpu_memory is not None
        if strategy not in STRATEGIES:
            raise ConfigError(f"--strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
        return cls(
            gpus=int(_positive(gpus, "--gpus", whole=True)),
            gpu_memory=int(_positive(gpu_memory, "--gpu-memory") * GIB),
            strategy=strategy,
            images=None if images is None else int(_positive(images, "--images", whole=True)),
            prompt_tokens=int(_positive(prompt_tokens, "--prompt-tokens", whole=True)),
        )


def _positive(text: str, option: str, whole: bool = False) -> float:
    """`text` as a finite number > 0 (a whole one with `whole`); ConfigError naming `option` otherwise."""
    kind = "a whole number >= 1" if whole else "a number of GB > 0"
    try:
        value = int(text.strip()) if whole else float(text)
    except ValueError:
        raise ConfigError(f"{option} must be {kind}, got {text!r}") from None
    if not math.isfinite(value) or value <= 0 or value > MAX_OPTION:
        raise ConfigError(f"{option} must be {kind}, got {text!r}")
    return value


MAX_OPTION = 10**9
"""Larger option values are typing mistakes (and would overflow the arithmetic's meaning)."""


def show_plan(
    cfg: Any,
    source: str,
    options: PlanOptions,
    *,
    images_per_sample: int | None = None,
    as_json: bool = False,
) -> MemoryPlan:
    """Plan `cfg` on the model at `source` and print it (tables, or one JSON object with `as_json`).

    Images per prompt: `options.images`, else the recipe's `images_per_sample`, else the largest size of
    `data.sizes` and the stages' sizes (the `rarl` recipe's images per sample)."""
    sizes = [*cfg.data.sizes, *(n for stage in cfg.stages for n in stage.sizes or ())]
    images = options.images or images_per_sample or max(sizes)
    plan, tries, origin = make_plan(
        cfg,
        source,
        gpus=options.gpus,
        gpu_memory=options.gpu_memory,
        strategy=options.strategy,
        images_per_prompt=images,
        prompt_text_tokens=options.prompt_tokens,
    )
    if as_json:
        print(json.dumps(plan_json(plan, tries, model=origin), indent=2))
        return plan
    console = Console(width=max(shutil.get_terminal_size((140, 24)).columns, 120))
    for renderable in plan_tables(plan, tries, model=origin):
        console.print(renderable)
    return plan
