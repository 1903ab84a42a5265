"""`rarl ablate`: the paper's ablations from one base recipe, same seeds and budgets, one combined table.

Variants (each a config transformation of the base recipe, never a code branch in the trainer):

| variant      | paper           | what changes                                                              |
|--------------|-----------------|---------------------------------------------------------------------------|
| regression   | Table 3 "+Reg"  | one stage, lambda = (1, 0, 1), no RMO, all sizes                          |
| ranking      | Table 3 "+Rank" | one stage, lambda = (0, 1, 1), no RMO, multi-image sizes only             |
| rarl         | Table 3/6 full  | the base recipe as is (stage 1 then stage 2 with RMO)                     |
| stage1       | Table 6 row 1   | not a run: the stage-1 model of the `rarl` run (same seeds, so identical) |
| no_rmo       | Table 6 row 2   | both stages, RMO off                                                      |
| dapo         | RMO vs DAPO     | both stages, RMO off, zero-variance groups dropped (DAPO filter)          |

Every run variant uses the same total number of steps (so the same number of prompts seen) as the base
recipe; the single-stage variants get the sum of the base stages' steps.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from rarl.train.config import StageConfig, TrainConfig
from rarl.utils.config import load_config

log = logging.getLogger("rarl")


def _single_stage(
    cfg: TrainConfig, name: str, weights: tuple[float, float, float], sizes: list[int] | None
) -> None:
    total = sum(s.steps for s in cfg.stages)
    cfg.stages = [StageConfig(name=name, steps=total, reward_weights=weights, rmo=False, sizes=sizes)]


def _regression(cfg: TrainConfig) -> None:
    _single_stage(cfg, "regression", (1.0, 0.0, 1.0), None)


def _ranking(cfg: TrainConfig) -> None:
    multi = [n for n in cfg.data.sizes if n >= 2]
    _single_stage(cfg, "ranking", (0.0, 1.0, 1.0), multi or None)


def _rarl(cfg: TrainConfig) -> None:
    return None


def _no_rmo(cfg: TrainConfig) -> None:
    for s in cfg.stages:
        s.rmo = False


def _dapo(cfg: TrainConfig) -> None:
    _no_rmo(cfg)
    cfg.algorithm.dapo_filter = True


VARIANTS: dict[str, Callable[[TrainConfig], None]] = {
    "regression": _regression,
    "ranking": _ranking,
    "rarl": _rarl,
    "no_rmo": _no_rmo,
    "dapo": _dapo,
}

# (section header, row label, variant run, model folder inside that run)
TABLE_ROWS: list[tuple[str, str, str, str]] = [
    ("Rewards (Table 3)", "+ Regression", "regression", "final"),
    ("Rewards (Table 3)", "+ Ranking", "ranking", "final"),
    ("Rewards (Table 3)", "+ RARL", "rarl", "final"),
    ("Stages and RMO (Table 6)", "First stage", "rarl", "stage1"),
    ("Stages and RMO (Table 6)", "Second stage w.o. RMO", "no_rmo", "final"),
    ("Stages and RMO (Table 6)", "Second stage w. RMO", "rarl", "final"),
    ("RMO vs DAPO filter", "DAPO zero-variance filter", "dapo", "final"),
    ("RMO vs DAPO filter", "RMO", "rarl", "final"),
]


def variant_config(base: TrainConfig, name: str, out: Path) -> TrainConfig:
    """The base config transformed for variant `name`, writing under `out/name`."""
    if name not in VARIANTS:
        raise ValueError(f"unknown ablation variant {name!r}; choose from {sorted(VARIANTS)}")
    cfg = copy.deepcopy(base)
    VARIANTS[name](cfg)
    cfg.output_dir = str(out / name)
    return cfg


def run_ablations(
    config: str | Path,
    out: str | Path,
    overrides: Sequence[str] = (),
    only: Sequence[str] = (),
    eval_settings: object | None = None,
    eval_max_samples: int | None = None,
) -> Path:
    """Train every variant (skipping finished ones), evaluate all, write the combined table and curves."""
    from rarl.eval.protocol import EvalSettings, evaluate_policy
    from rarl.eval.tables import render_ablation_table
    from rarl.model import load_policy
    from rarl.train.grpo import GRPOTrainer
    from rarl.train.metrics_log import read_metrics
    from rarl.utils.io import atomic_write_text

    out = Path(out)
    base = load_config(TrainConfig, config, overrides)
    names = list(only) or list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown ablation variant {unknown[0]!r}; choose from {sorted(VARIANTS)}")
    for name in names:
        cfg = variant_config(base, name, out)
        if (Path(cfg.output_dir) / "final" / "config.json").exists():
            log.info("ablation %s: already trained, reusing %s", name, cfg.output_dir)
            continue
        log.info("ablation %s: training into %s", name, cfg.output_dir)
        GRPOTrainer(cfg).train()  # a fresh Accelerator per run: prepared objects never pile up

    settings = (
        eval_settings
        if isinstance(eval_settings, EvalSettings)
        else EvalSettings(
            sizes=tuple(base.data.sizes),
            max_samples=eval_max_samples,
            max_new_tokens=base.rollout.max_new_tokens,
        )
    )
    task_name = Path(base.data.manifest).name
    base_path = base.model.name_or_path
    if base_path == "tiny":
        base_path = str(Path(variant_config(base, names[0], out).output_dir) / "tiny-model")
    cache: dict[str, dict] = {}

    def results_for(path: str, label: str) -> dict:
        if path not in cache:
            cache[path], _ = evaluate_policy(
                load_policy(path, dtype="float32"), base.data.manifest, settings, name=label
            )
        return cache[path]

    sections: dict[str, dict[str, dict]] = {"": {task_name: {"Baseline": results_for(base_path, "baseline")}}}
    for header, label, run, folder in TABLE_ROWS:
        if run not in names:
            continue
        path = str(out / run / folder)
        sections.setdefault(header, {task_name: {}})[task_name][label] = results_for(path, label)
    table = render_ablation_table(sections, title=f"Ablations on {task_name}", sizes=settings.sizes)
    atomic_write_text(out / "ablation_table.md", table + "\n")
    curves = {n: read_metrics(out / n / "metrics.jsonl") for n in names}
    from rarl.eval.plots import plot_training_curves

    plot_training_curves(curves, out / "ablation_curves.png")
    print(table)
    log.info("ablation table written to %s", out / "ablation_table.md")
    return out / "ablation_table.md"
