"""RARL's ablations (paper Tables 3 and 6, and RMO vs the DAPO filter) as an `AblationPlan`.

| variant      | paper           | what changes                                                              |
|--------------|-----------------|---------------------------------------------------------------------------|
| regression   | Table 3 "+Reg"  | one stage, lambda = (1, 0, 1), no RMO, all sizes                          |
| ranking      | Table 3 "+Rank" | one stage, lambda = (0, 1, 1), no RMO, multi-image sizes only             |
| rarl         | Table 3/6 full  | the base config as is (stage 1 then stage 2 with RMO)                     |
| stage1       | Table 6 row 1   | not a run: the stage-1 model of the `rarl` run (same seeds, so identical) |
| no_rmo       | Table 6 row 2   | both stages, RMO off                                                      |
| dapo         | RMO vs DAPO     | both stages, RMO off, zero-variance groups dropped (DAPO filter)          |

Every run variant uses the same total number of steps (so the same number of prompts seen) as the base
config; the single-stage variants get the sum of the base stages' steps.
"""

from __future__ import annotations

from typing import Any

from rarl.recipes.base import AblationPlan
from rarl.recipes.ordinal.tables import render_ablation_table
from rarl.train.config import StageConfig, TrainConfig


def _single_stage(cfg: TrainConfig, name: str, weights: list[float], sizes: list[int] | None) -> None:
    total = sum(s.steps for s in cfg.stages)
    first = cfg.stages[0]
    kwargs = {**first.reward_kwargs, "weights": weights}
    cfg.stages = [StageConfig(name=name, steps=total, reward_kwargs=kwargs, rmo=False, sizes=sizes)]


def _regression(cfg: TrainConfig) -> None:
    _single_stage(cfg, "regression", [1.0, 0.0, 1.0], None)


def _ranking(cfg: TrainConfig) -> None:
    multi = [n for n in cfg.data.sizes if n >= 2]
    _single_stage(cfg, "ranking", [0.0, 1.0, 1.0], multi or None)


def _rarl(cfg: TrainConfig) -> None:
    return None


def _no_rmo(cfg: TrainConfig) -> None:
    for s in cfg.stages:
        s.rmo = False


def _dapo(cfg: TrainConfig) -> None:
    _no_rmo(cfg)
    cfg.algorithm.dapo_filter = True


VARIANTS = {
    "regression": _regression,
    "ranking": _ranking,
    "rarl": _rarl,
    "no_rmo": _no_rmo,
    "dapo": _dapo,
}

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


def _render(sections: dict[str, dict[str, dict[str, Any]]], title: str, settings: Any) -> str:
    return render_ablation_table(sections, title=title, sizes=settings.sizes)


ABLATIONS = AblationPlan(variants=VARIANTS, rows=TABLE_ROWS, render=_render)
