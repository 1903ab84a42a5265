"""Reading Qwen2.5-VL box answers for the Vision-R1 localization reward: `parse_boxes` and its result types.

A completion lists boxes in Qwen2.5-VL's native grounding format, absolute pixels of the frame the model sees:
`[{"bbox_2d": [x1, y1, x2, y2], "label": "cat"}, ...]`, bare, in one fenced block, or inside one
`<answer>...</answer>` block optionally preceded by one `<think>...</think>` block (the tags are read by
`rarl.rewards.tags`). The accepted forms, the entry checks and how they enter the reward are described in
`rarl.rewards.localization`, which re-exports these names. `parse_boxes` never raises on any completion
string; malformed output is data.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from rarl.data.boxes import Box, frame_size
from rarl.rewards.tags import ANSWER_CLOSE, ANSWER_OPEN, answer_span, blank, has_answer_tags, is_think_block

__all__ = ["MAX_ANSWER_CHARS", "BoxEntry", "ParsedBoxes", "category_set", "parse_boxes", "parse_in_frame"]

MAX_ANSWER_CHARS = 100_000
"""Box lists longer than this (in characters) are not parsed: about 4,000 minimal entries."""

_FENCE = "```"
_JSON_DECODER = json.JSONDecoder()


@dataclass(frozen=True, slots=True)
class BoxEntry:
    """One item of the answer list.

    Attributes:
        box: (x1, y1, x2, y2) as floats when `bbox_2d` is 4 finite numbers (even a degenerate or out-of-frame
            box, which evaluation may clip), else None.
        label: the `label` string, or None when absent or not a string.
        valid: the entry passes every content check of Eq. 4 (the frame and category checks only when
            `parse_boxes` was given `image_size` / `categories`).
        problem: why the entry is invalid ("" when valid).
    """

    box: Box | None
    label: str | None
    valid: bool
    problem: str = ""


@dataclass(frozen=True, slots=True)
class ParsedBoxes:
    """What `parse_boxes` read from one completion.

    Attributes:
        ok: a JSON list was found in the answer and read (its items may still be invalid).
        template_ok: the completion is exactly one of the accepted forms (bare list, fenced block, optional
            `<think>` block then `<answer>` block), with only whitespace around.
        entries: one `BoxEntry` per list item, in answer order (empty when not `ok`).
    """

    ok: bool
    template_ok: bool
    entries: tuple[BoxEntry, ...]

    @property
    def n_entries(self) -> int:
        """Length of the answer list, valid entries or not."""
        return len(self.entries)

    @property
    def all_valid(self) -> bool:
        """`ok` and every entry valid (True for an empty list)."""
        return self.ok and all(e.valid for e in self.entries)

    @property
    def format_ok(self) -> bool:
        """The dual format of Eq. 4: template and content."""
        return self.template_ok and self.all_valid

    def valid_entries(self) -> tuple[BoxEntry, ...]:
        """The valid entries, in answer order."""
        return tuple(e for e in self.entries if e.valid)


_NOT_PARSED = ParsedBoxes(False, False, ())


def parse_boxes(
    completion: str,
    image_size: tuple[float, float] | None = None,
    categories: Sequence[str] | None = None,
) -> ParsedBoxes:
    """Read the box list of `completion` (the accepted forms: see `rarl.rewards.localization`).

    Args:
        completion: model output.
        image_size: (width, height) of the frame; when given, boxes must lie inside [0, W] x [0, H].
        categories: allowed labels; when given, labels must be among them (else any string label passes).

    Never raises on `completion`; raises ValueError for a malformed `image_size` or `categories`.
    """
    frame = None if image_size is None else frame_size(image_size)
    allowed = None if categories is None else category_set(categories)
    return parse_in_frame(completion, frame, allowed)


def parse_in_frame(
    completion: object, frame: tuple[float, float] | None, allowed: frozenset[str] | None
) -> ParsedBoxes:
    """`parse_boxes` with the frame and the categories already checked (`frame_size`, `category_set`)."""
    if not isinstance(completion, str):
        return _NOT_PARSED
    region, outer_ok = _answer_region(completion)
    if region is None:
        return _NOT_PARSED
    list_text, inner_ok = _list_text(region)
    if list_text is None or len(list_text) > MAX_ANSWER_CHARS:
        return _NOT_PARSED
    try:
        items, end = _JSON_DECODER.raw_decode(list_text)
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError; so is an int past 4300 digits
        return _NOT_PARSED
    if end != len(list_text) or type(items) is not list:
        return _NOT_PARSED
    entries = tuple(_entry(item, frame, allowed) for item in items)
    return ParsedBoxes(True, outer_ok and inner_ok, entries)


def _answer_region(text: str) -> tuple[str | None, bool]:
    """The text holding the list (the `<answer>` content, or the whole completion) and whether the
    template around it holds. (None, False) when the answer tags are malformed."""
    if not has_answer_tags(text):
        return text, True
    span = answer_span(text)
    if span is None:
        return None, False
    start, end = span
    before = text[: start - len(ANSWER_OPEN)]
    outer_ok = blank(text[end + len(ANSWER_CLOSE) :]) and (blank(before) or is_think_block(before))
    return text[start:end], outer_ok


def _list_text(region: str) -> tuple[str | None, bool]:
    """The JSON list text in `region` (bare, or in one fenced block) and whether nothing but whitespace
    surrounds it. (None, False) when there is none."""
    stripped = region.strip()
    if stripped.startswith("["):
        return stripped, True
    start = region.find(_FENCE)
    if start < 0:
        return None, False
    end = region.find(_FENCE, start + len(_FENCE))
    if end < 0 or region.find(_FENCE, end + len(_FENCE)) >= 0:  # no closing fence, or several blocks
        return None, False
    body = region[start + len(_FENCE) : end].lstrip(" \t")
    if body[:4].lower() == "json":  # the language tag
        body = body[4:]
    body = body.strip()
    if not body.startswith("["):
        return None, False
    return body, blank(region[:start]) and blank(region[end + len(_FENCE) :])


def _entry(item: object, frame: tuple[float, float] | None, allowed: frozenset[str] | None) -> BoxEntry:
    """One list item read and checked."""
    if type(item) is not dict:
        return BoxEntry(None, None, False, "not an object")
    label = item.get("label")
    if type(label) is not str:
        label = None
    box = _box(item.get("bbox_2d"))
    if box is None:
        return BoxEntry(None, label, False, "bbox_2d is not 4 finite numbers")
    x1, y1, x2, y2 = box
    if not (x1 < x2 and y1 < y2):
        return BoxEntry(box, label, False, "empty box (needs x1 < x2 and y1 < y2)")
    if frame is not None and not (x1 >= 0.0 and y1 >= 0.0 and x2 <= frame[0] and y2 <= frame[1]):
        return BoxEntry(box, label, False, "box outside the frame")
    if label is None:
        return BoxEntry(box, None, False, "label missing or not a string")
    if allowed is not None and label not in allowed:
        return BoxEntry(box, label, False, "label not among the categories")
    return BoxEntry(box, label, True)


def _box(raw: object) -> Box | None:
    """`raw` as 4 finite floats, or None."""
    if type(raw) is not list or len(raw) != 4:
        return None
    coords = []
    for value in raw:
        kind = type(value)
        if kind is float:
            if value - value != 0.0:  # NaN or an infinity (JSON reads 1e999 as inf)
                return None
            coords.append(value)
        elif kind is int:
            try:
                number = float(value)
            except OverflowError:
                return None
            if math.isinf(number):
                return None
            coords.append(number)
        else:  # bools, strings, None, nested lists
            return None
    return (coords[0], coords[1], coords[2], coords[3])


def category_set(categories: object) -> frozenset[str]:
    """`categories` as a non-empty set of label strings; ValueError otherwise."""
    if isinstance(categories, (str, bytes)):
        raise ValueError(f"categories must be a list of label strings, got {categories!r}")
    try:
        allowed = frozenset(categories)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"categories must be a list of label strings, got {categories!r}") from None
    if not allowed or not all(isinstance(c, str) for c in allowed):
        raise ValueError(f"categories must be a non-empty list of label strings, got {categories!r}")
    return allowed
