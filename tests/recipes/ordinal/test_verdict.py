"""Paired verdicts: direction per metric, 'no difference' when the interval covers 0, unpairable cells."""

import numpy as np

from rarl.recipes.ordinal.scoring import SizeResult, score_size
from rarl.recipes.ordinal.verdict import paired_verdict, verdict_lines


def cell(metric, values, size=1):
    v = np.asarray(values, dtype=float)
    return SizeResult(size, metric, float(v.mean()), 0.0, 0.0, 0.0, len(v), {}, tuple(v))


def test_lower_mae_is_better_and_higher_tau_is_better():
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 3, 200)
    good = cell("mae", base - 0.5)  # every sample 0.5 closer
    bad = cell("mae", base)
    v = paired_verdict(good, bad)
    assert v.word == "better" and abs(v.difference + 0.5) < 1e-12 and v.ci_high < 0
    assert paired_verdict(bad, good).word == "worse"
    taus = rng.uniform(-1, 1, 200)
    assert paired_verdict(cell("tau", taus + 0.1, 2), cell("tau", taus, 2)).word == "better"


def test_pairing_sees_a_shift_the_unpaired_intervals_hide():
    rng = np.random.default_rng(1)
    spread = rng.uniform(0, 8, 100)  # huge shared sample-to-sample spread
    a, b = cell("mae", spread), cell("mae", spread + 0.05 + rng.normal(0, 0.01, 100))
    assert paired_verdict(a, b).word == "better"


def test_noise_gives_no_difference_and_unpairable_cells_give_none():
    rng = np.random.default_rng(2)
    a, b = cell("mae", rng.uniform(0, 2, 50)), cell("mae", rng.uniform(0, 2, 50))
    v = paired_verdict(a, b)
    assert v.ci_low < 0 < v.ci_high and v.word == "no difference"
    assert paired_verdict(a, cell("mae", [1.0] * 49)) is None  # different sample counts
    assert paired_verdict(a, SizeResult(1, "srcc", 0.5, 0.4, 0.6, 0.0, 50)) is None  # no per-sample values


def test_scoring_keeps_per_sample_values_and_they_survive_json():
    labels = [[1.0], [4.0], [9.0]]
    parsed = [None, None, None]  # failures: the value-range midpoint, 5
    res = score_size(1, labels, parsed, "mae", (1, 9), n_boot=50)
    assert res.per_sample == (4.0, 1.0, 4.0) and res.value == 3.0
    assert SizeResult.from_dict(res.as_dict()).per_sample == res.per_sample


def test_one_line_per_column():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 2, 80)
    results = {
        "base": {1: cell("mae", x + 1), 2: cell("tau", x / 2, 2)},
        "sft": {1: cell("mae", x), 2: cell("tau", x / 2, 2)},
        "rl": {1: cell("mae", x + 0.5), 2: cell("tau", x / 2, 2)},
    }
    lines = verdict_lines(results, sizes=(1, 2))
    assert len(lines) == 2
    assert lines[0].startswith("1-img mae: rl better vs base (-0.500") and "worse vs sft (+0.500" in lines[0]
    assert (
        lines[1]
        == "2-imgs tau: rl no difference vs base (+0.000 [+0.000, +0.000]); no difference vs sft (+0.000 [+0.000, +0.000])"
    )
