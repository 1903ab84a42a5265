"""The Vision-R1 localization reward (rarl.rewards.localization), with expected values worked by hand."""

import dataclasses
import json
import math

import numpy as np
import pytest

from rarl.rewards.localization import (
    ADVANCED_THRESHOLDS,
    BEGINNER_THRESHOLDS,
    LocalizationBreakdown,
    differentiate,
    localization_reward,
    match_boxes,
    pairwise_overlap,
    parse_boxes,
    resized_frame,
    scale_boxes,
    staged_thresholds,
)

CATS = ["cat", "dog"]
FRAME = (100, 80)  # (width, height)


def answer(*entries, fence=True) -> str:
    """A Qwen2.5-VL grounding answer: `entries` are (box, label) pairs."""
    text = json.dumps([{"bbox_2d": list(box), "label": label} for box, label in entries])
    return f"```json\n{text}\n```" if fence else text


def score(completion, gt_boxes, gt_labels=None, **options) -> LocalizationBreakdown:
    labels = gt_labels if gt_labels is not None else ["cat"] * len(gt_boxes)
    return localization_reward(completion, gt_boxes, labels, CATS, FRAME, **options)


def components(b: LocalizationBreakdown) -> tuple[float, float, float, float]:
    return (b.format, b.recall, b.precision, b.total)


# --------------------------------------------------------------------------------------------------------------
# Overlap


@pytest.mark.parametrize(
    ("a", "b", "iou", "giou"),
    [
        # identical
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0, 1.0),
        # half of a: intersection 50, union 100; hull = a, so GIoU = IoU
        ([0, 0, 10, 10], [0, 0, 10, 5], 0.5, 0.5),
        # shifted by half a side: intersection 50, union 150 -> 1/3; hull 15 x 10 = 150 = union
        ([0, 0, 10, 10], [5, 0, 15, 10], 1 / 3, 1 / 3),
        # shifted diagonally: intersection 25, union 175 -> 1/7; hull 15 x 15 = 225 -> 1/7 - 50/225 = -5/63
        ([0, 0, 10, 10], [5, 5, 15, 15], 1 / 7, -5 / 63),
        # disjoint: IoU 0; hull 30 x 10 = 300, union 200 -> -100/300
        ([0, 0, 10, 10], [20, 0, 30, 10], 0.0, -1 / 3),
        # touching edges: IoU 0; hull 20 x 10 = union -> 0
        ([0, 0, 10, 10], [10, 0, 20, 10], 0.0, 0.0),
        # offset by 1 on both axes: intersection 81, union 119; hull 121 -> 81/119 - 2/121 = 9563/14399
        ([0, 0, 10, 10], [1, 1, 11, 11], 81 / 119, 9563 / 14399),
        # far apart diagonally: hull 100 x 100 = 10000, union 200 -> GIoU tends to -1: -9800/10000
        ([0, 0, 10, 10], [90, 90, 100, 100], 0.0, -0.98),
    ],
)
def test_pairwise_overlap_hand_worked(a, b, iou, giou):
    assert pairwise_overlap(np.array([a]), np.array([b]), "iou")[0, 0] == pytest.approx(iou, abs=1e-12)
    assert pairwise_overlap(np.array([a]), np.array([b]), "giou")[0, 0] == pytest.approx(giou, abs=1e-12)
    # symmetric
    assert pairwise_overlap(np.array([b]), np.array([a]), "giou")[0, 0] == pytest.approx(giou, abs=1e-12)


def test_pairwise_overlap_shape_and_unknown_kind():
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 5], [50, 50, 60, 60]])  # (3, 4)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10]])  # (2, 4)
    iou = pairwise_overlap(a, b)
    assert iou.shape == (3, 2)
    # [0,0,10,5] vs [5,0,15,10]: intersection 5 x 5 = 25, union 50 + 100 - 25 = 125 -> 0.2
    np.testing.assert_allclose(iou, [[1.0, 1 / 3], [0.5, 0.2], [0.0, 0.0]])
    with pytest.raises(ValueError, match="overlap"):
        pairwise_overlap(a, b, "dice")


# --------------------------------------------------------------------------------------------------------------
# Matching


def test_match_boxes_more_predictions_than_boxes():
    preds = [[50, 50, 60, 60], [0, 0, 10, 5], [0, 0, 10, 10]]
    # The perfect box wins the only ground-truth box; pairs are (pred, gt, IoU).
    assert match_boxes(preds, ["cat"] * 3, [[0, 0, 10, 10]], ["cat"]) == [(2, 0, 1.0)]


