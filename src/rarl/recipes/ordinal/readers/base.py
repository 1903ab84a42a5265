"""What every reader returns, and small helpers shared by the readers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rarl.data.errors import DataError, ReadReport
from rarl.data.readers.safe import user_path
from rarl.recipes.ordinal.schema import OrdinalItem, OrdinalTask


@dataclass
class ReadResult:
    """A reader's output: the task, the items (absolute image paths) and the report of skipped rows.

    Unpacks as `task, items, report = read_xxx(...)`.
    """

    task: OrdinalTask
    items: list[OrdinalItem]
    report: ReadReport = field(default_factory=ReadReport)

    def __iter__(self) -> Iterator[object]:
        return iter((self.task, self.items, self.report))


def require_dir(path: str | os.PathLike | None, what: str) -> Path:
    """`path` as an absolute Path, or `DataError` if it is not given or not an existing folder."""
    if path is None:
        raise DataError(f"{what}: no root folder given")
    p = user_path(path)
    if not p.is_dir():
        raise DataError(f"{what}: folder not found: {p}")
    return p.resolve()


def require_file(path: str | os.PathLike, what: str) -> Path:
    """`path` as an absolute Path, or `DataError` if it is not an existing file."""
    p = user_path(path)
    if not p.is_file():
        raise DataError(f"{what}: file not found: {p}")
    return p.resolve()


def file_names(folder: Path) -> set[str]:
    """Names of the plain files in `folder` (one directory scan instead of a stat per item); an entry that
    cannot be followed (a link loop) is not a file."""

    def is_file(entry: os.DirEntry[str]) -> bool:
        try:
            return entry.is_file()
        except OSError:
            return False

    with os.scandir(folder) as it:
        return {e.name for e in it if is_file(e)}


def check_label(task: OrdinalTask, label: float, example: str, report: ReadReport) -> bool:
    """False (and a recorded skip) if `label` is outside the task's range or not integral for an int task."""
    if not task.contains(label):
        report.skip(f"label outside {task.range_text()}", f"{example} (label {label:g})")
        return False
    if task.value_type == "int" and not float(label).is_integer():
        report.skip("non-integer label for an int task", f"{example} (label {label:g})")
        return False
    return True
