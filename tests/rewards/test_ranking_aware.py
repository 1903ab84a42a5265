"""RankingAwareReward: hand-worked values of every term (Eq. 3-8) and of the edge cases we pinned."""

import json
import math

import pytest

from rarl.rewards import RankingAwareReward, RewardBreakdown


def completion(pairs, *, quote="json", think="reasoning", before="", after="") -> str:
    """A completion whose answer lists (image_id, value) pairs in the given order."""
    items = [{"image_id": i, "value": v} for i, v in pairs]
    text = json.dumps(items) if quote == "json" else repr(items)
    return f"{before}<think>{think}</think><answer>{text}</answer>{after}"


def assert_breakdown(b: RewardBreakdown, **expected: float) -> None:
    for name, value in expected.items():
        assert getattr(b, name) == pytest.approx(value, abs=1e-12), name


R = RankingAwareReward(delta=5.0)


# --- regression (Eq. 3) -------------------------------------------------------------------------------


def test_perfect_three_image_answer():
    b = R.score(completion([(1, 20), (2, 30), (3, 40)]), [20, 30, 40])
    assert_breakdown(b, regression=1, length=1, consistency=1, accuracy=1, ranking=3, format=1, total=5)


def test_regression_per_image_and_mean_over_all_images():
    # errors 2, 0, 10 with delta 5: (1 - 2/10)^2 = 0.64, 1, 0 (beyond delta); mean over 3 images.
    b = R.score(completion([(1, 22), (2, 30), (3, 50)]), [20, 30, 40])
    assert_breakdown(b, regression=(0.64 + 1 + 0) / 3, length=1, consistency=1, accuracy=1, format=1)
    assert b.total == pytest.approx(1.64 / 3 + 3 + 1)


@pytest.mark.parametrize(
    ("pred", "expected"),
    [
        (30.0, 1.0),
        (32.5, 0.5625),  # (1 - 2.5/10)^2
        (27.5, 0.5625),  # symmetric
        (35.0, 0.25),  # |err| == delta is inside the tolerance: (1 - 1/2)^2
        (25.0, 0.25),
        (35.000001, 0.0),  # just outside
        (0.0, 0.0),
    ],
)
def test_regression_tolerance(pred, expected):
    b = R.score(completion([(1, pred)]), [30])
    assert b.regression == pytest.approx(expected)


def test_regression_uses_delta():
    b = RankingAwareReward(delta=2.0).score(completion([(1, 31)]), [30])
    assert b.regression == pytest.approx((1 - 1 / 4) ** 2)


# --- ranking terms (Eq. 4-7) --------------------------------------------------------------------------


def test_reversed_order_scores_zero_on_both_tau_terms():
    b = R.score(completion([(3, 40), (2, 30), (1, 20)]), [20, 30, 40])
    # Values descend along the list (tau -1) and so do the labels (tau -1).
    assert_breakdown(b, regression=1, length=1, consistency=0, accuracy=0, ranking=1, format=1, total=3)


def test_one_swapped_pair_of_four():
    # order 2,1,3,4 with exact values: 5 concordant, 1 discordant pair -> tau = 4/6, term = 5/6.
    b = R.score(completion([(2, 2), (1, 1), (3, 3), (4, 4)]), [1, 2, 3, 4])
    assert_breakdown(b, regression=1, length=1, consistency=5 / 6, accuracy=5 / 6, format=1)
    assert b.ranking == pytest.approx(1 + 5 / 3)
    assert b.total == pytest.approx(1 + (1 + 5 / 3) + 1)


def test_consistency_and_accuracy_differ():
    # Listed in the true order (accuracy 1) but with values 25, 15, 35 that do not follow it:
    # pairs (25,15) discordant, (25,35) and (15,35) concordant -> tau 1/3 -> consistency 2/3.
    # Regression: errors 15, 5, 5 -> 0, 0.25, 0.25.
    b = R.score(completion([(1, 25), (2, 15), (3, 35)]), [10, 20, 30])
    assert_breakdown(b, regression=0.5 / 3, length=1, consistency=2 / 3, accuracy=1, format=1)


def test_ties_in_predicted_values_use_tau_b():
    # values 10, 10, 30: one tied pair, two concordant -> tau_b = 2 / sqrt(3 * 2).
    b = R.score(completion([(1, 10), (2, 10), (3, 30)]), [10, 20, 30])
    tau_b = 2 / math.sqrt(6)
    assert_breakdown(b, consistency=(tau_b + 1) / 2, accuracy=1, regression=2 / 3)


def test_all_predicted_values_tied_gives_zero_consistency():
    b = R.score(completion([(1, 20), (2, 20), (3, 20)]), [10, 20, 30])
    assert_breakdown(b, consistency=0, accuracy=1, length=1, format=1)


