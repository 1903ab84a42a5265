"""Generic reader: a CSV or JSONL file of `path,label` rows, so any ordinal dataset works without code.

CSV: a header row with at least `path` and `label` columns (names configurable); JSONL: one object per
line with the same keys (`image` is accepted for `path`). An optional `rule` column/key sets the rule for
that row (rows with different rules are never grouped together); every other column/key goes to
`meta`. Relative image paths are resolved against `images_dir`, by default the table's folder. The
table is `root` itself, or `file` inside the folder `root`.

Task options that are not given are inferred, and each inference is written in the report's notes:
- `value_range`: (min label, max label) of the rows;
- `value_type`: "int" when every label is integral, else "float";
- `precision`: 0 for int, 2 for float;
- `delta`: 5% of the range width, at least 1 for int tasks (at least one display step for float tasks);
- `rule`: the most common `rule` column value (an error if there is no rule at all).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

from rarl.data.errors import DataError, ReadReport
from rarl.data.options import parse_range
from rarl.data.readers.safe import csv_rows, home_path, nested_deeper_than, show, user_path
from rarl.recipes.ordinal.readers.base import ReadResult, check_label, require_dir, require_file
from rarl.recipes.ordinal.schema import METRICS, OrdinalItem, OrdinalTask
from rarl.utils.text import read_text

MAX_NESTING = 32
"""A JSONL row nesting lists/objects deeper than this is a malformed row (its extra keys go to meta)."""


def parse_value_range(value: Any) -> tuple[float, float]:
    """(lo, hi) from a pair of numbers or a string "lo-hi" / "lo,hi" / "lo:hi" / "lo..hi" (signs allowed:
    "-1-10"); finite with lo < hi (`rarl.data.options.parse_range`)."""
    return parse_range(value, "value_range")


ENCODING_HINT = "save it as UTF-8 (Excel: 'CSV UTF-8'), or pass -o encoding=cp1252 (or the encoding it is in)"
_DELIMITERS = (",", ";", "\t", "|")


def _delimiter(header: str, wanted: tuple[str, ...]) -> str:
    """The delimiter that splits `header` into cells naming the `wanted` columns (ties: most cells), else ','.

    Spreadsheet programs write ';' where ',' is the decimal separator, and tabs for "text" exports."""
    best, best_cells = ",", 0
    for d in _DELIMITERS:
        cells = [c.strip().strip('"') for c in header.split(d)]
        found = sum(w in cells for w in wanted)
        if found and (found, len(cells)) > (best_cells, 0) and len(cells) > 1:
            best, best_cells = d, found
    return best


def _rows(
    table: Path, encoding: str | None, wanted: tuple[str, ...]
) -> tuple[list[tuple[str, dict[str, Any] | None]], str]:
    """(where, row) pairs, row None for a line that could not be parsed; and the CSV delimiter used."""
    text = read_text(table, encoding=encoding, error=DataError, hint=ENCODING_HINT)
    rows: list[tuple[str, dict[str, Any] | None]] = []
    if table.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        for lineno, line in enumerate(text.split("\n"), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except (ValueError, RecursionError):  # bad syntax, nesting too deep, an int of 4300+ digits
                row = None
            if isinstance(row, dict) and nested_deeper_than(row, MAX_NESTING):
                row = None
            rows.append((f"{table.name}:{lineno}", row if isinstance(row, dict) else None))
        return rows, ""
    header = next((line for line in text.split("\n") if line.strip()), "")
    delimiter = _delimiter(header, wanted)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    if reader.fieldnames is None:
        return rows, delimiter
    reader.fieldnames = [str(name).strip() for name in reader.fieldnames]
    for row in csv_rows(reader, str(table)):
        rows.append((f"{table.name}:{reader.line_num}", row))
    return rows, delimiter


_DECIMAL_COMMA = re.compile(r"^\s*-?\d+,\d+\s*$")


def _number(raw: Any, delimiter: str) -> float:
    """A label cell as a number (nan when it is not one); '3,5' is 3.5 in a file not delimited by ','."""
    if isinstance(raw, str) and delimiter not in ("", ",") and _DECIMAL_COMMA.match(raw):
        raw = raw.replace(",", ".")
    if isinstance(raw, bool):  # JSON true/false is not a label
        return math.nan
    try:
        return float(raw)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int too large for a float
        return math.nan


def _check_options(*, rule: Any, value_type: Any, precision: Any, delta: Any, name: Any) -> None:
    """One-line DataError for a task option of the wrong type or range (they arrive as `-o key=value`)."""
    if rule is not None and not (isinstance(rule, str) and rule.strip()):
        raise DataError(f"csv: rule must be non-empty text, got {rule!r}")
    if not (isinstance(name, str) and name.strip()):
        raise DataError(f"csv: name must be non-empty text, got {name!r}")
    if value_type not in (None, "int", "float"):
        raise DataError(f"csv: value_type must be 'int' or 'float', got {value_type!r}")
    if precision is not None and (
        isinstance(precision, bool) or not isinstance(precision, int) or precision < 0
    ):
        raise DataError(f"csv: precision must be an integer >= 0 (decimals shown), got {precision!r}")
    number = isinstance(delta, (int, float)) and not isinstance(delta, bool)
    if delta is not None and not (number and math.isfinite(delta) and delta > 0):
        raise DataError(f"csv: delta must be a number > 0, got {delta!r}")


def read_table(
    root: str | os.PathLike | None = None,
    *,
    file: str | os.PathLike | None = None,
    images_dir: str | os.PathLike | None = None,
    name: str = "custom",
    rule: str | None = None,
    value_range: Any = None,
    value_type: str | None = None,
    precision: int | None = None,
    delta: float | None = None,
    metric: str = "mae",
    path_column: str = "path",
    label_column: str = "label",
    encoding: str | None = None,
    strict: bool = False,
) -> ReadResult:
    """Read a CSV/JSONL table of image paths and labels (see the module docstring).

    The table is `file` (relative to `root` when `root` is given and `file` is relative), else `root`.
    Text encoding: UTF-8, or as its byte-order mark says, or `encoding` (see `rarl.utils.text`); CSV
    delimiter: ',', ';', tab or '|', whichever splits the header into the path and label columns.
    """
    if file is not None:
        path = user_path(file)
        table_path = Path(root) / path if root is not None and not path.is_absolute() else path
    elif root is not None:
        table_path = Path(root)
    else:
        raise DataError("csv: pass the CSV or JSONL file as root (or a folder as root and file=<name>)")
    _check_options(rule=rule, value_type=value_type, precision=precision, delta=delta, name=name)
    table = require_file(table_path, "csv")
    base = table.parent if images_dir is None else require_dir(images_dir, "csv")
    if metric not in METRICS:
        raise DataError(f"csv: metric must be one of {METRICS}, got {metric!r}")
    report = ReadReport(strict=strict)
    parsed: list[tuple[str, str, float, str | None, dict[str, Any]]] = []
    wanted = (path_column, label_column) if path_column != "path" else ("path", "image", label_column)
    rows, delimiter = _rows(table, encoding, wanted)
    for where, row in rows:
        report.read += 1
        if row is None:
            report.skip("malformed row", where)
            continue
        raw_path = row.get(path_column)
        if raw_path is None and path_column == "path":
            raw_path = row.get("image")
        if raw_path is None or str(raw_path).strip() == "":
            report.skip(f"no '{path_column}' value", where)
            continue
        raw_label = row.get(label_column)
        label = _number(raw_label, delimiter)
        if not math.isfinite(label):
            report.skip("label is not a number", f"{where} ({show(raw_label)})")
            continue
        row_rule = row.get("rule")
        row_rule = str(row_rule).strip() if row_rule not in (None, "") else None
        skip_keys = {path_column, label_column, "rule", "image"}
        meta = {k: v for k, v in row.items() if k not in skip_keys and k is not None}
        path = Path(home_path(str(raw_path).strip()))  # `~/x` is in the home folder; `~x.png` is a name
        if not path.is_absolute():
            path = base / path
        parsed.append((where, os.path.normpath(path), label, row_rule, meta))
    if not parsed:
        raise DataError(f"csv: no usable rows in {table} ({'; '.join(report.lines()) or 'empty file'})")

    labels = [p[2] for p in parsed]
    if rule is None:
        rules = Counter(p[3] for p in parsed if p[3] is not None)
        if not rules:
            raise DataError(f"csv: no rule for {table}: pass rule=... or add a 'rule' column")
        rule = rules.most_common(1)[0][0]
        report.note(f"rule (most common in the table): {rule!r}")
    if value_range is None:
        lo, hi = min(labels), max(labels)
        report.note(f"value range inferred from the labels: {lo:g}-{hi:g}")
    else:
        lo, hi = parse_value_range(value_range)
    if value_type is None:
        integral = all(float(v).is_integer() for v in labels) and not precision
        value_type = "int" if integral else "float"
        report.note(f"value type inferred from the labels: {value_type}")
    if precision is None:
        precision = 0 if value_type == "int" else 2
    if delta is None:
        step = 1.0 if value_type == "int" else 10.0**-precision
        delta = max((hi - lo) / 20, step)
        report.note(f"delta defaulted to {delta:g} (5% of the range)")
    task = OrdinalTask(
        name=name,
        rule=rule,
        value_range=(lo, hi),
        value_type=value_type,  # type: ignore[arg-type]
        precision=int(precision),
        delta=float(delta),
        metric=metric,  # type: ignore[arg-type]
    )
    items = []
    for where, path, label, row_rule, meta in parsed:
        if not check_label(task, label, where, report):
            continue
        if row_rule is not None and row_rule != task.rule:
            meta["rule"] = row_rule
        items.append(OrdinalItem(image=path, label=label, meta=meta))
    return ReadResult(task, items, report)
