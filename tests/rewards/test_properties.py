"""Property tests: the reward never raises and stays in bounds; the parser's fast paths agree with a plain
`ast.literal_eval` reading; the tau-based terms agree with scipy.stats.kendalltau."""

import ast
import json
import math
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import kendalltau

from rarl.rewards import RankingAwareReward, RewardBreakdown, parse_answer

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

labels_st = st.lists(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False), min_size=1, max_size=9
)
weights_st = st.tuples(*[st.floats(min_value=0, max_value=10, allow_nan=False)] * 3)


def assert_in_bounds(b: RewardBreakdown, weights) -> None:
    for name in ("regression", "length", "consistency", "accuracy", "format"):
        value = getattr(b, name)
        assert 0.0 <= value <= 1.0, (name, value)
    assert 0.0 <= b.ranking <= 3.0
    assert b.ranking == pytest.approx(b.length + b.consistency + b.accuracy)
    l1, l2, l3 = weights
    assert 0.0 <= b.total <= (l1 + 3 * l2 + l3) * (1 + 1e-12) + 1e-12
    assert b.format in (0.0, 1.0)
    assert all(math.isfinite(v) for v in b.as_dict().values())


# Completions built from the pieces a model emits, so that tags and brackets actually occur.
fragment_st = st.one_of(
    st.sampled_from(
        [
            "<think>",
            "</think>",
            "<answer>",
            "</answer>",
            "[",
            "]",
            "{",
            "}",
            ",",
            ":",
            "'",
            '"',
            " ",
            "\n",
            "image_id",
            "value",
            "'image_id'",
            '"value"',
            "1",
            "2",
            "-3.5",
            "1e999",
            "NaN",
            "true",
            "None",
        ]
    ),
    st.text(max_size=6),
)
completion_st = st.one_of(st.text(max_size=300), st.lists(fragment_st, max_size=60).map("".join))


@SETTINGS
@given(text=completion_st, labels=labels_st, weights=weights_st, delta=st.floats(0.01, 100))
def test_arbitrary_text_never_raises_and_stays_in_bounds(text, labels, weights, delta):
    b = RankingAwareReward(delta=delta, weights=weights).score(text, labels)
    assert_in_bounds(b, weights)


# Structured but wrong answers: right shape, wrong types and values.
scalar_st = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 12),
    st.integers(),
    st.floats(),  # includes NaN and infinities
    st.sampled_from(["1", "02", "2.5", " 3 ", "-4e1", "nan", "inf", "x", "", "1_0", "\u00b3"]),
    st.text(max_size=4),
)
value_st = st.one_of(scalar_st, st.lists(scalar_st, max_size=2))


good_id_st = st.one_of(st.integers(0, 9), st.sampled_from(["1", "2", "3", 1.0, 2.0]))
good_value_st = st.one_of(
    st.integers(-5, 120), st.floats(-10, 120, allow_nan=False), st.sampled_from(["23.5", " 7", "-1e1"])
)


