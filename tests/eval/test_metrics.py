"""rarl.eval.metrics against scipy and hand-worked values; degenerate inputs give nan, never raise."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from rarl.eval.bootstrap import bootstrap_ci
from rarl.eval.metrics import (
    accuracy,
    kendall_tau,
    mae,
    plcc,
    plcc_counts,
    plcc_rows,
    round_half_away,
    srcc,
    srcc_counts,
    srcc_rows,
)


@pytest.mark.parametrize("seed", range(5))
def test_correlations_match_scipy_on_random_data(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 300))
    y = rng.normal(size=n)
    p = y + rng.normal(size=n)
    # Ties on both sides, as integer ages or counts have.
    p_int, y_int = np.round(p * 2), np.round(y * 2)
    for a, b in ((p, y), (p_int, y_int)):
        assert srcc(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12)
        assert plcc(a, b) == pytest.approx(stats.pearsonr(a, b).statistic, abs=1e-12)
        assert kendall_tau(list(a), list(b)) == pytest.approx(stats.kendalltau(a, b).statistic, abs=1e-12)


def test_mae_and_lists():
    assert mae([1, 2, 3], [2, 2, 5]) == pytest.approx(1.0)
    assert mae(np.array([4.5]), np.array([3.0])) == pytest.approx(1.5)


@pytest.mark.parametrize(
    "fn", [lambda a, b: srcc(a, b), lambda a, b: plcc(a, b), lambda a, b: kendall_tau(a, b)]
)
@pytest.mark.parametrize(
    "a,b",
    [
        ([], []),
        ([1.0], [2.0]),
        ([3.0, 3.0, 3.0], [1.0, 2.0, 3.0]),  # constant prediction
        ([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]),  # constant labels
        ([0.1, 0.1, 0.1], [0.3, 0.1, 0.2]),  # constant with a non-representable value
    ],
)
def test_degenerate_correlations_are_nan(fn, a, b):
    assert math.isnan(fn(a, b))


def test_empty_mae_and_accuracy_are_nan():
    assert math.isnan(mae([], []))
    assert math.isnan(accuracy([], []))


def test_length_mismatch_raises():
    with pytest.raises(ValueError):
        mae([1, 2], [1])
    with pytest.raises(ValueError):
        kendall_tau([1, 2], [1])


def test_accuracy_rounds_predictions_to_precision_half_away_from_zero():
    # 2.5 -> 3 (numpy's round would give 2), 3.49 -> 3, 4.6 -> 5, 7 -> 7 (label 8: wrong)
    assert accuracy([2.5, 3.49, 4.6, 7.0], [3, 3, 5, 8]) == pytest.approx(75.0)
    # One decimal: 0.15 -> 0.2, 0.26 -> 0.3, 0.34 -> 0.3
    assert accuracy([0.15, 0.26, 0.34], [0.2, 0.3, 0.4], precision=1) == pytest.approx(200 / 3)
    np.testing.assert_allclose(round_half_away([-2.5, 2.5, 0.5, 1.45], 0), [-3, 3, 1, 1])


def test_row_variants_match_scalar_functions():
    rng = np.random.default_rng(3)
    p, y = rng.normal(size=(7, 40)), rng.normal(size=(7, 40))
    p[2] = 1.0  # a constant row
    r = srcc_rows(p, y)
    assert math.isnan(r[2])
    for i in (0, 1, 3):
        assert r[i] == pytest.approx(stats.spearmanr(p[i], y[i]).statistic, abs=1e-12)
        assert plcc_rows(p, y)[i] == pytest.approx(stats.pearsonr(p[i], y[i]).statistic, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=30),
    st.integers(0, 2**31 - 1),
)
def test_count_weighted_correlations_equal_gathered_resamples(pairs, seed):
    """The counts form of SRCC/PLCC scores exactly the resamples the gathered form scores (ties included)."""
    data = np.array(pairs, dtype=float)
    for counts_fn, rows_fn in ((srcc_counts, srcc_rows), (plcc_counts, plcc_rows)):
        a = bootstrap_ci(data, counts_fn, n_resamples=50, seed=seed, mode="counts")
        b = bootstrap_ci(data, lambda x, f=rows_fn: f(x[..., 0], x[..., 1]), n_resamples=50, seed=seed)
        np.testing.assert_allclose(a, b, atol=1e-9, equal_nan=True)
