"""Plain verdicts: is a method better than, worse than, or not distinguishable from another model?

Two models evaluated on the same test samples (same split, order and cap, as `evaluate_models` does) are
compared pairwise: for each sample, the method's contribution minus the other's (absolute error, hit, tau;
`SizeResult.per_sample`), and a percentile bootstrap of the mean difference over samples. The verdict is
"better" or "worse" when the 95 % interval of the difference excludes 0 (in the metric's direction), else
"no difference". Pairing removes the sample-to-sample spread both models share, so a verdict can be clear
where the two models' own intervals overlap.

    lines = verdict_lines(results, method="+ RARL")   # results: {model: {size: SizeResult}}
    # ['1-img MAE: + RARL is worse than + SFT (+1.12 [+0.85, +1.40]) and better than Tiny-VL base (...)', ...]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rarl.eval.bootstrap import bootstrap_ci, mean_rows
from rarl.eval.scoring import SizeResult

__all__ = ["PairedVerdict", "paired_verdict", "verdict_lines"]


@dataclass(frozen=True)
class PairedVerdict:
    """The method minus the other model, per sample, averaged; its bootstrap interval; the word."""

    difference: float
    ci_low: float
    ci_high: float
    word: str  # "better" | "worse" | "no difference"
    n: int


def paired_verdict(
    method: SizeResult, other: SizeResult, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> PairedVerdict | None:
    """`method` against `other` on the same samples; None when they cannot be paired (no per-sample values,
    different counts or metrics)."""
    a, b = np.asarray(method.per_sample, dtype=float), np.asarray(other.per_sample, dtype=float)
    if method.metric != other.metric or a.size == 0 or a.shape != b.shape:
        return None
    diff = a - b  # [n]
    lo, hi = bootstrap_ci(diff, mean_rows, n_boot, seed, alpha)
    up = method.higher_is_better
    if lo > 0:
        word = "better" if up else "worse"
    elif hi < 0:
        word = "worse" if up else "better"
    else:
        word = "no difference"
    return PairedVerdict(float(diff.mean()), float(lo), float(hi), word, int(a.size))


def verdict_lines(
    results: Mapping[str, Mapping[int, SizeResult]],
    method: str | None = None,
    sizes: Sequence[int] = (1, 2, 4, 8),
    n_boot: int = 1000,
    seed: int = 0,
) -> list[str]:
    """One line per column: `method` (default: the last model) against every other model, at 95 %."""
    names = list(results)
    if len(names) < 2:
        return []
    method = method or names[-1]
    lines = []
    for size in sizes:
        mine = results[method].get(size)
        if mine is None:
            continue
        parts = []
        for other in names:
            theirs = results[other].get(size)
            if other == method or theirs is None:
                continue
            v = paired_verdict(mine, theirs, n_boot=n_boot, seed=seed)
            if v is None:
                parts.append(f"not comparable with {other}")
            else:
                parts.append(f"{v.word} vs {other} ({v.difference:+.3f} [{v.ci_low:+.3f}, {v.ci_high:+.3f}])")
        column = f"{size}-img" if size == 1 else f"{size}-imgs"
        lines.append(f"{column} {mine.metric}: {method} " + "; ".join(parts))
    return lines
