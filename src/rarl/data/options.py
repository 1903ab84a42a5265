"""`rarl prepare` source options: the type each `-o key=value` may hold, checked and converted in one place.

A source declares its options as `{name: Option}` (the `rarl` recipe's in `rarl.recipes.ordinal.prepare`,
Vision-R1's in `rarl.recipes.localization.prepare`, Refine-IQA's in `rarl.recipes.quality.prepare` and
`.perception`). `check_options(source, values, declared)` refuses an unknown name (listing the known ones)
and a value of the wrong type or range with one line naming the source and the option, and returns the
values converted to what the reader takes. `parse_option_items` turns the command line's `-o key=value`
items into that dict.

Values arrive as YAML scalars or flow lists from the command line (`-o splits=0.8,0.1,0.1` is the text
"0.8,0.1,0.1", `-o splits=[0.8,0.1,0.1]` a list) or as Python values from the API; both forms are taken.
NaN and infinities are never a number. A value range is `lo-hi`, `lo,hi`, `lo..hi`, `lo:hi` or `[lo, hi]`,
with signs and exponents (`-1-10`, `-1,10`, `[-1, 10]`, `0..1e3`).
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from rarl.data.errors import DataError
from rarl.data.readers.safe import show

__all__ = [
    "CLI_FLAGS",
    "Option",
    "check_options",
    "choice",
    "counts",
    "flag",
    "fractions",
    "integer",
    "names",
    "number",
    "parse_option_items",
    "parse_range",
    "path",
    "paths",
    "text",
    "value_range",
]

CLI_FLAGS = ("source", "out", "root", "sizes", "seed", "strict")
"""What `rarl prepare` takes as its own arguments: never a `-o` option."""

_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(rf"^\s*\[?\s*({_NUM})\s*(?:\.\.|,|:|-)\s*({_NUM})\s*\]?\s*$")


class _Bad(Exception):
    """A value that does not fit its option (the message is filled in by `check_options`)."""


@dataclass(frozen=True)
class Option:
    """One declared option: its kind, bounds (numbers), allowed values (choices, names) and arity (fractions).

    Build them with the functions below (`integer(lo=1)`, `choice("xyxy", "xywh")`, ...).
    """

    kind: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    count: int = 3

    def describe(self) -> str:
        """What the option takes, as the error message says it ("an int >= 1", "one of xyxy, xywh", ...)."""
        bounds = _bounds(self.lo, self.hi)
        if self.kind == "int":
            return f"an int{bounds}"
        if self.kind == "number":
            return f"a finite number{bounds}"
        if self.kind == "flag":
            return "true or false"
        if self.kind == "text":
            return "text"
        if self.kind == "path":
            return "a path"
        if self.kind == "choice":
            return f"one of {', '.join(self.choices)}"
        if self.kind == "names":
            among = f" among {', '.join(self.choices)}" if self.choices else ""
            return f"a comma-separated list of names{among} (e.g. a,b or [a, b])"
        if self.kind == "fractions":
            return (
                f"{self.count} finite numbers >= 0 with a positive sum (e.g. 0.8,0.1,0.1 or [0.8, 0.1, 0.1])"
            )
        if self.kind == "range":
            return "a range lo,hi of finite numbers with lo < hi (e.g. 0,100 or -1,10 or [-1, 10] or 0-100)"
        if self.kind == "paths":
            return "a comma-separated list of paths (e.g. dir1,dir2 or [dir1, dir2])"
        if self.kind == "counts":
            return "an int >= 1, or per split {train: N, val: N, test: N}"
        raise AssertionError(self.kind)

    def convert(self, value: Any) -> Any:
        """`value` in the form the reader takes; `_Bad` when it does not fit."""
        convert = _CONVERTERS[self.kind]
        return convert(self, value)


def _bounds(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f" in {lo:g}..{hi:g}"
    if lo is not None:
        return f" >= {lo:g}"
    if hi is not None:
        return f" <= {hi:g}"
    return ""


def _in_bounds(opt: Option, v: float) -> bool:
    return (opt.lo is None or v >= opt.lo) and (opt.hi is None or v <= opt.hi)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _float(value: Any) -> float:
    """A finite float from a number or numeric text; `_Bad` otherwise (NaN, infinities, huge ints)."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise _Bad from None
    if not _is_number(value):
        raise _Bad
    try:
        v = float(value)
    except OverflowError:
        raise _Bad from None
    if not math.isfinite(v):
        raise _Bad
    return v