def test_all_labels_tied_gives_zero_accuracy():
    b = R.score(completion([(1, 5), (2, 6)]), [5, 5])
    assert_breakdown(b, consistency=1, accuracy=0, length=1)


def test_missing_ids():
    # 2 of 4 entries: length 1 - (4-2)/4 = 0.5; regression (1 + 1)/4; format is still 1.
    b = R.score(completion([(1, 10), (3, 30)]), [10, 20, 30, 40])
    assert_breakdown(b, regression=0.5, length=0.5, consistency=1, accuracy=1, ranking=2.5, format=1, total=4)


def test_single_entry_of_several_images_has_no_tau_terms():
    b = R.score(completion([(2, 20)]), [10, 20, 30])
    assert_breakdown(b, regression=1 / 3, length=1 / 3, consistency=0, accuracy=0, ranking=1 / 3, format=1)


def test_extra_entries_zero_the_length_term_and_the_format():
    # id 3 is out of range for N = 2: invalid, and 3 entries > 2 images.
    b = R.score(completion([(1, 10), (2, 20), (3, 30)]), [10, 20])
    assert_breakdown(b, regression=1, length=0, consistency=1, accuracy=1, ranking=2, format=0, total=3)


def test_duplicate_id_first_entry_counts():
    # entries (2, 20) and (1, 10); the repeat (2, 99) is invalid but counts as a list entry (n = 3 = N).
    b = R.score(completion([(2, 20), (2, 99), (1, 10)]), [10, 20, 30])
    assert_breakdown(b, regression=2 / 3, length=1, consistency=0, accuracy=0, ranking=1, format=0)
    assert b.total == pytest.approx(2 / 3 + 1)


def test_single_image_has_no_ranking_terms():
    b = R.score(completion([(1, 32)]), [30])
    assert_breakdown(b, regression=0.64, length=0, consistency=0, accuracy=0, ranking=0, format=1, total=1.64)


def test_empty_answer_list():
    b = R.score(completion([]), [10, 20])
    assert_breakdown(b, regression=0, length=0, consistency=0, accuracy=0, ranking=0, format=1, total=1)


# --- format -------------------------------------------------------------------------------------------


def test_value_range_gates_the_format_only():
    reward = RankingAwareReward(delta=5.0, value_range=(0, 100))
    inside = reward.score(completion([(1, 0), (2, 100)]), [0, 100])
    assert_breakdown(inside, format=1, regression=1, ranking=3)  # bounds are inclusive
    outside = reward.score(completion([(1, 0), (2, 101)]), [0, 100])
    assert_breakdown(outside, format=0, regression=(1 + (1 - 1 / 10) ** 2) / 2, ranking=3)
    assert outside.total == pytest.approx(outside.regression + 3)


def test_text_outside_the_blocks_fails_the_format_only():
    pairs, labels = [(1, 10), (2, 20)], [10, 20]
    clean = R.score(completion(pairs), labels)
    for noisy in (
        completion(pairs, before="Sure. "),
        completion(pairs, after=" Hope this helps."),
        f"<answer>{json.dumps([{'image_id': i, 'value': v} for i, v in pairs])}</answer>",
    ):
        b = R.score(noisy, labels)
        assert b.format == 0
        assert (b.regression, b.ranking) == (clean.regression, clean.ranking)
        assert b.total == pytest.approx(clean.total - 1)


def test_whitespace_around_the_blocks_keeps_the_format():
    b = R.score(completion([(1, 10)], before="\n  ", after="\n"), [10])
    assert b.format == 1


@pytest.mark.parametrize(
    "answer",
    [
        '[{"image_id": 1, "value": true}, {"image_id": 2, "value": 20}]',
        '[{"image_id": 1, "value": NaN}, {"image_id": 2, "value": 20}]',
        '[{"image_id": 1, "value": Infinity}, {"image_id": 2, "value": 20}]',
        '[{"image_id": 1, "value": "ten"}, {"image_id": 2, "value": 20}]',
        '[{"image_id": 1, "value": null}, {"image_id": 2, "value": 20}]',
        '[{"image_id": true, "value": 10}, {"image_id": 2, "value": 20}]',
        '["image 1: 10", {"image_id": 2, "value": 20}]',
    ],
)
def test_invalid_entry_scores_as_a_missing_prediction_and_fails_the_format(answer):
    b = R.score(f"<think>x</think><answer>{answer}</answer>", [10, 20])
    # Only image 2 has a valid prediction; both list items count for the length term.
    assert_breakdown(b, regression=0.5, length=1, consistency=0, accuracy=0, format=0, total=1.5)


