"""Refine-IQA Stage-2 rewards: score parsing, r_ans (Eq. 1), r_fmt, ground-truth substitution, r_pd
(Eq. 2-4), r_final (Eq. 5) and the probability read-out Q (Eq. 8); a property test that nothing raises on
any completion."""

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rarl.rewards.quality import (
    MAX_SCORE_CHARS,
    PD_WEIGHTS,
    SCORE_DIGITS,
    expected_score,
    final_reward,
    format_score,
    parse_score,
    pd_reward,
    score_answer_reward,
    score_format_reward,
    substitute_score,
)


def wrap(answer: str, think: str = "Sharp, well exposed, slight noise.") -> str:
    return f"<think>{think}</think><answer>{answer}</answer>"


# --- parse_score ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        (wrap("3.27"), 3.27),
        (wrap("3.2"), 3.2),
        (wrap("3"), 3.0),
        (wrap(" 4.10\n"), 4.1),
        (wrap("+2.5"), 2.5),
        (wrap(".5"), 0.5),
        (wrap("3."), 3.0),
        (wrap("Score: 3.27"), 3.27),
        (wrap("score:1.5"), 1.5),
        (wrap("SCORE :  0.25 "), 0.25),
        (wrap("7.5"), 7.5),  # out of range still parses; Eq. 1 compares with the MOS
        (wrap("-1.25"), -1.25),
        ("<answer>2.40</answer>", 2.4),  # no-think mode
        ("free text first <answer>1.00</answer> and after", 1.0),
    ],
)
def test_parse_score_reads_the_answer(completion, expected):
    assert parse_score(completion) == pytest.approx(expected)


@pytest.mark.parametrize(
    "completion",
    [
        "3.27",
        wrap(""),
        wrap("   "),
        wrap("three"),
        wrap("3.27 out of 5"),
        wrap("3.2 3.4"),
        wrap("Score 3.2"),  # no colon
        wrap("Score: "),
        wrap("1e0"),
        wrap("nan"),
        wrap("inf"),
        wrap("3,27"),
        wrap("\u0663.27"),  # Arabic-Indic digit three: not ASCII
        wrap("3" * (MAX_SCORE_CHARS + 1)),
        "<answer>3.2</answer><answer>3.3</answer>",
        "</answer>3.2<answer>",
        "<answer>3.2",
        None,
        42,
    ],
)
def test_parse_score_rejects(completion):
    assert parse_score(completion) is None


def test_parse_score_huge_number_is_finite_or_none():
    assert parse_score(wrap("9" * 40)) == pytest.approx(1e40)
    assert parse_score(wrap("9" * 400)) is None  # too long (and would overflow to inf)


# --- r_ans, Eq. 1 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "mos", "expected"),
    [
        ("3.27", 3.27, 1.0),
        ("3.27", 3.70, 1.0),
        ("3.27", 2.80, 1.0),
        ("3.00", 3.50, 0.0),  # |diff| = epsilon: strict inequality
        ("3.00", 2.50, 0.0),
        ("4.99", 1.00, 0.0),
        ("Score: 3.2", 3.0, 1.0),  # no format needed for r_ans
        ("3.2", 3.0, 1.0),
    ],
)
def test_answer_reward(answer, mos, expected):
    assert score_answer_reward(wrap(answer), mos) == expected


def test_answer_reward_epsilon_and_unparsable():
    assert score_answer_reward(wrap("3.27"), 3.0, epsilon=0.1) == 0.0
    assert score_answer_reward(wrap("3.27"), 3.2, epsilon=0.1) == 1.0
    assert score_answer_reward(wrap("good"), 3.0) == 0.0
    assert score_answer_reward("", 3.0) == 0.0


@pytest.mark.parametrize(
    ("mos", "epsilon"), [(float("nan"), 0.5), (3.0, 0.0), (3.0, -1.0), (float("inf"), 0.5)]
)
def test_answer_reward_bad_arguments(mos, epsilon):
    with pytest.raises(ValueError):
        score_answer_reward(wrap("3.00"), mos, epsilon=epsilon)


# --- r_fmt ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "completion",
    [
        wrap("3.27"),
        wrap("0.00"),
        wrap("4.99"),
        wrap("2.50", think=""),  # empty think allowed
        wrap("2.50", think="multi\nline <b>markup</b>"),
        "  <think>ok</think>\n\n<answer>1.05</answer>\n",  # whitespace outside the blocks
    ],
)
def test_format_accepts_the_template(completion):
    assert score_format_reward(completion) == 1.0


