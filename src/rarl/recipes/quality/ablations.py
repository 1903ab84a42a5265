"""Refine-IQA's ablations (paper Tables 5 and 6) as an `AblationPlan`, one combined table.

| variant   | paper                 | what changes                                                           |
|-----------|-----------------------|------------------------------------------------------------------------|
| full      | Tables 5/6, last row  | the base config as is (stage 1, then stage 2 with PD and Eq. 6)        |
| no_stage1 | Table 5 "w/o Stage-1" | the stages in the no_think mode (perception) are dropped               |
| no_pd     | Table 6 row 1         | `pd: false` in every stage (r_final = r_ans + r_fmt)                   |
| no_pm     | Table 6 row 2         | `algorithm.advantage: grpo` (standard group-normalised advantages)     |

Numeric vs probability-based inference (Table 6 rows 3-4) is not a run: every evaluation reports both, and
the table shows the full model's numeric row beside its probability row. As in the paper, a cell is the
average of SRCC and PLCC on one dataset, answered in the no_think mode ("Refine-IQA-S2 (w/o think)") when
the evaluation has it.
"""

from __future__ import annotations

import math
from typing import Any

from rarl.recipes.base import AblationPlan
from rarl.train.config import TrainConfig


def _full(cfg: TrainConfig) -> None:
    return None


def _no_stage1(cfg: TrainConfig) -> None:
    kept = [s for s in cfg.stages if (s.mode or "think") not in ("no_think", "no-think")]
    if not kept:
        raise ValueError("no_stage1: the config has no think-mode (scoring) stage")
    cfg.stages = kept


def _no_pd(cfg: TrainConfig) -> None:
    cfg.reward.kwargs = {**cfg.reward.kwargs, "pd": False}
    for s in cfg.stages:
        if "pd" in s.reward_kwargs:
            s.reward_kwargs = {**s.reward_kwargs, "pd": False}


def _no_pm(cfg: TrainConfig) -> None:
    cfg.algorithm.advantage = "grpo"
    cfg.algorithm.advantage_kwargs = {}


VARIANTS = {"full": _full, "no_stage1": _no_stage1, "no_pd": _no_pd, "no_pm": _no_pm}

INFERENCE: dict[str, str] = {}
TABLE_ROWS: list[tuple[str, str, str, str]] = []
for header, label, run, inference in [
    ("Stage 1 (Table 5)", "w/o Stage-1", "no_stage1", "prob"),
    ("Stage 1 (Table 5)", "w Stage-1", "full", "prob"),
    ("Stage-2 attributes (Table 6)", "PD x, PM v, Prob.", "no_pd", "prob"),
    ("Stage-2 attributes (Table 6)", "PD v, PM x, Prob.", "no_pm", "prob"),
    ("Stage-2 attributes (Table 6)", "PD v, PM v, Num.", "full", "numeric"),
    ("Stage-2 attributes (Table 6)", "PD v, PM v, Prob.", "full", "prob"),
]:
    TABLE_ROWS.append((header, label, run, "final"))
    INFERENCE[label] = inference


def _cell(results: dict[str, Any], dataset: str, inference: str) -> str:
    modes = results.get("scoring", {})
    per = modes.get("no_think") or next(iter(modes.values()), {})
    m = per.get(dataset, {}).get(inference)
    if not m:
        return "-"
    value = (m["srcc"] + m["plcc"]) / 2
    return "-" if not math.isfinite(value) else f"{value:.3f}"


def _render(sections: dict[str, dict[str, dict[str, Any]]], title: str, settings: Any) -> str:
    datasets = sorted(
        {
            d
            for tasks in sections.values()
            for rows in tasks.values()
            for r in rows.values()
            for per in r.get("scoring", {}).values()
            for d in per
        }
    )
    lines = [f"**{title} (mean of SRCC and PLCC per dataset, w/o think)**", ""]
    lines.append("| Section | Model | " + " | ".join(datasets) + " |")
    lines.append("|---|---|" + "---:|" * len(datasets))
    for header, tasks in sections.items():
        for rows in tasks.values():
            for label, results in rows.items():
                inference = INFERENCE.get(label, "prob")
                cells = [_cell(results, d, inference) for d in datasets]
                lines.append(f"| {header or 'Base'} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


ABLATIONS = AblationPlan(variants=VARIANTS, rows=TABLE_ROWS, render=_render)