_MAX_INT = 2**53
"""Ints past this (the last a float holds exactly) are refused: no count or size is that large."""


def _to_int(opt: Option, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        v = value
    else:
        f = _float(value)  # 1e3 or 1000.0 are ints; 1.5 is not
        if not f.is_integer():
            raise _Bad
        v = int(f)
    if abs(v) > _MAX_INT or not _in_bounds(opt, v):
        raise _Bad
    return v


def _to_number(opt: Option, value: Any) -> float:
    v = _float(value)
    if not _in_bounds(opt, v):
        raise _Bad
    return v


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _to_flag(opt: Option, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _Bad


def _word(value: Any) -> str:
    """Text as typed: YAML reads `5` as an int and `2024-01-01` as a date, both written back exactly; a
    float, a flag, a list or a mapping is not text (quote it: -o name="'1.0'")."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    raise _Bad


def _to_text(opt: Option, value: Any) -> str:
    return _word(value)


def _to_path(opt: Option, value: Any) -> str:
    if hasattr(value, "__fspath__"):
        value = str(value.__fspath__())
    p = _word(value)
    if not p.strip() or "\x00" in p:
        raise _Bad
    return p


def _to_choice(opt: Option, value: Any) -> str:
    if not isinstance(value, str) or value not in opt.choices:
        raise _Bad
    return value


def _items(value: Any) -> list[Any]:
    """The elements of a comma-separated text or a list/tuple."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise _Bad


def _to_names(opt: Option, value: Any) -> list[str]:
    out = [_word(v).strip() for v in _items(value)]
    if not out or not all(out) or (opt.choices and any(v not in opt.choices for v in out)):
        raise _Bad
    return out


def _to_fractions(opt: Option, value: Any) -> list[float]:
    if isinstance(value, str):
        value = value.split(",")
    elif not isinstance(value, (list, tuple)):
        raise _Bad
    out = [_float(v) for v in value]
    if len(out) != opt.count or any(v < 0 for v in out) or not 0 < sum(out) < math.inf:
        raise _Bad
    return out


def parse_range(value: Any, what: str) -> tuple[float, float]:
    """(lo, hi) from `lo-hi`, `lo,hi`, `lo..hi`, `lo:hi`, `[lo, hi]` text or a pair of numbers: finite,
    lo < hi, and hi - lo finite; a one-line `DataError` naming `what` otherwise."""
    try:
        return _to_range(Option("range"), value)
    except _Bad:
        raise DataError(f"{what} must be {Option('range').describe()}, got {show(value)}") from None


def _to_range(opt: Option, value: Any) -> tuple[float, float]:
    if isinstance(value, str):
        m = _RANGE.match(value)
        if m is None:
            raise _Bad
        pair: Sequence[Any] = (m[1], m[2])
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        pair = value
    else:
        raise _Bad
    lo, hi = (_float(v) for v in pair)
    if not (lo < hi and math.isfinite(hi - lo)):
        raise _Bad
    return lo, hi


def _to_paths(opt: Option, value: Any) -> list[str]:
    out = [_to_path(opt, v) for v in _items(value)]
    if not out:
        raise _Bad
    return out


def _to_counts(opt: Option, value: Any) -> int | dict[str, int | None]:
    if isinstance(value, Mapping):
        return {str(k): None if v is None else _to_int(Option("int", lo=1), v) for k, v in value.items()}
    return _to_int(Option("int", lo=1), value)


_CONVERTERS = {
    "int": _to_int,
    "number": _to_number,
    "flag": _to_flag,
    "text": _to_text,
    "path": _to_path,
    "choice": _to_choice,
    "names": _to_names,
    "fractions": _to_fractions,
    "range": _to_range,
    "paths": _to_paths,
    "counts": _to_counts,
}


def integer(lo: float | None = None, hi: float | None = None) -> Option:
    """An int (`1000`, `1e3`, `1000.0`; not `1.5`) within [lo, hi]."""
    return Option("int", lo, hi)


def number(lo: float | None = None, hi: float | None = None) -> Option:
    """A finite number within [lo, hi]."""
    return Option("number", lo, hi)


def flag() -> Option:
    """true/false (yes/no, on/off, 1/0)."""
    return Option("flag")


def text() -> Option:
    """Text (an int or a date typed on the command line is read back as typed)."""
    return Option("text")


def path() -> Option:
    """A path (text without NUL characters)."""
    return Option("path")


def choice(*choices: str) -> Option:
    """One of `choices`."""
    return Option("choice", choices=tuple(choices))


def names(*choices: str) -> Option:
    """A non-empty list of names (`a,b` or `[a, b]`), each among `choices` when given; a list of text."""
    return Option("names", choices=tuple(choices))


def fractions(count: int = 3) -> Option:
    """`count` finite numbers >= 0 with a positive sum (split fractions); a list of floats."""
    return Option("fractions", count=count)


def value_range() -> Option:
    """A numeric range (see `parse_range`); a (lo, hi) tuple."""
    return Option("range")


def paths() -> Option:
    """A non-empty list of paths (`a,b` or `[a, b]`)."""
    return Option("paths")


def counts() -> Option:
    """An int >= 1, or a mapping split -> int >= 1 (None: the default for that split)."""
    return Option("counts")


def check_options(source: str, values: Mapping[str, Any], declared: Mapping[str, Option]) -> dict[str, Any]:
    """`values` converted by their declared options; one-line `DataError` for an unknown name or a value of
    the wrong type or range (naming `source`, the option and what it takes). A None value means "not
    given" and is left out, so the reader's default applies."""
    unknown = sorted(k for k, v in values.items() if k not in declared and v is not None)
    if unknown:
        raise DataError(f"{source}: unknown options {unknown}; known: {sorted(declared)}")
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue  # not given: the reader's default applies
        option = declared[key]
        try:
            out[key] = option.convert(value)
        except _Bad:
            if option.kind == "choice":
                choices = ", ".join(option.choices)
                raise DataError(f"{source}: unknown {key} {show(value)}; choose from {choices}") from None
            hint = (
                " (quote text that looks like a number: -o name=\"'1.0'\")" if option.kind == "text" else ""
            )
            raise DataError(f"{source}: {key} must be {option.describe()}, got {show(value)}{hint}") from None
    return out


def parse_option_items(items: Iterable[str]) -> dict[str, Any]:
    """`-o key=value` items as {key: value} (the value read as YAML: `5` an int, `[a, b]` a list, `a,b`
    text); a one-line `DataError` for an item without `=`, an empty key, a key given twice, a key that is
    one of `rarl prepare`'s own arguments (`CLI_FLAGS`), or a value YAML cannot read."""
    out: dict[str, Any] = {}
    typed: dict[str, str] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise DataError(f"-o {item!r} is not of the form key=value (e.g. -o num_images=600)")
        if key in CLI_FLAGS:
            raise DataError(f"-o {key}=...: {key} is an argument of rarl prepare itself; use --{key}")
        if key in out:
            raise DataError(f"-o {key} is given twice (-o {typed[key]} and -o {item}); give it once")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw  # text YAML cannot read as a value (`a: b`, unbalanced brackets) stays text
        except RecursionError:
            raise DataError(f"-o {key}: the value is nested too deeply") from None
        out[key], typed[key] = value, item
    return out