@pytest.mark.parametrize(
    "completion",
    [
        wrap("3.2"),  # one decimal
        wrap("3.270"),  # three decimals
        wrap("3"),
        wrap("5.00"),  # outside [0, 5)
        wrap("-1.00"),
        wrap("+3.27"),
        wrap("03.27"),
        wrap(" 3.27"),  # whitespace inside the answer tags
        wrap("3.27 "),
        wrap("Score: 3.27"),
        wrap("3.27."),
        "<answer>3.27</answer>",  # no think
        "<think>a</think>",
        "x<think>a</think><answer>3.27</answer>",  # text before
        "<think>a</think>x<answer>3.27</answer>",  # text between
        "<think>a</think><answer>3.27</answer>.",  # text after
        "<answer>3.27</answer><think>a</think>",  # wrong order
        "<think>a<think>b</think><answer>3.27</answer>",  # repeated tag
        "<think>a<answer>1.00</answer></think><answer>3.27</answer>",
        "<think>a</think><answer>3.27</answer><answer>3.27</answer>",
        "</think>a<think><answer>3.27</answer>",
        "",
        None,
    ],
)
def test_format_rejects(completion):
    assert score_format_reward(completion) == 0.0


# --- format_score / substitute_score ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mos", "text"),
    [
        (3.27, "3.27"),
        (3, "3.00"),
        (0.0, "0.00"),
        (3.296, "3.30"),
        (2.675, "2.68"),  # half-up on the decimal form (binary float 2.675 is slightly below)
        (1.005, "1.01"),
        (0.004, "0.00"),
        (4.994, "4.99"),
        (4.996, "4.99"),  # would round to 5.00: capped to stay on [0, 5)
        (1e-9, "0.00"),
    ],
)
def test_format_score(mos, text):
    assert format_score(mos) == text


@pytest.mark.parametrize("mos", [5.0, -0.01, float("nan"), float("inf"), True, "3.2"])
def test_format_score_rejects(mos):
    with pytest.raises(ValueError):
        format_score(mos)


def test_substitute_score_replaces_the_prediction():
    completion = wrap("4.81")
    text, (i_int, i_dec) = substitute_score(completion, 3.27)
    assert text == wrap("3.27")
    assert text[i_int] == "3" and text[i_dec] == "2" and i_dec == i_int + 2
    assert text[i_int : i_int + 4] == "3.27"
    assert score_format_reward(text) == 1.0 and parse_score(text) == 3.27


def test_substitute_score_keeps_prefix_and_whitespace():
    completion = "<think>The score is 1.00 maybe.</think>\n<answer> Score: 12.5 </answer>"
    text, (i_int, i_dec) = substitute_score(completion, 0.47)
    assert text == "<think>The score is 1.00 maybe.</think>\n<answer> Score: 0.47 </answer>"
    assert (text[i_int], text[i_dec]) == ("0", "4")


def test_substitute_score_no_think_reference():
    text, (i_int, i_dec) = substitute_score("<answer>0.00</answer>", 2.51)
    assert text == "<answer>2.51</answer>" and (i_int, i_dec) == (8, 10)


@pytest.mark.parametrize("completion", [wrap("good"), "", "no answer", None])
def test_substitute_score_without_a_score(completion):
    assert substitute_score(completion, 3.0) is None


def test_substitute_score_bad_mos():
    with pytest.raises(ValueError):
        substitute_score(wrap("3.00"), 5.2)


# --- r_pd, Eq. 2-4; r_final, Eq. 5 ---------------------------------------------------------------------


def test_pd_reward_by_hand():
    # r_think = 0.8 + 0.1 * 0.5 = 0.85; r_ref = 0.3 + 0.1 * 0.2 = 0.32
    assert pd_reward([0.8, 0.5], [0.3, 0.2]) == pytest.approx(0.53)
    assert PD_WEIGHTS == (1.0, 0.1)


def test_pd_reward_is_clipped():
    assert pd_reward([0.2, 0.9], [0.6, 0.1]) == 0.0  # think below reference
    assert pd_reward([1.0, 1.0], [0.0, 0.0]) == 1.0  # 1.1 clipped to 1
    assert pd_reward([0.9, 0.9], [0.1, 0.1], weights=(1.0, 1.0)) == 1.0


def test_pd_reward_other_m_and_tensor_inputs():
    assert pd_reward([0.5, 0.5, 0.5], [0.0, 0.0, 0.0], weights=(1.0, 0.1, 0.01)) == pytest.approx(0.555)
    assert pd_reward(torch.tensor([0.7, 0.4]), (0.5, 0.4)) == pytest.approx(0.2, abs=1e-6)


@pytest.mark.parametrize(
    ("p_think", "p_ref", "weights"),
    [
        ([0.5], [0.5, 0.5], (1.0, 0.1)),
        ([0.5, 0.5], [0.5], (1.0, 0.1)),
        ([0.5, 0.5], [0.5, 0.5], (1.0,)),
        ([], [], ()),
        ([float("nan"), 0.5], [0.5, 0.5], (1.0, 0.1)),
        (["a", 0.5], [0.5, 0.5], (1.0, 0.1)),
        ("0.5", [0.5, 0.5], (1.0, 0.1)),
        (0.5, [0.5, 0.5], (1.0, 0.1)),
    ],
)
def test_pd_reward_rejects_bad_inputs(p_think, p_ref, weights):
    with pytest.raises(ValueError):
        pd_reward(p_think, p_ref, weights)


