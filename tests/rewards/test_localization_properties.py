"""Property tests of the Vision-R1 localization reward: it never raises and stays in bounds on any text; an
answer that repeats the ground truth gets full marks under every option; invalid entries only ever cost;
`resized_frame` agrees with transformers' `smart_resize`."""

import json
import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rarl.rewards.localization import (
    LocalizationBreakdown,
    differentiate,
    localization_reward,
    parse_boxes,
    resized_frame,
    scale_boxes,
)

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CATEGORIES = ["cat", "dog", "traffic light"]
WIDTH, HEIGHT = 640, 480

# --------------------------------------------------------------------------------------------------------------
# Strategies

thresholds_st = st.tuples(
    st.floats(min_value=0, max_value=1),
    st.floats(min_value=0, max_value=1),
    st.floats(min_value=0, max_value=1),
).map(lambda t: (t[0], min(t[1], t[2]), max(t[1], t[2])))  # (xi0, xi1, xi2) with xi1 <= xi2
options_st = st.fixed_dictionaries(
    {
        "differentiation": st.booleans(),
        "matcher": st.sampled_from(["box_only", "box_and_label"]),
        "overlap": st.sampled_from(["iou", "giou"]),
        "precision_over": st.sampled_from(["predictions", "matched"]),
        "weights": st.tuples(*[st.floats(min_value=0, max_value=10, allow_nan=False)] * 3),
    }
)


@st.composite
def box_st(draw, integer: bool | None = None) -> list[float]:
    """A valid box inside the WIDTH x HEIGHT frame."""
    if integer is None:
        integer = draw(st.booleans())
    if integer:
        xs = draw(st.lists(st.integers(0, WIDTH), min_size=2, max_size=2, unique=True))
        ys = draw(st.lists(st.integers(0, HEIGHT), min_size=2, max_size=2, unique=True))
    else:  # sides of at least 1e-3 px, so that areas stay well away from underflow
        xs = draw(st.lists(st.floats(0, WIDTH), min_size=2, max_size=2, unique=True))
        ys = draw(st.lists(st.floats(0, HEIGHT), min_size=2, max_size=2, unique=True))
        assume(abs(xs[0] - xs[1]) >= 1e-3 and abs(ys[0] - ys[1]) >= 1e-3)
    return [min(xs), min(ys), max(xs), max(ys)]


gt_st = st.lists(st.tuples(box_st(), st.sampled_from(CATEGORIES)), max_size=8)


def wrap(list_text: str, form: str) -> str:
    """`list_text` in one of the accepted answer forms."""
    return {
        "bare": list_text,
        "fenced": f"```json\n{list_text}\n```",
        "answer": f"<answer>{list_text}</answer>",
        "think": f"<think>Looking at the image.</think>\n<answer>```json\n{list_text}\n```</answer>",
    }[form]


form_st = st.sampled_from(["bare", "fenced", "answer", "think"])

# Completions built from the pieces a model emits, so that tags, fences and entries actually occur.
fragment_st = st.one_of(
    st.sampled_from(
        [
            "<think>",
            "</think>",
            "<answer>",
            "</answer>",
            "```json\n",
            "```",
            "\n",
            " ",
            "[",
            "]",
            "{",
            "}",
            ",",
            ":",
            '"bbox_2d"',
            '"label"',
            '"cat"',
            '"dog"',
            '"lion"',
            "[0, 0, 10, 10]",
            "[10, 10, 0, 0]",
            "[1, 2, 3]",
            '{"bbox_2d": [0, 0, 100, 100], "label": "cat"}',
            '{"bbox_2d": [5, 5, 700, 50], "label": "dog"}',
            "0",
            "-3.5",
            "1e999",
            "NaN",
            "true",
            "null",
            '"12"',
        ]
    ),
    st.integers(-10, 1000).map(str),
    st.text(max_size=5),
)
noisy_completion_st = st.one_of(
    st.text(max_size=200),
    st.lists(fragment_st, max_size=40).map("".join),
)

# JSON lists of entries that are valid or broken in every way a model breaks them.
coordinate_st = st.one_of(
    st.integers(-50, 800),
    st.floats(-50, 800, allow_nan=False),
    st.sampled_from([float("nan"), float("inf"), True, None, "7", [1]]),
)
entry_st = st.one_of(
    st.fixed_dictionaries({"bbox_2d": box_st(), "label": st.sampled_from(CATEGORIES)}),
    st.fixed_dictionaries(
        {
            "bbox_2d": st.lists(coordinate_st, min_size=3, max_size=5),
            "label": st.one_of(st.sampled_from([*CATEGORIES, "lion", "Cat"]), st.none(), st.integers()),
        }
    ),
    st.sampled_from([1, "box", None, [], {}, {"label": "cat"}]),
)


def structured_completion(entries: list, form: str) -> str:
    return wrap(json.dumps(entries), form)


def assert_in_bounds(b: LocalizationBreakdown, weights) -> None:
    assert b.format in (0.0, 1.0)
    assert 0.0 <= b.recall <= 1.0
    assert 0.0 <= b.precision <= 1.0
    w_format, w_recall, w_precision = weights
    assert b.total == pytest.approx(w_format * b.format + w_recall * b.recall + w_precision * b.precision)
    assert 0.0 <= b.total <= sum(weights) * (1 + 1e-12) + 1e-12
    assert all(type(v) is float and math.isfinite(v) for v in b.as_dict().values())
    assert set(b.as_dict()) == {"format", "recall", "precision", "total"}
    assert 0 <= b.num_true_positives <= b.num_matched <= b.num_valid <= b.num_predictions


