"""Reading what an annotation file may hold, whatever it holds: every reader's guard against hostile values.

An annotation file is data, not code, and a hand-edited or foreign one may hold anything: numbers of 400
digits, file names with NUL characters or a leading `~`, symbolic-link loops, JSON nested thousands deep,
CSV fields of megabytes. These helpers turn each into a value a reader can skip with a reason, or into one
`DataError` naming the file, never an exception from deep inside Python:

- `parse_json` / `load_json`: JSON text or file (nesting too deep, integers past Python's digit limit and
  syntax errors are one line naming the file);
- `finite`: a JSON number as a finite float, or None (NaN, infinities, bools, ints too large for a float);
- `image_path` / `home_path`: an annotation's image name under its folder; only `~` and `~/...` mean the
  home folder (a name such as `~draft.png` is a file name), and a name that cannot be resolved (a link loop, a NUL
  character) stays unresolved for the image check to report;
- `user_path` / `resolved`: a path the user typed (`--root`, `-o images_dir=`), with `~user` expanded when
  that user exists and left as typed otherwise;
- `csv_rows`: the rows of a `csv` reader, a malformed line (a field over the csv module's limit) one
  `DataError` naming the file and line;
- `nested_deeper_than`: whether a record nests deeper than a bound (checked without recursion);
- `show`: a bounded repr for messages (at most a few levels and characters of any value).
"""

from __future__ import annotations

import csv
import math
import os
import reprlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rarl.data.errors import DataError
from rarl.utils.io import parse_json as io_parse_json
from rarl.utils.io import user_path
from rarl.utils.text import read_text

__all__ = [
    "csv_rows",
    "finite",
    "home_path",
    "image_path",
    "load_json",
    "nested_deeper_than",
    "parse_json",
    "resolved",
    "show",
    "user_path",
]

_SHOW = reprlib.Repr()
_SHOW.maxlevel = 3
_SHOW.maxstring = 80
_SHOW.maxother = 80
_SHOW.maxlong = 40
_SHOW.maxlist = _SHOW.maxtuple = _SHOW.maxdict = 6


def show(value: Any) -> str:
    """`repr(value)` cut to a few levels and characters (a 400-digit int, a list nested 900 deep)."""
    return _SHOW.repr(value)


def parse_json(text: str, where: str) -> Any:
    """The value of JSON `text` (a whole file's, named `where`); one-line `DataError` naming it for bad
    syntax, nesting too deep for the parser, or an integer longer than Python reads (4300 digits)."""
    return io_parse_json(text, where, DataError, file=True)


def load_json(path: Path, what: str) -> Any:
    """The content of the JSON file at `path` (UTF-8, or as its byte-order mark says); one-line `DataError`
    naming it when it is missing, not text or not usable JSON (`parse_json`)."""
    if not path.is_file():
        raise DataError(f"{what}: file not found: {path}")
    return parse_json(read_text(path, error=DataError, hint="save it as UTF-8"), str(path))


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether lists/objects in `value` nest more than `limit` levels (checked without recursion), so a
    record that would later be written back as JSON or shown in a message can be refused first."""
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (list, dict)):
            if depth >= limit:
                return True
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return False


def finite(value: object) -> float | None:
    """`value` as a finite float when it is a real number (not a bool) that a float can hold, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        v = float(value)
    except OverflowError:
        return None
    return v if math.isfinite(v) else None


def resolved(path: Path) -> Path:
    """`path` made absolute with links followed; a path that cannot be resolved (a link loop, a NUL or
    other character the file system refuses) is made absolute as it is, for the caller's check to report."""
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError):
        return Path(os.path.abspath(path))


def home_path(name: str) -> str:
    """`~` and `~/...` expanded to the home folder; any other name as it is (`~draft.png` is a file)."""
    if name == "~" or name.startswith(("~/", "~" + os.sep)):
        return os.path.expanduser(name)
    return name


def image_path(name: str, folder: Path) -> str:
    """The absolute path of an annotation's image `name`: an absolute name as it is (only `~/` expanded), a
    relative one under `folder`, resolved where it can be (`resolved`)."""
    p = Path(home_path(name))
    return str(p if p.is_absolute() else resolved(folder / p))


def csv_rows(reader: Any, where: str) -> Iterator[Any]:
    """The rows of a `csv.reader` / `csv.DictReader`; a line the csv module refuses (a field over its size
    limit, a NUL character) is one `DataError` naming `where` and the line."""
    rows = iter(reader)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as e:
            limit = csv.field_size_limit()
            detail = f"a field longer than {limit} characters" if "field limit" in str(e) else str(e)
            line = reader.line_num + 1  # the line the refused row starts on (line_num counts those read)
            raise DataError(f"{where}:{line}: not a usable CSV line ({detail})") from None
        yield row