def test_match_boxes_fewer_predictions_than_boxes():
    gt = [[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]]
    preds = [[40, 0, 50, 5], [0, 0, 10, 10]]
    assert match_boxes(preds, ["cat"] * 2, gt, ["cat"] * 3) == [(0, 2, 0.5), (1, 0, 1.0)]


def test_match_boxes_maximises_summed_overlap():
    # All boxes span y in [0, 10], so IoU is the IoU of the x intervals.
    gt = [[0, 0, 100, 10], [10, 0, 110, 10]]
    preds = [[3, 0, 103, 10], [-20, 0, 80, 10]]
    # p0-g0: 97/103 = 0.942   p0-g1: 93/107 = 0.869
    # p1-g0: 80/120 = 0.667   p1-g1: 70/130 = 0.538
    # Greedy (best pair first) takes p0-g0 and leaves p1-g1: 0.942 + 0.538 = 1.480.
    # Hungarian takes p0-g1 and p1-g0: 0.869 + 0.667 = 1.536.
    pairs = match_boxes(preds, ["cat"] * 2, gt, ["cat"] * 2)
    assert pairs == [(0, 1, pytest.approx(93 / 107)), (1, 0, pytest.approx(2 / 3))]


def test_match_boxes_with_labels_keeps_same_label_pairs_only():
    gt = [[0, 0, 10, 10], [20, 0, 30, 10]]
    preds = [[0, 0, 10, 10], [20, 0, 30, 10]]
    # Labels swapped: box_only pairs the boxes (IoU 1 each); box_and_label pairs by label (IoU 0 each).
    assert match_boxes(preds, ["dog", "cat"], gt, ["cat", "dog"]) == [(0, 0, 1.0), (1, 1, 1.0)]
    assert match_boxes(preds, ["dog", "cat"], gt, ["cat", "dog"], matcher="box_and_label") == [
        (0, 1, 0.0),
        (1, 0, 0.0),
    ]
    # No prediction shares a label with the ground truth: nothing matches.
    assert match_boxes(preds, ["dog", "dog"], gt, ["cat", "cat"], matcher="box_and_label") == []
    assert match_boxes([], [], gt, ["cat", "dog"]) == []
    with pytest.raises(ValueError, match="matcher"):
        match_boxes(preds, ["cat"] * 2, gt, ["cat"] * 2, matcher="greedy")


# --------------------------------------------------------------------------------------------------------------
# The reward


def test_perfect_answer_full_marks():
    gt = [[10, 10, 50, 50], [60, 20, 90, 70]]
    b = score(answer((gt[0], "cat"), (gt[1], "dog")), gt, ["cat", "dog"])
    assert components(b) == (1.0, 1.0, 1.0, 3.0)
    assert (b.num_predictions, b.num_valid, b.num_matched, b.num_true_positives) == (2, 2, 2, 2)


def test_more_predictions_than_boxes():
    gt = [[0, 0, 10, 10]]
    completion = answer(([0, 0, 10, 10], "cat"), ([0, 0, 10, 5], "cat"), ([50, 50, 60, 60], "cat"))
    b = score(completion, gt)
    # One pair (IoU 1): recall 1/1; precision f(1)/M = 1/3.
    assert components(b) == pytest.approx((1.0, 1.0, 1 / 3, 7 / 3))
    assert (b.num_predictions, b.num_valid, b.num_matched, b.num_true_positives) == (3, 3, 1, 1)
    # The released code's reading averages over matched pairs: extra boxes cost nothing.
    assert score(completion, gt, precision_over="matched").precision == 1.0


def test_fewer_predictions_than_boxes():
    gt = [[0, 0, 10, 10], [20, 0, 30, 10]]
    b = score(answer(([0, 0, 10, 5], "cat")), gt)
    # IoU 0.5 >= xi0: one true positive. recall 1/2 = 0.5 = xi1 -> f keeps 0.5; precision f(0.5)/1 = 0.5.
    assert components(b) == (1.0, 0.5, 0.5, 2.0)
    assert (b.num_matched, b.num_true_positives) == (1, 1)


