"""`rarl ablate`: a recipe's ablations from one base config, same seeds and budgets, one combined table.

A recipe offers an `AblationPlan` (`recipe.ablations()`): named variants, each a transformation of the base
`TrainConfig` (never a code branch in the trainer), and the rows of the combined table (section, label,
variant run, model folder inside that run). This runner trains every variant into `out/<variant>` (skipping
finished ones), evaluates the base model and every row's model with the recipe's evaluation, and writes the
table (`ablation_table.md`) and the training curves of all variants (`ablation_curves.png`).

An unfinished variant (an earlier `rarl ablate` was interrupted) is resumed from its latest checkpoint,
never silently restarted or overwritten; if its saved config differs from the new one in anything that
changes the run, every variant is checked and the command stops before training anything, naming the keys
(delete `out/<variant>` to train it afresh).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rarl.eval.curves import recipe_curves
from rarl.eval.plots import plot_training_curves
from rarl.eval.settings import EvalSettings
from rarl.model.loading import load_for_inference
from rarl.recipes.base import AblationPlan
from rarl.recipes.runs import grpo_trainer, recipe_for
from rarl.train.checkpoint import model_folder_problem
from rarl.train.config import TrainConfig
from rarl.train.metrics_log import read_metrics
from rarl.train.run_folder import check_output_dir
from rarl.utils.config import ConfigError, load_config
from rarl.utils.io import atomic_write_text
from rarl.utils.lock import LOCK_FILE
from rarl.utils.output_folder import claimed_folder

__all__ = ["AblationPlan", "run_ablations", "training_statistics", "variant_config"]

log = logging.getLogger("rarl")

TABLE_FILE = "ablation_table.md"
CURVES_FILE = "ablation_curves.png"


def variant_config(base: TrainConfig, plan: AblationPlan, name: str, out: Path) -> TrainConfig:
    """The base config transformed for variant `name`, writing under `out/name`."""
    if name not in plan.variants:
        raise ConfigError(f"unknown ablation variant {name!r}; choose from {sorted(plan.variants)}")
    cfg = copy.deepcopy(base)
    plan.variants[name](cfg)
    cfg.output_dir = str(out / name)
    return cfg


TRAINING_STATISTICS = (
    ("reward/onpolicy_mean", "on-policy reward"),
    ("zero_var_frac_before", "zero-variance groups before RMO"),
    ("rmo_mutated_frac", "groups mutated by RMO"),
    ("zero_var_frac_after", "zero-variance groups after RMO"),
    ("kept_frac", "rollouts kept"),
)
"""Per-step metrics of the GRPO trainer summarised per variant and stage under the ablation table."""


def training_statistics(curves: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """A markdown table: per variant and stage, the step-mean of each `TRAINING_STATISTICS` metric.

    Shares (zero-variance groups, mutated groups, kept rollouts) are fractions of the step's groups or rows;
    with them the table says how often RMO fired and how often it had a stagnant group to fire on.
    """
    lines = [
        "Training statistics (mean over the stage's steps)",
        "",
        "| Variant | Stage | Steps | " + " | ".join(label for _, label in TRAINING_STATISTICS) + " |",
        "|---|---|---:|" + "---:|" * len(TRAINING_STATISTICS),
    ]
    for name, rows in curves.items():
        stages: dict[str, list[Mapping[str, Any]]] = {}
        for row in rows:
            stages.setdefault(str(row.get("stage", "")), []).append(row)
        for stage, stage_rows in stages.items():
            cells = []
            for key, _ in TRAINING_STATISTICS:
                values = [float(r[key]) for r in stage_rows if r.get(key) is not None]
                cells.append(f"{sum(values) / len(values):.3f}" if values else "-")
            steps = len({r.get("step", i) for i, r in enumerate(stage_rows)})  # a validation row: its step's
            lines.append(f"| {name} | {stage} | {steps} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_ablations(
    config: str | Path,
    out: str | Path,
    overrides: Sequence[str] = (),
    only: Sequence[str] = (),
    eval_settings: object | None = None,
    eval_max_samples: int | None = None,
) -> Path:
    """Train every variant (skipping finished ones), evaluate all, write the combined table and curves."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder; choose another folder for the ablation runs")
    base = load_config(TrainConfig, config, overrides)
    recipe = recipe_for(base)
    plan = recipe.ablations()
    if plan is None:
        raise ConfigError(f"recipe {base.recipe!r} defines no ablations")
    names = list(only) or list(plan.variants)
    configs = {name: variant_config(base, plan, name, out) for name in names}
    for cfg in configs.values():  # refuse a changed config before hours of training the other variants
        check_output_dir(cfg, resume=True, overwrite=False, notes=False)
    entries = [*plan.variants, TABLE_FILE, CURVES_FILE]

    def older(folder: Path) -> bool:  # an ablation folder an earlier version wrote holds nothing else
        return {p.name for p in folder.iterdir()} <= {*entries, LOCK_FILE}

    # a new, empty or ablation folder (nothing else in it is touched), locked while the ablation runs
    with claimed_folder(out, "ablation", entries, replace=False, adopt=older):
        return _train_and_report(out, base, recipe, plan, names, configs, eval_settings, eval_max_samples)


def _train_and_report(
    out: Path,
    base: TrainConfig,
    recipe: Any,
    plan: AblationPlan,
    names: list[str],
    configs: dict[str, TrainConfig],
    eval_settings: object | None,
    eval_max_samples: int | None,
) -> Path:
    """Train the variants not yet trained, evaluate every row's model, write the table and curves."""
    for name, cfg in configs.items():
        if model_folder_problem(Path(cfg.output_dir) / "final") is None:
            log.info("ablation %s: already trained, reusing %s", name, cfg.output_dir)
            continue
        log.info("ablation %s: training into %s", name, cfg.output_dir)
        grpo_trainer(cfg).train(resume=True)  # a fresh Accelerator per run: prepared objects never pile up

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
        base_path = str(Path(variant_config(base, plan, names[0], out).output_dir) / "tiny-model")
    cache: dict[str, Any] = {}

    def results_for(path: str, label: str) -> Any:
        if path not in cache:
            policy = load_for_inference(recipe.model_path(path))
            cache[path], _ = recipe.evaluate(policy, base.data.manifest, settings, label)
        return cache[path]

    sections: dict[str, dict[str, dict[str, Any]]] = {
        "": {task_name: {"Baseline": results_for(base_path, "baseline")}}
    }
    for header, label, run, folder in plan.rows:
        if run not in names:
            continue
        path = str(out / run / folder)
        sections.setdefault(header, {task_name: {}})[task_name][label] = results_for(path, label)
    curves = {n: read_metrics(out / n / "metrics.jsonl") for n in names}
    table = (
        plan.render(sections, f"Ablations on {task_name}", settings) + "\n\n" + training_statistics(curves)
    )
    atomic_write_text(out / TABLE_FILE, table + "\n")
    # run folders, so that each run's config.yaml says where its reward changes between stages
    plot_training_curves(
        {n: out / n for n in names},
        out / CURVES_FILE,
        **recipe_curves(recipe),
    )
    print(table)
    log.info("ablation table written to %s", out / TABLE_FILE)
    return out / TABLE_FILE