def score(completion, gt, thresholds, options) -> LocalizationBreakdown:
    xi0, xi1, xi2 = thresholds
    return localization_reward(
        completion,
        [box for box, _ in gt],
        [label for _, label in gt],
        CATEGORIES,
        (WIDTH, HEIGHT),
        xi0=xi0,
        xi1=xi1,
        xi2=xi2,
        **options,
    )


# --------------------------------------------------------------------------------------------------------------
# Properties


@SETTINGS
@given(noisy_completion_st, gt_st, thresholds_st, options_st)
def test_any_text_never_raises_and_stays_in_bounds(completion, gt, thresholds, options):
    b = score(completion, gt, thresholds, options)
    assert_in_bounds(b, options["weights"])
    parse_boxes(completion)  # never raises either


@SETTINGS
@given(st.lists(entry_st, max_size=12), form_st, gt_st, thresholds_st, options_st)
def test_structured_answers_stay_in_bounds(entries, form, gt, thresholds, options):
    completion = structured_completion(entries, form)
    b = score(completion, gt, thresholds, options)
    assert_in_bounds(b, options["weights"])
    parsed = parse_boxes(completion, (WIDTH, HEIGHT), CATEGORIES)
    assert parsed.ok and parsed.template_ok and parsed.n_entries == len(entries)
    empty_miss = not entries and len(gt) > 0  # an empty list where there is something to find earns nothing
    assert b.format == (0.0 if empty_miss else float(parsed.all_valid))
    assert b.num_predictions == len(entries)
    assert b.num_valid == len(parsed.valid_entries())


@SETTINGS
@given(gt_st, form_st, thresholds_st, options_st)
def test_the_ground_truth_itself_gets_full_marks(gt, form, thresholds, options):
    completion = structured_completion([{"bbox_2d": box, "label": label} for box, label in gt], form)
    b = score(completion, gt, thresholds, options)
    assert b.format == 1.0
    assert b.recall == pytest.approx(1.0, abs=1e-9)
    assert b.precision == pytest.approx(1.0, abs=1e-9)
    assert b.num_true_positives == len(gt)
    assert b.total == pytest.approx(sum(options["weights"]), abs=1e-9)


@SETTINGS
@given(st.lists(entry_st, max_size=8), gt_st, thresholds_st, options_st, st.data())
def test_an_invalid_entry_only_costs(entries, gt, thresholds, options, data):
    """Inserting an invalid entry anywhere: format 0, the same matches, recall unchanged and precision over
    predictions can only fall (one more prediction). The exception is the empty answer to a negative sample,
    which loses its full marks."""
    bad = data.draw(st.sampled_from([{"bbox_2d": [5, 5, 1, 1], "label": "cat"}, {"label": "dog"}, 7]))
    position = data.draw(st.integers(0, len(entries)))
    before = score(json.dumps(entries), gt, thresholds, options)
    after = score(json.dumps([*entries[:position], bad, *entries[position:]]), gt, thresholds, options)
    assert after.format == 0.0
    assert (after.num_matched, after.num_true_positives) == (before.num_matched, before.num_true_positives)
    if not entries and not gt:
        assert (before.recall, before.precision, after.recall, after.precision) == (1.0, 1.0, 0.0, 0.0)
        return
    assert after.recall == before.recall
    if options["precision_over"] == "predictions":
        assert after.precision <= before.precision
    else:
        assert after.precision == before.precision


@SETTINGS
@given(st.floats(0, 1), thresholds_st)
def test_differentiate_range(value, thresholds):
    _, xi1, xi2 = thresholds
    out = differentiate(value, xi1, xi2)
    assert out in (0.0, 1.0) or xi1 <= out < xi2
    assert (out == 1.0) == (value >= xi2)


@SETTINGS
@given(
    st.lists(box_st(), max_size=5),
    st.tuples(st.integers(1, 5000), st.integers(1, 5000)),
    st.tuples(st.integers(1, 5000), st.integers(1, 5000)),
)
def test_scale_boxes_round_trip(boxes, from_size, to_size):
    there = scale_boxes(boxes, from_size, to_size)
    back = scale_boxes(there, to_size, from_size)
    for original, restored in zip(boxes, back):
        assert restored == pytest.approx(original, rel=1e-9, abs=1e-9)


@SETTINGS
@given(
    st.integers(1, 12_000),
    st.integers(1, 12_000),
    st.sampled_from(
        [(56 * 56, 28 * 28 * 1280), (3136, 12845056), (256 * 28 * 28, 1024 * 28 * 28), (1, 10**5)]
    ),
    st.sampled_from([28, 14, 32]),
)
def test_resized_frame_agrees_with_transformers(width, height, pixel_range, factor):
    assume(max(width, height) / min(width, height) <= 200)
    try:
        from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize
    except ImportError:  # needs torchvision; the PIL processor carries the same function
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize
    min_pixels, max_pixels = pixel_range
    h, w = smart_resize(height, width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)
    assert resized_frame(width, height, min_pixels, max_pixels, factor) == (w, h)
    assert w % factor == 0 and h % factor == 0
