"""Verdict lines of the `refine-iqa` report: the method against every other model, per dataset and inference.

SRCC is not a mean of per-image terms, so two models are compared by a paired bootstrap over images
(`rarl.eval.verdict.paired_statistic_difference` with `M.srcc_counts`): each resample draws the same image
indices for both models (`evaluate_quality` scores every model on the same test images in the same order and
keeps them as `per_sample` (prediction, MOS) pairs), the difference SRCC(method) - SRCC(other) is taken on
each resample, and the word is "better" / "worse" when its 95 % percentile interval excludes 0, else
"no difference". Numeric predictions are the ones the SRCC of the table uses (failures at the fallback
score). A pair whose SRCC is undefined (constant predictions, every answer failed, constant MOS, fewer than 2
images) or whose images differ is "not comparable", with the reason.

    lines = verdict_lines(results)   # results: {model: evaluate_quality results}; method: the last model
    # ['synthetic-noise SRCC (think, numeric): + Refine-IQA better vs Tiny-VL base (+0.21 [+0.08, +0.35]); ...']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rarl.eval import metrics as M
from rarl.eval.verdict import PairedVerdict, paired_statistic_difference
from rarl.recipes.quality.prompts import NO_THINK, THINK

__all__ = ["INFERENCES", "STATISTICS", "pair_verdict", "verdict_lines"]

STATISTICS = {"srcc": M.srcc_counts, "plcc": M.plcc_counts}
"""The correlations a verdict can compare (count-weighted forms for the bootstrap); both higher is better."""

INFERENCES = {"numeric": "numeric", "prob": "probability"}
"""The inference ways of a scoring result and their names in a verdict line."""


def _rows(result: Mapping[str, Any]) -> np.ndarray | None:
    """One inference's `per_sample` (prediction, MOS) pairs `[n, 2]`; None when the results hold none."""
    pairs = result.get("per_sample")
    if pairs is None:
        return None
    return np.asarray(pairs, dtype=np.float64).reshape(-1, 2)


def _undefined(rows: np.ndarray, result: Mapping[str, Any], name: str) -> str | None:
    """Why one model's correlation is undefined on its rows, or None."""
    if not np.isfinite(rows[:, 0]).all():
        return f"{name} has non-finite predictions"
    if np.ptp(rows[:, 0]) == 0:
        if result.get("failure_rate") == 1.0:
            return f"every answer of {name} failed"
        return f"{name}'s predictions are constant"
    return None


def pair_verdict(
    mine: Mapping[str, Any],
    theirs: Mapping[str, Any],
    names: tuple[str, str],
    statistic: str = "srcc",
    ids: tuple[Sequence[str] | None, Sequence[str] | None] = (None, None),
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> PairedVerdict | str:
    """One inference's result of the method (`mine`) against the other model's (`theirs`) on the same images:
    the paired verdict, or the reason they are not comparable. `names`: (method, other) for the reasons;
    `ids`: the two models' image ids in order, when the results hold them."""
    a, b = _rows(mine), _rows(theirs)
    if a is None or b is None:
        return f"no per-image predictions of {names[0] if a is None else names[1]} in the results"
    same_ids = ids[0] is None or ids[1] is None or list(ids[0]) == list(ids[1])
    if len(a) != len(b) or not same_ids or not np.array_equal(a[:, 1], b[:, 1], equal_nan=True):
        return "different test images"
    if len(a) < 2:
        return "fewer than 2 images"
    if not np.isfinite(a[:, 1]).all() or np.ptp(a[:, 1]) == 0:
        return "the MOS are constant or missing"
    for rows, result, name in ((a, mine, names[0]), (b, theirs, names[1])):
        reason = _undefined(rows, result, name)
        if reason is not None:
            return reason
    v = paired_statistic_difference(a, b, STATISTICS[statistic], True, n_boot=n_boot, seed=seed, alpha=alpha)
    return v if v is not None else f"no resample with a defined {statistic.upper()} for both"


def verdict_lines(
    results: Mapping[str, Mapping[str, Any]],
    method: str | None = None,
    modes: Sequence[str] = (THINK, NO_THINK),
    statistic: str = "srcc",
    n_boot: int = 1000,
    seed: int = 0,
) -> list[str]:
    """One line per mode, dataset and inference (the modes in order, think first): `method` (default: the last
    model) against every other model with scoring results, at 95 %."""
    names = list(results)
    if len(names) < 2:
        return []
    method = method or names[-1]
    scoring = results[method].get("scoring", {})
    lines = []
    for mode in modes:
        for dataset, mine in sorted(scoring.get(mode, {}).items()):
            for inference, label in INFERENCES.items():
                parts = []
                for other in names:
                    theirs = results[other].get("scoring", {}).get(mode, {}).get(dataset)
                    if other == method or theirs is None or inference not in theirs or inference not in mine:
                        continue
                    v = pair_verdict(
                        mine[inference],
                        theirs[inference],
                        (method, other),
                        statistic,
                        (mine.get("ids"), theirs.get("ids")),
                        n_boot=n_boot,
                        seed=seed,
                    )
                    if isinstance(v, str):
                        parts.append(f"not comparable with {other} ({v})")
                    else:
                        interval = f"{v.difference:+.2f} [{v.ci_low:+.2f}, {v.ci_high:+.2f}]"
                        parts.append(f"{v.word} vs {other} ({interval})")
                if parts:
                    head = f"{dataset} {statistic.upper()} ({mode}, {label}):"
                    lines.append(f"{head} {method} " + "; ".join(parts))
    return lines
