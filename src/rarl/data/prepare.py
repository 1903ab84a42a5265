"""Helpers every recipe's `rarl prepare` uses: the output-folder check, progress bars, JSON-ready options.

A recipe's `prepare` replaces its `out` folder as a whole. To protect user data, `check_out_dir` refuses an
`out` that exists, is not empty and is not a manifest folder (no task.json), and an `out` that contains the
source data.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from rarl.data.errors import DataError
from rarl.data.manifest import TASK_FILE

ProgressFn = Callable[[str, int], Callable[[int], None]]
"""progress(description, total) -> update(completed)."""


def jsonable(v: Any) -> Any:
    """Option values as JSON (paths as strings, tuples as lists)."""
    if isinstance(v, os.PathLike):
        return os.fspath(v)
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): jsonable(x) for k, x in v.items()}
    return v


def check_out_dir(out: Path, root: Path | None) -> None:
    """One-line DataError for an output folder that holds the source data, is a file, or is not a manifest."""
    if root is not None:
        r = root.resolve()
        if r == out or out in r.parents:
            raise DataError(f"the output folder {out} contains the source data {r}; choose another --out")
    if out.exists() and not out.is_dir():
        raise DataError(f"output path exists and is not a folder: {out}")
    if out.is_dir() and any(out.iterdir()) and not (out / TASK_FILE).is_file():
        raise DataError(
            f"refusing to replace {out}: it is not empty and not a manifest folder (no {TASK_FILE})"
        )


@contextmanager
def progress_bars(quiet: bool, console: Any) -> Iterator[ProgressFn]:
    """A `ProgressFn` drawing transient rich progress bars (to stderr unless a console is given); a no-op
    when `quiet`."""
    if quiet:
        yield lambda description, total: lambda completed: None
        return
    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console or Console(stderr=True),
        transient=True,
    )

    def start(description: str, total: int) -> Callable[[int], None]:
        tid = bars.add_task(description, total=total)
        return lambda completed: bars.update(tid, completed=completed)

    with bars:
        yield start
