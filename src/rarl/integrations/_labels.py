"""Reading ground-truth labels as frameworks hand them over: a list of numbers, or a JSON string of one."""

from __future__ import annotations

import json
import math
import numbers
from typing import Any


def coerce_labels(raw: Any) -> list[float]:
    """Labels as a list of finite floats (`labels[i]` is image_id i+1).

    Accepts a sequence of numbers (list, tuple, numpy array), a single number (one image), or a JSON string
    of either. Ground truth comes from the data pipeline, so anything else is a bug there and raises
    ValueError naming the value.
    """
    value = raw
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError(f"labels are not JSON: {_short(raw)}") from None
    if _is_number(value):
        values = [value]
    else:
        try:
            values = list(value)
        except TypeError:
            raise ValueError(f"labels must be a list of numbers, got {_short(raw)}") from None
    if not values:
        raise ValueError("labels must hold at least one value, got an empty list")
    out: list[float] = []
    for v in values:
        if not _is_number(v):
            raise ValueError(f"labels must be numbers, got {v!r} in {_short(raw)}")
        f = float(v)
        if not math.isfinite(f):
            raise ValueError(f"labels must be finite, got {v!r} in {_short(raw)}")
        out.append(f)
    return out


def _is_number(value: Any) -> bool:
    # numbers.Real covers int, float and numpy scalars; bools are numbers to Python but not labels.
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
