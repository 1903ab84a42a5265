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
