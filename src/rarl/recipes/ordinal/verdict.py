"""Verdict lines of the `rarl` recipe's report: the method against every other model, one line per size.

Each size's results are compared pairwise on the same test samples (`SizeResult.per_sample`) with
`rarl.eval.verdict.paired_difference`, in the direction of the size's metric.

    lines = verdict_lines(results, method="+ RARL")   # results: {model: {size: SizeResult}}
    # ['1-img MAE: + RARL is worse than + SFT (+1.12 [+0.85, +1.40]) and better than Tiny-VL base (...)', ...]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rarl.eval.verdict import PairedVerdict, paired_difference
from rarl.recipes.ordinal.scoring import SizeResult

__all__ = ["paired_verdict", "verdict_lines"]


def paired_verdict(
    method: SizeResult, other: SizeResult, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> PairedVerdict | None:
    """`method` against `other` on the same samples; None when they cannot be paired (no per-sample values,
    different counts or metrics)."""
    a, b = method.per_sample, other.per_sample
    if method.metric != other.metric or not a or len(a) != len(b):
        return None
    return paired_difference(a, b, method.higher_is_better, n_boot=n_boot, seed=seed, alpha=alpha)


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