# --- syntax variants ----------------------------------------------------------------------------------


def test_single_quotes_score_like_json():
    pairs, labels = [(2, 33.5), (1, 41), (3, 58)], [40, 30, 60]
    assert R.score(completion(pairs, quote="python"), labels) == R.score(completion(pairs), labels)
    assert "'image_id'" in completion(pairs, quote="python")


def test_numeric_strings_score_like_numbers():
    as_numbers = R.score(completion([(1, 23.5), (2, 30)]), [24, 31])
    as_strings = R.score(completion([(1, "23.5"), (2, "30")]), [24, 31])
    assert as_strings == as_numbers
    assert as_numbers.format == 1


# --- unparsable answers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "I think the first person is older.",
        "<think>x</think>",
        "<think>x</think><answer>[{'image_id': 1, 'value': 10}</answer>",
        "<think>x</think><answer>none</answer>",
        '<think>x</think><answer>[{"image_id": 1, "value": 10}]</answer><answer>[]</answer>',
        '<answer>[{"image_id": 1, "value": 10}]</answer>\n<answer>[{"image_id": 2, "value": 20}]</answer>',
    ],
)
def test_unparsable_answer_scores_zero_everywhere(text):
    b = R.score(text, [10, 20])
    assert b.as_dict() == dict.fromkeys(
        ("regression", "length", "consistency", "accuracy", "ranking", "format", "total"), 0.0
    )


# --- weights, batch, logging, constructor -------------------------------------------------------------


def test_weights_combine_linearly():
    text, labels = completion([(1, 22), (2, 30)]), [20, 30]
    base = RankingAwareReward(delta=5.0).score(text, labels)
    stage1 = RankingAwareReward(delta=5.0, weights=(1, 0, 1)).score(text, labels)
    custom = RankingAwareReward(delta=5.0, weights=(2.0, 0.5, 3.0)).score(text, labels)
    assert stage1.total == pytest.approx(base.regression + base.format)
    assert custom.total == pytest.approx(2 * base.regression + 0.5 * base.ranking + 3 * base.format)
    assert (custom.regression, custom.ranking, custom.format) == (base.regression, base.ranking, base.format)


def test_as_dict_has_every_component_and_the_total():
    b = R.score(completion([(1, 22), (2, 30)]), [20, 30])
    d = b.as_dict()
    assert list(d) == ["regression", "length", "consistency", "accuracy", "ranking", "format", "total"]
    assert d == {name: getattr(b, name) for name in d}
    assert all(type(v) is float for v in d.values())


def test_score_batch_matches_score():
    completions = [completion([(1, 22), (2, 30)]), "garbage", completion([(1, 5)], quote="python")]
    labels = [[20, 30], [1, 2], (5,)]
    assert R.score_batch(completions, labels) == [
        R.score(c, y) for c, y in zip(completions, labels, strict=True)
    ]
    with pytest.raises(ValueError, match="2 completions but 1"):
        R.score_batch(completions[:2], labels[:1])


def test_labels_may_be_any_sequence():
    text = completion([(1, 22), (2, 30)])
    assert R.score(text, (20, 30)) == R.score(text, [20.0, 30.0])
    assert R.score(text, range(20, 31, 10)) == R.score(text, [20, 30])


def test_empty_labels_are_a_caller_error():
    with pytest.raises(ValueError, match="labels"):
        R.score(completion([(1, 1)]), [])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"delta": 0},
        {"delta": -1},
        {"delta": float("nan")},
        {"delta": float("inf")},
        {"delta": "five"},
        {"delta": True},
        {"weights": (1.0, 1.0)},
        {"weights": (1.0, 1.0, 1.0, 1.0)},
        {"weights": (1.0, -1.0, 1.0)},
        {"weights": (1.0, float("nan"), 1.0)},
        {"weights": "111"},
        {"weights": 1.0},
        {"value_range": (10, 0)},
        {"value_range": (0, 1, 2)},
        {"value_range": (0, float("inf"))},
        {"value_range": "0-116"},
    ],
)
def test_invalid_constructor_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        RankingAwareReward(**kwargs)


def test_constructor_normalises_arguments():
    reward = RankingAwareReward(delta=3, weights=[1, 0, 2], value_range=[0, 116])
    assert reward.delta == 3.0
    assert reward.weights == (1.0, 0.0, 2.0)
    assert reward.value_range == (0.0, 116.0)
    assert "delta=3.0" in repr(reward)


def test_breakdown_is_immutable():
    b = R.score(completion([(1, 1)]), [1])
    with pytest.raises(AttributeError):
        b.total = 10.0  # type: ignore[misc]