def test_duplicate_predictions_count_once_and_cost_precision():
    gt = [[0, 0, 10, 10]]
    b = score(answer(([0, 0, 10, 10], "cat"), ([0, 0, 10, 10], "cat")), gt)
    # Only one copy is matched: recall 1, precision 1/2.
    assert components(b) == (1.0, 1.0, 0.5, 2.5)
    assert (b.num_matched, b.num_true_positives) == (1, 1)
    assert (
        score(
            answer(([0, 0, 10, 10], "cat"), ([0, 0, 10, 10], "cat")), gt, precision_over="matched"
        ).precision
        == 1
    )


@pytest.mark.parametrize(
    "bad",
    [
        [5, 5, 5, 10],  # zero width
        [0, 7, 10, 7],  # zero height
        [10, 0, 0, 10],  # x1 > x2
        [0, 0, 101, 10],  # past the right edge (W = 100)
        [-1, 0, 10, 10],  # left of the frame
        [0, 0, 10, 80.5],  # below the bottom edge (H = 80)
        [0, 0, 10],  # three numbers
        [0, 0, 10, 10, 1],  # five numbers
        ["0", "0", "10", "10"],  # strings
        [0, 0, True, 10],  # a bool
        [0, 0, None, 10],
        [[0, 0], [10, 10]],
        "0,0,10,10",
    ],
)
def test_invalid_boxes_cost_format_and_are_not_matched(bad):
    gt = [[0, 0, 10, 10]]
    completion = json.dumps([{"bbox_2d": bad, "label": "cat"}, {"bbox_2d": [0, 0, 10, 10], "label": "cat"}])
    b = score(completion, gt)
    # The invalid entry is dropped before matching but still counts in M = 2: recall 1, precision 1/2.
    assert components(b) == (0.0, 1.0, 0.5, 1.5)
    assert (b.num_predictions, b.num_valid, b.num_matched) == (2, 1, 1)


def test_box_on_the_frame_edges_is_valid():
    gt = [[0, 0, 100, 80]]
    assert components(score(answer(([0, 0, 100, 80], "cat")), gt)) == (1.0, 1.0, 1.0, 3.0)
    assert score(answer(([0.5, 0.25, 99.5, 79.75], "cat")), gt).format == 1.0  # decimals are fine


@pytest.mark.parametrize(
    "entry",
    [
        {"bbox_2d": [0, 0, 10, 10], "label": "tiger"},  # outside the categories
        {"bbox_2d": [0, 0, 10, 10], "label": "Cat"},  # case matters
        {"bbox_2d": [0, 0, 10, 10]},  # no label
        {"bbox_2d": [0, 0, 10, 10], "label": 3},  # not a string
        {"box": [0, 0, 10, 10], "label": "cat"},  # wrong key
        [0, 0, 10, 10],  # not an object
    ],
)
def test_invalid_labels_and_entries(entry):
    gt = [[0, 0, 10, 10]]
    b = score(json.dumps([entry]), gt)
    # The only entry is invalid: nothing to match, format 0.
    assert components(b) == (0.0, 0.0, 0.0, 0.0)
    assert (b.num_predictions, b.num_valid) == (1, 0)


def test_box_only_vs_box_and_label():
    gt = [[0, 0, 10, 10], [0, 0, 10, 5]]
    gt_labels = ["cat", "dog"]
    completion = answer(([0, 0, 10, 10], "dog"))
    # box_only: the box goes to the cat box (IoU 1): recall 1/2 -> f(0.5) = 0.5, precision f(1)/1 = 1.
    assert components(score(completion, gt, gt_labels)) == (1.0, 0.5, 1.0, 2.5)
    # box_and_label: it must go to the dog box (IoU 0.5): recall 0.5, precision f(0.5) = 0.5.
    b = score(completion, gt, gt_labels, matcher="box_and_label")
    assert components(b) == (1.0, 0.5, 0.5, 2.0)
    assert (b.num_matched, b.num_true_positives) == (1, 1)


def test_box_and_label_never_matches_across_labels():
    gt = [[0, 0, 10, 10], [20, 0, 30, 10]]
    completion = answer(([0, 0, 10, 10], "dog"), ([20, 0, 30, 10], "cat"))  # labels swapped
    assert components(score(completion, gt, ["cat", "dog"])) == (1.0, 1.0, 1.0, 3.0)
    b = score(completion, gt, ["cat", "dog"], matcher="box_and_label")
    # Same-label pairs have IoU 0: two matched pairs, no true positive.
    assert components(b) == (1.0, 0.0, 0.0, 1.0)
    assert (b.num_matched, b.num_true_positives) == (2, 0)
    # Ground truth whose label is not a category can never be matched by label.
    b = score(answer(([0, 0, 10, 10], "cat")), [[0, 0, 10, 10]], ["lion"], matcher="box_and_label")
    assert (b.recall, b.precision, b.num_matched) == (0.0, 0.0, 0)


