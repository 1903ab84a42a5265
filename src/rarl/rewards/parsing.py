"""Parsing of `<think>...</think><answer>...</answer>` completions into (image_id, value) entries.

This is the one parser of model answers: the RARL reward and the evaluation protocol both use it, so a
prediction is read the same way in training and in evaluation.

How we read an answer
---------------------
- The answer is the content of the single `<answer>...</answer>` block. Zero blocks, several blocks, or a
  closing tag before the opening one: nothing parses (`ok` is False).
- The content is a list of dicts written in JSON or as a Python literal (the paper's prompt, Table 1, shows
  single quotes: `[{'image_id': number, 'value': value}, ...]`). It is read with `json.loads` or
  `ast.literal_eval`, never `eval`. Content longer than `MAX_ANSWER_CHARS` is not parsed. Surrounding
  whitespace is allowed; anything else around the list (code fences, prose) makes it unparsable.
- A valid entry is a dict whose `image_id` is an int, an integral float or a string of ASCII digits, in
  1..N, and whose `value` is a finite int, float or numeric string such as "23.5". Bools are not numbers.
  Keys other than `image_id` and `value` are ignored. For an id that repeats, the first entry counts and the
  later ones are invalid.
- `n_entries` is the raw length of the list (valid or not); `entries` keeps the valid ones in answer order.
- `template_ok` is the template half of the format check: the whole completion is exactly one
  `<think>...</think>` block followed by one `<answer>...</answer>` block, with only whitespace around them.

The tags are read by `rarl.rewards.tags`, the one tag reader every recipe shares. Parsing never raises on
any string: malformed output is data, not an error.
"""

from __future__ import annotations

import ast
import json
import math
import re
from dataclasses import dataclass

from rarl.rewards.tags import answer_span, think_answer_template

MAX_ANSWER_CHARS = 20_000
"""Answer blocks longer than this (in characters, before stripping) are not parsed."""

_DIGITS = re.compile(r"[0-9]{1,9}")
_NUMBER = re.compile(r"\s*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*")
_JSON_DECODER = json.JSONDecoder()
# Words JSON accepts and Python literals do not; with them present the single-quote shortcut is not exact.
_JSON_ONLY_WORDS = re.compile(r"true|false|null|NaN|Infinity")


@dataclass(frozen=True, slots=True)
class ParsedAnswer:
    """What `parse_answer` read from one completion.

    Attributes:
        ok: an answer block was found and its content parsed to a list.
        entries: valid `(image_id, value)` pairs in answer order, the first one per id.
        n_entries: length of the parsed list, valid entries or not (0 when not `ok`).
        all_valid: `ok` and every list item is a valid entry with a distinct id.
        template_ok: the completion is exactly `<think>...</think>` then `<answer>...</answer>`.
        n_images: the N the answer was read against (ids must lie in 1..N).
    """

    ok: bool
    entries: tuple[tuple[int, float], ...]
    n_entries: int
    all_valid: bool
    template_ok: bool
    n_images: int

    def values_by_id(self) -> dict[int, float]:
        """Predicted value per image id (ids without a valid entry are absent)."""
        return dict(self.entries)

    @property
    def image_ids(self) -> tuple[int, ...]:
        """Ids of the valid entries in answer order: the predicted ranking."""
        return tuple(i for i, _ in self.entries)

    @property
    def values(self) -> tuple[float, ...]:
        """Values of the valid entries in answer order."""
        return tuple(v for _, v in self.entries)


def parse_answer(completion: str, n_images: int) -> ParsedAnswer:
    """Read the `<answer>` list of `completion` against `n_images` images numbered 1..n_images.

    Never raises for any `completion` string; raises ValueError only for a negative `n_images`.
    """
    if n_images < 0:
        raise ValueError(f"n_images must be >= 0, got {n_images}")
    if not isinstance(completion, str):
        return ParsedAnswer(False, (), 0, False, False, n_images)

    span = answer_span(completion)
    if span is None:
        return ParsedAnswer(False, (), 0, False, False, n_images)
    template_ok = think_answer_template(completion)

    items = _load_list(completion[span[0] : span[1]])
    if items is None:
        return ParsedAnswer(False, (), 0, False, template_ok, n_images)

    entries: list[tuple[int, float]] = []
    seen: set[int] = set()
    all_valid = True
    for item in items:
        if type(item) is not dict:
            all_valid = False
            continue
        # Fast paths for an int id in range and a finite float value (x - x is NaN for NaN and infinities);
        # everything else goes through the helpers.
        image_id = item.get("image_id")
        if type(image_id) is not int or not 1 <= image_id <= n_images:
            image_id = _as_image_id(image_id, n_images)
        value = item.get("value")
        if type(value) is not float or value - value != 0.0:
            value = _as_value(value)
        if image_id is None or value is None or image_id in seen:
            all_valid = False
            continue
        seen.add(image_id)
        entries.append((image_id, value))
    return ParsedAnswer(True, tuple(entries), len(items), all_valid, template_ok, n_images)


def _load_list(content: str) -> list | None:
    """The list written in `content` (JSON or Python literal), or None when it is not one."""
    if len(content) > MAX_ANSWER_CHARS:
        return None
    text = content.strip()
    if not (text.startswith("[") and text.endswith("]")):
        return None
    data = None
    if "'" not in text:
        data = _json_or_none(text)
    elif '"' not in text and _JSON_ONLY_WORDS.search(text) is None:
        # Single-quoted literal without double quotes: swapping the quotes gives JSON that reads to the same
        # list, so the fast decoder can be used. Anything it rejects falls through to literal_eval.
        data = _json_or_none(text.replace("'", '"'))
    if data is None:
        # Malformed model output fails in many ways (SyntaxError, ValueError, TypeError for unhashable set
        # members, RecursionError and MemoryError for deep nesting, ...): all of them mean "not a list".
        try:
            data = ast.literal_eval(text)
        except Exception:
            return None
    return data if type(data) is list else None


def _json_or_none(text: str) -> object | None:
    """`text` (already stripped) decoded as one JSON document, or None."""
    try:
        data, end = _JSON_DECODER.raw_decode(text)
    except (ValueError, RecursionError):
        return None
    return data if end == len(text) else None


def _as_image_id(raw: object, n_images: int) -> int | None:
    """`raw` as an image id in 1..n_images, or None."""
    kind = type(raw)
    if kind is int:
        image_id = raw
    elif kind is float:
        if not raw.is_integer():  # type: ignore[union-attr]
            return None
        image_id = int(raw)  # type: ignore[arg-type]
    elif kind is str:
        if _DIGITS.fullmatch(raw) is None:  # type: ignore[arg-type]
            return None
        image_id = int(raw)  # type: ignore[arg-type]
    else:
        return None
    return image_id if 1 <= image_id <= n_images else None  # type: ignore[operator]


def _as_value(raw: object) -> float | None:
    """`raw` as a finite float, or None (bools, non-numeric strings, NaN and infinities are rejected)."""
    kind = type(raw)
    if kind is float:
        value = raw
    elif kind is int:
        try:
            value = float(raw)  # type: ignore[arg-type]
        except OverflowError:
            return None
    elif kind is str:
        if len(raw) > 64 or _NUMBER.fullmatch(raw) is None:  # type: ignore[arg-type]
            return None
        value = float(raw)  # type: ignore[arg-type]
    else:
        return None
    return value if math.isfinite(value) else None  # type: ignore[arg-type]