@st.composite
def entry_st(draw):
    """A list item: mostly plausible entries, some with wrong types, missing keys, or not a dict."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(value_st)  # not a dict
    if kind == 1:
        return {"value": draw(value_st)}
    if kind == 2:
        return {"image_id": draw(value_st)}
    if kind == 3:
        return {"image_id": draw(value_st), "value": draw(value_st)}
    entry = {"image_id": draw(good_id_st), "value": draw(good_value_st)}
    if kind == 4:
        entry["extra"] = draw(value_st)
    return entry


@st.composite
def structured_completion_st(draw):
    items = draw(st.lists(entry_st(), max_size=12))
    try:
        answer = json.dumps(items) if draw(st.booleans()) else repr(items)
    except ValueError:
        answer = repr(items)
    head = draw(st.sampled_from(["<think>ok</think>", "", "<think>a</think> junk ", "<think>"]))
    tail = draw(st.sampled_from(["", "\n", " trailing", "<answer>[]</answer>"]))
    return f"{head}<answer>{answer}</answer>{tail}"


@SETTINGS
@given(
    text=structured_completion_st(),
    labels=labels_st,
    weights=weights_st,
    value_range=st.one_of(st.none(), st.tuples(st.floats(-10, 0), st.floats(0, 10))),
)
def test_structured_wrong_answers_never_raise_and_stay_in_bounds(text, labels, weights, value_range):
    reward = RankingAwareReward(delta=5.0, weights=weights, value_range=value_range)
    b = reward.score(text, labels)
    assert_in_bounds(b, weights)
    p = parse_answer(text, len(labels))
    if b.format == 1.0:
        assert p.ok and p.template_ok and p.all_valid
        assert len({i for i, _ in p.entries}) == p.n_entries
    if not p.ok:
        assert b.total == 0.0


# --- the parser's fast paths against a plain literal_eval reading ------------------------------------


def reference_entries(answer: str, n_images: int):
    """Independent statement of the entry rules, reading the answer with ast.literal_eval only."""
    try:
        items = ast.literal_eval(answer.strip())
    except Exception:
        return None
    if type(items) is not list:
        return None
    out, seen = [], set()
    for item in items:
        if not isinstance(item, dict):
            continue
        image_id, value = item.get("image_id"), item.get("value")
        if isinstance(image_id, bool):
            continue
        integral_float = isinstance(image_id, float) and image_id.is_integer()
        digit_string = isinstance(image_id, str) and image_id.isascii() and image_id.isdigit()
        if integral_float or digit_string:
            image_id = int(image_id)
        if not isinstance(image_id, int) or not 1 <= image_id <= n_images or image_id in seen:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            continue
        try:
            number = float(value)
        except (ValueError, OverflowError):
            continue
        if isinstance(value, str) and ("_" in value or not value.strip().isascii()):
            continue  # float() also reads "1_0" and non-ASCII digits; the answer grammar does not
        if not math.isfinite(number):
            continue
        seen.add(image_id)
        out.append((image_id, number))
    return tuple(out)


@SETTINGS
@given(items=st.lists(entry_st(), max_size=10), n_images=st.integers(1, 8))
def test_python_literal_answers_read_as_literal_eval_reads_them(items, n_images):
    answer = repr(items)
    p = parse_answer(f"<think>t</think><answer>{answer}</answer>", n_images)
    expected = reference_entries(answer, n_images)
    if expected is None:
        assert not p.ok
    else:
        assert p.ok and p.entries == expected


# --- tau terms against scipy --------------------------------------------------------------------------


def scipy_term(x, y) -> float:
    tau = kendalltau(x, y, variant="b").statistic
    return 0.0 if math.isnan(tau) else (tau + 1) / 2


def test_tau_terms_match_scipy_on_random_answers():
    rng = random.Random(1234)
    reward = RankingAwareReward(delta=3.0)
    checked = 0
    for _ in range(400):
        n = rng.randint(2, 9)
        labels = [float(rng.randint(0, 6)) for _ in range(n)]  # small range: frequent ties
        ids = rng.sample(range(1, n + 1), rng.randint(0, n))
        values = [rng.choice([float(rng.randint(0, 6)), round(rng.uniform(0, 6), 1)]) for _ in ids]
        b = reward.score(
            "<think>t</think><answer>"
            + json.dumps([{"image_id": i, "value": v} for i, v in zip(ids, values, strict=True)])
            + "</answer>",
            labels,
        )
        if len(ids) >= 2:
            positions = list(range(len(ids)))
            assert b.consistency == pytest.approx(scipy_term(positions, values), abs=1e-12)
            assert b.accuracy == pytest.approx(scipy_term(positions, [labels[i - 1] for i in ids]), abs=1e-12)
            checked += 1
        else:
            assert b.consistency == b.accuracy == 0.0
        assert b.length == pytest.approx(len(ids) / n)
    assert checked > 200