def test_precision_over_predictions_and_matched():
    gt = [[0, 0, 10, 10], [20, 0, 30, 10]]
    completion = answer(([0, 0, 10, 10], "cat"), ([20, 0, 30, 5], "cat"), ([50, 50, 60, 60], "cat"))
    # Pairs: IoU 1 and 0.5 (both true positives); the third box is unmatched. f(1) + f(0.5) = 1.5.
    b = score(completion, gt)
    assert (b.recall, b.precision) == (1.0, 0.5)  # 1.5 / M = 1.5 / 3
    b = score(completion, gt, precision_over="matched")
    assert (b.recall, b.precision) == (1.0, 0.75)  # 1.5 / 2 matched pairs
    # A matched pair below xi0 adds to the matched denominator but not to the sum:
    # pairs IoU 1 and 0 (the far box takes the second ground-truth box): (1 + 0) / 2.
    far = answer(([0, 0, 10, 10], "cat"), ([50, 50, 60, 60], "cat"))
    assert score(far, gt, precision_over="matched").precision == 0.5
    assert score(far, gt).precision == 0.5


def test_differentiation_on_and_off():
    gt = [[0, 0, 10, 10]]
    # IoU 0.8 >= xi2 = 0.75: f gives 1.
    assert score(answer(([0, 0, 10, 8], "cat")), gt).precision == 1.0
    assert score(answer(([0, 0, 10, 8], "cat")), gt, differentiation=False).precision == pytest.approx(0.8)
    # IoU 0.6 lies between xi1 and xi2: unchanged.
    assert score(answer(([0, 0, 10, 6], "cat")), gt).precision == pytest.approx(0.6)
    # IoU 0.49 < xi0: not a true positive at all.
    b = score(answer(([0, 0, 10, 4.9], "cat")), gt, differentiation=False)
    assert (b.recall, b.precision, b.num_matched, b.num_true_positives) == (0.0, 0.0, 1, 0)
    # Recall: 3 of 4 found = 0.75 = xi2 -> 1; 1 of 4 = 0.25 < xi1 -> 0; 2 of 3 stays 2/3.
    four = [[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10], [60, 0, 70, 10]]
    three_found = answer(*[(box, "cat") for box in four[:3]])
    assert score(three_found, four).recall == 1.0
    assert score(three_found, four, differentiation=False).recall == 0.75
    assert score(answer((four[0], "cat")), four).recall == 0.0
    assert score(answer((four[0], "cat")), four, differentiation=False).recall == 0.25
    assert score(answer((four[0], "cat"), (four[1], "cat")), four[:3]).recall == pytest.approx(2 / 3)


def test_xi0_and_the_advanced_stage():
    gt = [[0, 0, 10, 10]]
    completion = answer(([0, 0, 10, 6], "cat"))  # IoU 0.6
    assert score(completion, gt).recall == 1.0  # beginner: 0.6 >= 0.5
    xi0, xi1, xi2 = ADVANCED_THRESHOLDS
    b = score(completion, gt, xi0=xi0, xi1=xi1, xi2=xi2)
    assert (b.recall, b.precision, b.num_true_positives) == (0.0, 0.0, 0)  # 0.6 < 0.75
    # IoU 0.8 in the advanced stage: a true positive, below xi2 = 0.9, so kept as is.
    b = score(answer(([0, 0, 10, 8], "cat")), gt, xi0=xi0, xi1=xi1, xi2=xi2)
    assert (b.recall, b.precision) == (1.0, pytest.approx(0.8))


def test_giou_overlap():
    gt = [[0, 0, 10, 10]]
    completion = answer(([1, 1, 11, 11], "cat"))  # IoU 81/119 ~ 0.681, GIoU 9563/14399 ~ 0.664
    assert score(completion, gt, differentiation=False).precision == pytest.approx(81 / 119)
    assert score(completion, gt, differentiation=False, overlap="giou").precision == pytest.approx(
        9563 / 14399
    )
    # GIoU at or above xi0 still counts; below it (negative values included) it does not.
    assert score(answer(([5, 5, 15, 15], "cat")), gt, overlap="giou").recall == 0.0


