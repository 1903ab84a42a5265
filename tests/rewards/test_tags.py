"""The one tag reader: what counts as the answer block and as the think-then-answer template."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rarl.rewards.tags import (
    answer_content,
    answer_span,
    has_answer_tags,
    is_think_block,
    think_answer_template,
    think_content,
)


@pytest.mark.parametrize(
    ("text", "content"),
    [
        ("<think>a</think><answer>[1]</answer>", "[1]"),
        ("<answer> 3.2 </answer>", " 3.2 "),
        ("prose <answer>x</answer> more", "x"),
        ("<answer></answer>", ""),
        ("no tags", None),
        ("<answer>a</answer><answer>b</answer>", None),
        ("</answer>x<answer>", None),
        ("<answer>unclosed", None),
        (None, None),
        (42, None),
    ],
)
def test_answer_content(text, content):
    assert answer_content(text) == content


def test_answer_content_respects_max_chars():
    assert answer_content("<answer>12345</answer>", max_chars=5) == "12345"
    assert answer_content("<answer>123456</answer>", max_chars=5) is None


def test_answer_span_offsets():
    text = "<think>t</think> <answer>ab</answer>"
    start, end = answer_span(text)
    assert text[start:end] == "ab"


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("<think>t</think><answer>a</answer>", True),
        ("  <think>t</think>\n<answer>a</answer>\n", True),
        ("<answer>a</answer>", False),
        ("<think>t</think>x<answer>a</answer>", False),
        ("<answer>a</answer><think>t</think>", False),
        ("<think>t</think><answer>a</answer> trailing", False),
        ("<think><think>t</think><answer>a</answer>", False),
        (None, False),
    ],
)
def test_think_answer_template(text, ok):
    assert think_answer_template(text) is ok


def test_is_think_block_and_has_answer_tags():
    assert is_think_block("  <think>x</think> ")
    assert not is_think_block("<think>x</think> y")
    assert has_answer_tags("a </answer>") and not has_answer_tags("plain") and not has_answer_tags(None)


@given(st.text(alphabet=st.sampled_from(list("<>/thinkanswer x")), max_size=60))
def test_template_implies_one_answer_block(text):
    if think_answer_template(text):
        assert answer_span(text) is not None


@pytest.mark.parametrize(
    ("text", "content"),
    [
        ("<think>abc</think><answer>1</answer>", "abc"),
        ("x <think></think>", ""),
        ("<think>a</think><think>b</think>", "a"),
        ("</think> then <think>open", None),
        ("no think", None),
        ("</think>only closing", None),
        (None, None),
    ],
)
def test_think_content(text, content):
    assert think_content(text) == content
