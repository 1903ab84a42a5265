"""Helpers every recipe's `rarl prepare` uses: the output-folder check, progress bars, JSON-ready options.

A recipe's `prepare` replaces its `out` folder as a whole, and writes or deletes nothing else. To protect user
data, `check_out_dir` refuses, before anything is read or written, an `out` that exists, is not empty and is
not a manifest folder (no task.json), and an `out` that contains any of the source's inputs: `--root` and
every path option (`PATH_OPTIONS`: `-o images_dir=`, `-o manifests=` of a merge, ...), so replacing `out`
never deletes what the new manifest is made from. `check_images_outside` does the same for the image files
a source's annotations name.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
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


PATH_OPTIONS = ("images_dir", "images", "file", "annotations", "ava_file", "manifests")
"""Source options that name a file or folder the source reads (`manifests`: several, `a,b` or a list)."""


def _absolute(path: str | os.PathLike) -> Path:
    """`path` with `~` expanded, made absolute with links followed (as it is when it cannot be resolved)."""
    path = Path(os.path.expanduser(os.fspath(path)))
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError):
        return Path(os.path.abspath(path))


def source_paths(root: Path | None, options: Mapping[str, Any] | None = None) -> list[tuple[str, Path]]:
    """(option, absolute path) for `--root` and every path option of `options`; a relative option path
    counts both from the current folder and from root's folder (where readers look for it)."""
    found: list[tuple[str, Path]] = []
    if root is not None:
        found.append(("--root", _absolute(root)))
    near = found[0][1] if found else None
    near = near.parent if near is not None and not near.is_dir() else near
    for key in PATH_OPTIONS:
        value = (options or {}).get(key)
        if isinstance(value, (str, os.PathLike)):
            text = os.fspath(value)
            values = text.split(",") if key == "manifests" and isinstance(text, str) else [text]
        elif isinstance(value, (list, tuple)):
            values = [v for v in value if isinstance(v, (str, os.PathLike))]
        else:
            continue
        for item in values:
            if not os.fspath(item):
                continue
            found.append((f"-o {key}", _absolute(item)))
            typed = Path(os.path.expanduser(os.fspath(item)))
            if near is not None and not typed.is_absolute():
                found.append((f"-o {key}", _absolute(near / typed)))
    return found


def check_out_dir(out: Path, root: Path | None, options: Mapping[str, Any] | None = None) -> None:
    """One-line DataError for an output folder that holds the source data (`--root` or a path option, see
    `source_paths`), is a file, or is not a manifest."""
    for option, path in source_paths(root, options):
        if path == out or out in path.parents:
            raise DataError(
                f"the output folder {out} contains the source data {path} ({option}); replacing it would "
                "delete them; choose another --out"
            )
    if out.exists() and not out.is_dir():
        raise DataError(f"output path exists and is not a folder: {out}")
    if out.is_dir() and any(out.iterdir()) and not (out / TASK_FILE).is_file():
        raise DataError(
            f"refusing to replace {out}: it is not empty and not a manifest folder (no {TASK_FILE})"
        )


def check_images_outside(out: Path, images: Iterable[str | os.PathLike]) -> None:
    """One-line DataError when an image the source names lies inside the output folder `out` (which the new
    manifest replaces, deleting it); call it after reading, before the manifest is moved into place."""
    prefix = f"{out}{os.sep}"
    for image in images:
        text = os.fspath(image)
        if text.startswith(prefix) or os.path.abspath(text).startswith(prefix):
            raise DataError(f"the output folder {out} contains source image {text}; choose another --out")


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