def test_differentiate_edges():
    # Exactly xi1 is kept (not penalised), exactly xi2 gets full reward.
    assert differentiate(0.5, 0.5, 0.75) == 0.5
    assert differentiate(0.75, 0.5, 0.75) == 1.0
    assert differentiate(math.nextafter(0.5, 0), 0.5, 0.75) == 0.0
    assert differentiate(math.nextafter(0.75, 0), 0.5, 0.75) == math.nextafter(0.75, 0)
    assert differentiate(0.0, 0.5, 0.75) == 0.0
    assert differentiate(1.0, 0.5, 0.75) == 1.0
    assert differentiate(0.9, 0.75, 0.9) == 1.0
    assert differentiate(0.75, 0.75, 0.9) == 0.75


def test_iou_exactly_at_the_thresholds():
    gt = [[0, 0, 10, 10]]
    # IoU exactly 0.5 (= xi0 = xi1): a true positive worth 0.5.
    assert components(score(answer(([0, 0, 10, 5], "cat")), gt)) == (1.0, 1.0, 0.5, 2.5)
    # IoU exactly 0.75 (= xi2): worth 1.
    assert score(answer(([0, 0, 10, 7.5], "cat")), gt).precision == 1.0


def test_empty_answer_positive_and_negative_samples():
    # Negative sample answered with an empty list: full marks.
    assert components(score("[]", [])) == (1.0, 1.0, 1.0, 3.0)
    assert components(score("```json\n[]\n```", [])) == (1.0, 1.0, 1.0, 3.0)
    # Positive sample answered with an empty list: nothing, not even the format reward.
    assert components(score("[]", [[0, 0, 10, 10]])) == (0.0, 0.0, 0.0, 0.0)
    # Negative sample with boxes: recall 0 and precision 0 (documented choice), never full marks.
    b = score(answer(([0, 0, 10, 10], "cat")), [])
    assert components(b) == (1.0, 0.0, 0.0, 1.0)
    assert (b.num_predictions, b.num_valid, b.num_matched) == (1, 1, 0)
    assert score(answer(([0, 0, 10, 10], "cat")), [], precision_over="matched").precision == 0.0


GOOD_LIST = json.dumps([{"bbox_2d": [0, 0, 10, 10], "label": "cat"}])


@pytest.mark.parametrize(
    "completion",
    [
        GOOD_LIST,
        f"  \n{GOOD_LIST}\n",
        f"```json\n{GOOD_LIST}\n```",
        f"```JSON\n{GOOD_LIST}```",
        f"```\n{GOOD_LIST}\n```",
        f"```json {GOOD_LIST}```",
        f"<answer>{GOOD_LIST}</answer>",
        f"<think>one cat, top left</think>\n<answer>{GOOD_LIST}</answer>",
        f"<think>x</think><answer>\n```json\n{GOOD_LIST}\n```\n</answer>\n",
        # Qwen2.5-VL's pretty-printed output
        '```json\n[\n\t{"bbox_2d": [0, 0, 10, 10], "label": "cat"}\n]\n```',
    ],
)
def test_accepted_forms(completion):
    assert components(score(completion, [[0, 0, 10, 10]])) == (1.0, 1.0, 1.0, 3.0)


@pytest.mark.parametrize(
    "completion",
    [
        f"Here are the boxes:\n```json\n{GOOD_LIST}\n```",  # prose around a fenced block
        f"```json\n{GOOD_LIST}\n```\nDone.",
        f"I think <think>x</think><answer>{GOOD_LIST}</answer>",  # text before the think block
        f"<think>x</think>y<answer>{GOOD_LIST}</answer>",
        f"<answer>{GOOD_LIST}</answer> trailing",
        f"<think>a</think><think>b</think><answer>{GOOD_LIST}</answer>",
        f"<answer>Boxes: ```json\n{GOOD_LIST}\n```</answer>",
    ],
)
def test_template_errors_keep_the_boxes(completion):
    # The list is still read (recall and precision count), but the template check fails.
    parsed = parse_boxes(completion)
    assert parsed.ok and not parsed.template_ok
    assert components(score(completion, [[0, 0, 10, 10]])) == (0.0, 1.0, 1.0, 2.0)


