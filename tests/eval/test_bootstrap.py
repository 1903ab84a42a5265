"""Percentile bootstrap: contains the estimate, deterministic by seed, narrows with n, modes agree."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rarl.eval.bootstrap import bootstrap_ci, mean_rows, resample_counts
from rarl.eval.metrics import srcc, srcc_counts


def test_ci_contains_estimate_and_is_deterministic():
    x = np.random.default_rng(0).exponential(size=500)
    lo, hi = bootstrap_ci(x, seed=7)
    assert lo < x.mean() < hi
    assert bootstrap_ci(x, seed=7) == (lo, hi)
    assert bootstrap_ci(x, seed=8) != (lo, hi)


def test_ci_narrows_with_more_samples():
    rng = np.random.default_rng(1)
    small = rng.normal(size=100)
    large = rng.normal(size=4000)
    w_small = np.subtract(*bootstrap_ci(small)[::-1])
    w_large = np.subtract(*bootstrap_ci(large)[::-1])
    assert w_large < w_small / 3  # width ~ 1/sqrt(n): ratio ~ 6.3


def test_ci_width_matches_normal_theory():
    x = np.random.default_rng(2).normal(size=2000)
    lo, hi = bootstrap_ci(x, n_resamples=2000, alpha=0.05)
    assert (hi - lo) == pytest.approx(2 * 1.96 / math.sqrt(2000), rel=0.15)


def test_srcc_pairs_ci_contains_estimate():
    rng = np.random.default_rng(3)
    y = rng.normal(size=1000)
    p = y + rng.normal(size=1000)
    lo, hi = bootstrap_ci(np.stack([p, y], axis=1), srcc_counts, mode="counts")
    assert lo < srcc(p, y) < hi


def test_modes_draw_the_same_resamples():
    x = np.random.default_rng(4).normal(size=300)
    gathered = bootstrap_ci(x, mean_rows, n_resamples=200, seed=5)
    looped = bootstrap_ci(x, np.mean, n_resamples=200, seed=5, mode="loop")
    counted = bootstrap_ci(x, lambda d, c: c @ d / len(d), n_resamples=200, seed=5, mode="counts")
    np.testing.assert_allclose(gathered, looped)
    np.testing.assert_allclose(gathered, counted)


def test_chunking_does_not_change_the_result(monkeypatch):
    import rarl.eval.bootstrap as B

    x = np.random.default_rng(6).normal(size=(500, 2))
    stat = lambda a: a[..., 0].mean(axis=1) - a[..., 1].mean(axis=1)  # noqa: E731
    full = bootstrap_ci(x, stat, seed=1)
    monkeypatch.setattr(B, "_CHUNK_ELEMENTS", 5000)  # 5 resamples per chunk
    assert bootstrap_ci(x, stat, seed=1) == full


def test_resample_counts_sum_to_n():
    idx = np.random.default_rng(0).integers(0, 10, size=(4, 10))
    c = resample_counts(idx, 10)
    assert c.shape == (4, 10)
    np.testing.assert_array_equal(c.sum(axis=1), [10] * 4)
    assert c[0, idx[0, 0]] >= 1


def test_degenerate_inputs():
    assert all(math.isnan(v) for v in bootstrap_ci([]))
    assert bootstrap_ci([3.0]) == (3.0, 3.0)
    const = np.stack([np.ones(20), np.arange(20.0)], axis=1)
    assert all(math.isnan(v) for v in bootstrap_ci(const, srcc_counts, mode="counts"))
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, 2.0], alpha=1.5)
