"""Atomic file and directory writes.

Everything the project saves (manifests, checkpoints, reports) goes through these helpers so that an
interrupted process never leaves a half-written file where a complete one is expected: content is written
to a temporary sibling, flushed, then moved into place with an atomic rename.

A process killed mid-write leaves its temporary sibling behind (`.<name>.<random>.tmp`, and for a folder
being replaced `.<name>.old`); `recover_leftovers` removes them, or puts a replaced folder back when the
kill came between its two renames.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from rarl.utils.text import read_text


def user_path(value: str | os.PathLike) -> Path:
    """A path the user typed, `~` / `~user` expanded as a shell would; an unknown user is left as typed
    (`Path.expanduser` raises there)."""
    return Path(os.path.expanduser(os.fspath(value)))


def parse_json(text: str, where: str, error: type[Exception] = ValueError, *, file: bool = False) -> Any:
    """The value of JSON `text`; one-line `error` naming `where` (with the line of a syntax error when `file`:
    `where` is a whole file) for bad syntax, nesting too deep for the parser, or an integer longer than
    Python reads (4300 digits)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise error(f"{where}{f':{e.lineno}' if file else ''}: not valid JSON ({e.msg})") from None
    except RecursionError:
        raise error(f"{where}: not usable JSON (nested too deeply for the parser)") from None
    except ValueError as e:  # an integer past sys.get_int_max_str_digits()
        raise error(f"{where}: not usable JSON ({str(e).split(';')[0]})") from None


def _default_file_mode() -> int:
    """0666 minus the process umask: what a plain open() would give (mkstemp alone gives 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary file path beside `path` for a writer that wants a file name (e.g. savefig);
    on success the file gets the usual mode and is renamed onto `path`, on failure it is removed."""
    path = Path(path)
    with _naming(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        with _naming(path):
            yield Path(tmp)
            os.chmod(tmp, _default_file_mode())
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _naming(path: Path) -> Iterator[None]:
    """Errors of the file system name what was being written: `path` instead of a temporary sibling, or
    instead of nothing (a full disk raises from `write` with no file name)."""
    try:
        yield
    except OSError as e:
        if e.errno is None or (e.filename is not None and ".tmp" not in os.fsdecode(e.filename)):
            raise
        raise OSError(e.errno, e.strerror, str(path)) from e


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` atomically (temporary file in the same folder, fsync, rename)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    return Path(path)


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> Path:
    """Write `obj` as JSON to `path` atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=False) + "\n")


def atomic_write_jsonl(path: str | os.PathLike, rows: Iterable[Any]) -> Path:
    """Write one JSON object per line to `path` atomically."""
    return atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; on success it replaces `path` in one rename.

    On an exception the temporary folder is removed and any existing `path` is left untouched.
    """
    path = Path(path)
    with _naming(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        with _naming(path):
            yield tmp
        if path.exists():
            old = _replaced_copy(path)
            if old.exists():
                shutil.rmtree(old)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _replaced_copy(path: Path) -> Path:
    """Where `atomic_directory` keeps the folder it is replacing until the new one is in place."""
    return path.with_name(f".{path.name}.old")


def temporary_siblings(path: str | os.PathLike) -> list[Path]:
    """The temporary files and folders that `atomic_path` / `atomic_directory` make beside `path`."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    found = sorted(path.parent.glob(f".{glob.escape(path.name)}.*.tmp*"))
    old = _replaced_copy(path)
    return [*found, old] if old.exists() or old.is_symlink() else found


def remove_path(path: str | os.PathLike) -> None:
    """Remove a file, a link or a folder tree."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def recover_leftovers(path: str | os.PathLike) -> list[str]:
    """Clean up after a process killed while writing `path` atomically; returns what was done, one line each.

    Temporary copies are removed. A replaced folder (`.<name>.old`) is moved back when `path` itself is
    missing (the kill came between `atomic_directory`'s two renames: the old folder is the complete one),
    and removed otherwise.
    """
    path = Path(path)
    done = []
    for leftover in temporary_siblings(path):
        if leftover == _replaced_copy(path) and not path.exists():
            os.replace(leftover, path)
            done.append(f"restored {path} from {leftover.name}")
            continue
        remove_path(leftover)
        done.append(f"removed {leftover}")
    return done


def read_jsonl_numbered(path: str | os.PathLike) -> list[tuple[int, Any]]:
    """(line number, object) for every non-blank line of a JSONL file; a malformed line raises ValueError
    naming the file and line number."""
    rows = []
    for lineno, line in enumerate(read_text(path).split("\n"), 1):  # UTF-8, or as a byte-order mark says
        line = line.strip()
        if not line:
            continue
        rows.append((lineno, parse_json(line, f"{path}:{lineno}")))
    return rows


def read_jsonl(path: str | os.PathLike) -> list[Any]:
    """Read a JSONL file; a malformed line raises ValueError naming the file and line number."""
    return [row for _, row in read_jsonl_numbered(path)]
