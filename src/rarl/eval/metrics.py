"""Evaluation metrics of the paper's protocol (Sec. 4.1), as pure functions on numbers.

1-image tasks report MAE (age), exact-match accuracy in % (counting) or Spearman's SRCC (aesthetics);
PLCC is offered beside SRCC. N-image samples report Kendall's tau between the predicted order and the
true order of one sample (tau-b, ties handled as in ``scipy.stats.kendalltau``).

Every function accepts lists or numpy arrays and never raises on degenerate data: an empty input, fewer
than two points for a correlation, or a constant vector give ``nan``. Mismatched lengths are a caller bug
and do raise ``ValueError``.

The ``*_rows`` variants compute the same statistic for every row of a ``[B, n]`` array at once, and the
``*_counts`` variants for every bootstrap resample given as draw counts; the bootstrap uses them to score
1000 resamples in a few numpy calls.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata

from rarl.utils.ranking import kendall_tau_b

__all__ = [
    "accuracy",
    "accuracy_rows",
    "kendall_tau",
    "mae",
    "mae_rows",
    "plcc",
    "plcc_counts",
    "plcc_rows",
    "round_half_away",
    "srcc",
    "srcc_counts",
    "srcc_rows",
]


def _pair(pred: ArrayLike, label: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64)
    y = np.asarray(label, dtype=np.float64)
    if p.shape != y.shape:
        raise ValueError(f"predictions and labels differ in shape: {p.shape} vs {y.shape}")
    return p, y


def round_half_away(x: ArrayLike, precision: int = 0) -> np.ndarray:
    """Round to `precision` decimals, halves away from zero (2.5 -> 3, -2.5 -> -3), unlike numpy's
    round-half-to-even. A tiny relative nudge absorbs binary representation error (0.15 -> 0.2 at 1 d.p.)."""
    scale = 10.0**precision
    a = np.asarray(x, dtype=np.float64) * scale
    a = a + np.sign(a) * np.abs(a) * 1e-12
    return np.sign(a) * np.floor(np.abs(a) + 0.5) / scale


def mae(pred: ArrayLike, label: ArrayLike) -> float:
    """Mean absolute error; nan for empty input."""
    p, y = _pair(pred, label)
    if p.size == 0:
        return math.nan
    return float(np.mean(np.abs(p - y)))


def mae_rows(pred: np.ndarray, label: np.ndarray) -> np.ndarray:
    """MAE of each row of `[B, n]` arrays -> `[B]`."""
    return np.mean(np.abs(pred - label), axis=-1)


def accuracy(pred: ArrayLike, label: ArrayLike, precision: int = 0) -> float:
    """Exact-match accuracy in percent, after rounding predictions and labels to `precision` decimals
    (halves away from zero). nan for empty input."""
    p, y = _pair(pred, label)
    if p.size == 0:
        return math.nan
    hit = np.isclose(round_half_away(p, precision), round_half_away(y, precision), rtol=0.0, atol=1e-9)
    return float(100.0 * np.mean(hit))


def accuracy_rows(pred: np.ndarray, label: np.ndarray, precision: int = 0) -> np.ndarray:
    """Accuracy in percent of each row of `[B, n]` arrays -> `[B]`."""
    hit = np.isclose(round_half_away(pred, precision), round_half_away(label, precision), rtol=0.0, atol=1e-9)
    return 100.0 * np.mean(hit, axis=-1)


def plcc_rows(pred: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of `[B, n]` arrays -> `[B]`; nan for rows with n < 2 or a constant side."""
    pred = np.asarray(pred, dtype=np.float64)
    label = np.asarray(label, dtype=np.float64)
    if pred.shape[-1] < 2:
        return np.full(pred.shape[:-1], np.nan)
    pc = pred - pred.mean(axis=-1, keepdims=True)
    yc = label - label.mean(axis=-1, keepdims=True)
    num = np.sum(pc * yc, axis=-1)
    den = np.sqrt(np.sum(pc * pc, axis=-1) * np.sum(yc * yc, axis=-1))
    # A side is constant exactly when its range is zero (its centred values may be rounding noise).
    degenerate = (np.ptp(pred, axis=-1) == 0) | (np.ptp(label, axis=-1) == 0) | (den == 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(degenerate, np.nan, num / np.where(degenerate, 1.0, den))
    return np.clip(r, -1.0, 1.0)


def plcc(pred: ArrayLike, label: ArrayLike) -> float:
    """Pearson linear correlation coefficient; nan for fewer than 2 points or a constant vector."""
    p, y = _pair(pred, label)
    if p.ndim != 1:
        raise ValueError(f"plcc expects 1-D inputs, got shape {p.shape}")
    return float(plcc_rows(p[None, :], y[None, :])[0])


def _rank_rows(a: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean rank) along the last axis."""
    return rankdata(a, method="average", axis=-1).astype(np.float64)


def srcc_rows(pred: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of each row of `[B, n]` arrays -> `[B]`; nan where undefined."""
    pred = np.asarray(pred, dtype=np.float64)
    label = np.asarray(label, dtype=np.float64)
    if pred.shape[-1] < 2:
        return np.full(pred.shape[:-1], np.nan)
    return plcc_rows(_rank_rows(pred), _rank_rows(label))


def srcc(pred: ArrayLike, label: ArrayLike) -> float:
    """Spearman's rank correlation coefficient; nan for fewer than 2 points or a constant vector."""
    p, y = _pair(pred, label)
    if p.ndim != 1:
        raise ValueError(f"srcc expects 1-D inputs, got shape {p.shape}")
    return float(srcc_rows(p[None, :], y[None, :])[0])


def kendall_tau(pred: Sequence[float], label: Sequence[float]) -> float:
    """Kendall's tau-b between a predicted order (positions or values) and the true labels of one sample.

    `pred[i]` and `label[i]` describe the same image. nan when fewer than 2 images or either side is all ties.
    """
    if len(pred) != len(label):
        raise ValueError(f"kendall_tau: lengths differ ({len(pred)} vs {len(label)})")
    tau = kendall_tau_b([float(v) for v in pred], [float(v) for v in label])
    return math.nan if tau is None else float(tau)


# ----------------------------------------------------------------------------------------------------------
# Count-weighted forms for the bootstrap: a resample is the original data with draw counts `w` [B, n], so a
# statistic of every resample is a weighted statistic of the original data; no gathering, no sorting.


def _group_counts(v: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tie groups of `v` [n] in ascending order: (group of each item [n], draws per group [B, G])."""
    _, g = np.unique(v, return_inverse=True)  # g [n]
    order = np.argsort(g, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(g[order]) != 0])  # [G]
    return g, np.add.reduceat(counts[:, order], starts, axis=1)  # [n], [B, G]


def _weighted_pearson(x: np.ndarray, y: np.ndarray, w: np.ndarray, degenerate: np.ndarray) -> np.ndarray:
    """Pearson correlation of x, y ([n] or [B, n]) with weights w [B, n] -> [B]; nan where `degenerate`."""
    s = w.sum(axis=1, keepdims=True)  # [B, 1]
    xc = x - (w * x).sum(axis=1, keepdims=True) / s
    yc = y - (w * y).sum(axis=1, keepdims=True) / s
    cov = (w * xc * yc).sum(axis=1)
    den = np.sqrt((w * xc * xc).sum(axis=1) * (w * yc * yc).sum(axis=1))
    degenerate = degenerate | (den == 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(degenerate, np.nan, cov / np.where(degenerate, 1.0, den))
    return np.clip(r, -1.0, 1.0)


def plcc_counts(data: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """PLCC of every resample: `data` [n, 2] (prediction, label) pairs, `counts` [B, n] draws -> [B]."""
    pred, label = data[:, 0], data[:, 1]
    if pred.shape[0] < 2:
        return np.full(counts.shape[0], np.nan)
    const = np.zeros(counts.shape[0], dtype=bool)
    for v in (pred, label):
        _, gc = _group_counts(v, counts)
        const |= (gc > 0).sum(axis=1) <= 1
    return _weighted_pearson(pred, label, counts, const)


def srcc_counts(data: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """SRCC of every resample: `data` [n, 2] (prediction, label) pairs, `counts` [B, n] draws -> [B].

    Within a resample an item's average rank is (draws of strictly smaller values) + (draws of its tie group
    + 1) / 2, computed from cumulative group counts; SRCC is then the count-weighted Pearson of the ranks.
    """
    pred, label = data[:, 0], data[:, 1]
    if pred.shape[0] < 2:
        return np.full(counts.shape[0], np.nan)
    ranks, const = [], np.zeros(counts.shape[0], dtype=bool)
    for v in (pred, label):
        g, gc = _group_counts(v, counts)  # [n], [B, G]
        below = np.cumsum(gc, axis=1) - gc  # [B, G]
        ranks.append((below + (gc + 1.0) / 2.0)[:, g])  # [B, n]
        const |= (gc > 0).sum(axis=1) <= 1
    return _weighted_pearson(ranks[0], ranks[1], counts, const)
