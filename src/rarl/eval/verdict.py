"""Plain verdicts: is a method better than, worse than, or not distinguishable from another model?

Two models evaluated on the same test samples (same split, order and cap, as `evaluate_models` does) are
compared pairwise: for each sample, the method's contribution minus the other's (absolute error, hit, tau,
...), and a percentile bootstrap of the mean difference over samples. The verdict is "better" or "worse"
when the 95 % interval of the difference excludes 0 (in the metric's direction), else "no difference".
Pairing removes the sample-to-sample spread both models share, so a verdict can be clear where the two
models' own intervals overlap.

    v = paired_difference(mine_per_sample, theirs_per_sample, higher_is_better=False)
    # PairedVerdict(difference=+1.12, ci_low=+0.85, ci_high=+1.40, word='worse', n=300)

A statistic that is not a mean of per-sample terms (SRCC, PLCC) is compared by `paired_statistic_difference`:
the same rows (e.g. images, as `(prediction, label)` pairs) are resampled for both models, and the interval
is that of statistic(method) - statistic(other) over the resamples.

    v = paired_statistic_difference(mine_pairs, theirs_pairs, M.srcc_counts, higher_is_better=True)
    # mine_pairs, theirs_pairs: [n, 2] (prediction, label) rows of the same n images, in the same order

A recipe lays the verdicts out its own way (the `rarl` recipe: one line per size,
`rarl.recipes.ordinal.verdict`; `refine-iqa`: one line per dataset and inference,
`rarl.recipes.quality.verdict`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from rarl.eval.bootstrap import bootstrap_ci, mean_rows

__all__ = ["PairedVerdict", "paired_difference", "paired_statistic_difference"]


@dataclass(frozen=True)
class PairedVerdict:
    """The method minus the other model, per sample, averaged; its bootstrap interval; the word."""

    difference: float
    ci_low: float
    ci_high: float
    word: str  # "better" | "worse" | "no difference"
    n: int


def paired_difference(
    method: Sequence[float],
    other: Sequence[float],
    higher_is_better: bool,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> PairedVerdict | None:
    """The per-sample values of `method` against those of `other` on the same samples; None when they cannot
    be paired (no values, or different counts)."""
    a, b = np.asarray(method, dtype=float), np.asarray(other, dtype=float)
    if a.size == 0 or a.shape != b.shape:
        return None
    diff = a - b  # [n]
    lo, hi = bootstrap_ci(diff, mean_rows, n_boot, seed, alpha)
    if lo > 0:
        word = "better" if higher_is_better else "worse"
    elif hi < 0:
        word = "worse" if higher_is_better else "better"
    else:
        word = "no difference"
    return PairedVerdict(float(diff.mean()), float(lo), float(hi), word, int(a.size))


def _verdict_word(low: float, high: float, higher_is_better: bool) -> str:
    """The word for a difference interval: the side of 0 it lies on, in the metric's direction."""
    if low > 0:
        return "better" if higher_is_better else "worse"
    if high < 0:
        return "worse" if higher_is_better else "better"
    return "no difference"


def paired_statistic_difference(
    method: ArrayLike,
    other: ArrayLike,
    statistic: Callable[..., ArrayLike],
    higher_is_better: bool,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    *,
    mode: Literal["counts", "gather"] = "counts",
) -> PairedVerdict | None:
    """statistic(method) - statistic(other) with a paired percentile bootstrap over the rows.

    Args:
        method, other: the two models' per-sample records on the same samples in the same order, `[n]` or
            `[n, k]` (e.g. `(prediction, label)` pairs, `k = 2`). Row i of both is resampled together.
        statistic: a vectorised statistic of `rarl.eval.bootstrap.bootstrap_ci`. Mode "counts" (default):
            `statistic(data [n, k], counts [B, n]) -> [B]` (`M.srcc_counts`, `M.plcc_counts`); mode
            "gather": `statistic(resamples [B, n, k]) -> [B]`.
        higher_is_better: the direction of the statistic (SRCC: True).

    Returns the point difference, its interval and the word; None when the two cannot be paired (no rows,
    different shapes), when the statistic is undefined (nan) for either model on all rows, or when no
    resample has it defined for both (resamples where either is nan are dropped, as `bootstrap_ci` does).
    """
    a, b = np.asarray(method, dtype=np.float64), np.asarray(other, dtype=np.float64)
    a, b = (x[:, None] if x.ndim == 1 else x for x in (a, b))  # [n] -> [n, 1]
    if a.size == 0 or a.ndim != 2 or a.shape != b.shape:
        return None
    n, k = a.shape
    if mode == "counts":
        ones = np.ones((1, n))  # [1, n]: every row drawn once, the original data
        point = float(np.asarray(statistic(a, ones))[0]) - float(np.asarray(statistic(b, ones))[0])
    else:
        point = float(np.asarray(statistic(a[None]))[0]) - float(np.asarray(statistic(b[None]))[0])
    if not math.isfinite(point):
        return None
    both = np.concatenate([a, b], axis=1)  # [n, 2k]: one row per sample, so both sides draw the same rows

    def difference(data: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
        if counts is None:  # gather: data [B, n, 2k]
            return np.asarray(statistic(data[..., :k])) - np.asarray(statistic(data[..., k:]))  # [B]
        return np.asarray(statistic(data[:, :k], counts)) - np.asarray(statistic(data[:, k:], counts))  # [B]

    lo, hi = bootstrap_ci(both, difference, n_boot, seed, alpha, mode=mode)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    return PairedVerdict(point, float(lo), float(hi), _verdict_word(lo, hi, higher_is_better), n)
