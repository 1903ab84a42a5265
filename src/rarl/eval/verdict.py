"""Plain verdicts: is a method better than, worse than, or not distinguishable from another model?

Two models evaluated on the same test samples (same split, order and cap, as `evaluate_models` does) are
compared pairwise: for each sample, the method's contribution minus the other's (absolute error, hit, tau,
...), and a percentile bootstrap of the mean difference over samples. The verdict is "better" or "worse"
when the 95 % interval of the difference excludes 0 (in the metric's direction), else "no difference".
Pairing removes the sample-to-sample spread both models share, so a verdict can be clear where the two
models' own intervals overlap.

    v = paired_difference(mine_per_sample, theirs_per_sample, higher_is_better=False)
    # PairedVerdict(difference=+1.12, ci_low=+0.85, ci_high=+1.40, word='worse', n=300)

A recipe lays the verdicts out its own way (the `rarl` recipe: one line per size,
`rarl.recipes.ordinal.verdict`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rarl.eval.bootstrap import bootstrap_ci, mean_rows

__all__ = ["PairedVerdict", "paired_difference"]


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
