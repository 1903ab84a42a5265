"""Reading ground truth as frameworks hand it over: Python objects, or a JSON string of them.

- `coerce_labels`: ordinal labels (a list of numbers) for the RARL reward;
- `coerce_box_target`: a localization target (the `vision-r1` recipe's `target(sample)`) for Vision-R1's.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping
from typing import Any


def coerce_labels(raw: Any) -> list[float]:
    """Labels as a list of finite floats (`labels[i]` is image_id i+1).

    Accepts a sequence of numbers (list, tuple, numpy array), a single number (one image), or a JSON string
    of either. Ground truth comes from the data pipeline, so anything else is a bug there and raises
    ValueError naming the value.
    """
    value = _from_json(raw, "labels")
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


BOX_TARGET_KEYS = ("boxes", "labels", "categories", "frame")
"""Keys of a localization target: (G, 4) boxes in the frame's pixels, G labels, allowed categories, (W, H)."""


def coerce_box_target(raw: Any) -> dict[str, Any]:
    """A localization target as a dict with `BOX_TARGET_KEYS` (from a mapping or a JSON string of one).

    The values are checked by the reward itself (`localization_reward` names any bad one); a missing key or
    a value that is not JSON raises ValueError here, naming it.
    """
    value = _from_json(raw, "box target")
    if not isinstance(value, Mapping):
        raise ValueError(f"box target must be a mapping with keys {list(BOX_TARGET_KEYS)}, got {_short(raw)}")
    missing = [k for k in BOX_TARGET_KEYS if k not in value]
    if missing:
        raise ValueError(f"box target lacks {missing}: {_short(raw)}")
    return {k: _plain(value[k]) for k in BOX_TARGET_KEYS}


def _from_json(raw: Any, what: str) -> Any:
    """`raw` as it is, or decoded when it is a JSON string (or bytes of one); ValueError naming `what`."""
    value = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise ValueError(f"{what}: not JSON: {_short(raw)}") from None


def _plain(value: Any) -> Any:
    """Nested lists of Python values (parquet rows carry lists as numpy arrays)."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        return value
    return [_plain(v) for v in value]


def _is_number(value: Any) -> bool:
    # numbers.Real covers int, float and numpy scalars; bools are numbers to Python but not labels.
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
