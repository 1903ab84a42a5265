"""The one reader of the `<think>...</think><answer>...</answer>` tags every recipe's answers use.

Every reward and evaluation reads a completion's tags through these functions, so "the answer block" means
the same thing everywhere:

- the answer block is the content between the only `<answer>` and the only `</answer>` tag, the opening tag
  first (`answer_span`); zero or several of either tag, or a closing tag first, is no answer block;
- the think-then-answer template holds when the completion is exactly one `<think>...</think>` block followed
  by one `<answer>...</answer>` block, each tag once, with only whitespace before, between and after
  (`think_answer_template`).

What lies inside the answer block (a ranked list, boxes, a score, a letter) is read by each task's parser.
None of these functions raises for any input; a non-string completion has no answer block.
"""

from __future__ import annotations

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
TAGS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)

__all__ = [
    "ANSWER_CLOSE",
    "ANSWER_OPEN",
    "TAGS",
    "THINK_CLOSE",
    "THINK_OPEN",
    "answer_content",
    "answer_span",
    "blank",
    "has_answer_tags",
    "is_think_block",
    "think_answer_template",
    "think_content",
]


def blank(text: str) -> bool:
    """Empty or whitespace only."""
    return not text or text.isspace()


def has_answer_tags(text: object) -> bool:
    """Whether `text` holds either answer tag at all."""
    return isinstance(text, str) and (ANSWER_OPEN in text or ANSWER_CLOSE in text)


def answer_span(text: object) -> tuple[int, int] | None:
    """(start, end) offsets of the answer block's content, or None when there is no single answer block."""
    if not isinstance(text, str):
        return None
    if text.count(ANSWER_OPEN) != 1 or text.count(ANSWER_CLOSE) != 1:
        return None
    start = text.find(ANSWER_OPEN) + len(ANSWER_OPEN)
    end = text.find(ANSWER_CLOSE)
    if end < start:
        return None
    return start, end


def answer_content(text: object, max_chars: int | None = None) -> str | None:
    """The answer block's content, or None (no single answer block, or longer than `max_chars`)."""
    span = answer_span(text)
    if span is None or (max_chars is not None and span[1] - span[0] > max_chars):
        return None
    return text[span[0] : span[1]]  # type: ignore[index]


def think_content(text: object) -> str | None:
    """What the first `<think>` block holds (up to the first `</think>` after it), or None without one."""
    if not isinstance(text, str):
        return None
    start = text.find(THINK_OPEN)
    if start < 0:
        return None
    start += len(THINK_OPEN)
    end = text.find(THINK_CLOSE, start)
    return None if end < 0 else text[start:end]


def think_answer_template(text: object) -> bool:
    """Whether `text` is exactly `<think>...</think>` then `<answer>...</answer>`, whitespace around."""
    if not isinstance(text, str) or any(text.count(tag) != 1 for tag in TAGS):
        return False
    t_open = text.find(THINK_OPEN)
    t_close = text.find(THINK_CLOSE)
    a_open = text.find(ANSWER_OPEN)
    a_close = text.find(ANSWER_CLOSE)
    if not t_open < t_close < a_open < a_close:
        return False
    return (
        blank(text[:t_open])
        and blank(text[t_close + len(THINK_CLOSE) : a_open])
        and blank(text[a_close + len(ANSWER_CLOSE) :])
    )


def is_think_block(text: str) -> bool:
    """`text` is one `<think>...</think>` block with only whitespace around."""
    stripped = text.strip()
    return (
        stripped.startswith(THINK_OPEN)
        and stripped.endswith(THINK_CLOSE)
        and stripped.count(THINK_OPEN) == 1
        and stripped.count(THINK_CLOSE) == 1
    )
