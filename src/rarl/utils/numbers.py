"""Validation of numeric arguments that come from code or config (not from model output)."""

from __future__ import annotations

import math


def finite_float(value: object, name: str) -> float:
    """`value` as a finite float; ValueError naming `name` for bools, strings, non-numbers, NaN and inf."""
    if isinstance(value, (bool, str, bytes)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number