@pytest.mark.parametrize(
    "completion",
    [
        "",
        "no boxes here",
        "[{'bbox_2d': [0, 0, 10, 10], 'label': 'cat'}]",  # Python literal, not JSON
        '[{"bbox_2d": [0, 0, 10, 10], "label": "cat"},]',  # trailing comma
        '[{"bbox_2d": [0, 0, 10, 10], "label": "cat"}',  # truncated generation
        '```json\n[{"bbox_2d": [0, 0, 10, 10], "label": "cat"}',  # truncated inside the fence
        f"{GOOD_LIST} and more text",
        f"<answer>{GOOD_LIST}</answer><answer>{GOOD_LIST}</answer>",  # two answer blocks
        f"</answer>{GOOD_LIST}<answer>",  # closing tag first
        f"<answer>{GOOD_LIST}",  # unclosed answer
        f"```json\n{GOOD_LIST}\n```\n```json\n{GOOD_LIST}\n```",  # two fenced blocks
        f"```python\n{GOOD_LIST}\n```",
        f"<think>x</think>{GOOD_LIST}",  # think without answer tags
        '{"bbox_2d": [0, 0, 10, 10], "label": "cat"}',  # an object, not a list
        "[" * 100_000,  # deep nesting
        "[" + "1," * 60_000 + "1]",  # longer than MAX_ANSWER_CHARS
    ],
)
def test_unparsable_completions_score_zero(completion):
    b = score(completion, [[0, 0, 10, 10]])
    assert components(b) == (0.0, 0.0, 0.0, 0.0)
    assert b.num_predictions == 0
    assert not parse_boxes(completion).ok


def test_degenerate_float_predictions_do_not_break_matching():
    # Valid by the rules (x1 < x2, y1 < y2, inside the frame) but with an area that underflows to 0: the
    # IoU would be 0/0; it counts as no overlap instead of reaching the matcher as NaN.
    tiny = json.dumps([{"bbox_2d": [0, 0, 5e-324, 0.4], "label": "cat"}])
    for overlap in ("iou", "giou"):
        b = score(tiny, [[0, 0, 10, 10]], overlap=overlap)
        assert components(b) == (1.0, 0.0, 0.0, 1.0)
    huge = np.array([[0, 0, 1e308, 1e308]])  # areas overflow to inf
    assert pairwise_overlap(huge, huge)[0, 0] == 0.0
    assert pairwise_overlap(huge, huge, "giou")[0, 0] == -1.0


@pytest.mark.parametrize("completion", [None, 3, b"[]", ["[]"]])
def test_non_string_completions_score_zero(completion):
    assert components(score(completion, [[0, 0, 10, 10]])) == (0.0, 0.0, 0.0, 0.0)


def test_json_edge_values_are_invalid_entries_not_errors():
    for coords in (
        "[0, 0, NaN, 10]",
        "[0, 0, Infinity, 10]",
        "[0, 0, 1e999, 10]",
        "[0, 0, " + "9" * 400 + ", 10]",
    ):
        completion = f'[{{"bbox_2d": {coords}, "label": "cat"}}]'
        parsed = parse_boxes(completion)
        assert parsed.ok and not parsed.all_valid
        assert components(score(completion, [[0, 0, 10, 10]])) == (0.0, 0.0, 0.0, 0.0)


def test_parse_boxes_reports_entries():
    completion = json.dumps(
        [
            {"bbox_2d": [1, 2, 30, 40.5], "label": "cat", "score": 0.9},
            {"bbox_2d": [50, 0, 40, 10], "label": "dog"},
            {"bbox_2d": [0, 0, 10, 10], "label": "lion"},
            {"bbox_2d": [0, 0, 10]},
            "oops",
        ]
    )
    parsed = parse_boxes(completion, FRAME, CATS)
    assert parsed.ok and parsed.template_ok and not parsed.all_valid and not parsed.format_ok
    assert parsed.n_entries == 5
    assert [e.valid for e in parsed.entries] == [True, False, False, False, False]
    first = parsed.entries[0]
    assert (first.box, first.label, first.problem) == ((1.0, 2.0, 30.0, 40.5), "cat", "")
    assert all(type(v) is float for v in first.box)
    assert parsed.entries[1].box == (50.0, 0.0, 40.0, 10.0)  # readable, but empty: evaluation may inspect it
    assert "x1 < x2" in parsed.entries[1].problem
    assert parsed.entries[2].problem == "label not among the categories"
    assert parsed.entries[3].box is None and parsed.entries[3].label is None
    assert parsed.entries[4].problem == "not an object"
    assert parsed.valid_entries() == (first,)
    # Without a frame or categories those checks are skipped.
    loose = parse_boxes(json.dumps([{"bbox_2d": [0, 0, 1000, 1000], "label": "lion"}]))
    assert loose.format_ok
    assert parse_boxes("[]").format_ok