def test_final_reward_adds_pd_only_when_both_pass():
    assert final_reward(1.0, 1.0, 0.4) == pytest.approx(2.4)
    assert final_reward(1.0, 0.0, 0.4) == 1.0
    assert final_reward(0.0, 1.0, 0.4) == 1.0
    assert final_reward(0.0, 0.0, 0.4) == 0.0
    assert final_reward(1.0, 1.0, 0.4, lambdas=(2.0, 0.5, 3.0)) == pytest.approx(3.7)
    with pytest.raises(ValueError):
        final_reward(1.0, 1.0, 0.4, lambdas=(1.0, 1.0))


# --- Q, Eq. 8 -------------------------------------------------------------------------------------------


def test_expected_score_by_hand():
    assert SCORE_DIGITS == ("0", "1", "2", "3", "4")
    # probabilities proportional to [1, 2, 1, 1, 1]: E[j] = (0 + 2 + 2 + 3 + 4) / 6 = 11/6
    logits = torch.tensor([0.0, math.log(2.0), 0.0, 0.0, 0.0])
    torch.testing.assert_close(expected_score(logits), torch.tensor(11 / 6 + 0.5))
    torch.testing.assert_close(expected_score(torch.zeros(5)), torch.tensor(2.5))  # uniform


def test_expected_score_batched_and_bounded():
    logits = torch.full((2, 3, 5), -1e4)  # cell (b, k) puts all mass on digit 3*b + k; cell (1, 2) uniform
    for j in range(5):
        logits[j // 3, j % 3, j] = 1e4
    logits[1, 2] = 0.0
    q = expected_score(logits)
    assert q.shape == (2, 3)
    torch.testing.assert_close(q, torch.tensor([[0.5, 1.5, 2.5], [3.5, 4.5, 2.5]]))
    random = expected_score(torch.randn(64, 5, generator=torch.Generator().manual_seed(0)) * 10)
    assert bool(((random >= 0.5) & (random <= 4.5)).all())


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [(torch.bfloat16, torch.float32), (torch.float16, torch.float32), (torch.float64, torch.float64)],
)
def test_expected_score_dtype(dtype, expected):
    assert expected_score(torch.zeros(3, 5, dtype=dtype)).dtype == expected


@pytest.mark.parametrize("shape", [(4,), (3, 6), ()])
def test_expected_score_rejects_wrong_shape(shape):
    with pytest.raises(ValueError):
        expected_score(torch.zeros(shape))


# --- properties: nothing raises on any completion ---------------------------------------------------------

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

fragment_st = st.one_of(
    st.sampled_from(
        [
            "<think>",
            "</think>",
            "<answer>",
            "</answer>",
            "Score:",
            " ",
            "\n",
            ".",
            "+",
            "-",
            "e",
            "nan",
            "3.27",
        ]
    ),
    st.from_regex(r"[0-9]{1,4}(\.[0-9]{0,3})?", fullmatch=True),
    st.text(max_size=6),
)
templated_st = st.builds(
    lambda think, answer: wrap(answer, think=think),
    st.text(max_size=20),
    st.one_of(
        st.from_regex(r"\s?(Score: ?)?[+-]?[0-9]{0,2}\.?[0-9]{0,3}\s?", fullmatch=True), st.text(max_size=8)
    ),
)
completion_st = st.one_of(
    st.text(max_size=200), st.lists(fragment_st, max_size=12).map("".join), templated_st
)


@SETTINGS
@given(completion=completion_st, mos=st.floats(min_value=0.0, max_value=4.99))
def test_never_raises_on_any_completion(completion, mos):
    score = parse_score(completion)
    assert score is None or math.isfinite(score)
    assert score_answer_reward(completion, mos) in (0.0, 1.0)
    fmt = score_format_reward(completion)
    assert fmt in (0.0, 1.0)
    if fmt == 1.0:
        assert score is not None and 0.0 <= score < 5.0
    substituted = substitute_score(completion, mos)
    assert (substituted is None) == (score is None)
    if substituted is not None:
        text, (i_int, i_dec) = substituted
        assert parse_score(text) == float(format_score(mos))
        assert text[i_int].isdigit() and text[i_int + 1] == "." and text[i_dec].isdigit()
        if fmt == 1.0:  # the substitution keeps a good format (and may fix a bad one: "3.2" -> "3.20")
            assert score_format_reward(text) == 1.0
