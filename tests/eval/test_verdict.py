"""Paired differences of per-sample values: the word follows the metric's direction, unpairable gives None."""

import numpy as np

from rarl.eval.verdict import paired_difference


def test_direction_follows_the_metric():
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 3, 200)
    v = paired_difference(base - 0.5, base, higher_is_better=False)  # lower error: better
    assert v.word == "better" and abs(v.difference + 0.5) < 1e-12 and v.ci_high < 0 and v.n == 200
    assert paired_difference(base - 0.5, base, higher_is_better=True).word == "worse"
    assert paired_difference(base + 0.1, base, higher_is_better=True).word == "better"


def test_noise_is_no_difference_and_unpairable_values_give_none():
    rng = np.random.default_rng(2)
    v = paired_difference(rng.uniform(0, 2, 50), rng.uniform(0, 2, 50), higher_is_better=False)
    assert v.ci_low < 0 < v.ci_high and v.word == "no difference"
    assert paired_difference([1.0, 2.0], [1.0], higher_is_better=False) is None  # different counts
    assert paired_difference([], [], higher_is_better=True) is None  # no values


def test_paired_statistic_difference_resamples_the_same_rows_for_both():
    from rarl.eval import metrics as M
    from rarl.eval.verdict import paired_statistic_difference

    mos = np.arange(10.0)
    mine, reversed_ = np.column_stack([mos, mos]), np.column_stack([mos[::-1], mos])  # [10, 2] (pred, label)
    v = paired_statistic_difference(mine, reversed_, M.srcc_counts, higher_is_better=True)
    # SRCC +1 against -1 on every resample that is not constant: the interval is the point, +2
    assert v.difference == 2.0 and v.ci_low == v.ci_high == 2.0 and v.word == "better" and v.n == 10
    assert paired_statistic_difference(reversed_, mine, M.srcc_counts, higher_is_better=True).word == "worse"
    same = paired_statistic_difference(mine, mine, M.srcc_counts, higher_is_better=True)
    assert (same.difference, same.ci_low, same.ci_high, same.word) == (0.0, 0.0, 0.0, "no difference")
    constant = np.column_stack([np.ones(10), mos])
    assert paired_statistic_difference(mine, constant, M.srcc_counts, higher_is_better=True) is None
    assert paired_statistic_difference(mine, mine[:5], M.srcc_counts, higher_is_better=True) is None


def test_paired_statistic_difference_of_a_mean_is_the_paired_mean_difference():
    from rarl.eval.verdict import paired_statistic_difference

    rng = np.random.default_rng(1)
    a, b = rng.uniform(0, 3, 80), rng.uniform(0, 3, 80)
    by_mean = paired_difference(a, b, higher_is_better=False, n_boot=200, seed=3)
    gathered = paired_statistic_difference(
        a, b, lambda g: g[..., 0].mean(axis=1), higher_is_better=False, n_boot=200, seed=3, mode="gather"
    )
    assert gathered.word == by_mean.word and gathered.n == 80
    assert np.allclose(
        [gathered.difference, gathered.ci_low, gathered.ci_high],
        [by_mean.difference, by_mean.ci_low, by_mean.ci_high],
        rtol=0,
        atol=1e-12,
    )