def test_weights():
    gt = [[0, 0, 10, 10], [20, 0, 30, 10]]
    completion = answer(([0, 0, 10, 5], "cat"))  # format 1, recall 0.5, precision 0.5
    assert score(completion, gt, weights=(0.5, 2.0, 0.0)).total == pytest.approx(0.5 + 1.0)
    assert score(completion, gt, weights=(0, 0, 0)).total == 0.0


def test_breakdown_as_dict_and_frozen():
    b = score(answer(([0, 0, 10, 5], "cat")), [[0, 0, 10, 10], [20, 0, 30, 10]])
    assert b.as_dict() == {"format": 1.0, "recall": 0.5, "precision": 0.5, "total": 2.0}
    assert all(type(v) is float for v in b.as_dict().values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.total = 3.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"matcher": "greedy"}, "matcher"),
        ({"overlap": "dice"}, "overlap"),
        ({"precision_over": "gt"}, "precision_over"),
        ({"xi0": 1.5}, "xi0"),
        ({"xi1": -0.1}, "xi1"),
        ({"xi2": float("nan")}, "xi2"),
        ({"xi1": 0.8, "xi2": 0.7}, "xi1 must be <= xi2"),
        ({"weights": (1, 1)}, "weights"),
        ({"weights": (1, -1, 1)}, "weights"),
        ({"weights": "111"}, "weights"),
    ],
)
def test_invalid_options_raise(options, match):
    with pytest.raises(ValueError, match=match):
        score("[]", [[0, 0, 10, 10]], **options)


@pytest.mark.parametrize(
    ("gt_boxes", "gt_labels", "categories", "image_size"),
    [
        ([[0, 0, 10, 10]], ["cat", "dog"], CATS, FRAME),  # label count
        ([[0, 0, 10]], ["cat"], CATS, FRAME),  # not 4 numbers
        ([[0, 0, 10, float("inf")]], ["cat"], CATS, FRAME),
        ([[10, 0, 0, 10]], ["cat"], CATS, FRAME),  # x1 > x2
        ([["a", 0, 1, 1]], ["cat"], CATS, FRAME),
        ([[0, 0, 5e-324, 0.4]], ["cat"], CATS, FRAME),  # the area underflows to 0
        ([[0, 0, 10, 10]], ["cat"], [], FRAME),  # no categories
        ([[0, 0, 10, 10]], ["cat"], "cat", FRAME),  # a string, not a list
        ([[0, 0, 10, 10]], ["cat"], CATS, (0, 80)),
        ([[0, 0, 10, 10]], ["cat"], CATS, (100,)),
    ],
)
def test_invalid_ground_truth_raises(gt_boxes, gt_labels, categories, image_size):
    with pytest.raises(ValueError):
        localization_reward("[]", gt_boxes, gt_labels, categories, image_size)


def test_numpy_arguments_are_accepted():
    # Dataset columns often arrive as numpy arrays and scalars.
    gt = np.array([[0, 0, 10, 10], [20, 0, 30, 10]])
    b = localization_reward(
        answer(([0, 0, 10, 5], "cat")),
        gt,
        np.array(["cat", "dog"]),
        np.array(CATS),
        np.array([100, 80]),
        xi0=np.float32(0.5),
        weights=np.array([1.0, 1.0, 1.0]),
        matcher="box_and_label",
    )
    assert components(b) == (1.0, 0.5, 0.5, 2.0)
    assert staged_thresholds(np.float64(0.75), np.float32(0.5)) == ADVANCED_THRESHOLDS
    assert resized_frame(np.int64(640), np.int64(480), 56 * 56, 28 * 28 * 1280) == (644, 476)
    assert scale_boxes(gt, np.array([100, 80]), (50, 40)) == [[0.0, 0.0, 5.0, 5.0], [10.0, 0.0, 15.0, 5.0]]


# --------------------------------------------------------------------------------------------------------------
# Stages and frames


