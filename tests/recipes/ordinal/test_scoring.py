"""The per-size scoring policy on hand-worked cases (see rarl.recipes.ordinal.scoring, docs/evaluation.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import stats

from rarl.recipes.ordinal.scoring import (
    SizeResult,
    higher_is_better,
    score_one_image,
    score_ranking,
    score_size,
)


@dataclass(frozen=True)
class P:
    """The two attributes scoring reads from a parsed answer."""

    ok: bool
    entries: tuple[tuple[int, float], ...]


@dataclass(frozen=True)
class PN(P):
    """A parsed answer that also reports its raw list length, as rarl.rewards.ParsedAnswer does."""

    n_entries: int = 0


def ans(*pairs):
    return P(True, tuple(pairs))


FAIL = P(False, ())


# ---------------------------------------------------------------------------------------------- N images


def test_tau_of_answer_order():
    labels = [10.0, 20.0, 30.0]
    assert score_ranking(labels, ans((1, 1), (2, 2), (3, 3))).tau == pytest.approx(1.0)
    assert score_ranking(labels, ans((3, 3), (2, 2), (1, 1))).tau == pytest.approx(-1.0)
    # order 2, 1, 3 -> true labels in answer order 20, 10, 30: 2 concordant, 1 discordant pair
    out = score_ranking(labels, ans((2, 0), (1, 0), (3, 0)))
    assert out.tau == pytest.approx(1 / 3)
    assert not out.failed
    assert out.tau_values == 0.0  # all predicted values equal: no implied order, chance


def test_values_implied_order_is_secondary():
    # listed ascending by id but the values say the opposite order
    out = score_ranking([10.0, 20.0, 30.0], ans((1, 30), (2, 20), (3, 10)))
    assert out.tau == pytest.approx(1.0)
    assert out.tau_values == pytest.approx(-1.0)


@pytest.mark.parametrize(
    "parsed",
    [
        None,  # no answer at all
        FAIL,  # did not parse
        P(False, ((1, 1), (2, 2), (3, 3))),  # entries but not ok
        ans((1, 1), (2, 2)),  # image 3 missing
        ans((1, 1), (2, 2), (2, 2), (3, 3)),  # duplicate id
        ans((1, 1), (2, 2), (4, 4)),  # id out of range
        ans((1, 1), (2, float("nan")), (3, 3)),  # non-finite value
        PN(True, ((1, 1), (2, 2), (3, 3)), n_entries=4),  # a fourth, invalid item in the list
    ],
)
def test_incomplete_answer_is_a_failure_scoring_tau_zero(parsed):
    out = score_ranking([10.0, 20.0, 30.0], parsed)
    assert out.failed and not out.excluded
    assert out.tau == 0.0 and out.tau_values == 0.0


def test_complete_answer_with_matching_n_entries_is_scored():
    out = score_ranking([10.0, 20.0, 30.0], PN(True, ((1, 1), (2, 2), (3, 3)), n_entries=3))
    assert not out.failed and out.tau == pytest.approx(1.0)


def test_tied_true_labels_exclude_the_sample():
    out = score_ranking([5.0, 5.0], ans((1, 1), (2, 2)))
    assert out.excluded and math.isnan(out.tau)


def test_tau_with_partially_tied_labels_is_tau_b():
    labels = [1.0, 1.0, 2.0, 3.0]
    out = score_ranking(labels, ans((2, 0), (1, 0), (4, 0), (3, 0)))
    expected = stats.kendalltau([0, 1, 2, 3], [1.0, 1.0, 3.0, 2.0]).statistic
    assert out.tau == pytest.approx(expected)


def test_score_size_ranking_mean_failure_rate_and_exclusions():
    labels = [[10.0, 20.0, 30.0]] * 4 + [[7.0, 7.0, 7.0]]
    parsed = [
        ans((1, 1), (2, 2), (3, 3)),  # 1
        FAIL,  # 0 (failure)
        ans((3, 3), (2, 2), (1, 1)),  # -1
        ans((2, 0), (1, 0), (3, 0)),  # 1/3
        ans((1, 1), (2, 2), (3, 3)),  # excluded: tied labels
    ]
    r = score_size(3, labels, parsed, metric="mae", value_range=(0, 100), n_boot=200, seed=0)
    assert r.metric == "tau" and r.size == 3
    assert r.value == pytest.approx((1 + 0 - 1 + 1 / 3) / 4)
    assert r.failure_rate == pytest.approx(0.25)
    assert r.n == 4
    assert r.extras["n_excluded"] == 1
    assert r.ci_low <= r.value <= r.ci_high
    # values: 1,2,3 (agree), failure, 3,2,1 for ids 3,2,1 (agree despite the order), all equal (chance)
    assert r.extras["tau_values"] == pytest.approx((1 + 0 + 1 + 0) / 4)


# ---------------------------------------------------------------------------------------------- 1 image


def test_one_image_failure_uses_the_midpoint_fallback():
    out = score_one_image([60.0], FAIL, value_range=(0, 100))
    assert out.failed and out.value is None and out.prediction == 50.0
    ok = score_one_image([60.0], ans((1, 58.0)), value_range=(0, 100))
    assert not ok.failed and ok.prediction == 58.0
    # an entry for another image does not count for image 1
    assert score_one_image([60.0], ans((2, 58.0)), value_range=(0, 100)).failed
    assert score_one_image([60.0], None, value_range=(0, 100)).failed


def test_score_size_mae_with_fallback():
    labels = [[20.0], [60.0], [40.0]]
    parsed = [ans((1, 25.0)), FAIL, ans((1, 40.0))]
    r = score_size(1, labels, parsed, metric="mae", value_range=(0, 100), n_boot=200)
    # errors: 5, |50 - 60| = 10, 0
    assert r.value == pytest.approx(5.0)
    assert r.failure_rate == pytest.approx(1 / 3)
    assert r.n == 3
    assert r.extras["mae_parsed"] == pytest.approx(2.5)
    assert r.ci_low <= r.value <= r.ci_high


def test_score_size_accuracy_rounds_and_counts_failures_wrong():
    # The fallback (midpoint 50) equals the third label, yet the failure counts as wrong.
    labels = [[3.0], [5.0], [50.0]]
    parsed = [ans((1, 2.5)), ans((1, 5.4)), FAIL]
    r = score_size(1, labels, parsed, metric="accuracy", value_range=(0, 100), precision=0, n_boot=200)
    assert r.value == pytest.approx(200 / 3)
    assert r.extras["accuracy_parsed"] == pytest.approx(100.0)


def test_score_size_srcc_uses_fallback_values():
    rng = np.random.default_rng(0)
    y = rng.uniform(1, 10, size=60)
    pred = y + rng.normal(size=60)
    parsed = [FAIL if i % 5 == 0 else ans((1, float(v))) for i, v in enumerate(pred)]
    r = score_size(1, [[v] for v in y], parsed, metric="srcc", value_range=(1, 10), n_boot=300)
    used = np.where(np.arange(60) % 5 == 0, 5.5, pred)
    assert r.value == pytest.approx(stats.spearmanr(used, y).statistic)
    assert r.extras["plcc"] == pytest.approx(stats.pearsonr(used, y).statistic)
    assert r.extras["srcc_parsed"] == pytest.approx(
        stats.spearmanr(pred[used != 5.5], y[used != 5.5]).statistic
    )
    assert r.failure_rate == pytest.approx(0.2)
    assert r.ci_low < r.value < r.ci_high


def test_score_size_is_deterministic_and_seeded():
    labels = [[float(i % 7)] for i in range(50)]
    parsed = [ans((1, float((i * 3) % 7))) for i in range(50)]
    a = score_size(1, labels, parsed, "mae", (0, 6), n_boot=100, seed=1)
    b = score_size(1, labels, parsed, "mae", (0, 6), n_boot=100, seed=1)
    assert a == b


def test_score_size_empty_and_errors():
    r = score_size(1, [], [], "mae", (0, 10))
    assert r.n == 0 and math.isnan(r.value) and math.isnan(r.failure_rate)
    with pytest.raises(ValueError):
        score_size(2, [[1.0]], [FAIL], "mae", (0, 10))  # label count != size
    with pytest.raises(ValueError):
        score_size(1, [[1.0]], [], "mae", (0, 10))
    with pytest.raises(ValueError):
        score_size(1, [[1.0]], [FAIL], "tau", (0, 10))


def test_higher_is_better():
    assert not higher_is_better("mae")
    assert all(higher_is_better(m) for m in ("accuracy", "srcc", "plcc", "tau"))
    with pytest.raises(ValueError):
        higher_is_better("rmse")


def test_size_result_dict_round_trip_with_nan():
    r = SizeResult(2, "tau", math.nan, 0.1, 0.2, 0.0, 0, {"tau_values": math.nan, "n_excluded": 3.0})
    d = r.as_dict()
    assert d["value"] is None and d["extras"]["tau_values"] is None
    back = SizeResult.from_dict(d)
    assert math.isnan(back.value) and back.ci_low == 0.1 and back.extras["n_excluded"] == 3.0


def test_works_with_the_real_parser():
    rewards = pytest.importorskip("rarl.rewards")
    text = "<think>older first?</think><answer>[{'image_id': 2, 'value': 30}, {'image_id': 1, 'value': 40}]</answer>"
    out = score_ranking([40.0, 30.0], rewards.parse_answer(text, 2))
    assert not out.failed and out.tau == pytest.approx(1.0)
    extra = "<think>x</think><answer>[{'image_id': 1, 'value': 1}, {'image_id': 2, 'value': 2}, {'image_id': 2, 'value': 3}]</answer>"
    assert score_ranking([1.0, 2.0], rewards.parse_answer(extra, 2)).failed
    one = score_one_image(
        [40.0], rewards.parse_answer("<answer>[{'image_id': 1, 'value': 41}]</answer>", 1), (0, 116)
    )
    assert one.prediction == 41.0
