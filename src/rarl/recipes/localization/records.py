"""Strict reading of the values in a Vision-R1 manifest record or prediction row (a file a person may edit).

Each reader takes a JSON value and returns it in the type the recipe uses, or raises one `DataError` saying
which field is wrong and what it holds (a bounded repr, `rarl.data.readers.safe.show`, so a 400-digit
number or a list nested 900 deep stays one short line). Nothing here converts text to numbers or truncates
floats: `"56"`, `56.5`, `true` and `NaN` are refused where a pixel count is meant, instead of being read as
something else.

`box_problem` says why a ground-truth box cannot score (corners reversed or equal, or outside the image by
more than `LOAD_BOX_TOLERANCE` pixels): such a box can never be matched by a valid prediction, so a run on
it would train to completion with every reward of that sample at 0.
"""

from __future__ import annotations

import math

from rarl.data.boxes import Box
from rarl.data.errors import DataError
from rarl.data.readers.safe import finite, show

__all__ = [
    "LOAD_BOX_TOLERANCE",
    "MAX_SIDE",
    "box_problem",
    "read_box",
    "read_boxes",
    "read_id",
    "read_size",
    "text_value",
    "text_list",
]

LOAD_BOX_TOLERANCE = 1.0
"""Pixels a ground-truth box may poke out of its image (the readers' `checks.BOX_TOLERANCE`, within which
`rarl prepare` clips boxes)."""
MAX_SIDE = 1 << 20
"""The largest image side a record may state (PIL refuses far smaller images as decompression bombs)."""


def read_id(value: object) -> str:
    """A sample id: non-empty text, or an integer (kept as its text)."""
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise DataError(f"'id' must be non-empty text or an integer, got {show(value)}")


def text_value(value: object, key: str) -> str:
    """Non-empty text."""
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{key!r} must be non-empty text, got {show(value)}")
    return value


def text_list(value: object, key: str, *, allow_empty: bool = True) -> tuple[str, ...]:
    """A list of text items."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DataError(f"{key!r} must be a list of text items, got {show(value)}")
    if not value and not allow_empty:
        raise DataError(f"{key!r} must not be empty")
    return tuple(value)


def _whole(value: object) -> int | None:
    """`value` as an int when it is an int or an integral finite float (not a bool)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def read_size(value: object) -> tuple[int, int]:
    """`size`: [width, height], two whole numbers of pixels in 1..MAX_SIDE."""
    if isinstance(value, list) and len(value) == 2:
        width, height = (_whole(v) for v in value)
        if width is not None and height is not None and 1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE:
            return width, height
    raise DataError(
        f"'size' must be [width, height] in whole pixels (1 to {MAX_SIDE} each), got {show(value)}"
    )


def read_box(value: object, what: str = "box") -> Box:
    """[x1, y1, x2, y2]: four finite numbers (ints or floats; not text, not bools)."""
    if isinstance(value, (list, tuple)) and len(value) == 4:
        coords = [finite(v) for v in value]
        if all(c is not None for c in coords):
            return coords[0], coords[1], coords[2], coords[3]  # type: ignore[return-value]
    raise DataError(f"{what} must be [x1, y1, x2, y2], four finite numbers, got {show(value)}")


def read_boxes(value: object, key: str) -> tuple[Box, ...]:
    """A list of boxes (`read_box` each)."""
    if not isinstance(value, list):
        raise DataError(f"{key!r} must be a list of [x1, y1, x2, y2] boxes, got {show(value)}")
    return tuple(read_box(b, f"{key} item {k}") for k, b in enumerate(value, 1))


def box_problem(box: Box, size: tuple[int, int]) -> str | None:
    """Why the ground-truth `box` (pixels of an image of `size` (width, height)) cannot score, or None."""
    x1, y1, x2, y2 = box
    if x2 <= x1 or y2 <= y1:
        flipped = x2 < x1 or y2 < y1
        return (
            "its corners are reversed (x2 < x1 or y2 < y1)" if flipped else "it is empty (x2 = x1 or y2 = y1)"
        )
    width, height = size
    tol = LOAD_BOX_TOLERANCE
    if x1 < -tol or y1 < -tol or x2 > width + tol or y2 > height + tol:
        return f"it lies outside the {width}x{height} image"
    return None
