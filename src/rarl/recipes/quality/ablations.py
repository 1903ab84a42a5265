"""Refine-IQA's ablations (paper Tables 5 and 6) as an `AblationPlan`, one combined table.

| variant   | paper                 | what changes                                                           |
|-----------|-----------------------|------------------------------------------------------------------------|
| full      | Tables 5/6, last row  | the base config as is (stage 1, then stage 2 with PD and Eq. 6)        |
| no_stage1 | Table 5 "w/o Stage-1" | the stages in the no_think mode (perception) are dropped               |
| no_pd     | Table 6 row 1         | `pd: false` in every stage (r_final = r_ans + r_fmt)                   |
| no_pm     | Table 6 row 2         | `algorithm.advantage: grpo` (standard group-normalised advantages)     |

Numeric vs probability-based inference (Table 6 rows 3-4) is not a run: every evaluation reports both, and
the table shows the full model's numeric row beside its probability row. As in the paper, a cell is the
average of SRCC and PLCC on one dataset, answered in the no_think mode ("Refine-IQA-S2 (w/o think)"); when
the evaluation has the think mode too, a second table gives the same rows answered in it (a model trained
to score in think mode only, such as the demo's, fails many no_think answers). The last column is the run's mean think length in the think-mode evaluation
(characters inside `<think>..</think>`, averaged over datasets), to see whether a variant's thinking
collapses.
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


def _cell(results: dict[str, Any], dataset: str, inference: str, mode: str) -> str:
    modes = results.get("scoring", {})
    per = modes.get(mode) or {}
    m = per.get(dataset, {}).get(inference)
    if not m:
        return "-"
    value = (m["srcc"] + m["plcc"]) / 2
    return "-" if not math.isfinite(value) else f"{value:.3f}"


def _think_length(results: dict[str, Any]) -> str:
    """Mean characters of thinking per think-mode answer over the datasets ("-" without a think mode)."""
    lengths = [r.get("think_chars") for r in results.get("scoring", {}).get("think", {}).values()]
    lengths = [float(v) for v in lengths if isinstance(v, (int, float)) and math.isfinite(v)]
    return f"{sum(lengths) / len(lengths):.1f}" if lengths else "-"


def _render(sections: dict[str, dict[str, dict[str, Any]]], title: str, settings: Any) -> str:
    """The paper's table (w/o think, when evaluated), then the same rows answered in think mode, if any."""
    results = [r for tasks in sections.values() for rows in tasks.values() for r in rows.values()]
    datasets = sorted({d for r in results for per in r.get("scoring", {}).values() for d in per})
    evaluated = {m for r in results for m in r.get("scoring", {})}
    modes = [m for m in ("no_think", "think") if m in evaluated] or sorted(evaluated)[:1]
    tables = []
    for mode in modes:
        words = "w/o think" if mode == "no_think" else "w think"
        lines = [f"**{title} (mean of SRCC and PLCC per dataset, {words})**", ""]
        lines.append("| Section | Model | " + " | ".join(datasets) + " | think length (chars) |")
        lines.append("|---|---|" + "---:|" * (len(datasets) + 1))
        for header, tasks in sections.items():
            for rows in tasks.values():
                for label, res in rows.items():
                    inference = INFERENCE.get(label, "prob")
                    cells = [_cell(res, d, inference, mode) for d in datasets] + [_think_length(res)]
                    lines.append(f"| {header or 'Base'} | {label} | " + " | ".join(cells) + " |")
        tables.append("\n".join(lines))
    return "\n\n".join(tables)


ABLATIONS = AblationPlan(variants=VARIANTS, rows=TABLE_ROWS, render=_render)