def test_staged_thresholds():
    assert BEGINNER_THRESHOLDS == (0.5, 0.5, 0.75)
    assert ADVANCED_THRESHOLDS == (0.75, 0.75, 0.9)
    assert staged_thresholds(0.0, 0.5) == BEGINNER_THRESHOLDS
    assert staged_thresholds(math.nextafter(0.5, 0), 0.5) == BEGINNER_THRESHOLDS
    assert staged_thresholds(0.5, 0.5) == ADVANCED_THRESHOLDS  # from STEP on
    assert staged_thresholds(1.0, 0.5) == ADVANCED_THRESHOLDS
    assert staged_thresholds(1 / 3, 1 / 3) == ADVANCED_THRESHOLDS
    # STEP = 1 never switches, even at the very end; STEP = 0 starts advanced.
    assert staged_thresholds(1.0, 1.0) == BEGINNER_THRESHOLDS
    assert staged_thresholds(0.0, 0.0) == ADVANCED_THRESHOLDS
    for progress, step in ((-0.1, 0.5), (1.1, 0.5), (0.5, 1.5), (float("nan"), 0.5), (0.5, None)):
        with pytest.raises(ValueError):
            staged_thresholds(progress, step)


def test_scale_boxes():
    # x scaled by 50/100, y by 400/200.
    assert scale_boxes([[10, 20, 30, 40]], (100, 200), (50, 400)) == [[5.0, 40.0, 15.0, 80.0]]
    assert scale_boxes([], (100, 200), (50, 400)) == []
    boxes = [[13, 7, 311, 211.5], [0, 0, 640, 480]]
    there = scale_boxes(boxes, (640, 480), (644, 476))
    assert there[1] == [0.0, 0.0, 644.0, 476.0]
    back = scale_boxes(there, (644, 476), (640, 480))
    np.testing.assert_allclose(back, boxes, rtol=1e-12)
    with pytest.raises(ValueError):
        scale_boxes([[1, 2, 3]], (10, 10), (20, 20))
    with pytest.raises(ValueError):
        scale_boxes([[1, 2, 3, 4]], (0, 10), (20, 20))


def test_resized_frame_hand_worked():
    # 640 x 480: 640/28 = 22.86 -> 23 * 28 = 644; 480/28 = 17.14 -> 17 * 28 = 476; 306,544 px is in range.
    assert resized_frame(640, 480, 56 * 56, 28 * 28 * 1280) == (644, 476)
    # Ties round to even: 42/28 = 1.5 -> 2 (56); 70/28 = 2.5 -> 2 (56). 56 * 56 = min_pixels, kept.
    assert resized_frame(42, 70, 56 * 56, 28 * 28 * 1280) == (56, 56)
    # Too small: 20 x 20 rounds to 28 x 28 = 784 < 3136; beta = sqrt(3136/400) = 2.8 -> ceil(56/28) * 28 = 56.
    assert resized_frame(20, 20, 56 * 56, 28 * 28 * 1280) == (56, 56)
    for bad in ((0, 10, 1, 10), (10, 10, 100, 10), (10.0, 10, 1, 1000), (3000, 10, 1, 10**9)):
        with pytest.raises(ValueError):
            resized_frame(*bad)


def _transformers_smart_resize():
    """transformers' smart_resize (height first); the torchvision-free copy when torchvision is missing."""
    try:
        from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize
    except ImportError:
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize
    return smart_resize


@pytest.mark.parametrize(
    ("width", "height", "min_pixels", "max_pixels"),
    [
        (640, 480, 56 * 56, 28 * 28 * 1280),
        (480, 640, 56 * 56, 28 * 28 * 1280),
        (1920, 1080, 56 * 56, 28 * 28 * 1280),  # shrunk to fit max_pixels
        (4032, 3024, 56 * 56, 28 * 28 * 1280),
        (8000, 60, 56 * 56, 28 * 28 * 1280),  # elongated
        (20, 20, 56 * 56, 28 * 28 * 1280),  # grown to min_pixels
        (42, 70, 56 * 56, 28 * 28 * 1280),  # rounding ties
        (1000, 1000, 3136, 12845056),  # the released training script's max_pixels
        (333, 517, 256 * 28 * 28, 1024 * 28 * 28),
        (1, 150, 56 * 56, 28 * 28 * 1280),
    ],
)
def test_resized_frame_agrees_with_transformers(width, height, min_pixels, max_pixels):
    smart_resize = _transformers_smart_resize()
    h, w = smart_resize(height, width, factor=28, min_pixels=min_pixels, max_pixels=max_pixels)
    assert resized_frame(width, height, min_pixels, max_pixels) == (w, h)
