"""Rank statistics shared by the reward (Eq. 5-6) and the evaluation protocol.

Kendall's tau-b is computed directly from pair counts; it is used on short sequences (N <= 8 images per
answer) inside the reward hot path, so it avoids numpy overhead and is O(N^2) in plain Python.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b between two equally long sequences; ties handled as in scipy.stats.kendalltau.

    Returns None when the coefficient is undefined (fewer than two items, or either side all ties).
    """
    n = len(x)
    if n != len(y):
        raise ValueError(f"kendall_tau_b: lengths differ ({n} vs {len(y)})")
    if n < 2:
        return None
    concordant = discordant = tie_x = tie_y = 0
    for i in range(n - 1):
        xi, yi = x[i], y[i]
        for j in range(i + 1, n):
            dx = x[j] - xi
            dy = y[j] - yi
            if dx == 0:
                if dy != 0:
                    tie_x += 1
            elif dy == 0:
                tie_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    denom = math.sqrt((concordant + discordant + tie_x) * (concordant + discordant + tie_y))
    if denom == 0:
        return None
    return (concordant - discordant) / denom
