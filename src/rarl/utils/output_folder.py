"""Output folders a command may write into: new, empty, or its own (marked), never someone else's.

    with claimed_folder(out, "demo", ["data", "sft", "rarl", "report"], info={"recipe": "rarl"}):
        ...   # out exists, is locked (rarl.utils.lock), holds .rarl-demo.json; earlier runs' entries are gone

A command that fills a whole folder (`rarl demo`, `rarl eval`, `rarl ablate`, `rarl build-base`) claims it
first, before any work:

- a missing or empty folder is created and marked: a small file `.rarl-<kind>.json` written first, naming
  the kind of folder and the entries the command writes there;
- a folder with that marker is the command's own: with `replace`, a rerun deletes only the entries the
  marker lists and the ones it is about to write (and their temporary siblings), nothing else (a `notes.txt`
  put there survives);
- `adopt(folder)` may recognise a folder of this kind written before markers existed (it is then marked);
- any other non-empty folder is refused with one line naming a few of its entries, and nothing is touched.

The folder's lock is held for the block, so two commands never fill one folder at once. A block that fails
before writing anything leaves no marker (and no folder, if claiming it created it).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from rarl.utils.config import ConfigError
from rarl.utils.io import atomic_write_json, remove_path, temporary_siblings
from rarl.utils.lock import LOCK_FILE, FolderLock


def marker_name(kind: str) -> str:
    """The marker file of a `kind` folder (`.rarl-demo.json`)."""
    return f".rarl-{kind}.json"


def read_marker(out: str | os.PathLike, kind: str) -> dict[str, Any] | None:
    """The marker's content, or None when `out` has no readable marker of `kind`."""
    path = Path(out) / marker_name(kind)
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return info if isinstance(info, dict) and info.get("kind") == kind else None


def _plain(name: object) -> bool:
    """A single entry name inside the folder (a marker edited by hand never names a path elsewhere)."""
    return (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and "/" not in name
        and "\\" not in name
        and "\0" not in name
    )


def _contents(out: Path) -> list[str]:
    """The folder's entries, less the lock file."""
    return sorted(p.name for p in out.iterdir() if p.name != LOCK_FILE)


def check_claimable(
    out: str | os.PathLike,
    kind: str,
    *,
    option: str = "--out",
    adopt: Callable[[Path], bool] | None = None,
    marker: str | None = None,
) -> None:
    """ConfigError unless `out` is missing, empty, marked as a `kind` folder, or adopted (reads only).

    `marker`: a file whose presence marks the kind instead of `.rarl-<kind>.json` (a base model folder's
    `rarl_base.json`).
    """
    out = Path(out)
    if out.is_symlink() and not out.exists():
        raise ConfigError(f"{option} {out} is a broken link; choose an empty or new folder")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{option} {out} is a file, not a folder; choose an empty or new folder")
    if not out.is_dir():
        return
    found = _contents(out)
    marked = (out / marker).is_file() if marker is not None else read_marker(out, kind) is not None
    if not found or marked or (adopt is not None and adopt(out)):
        return
    shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
    article = "an" if kind[:1] in "aeiou" else "a"
    raise ConfigError(
        f"{option} {out} is not empty ({shown}) and is not {article} {kind} folder "
        f"(no {marker or marker_name(kind)}); choose an empty or new folder"
    )


def _clear_entries(out: Path, names: Sequence[str]) -> list[str]:
    """Delete `names` (plain entry names) and their temporary siblings from `out`; returns what went."""
    removed = []
    for name in dict.fromkeys(n for n in names if _plain(n)):
        for path in [*temporary_siblings(out / name), out / name]:
            if path.exists() or path.is_symlink():
                remove_path(path)
                removed.append(path.name)
    return removed


@contextlib.contextmanager
def claimed_folder(
    out: str | os.PathLike,
    kind: str,
    entries: Sequence[str],
    *,
    option: str = "--out",
    info: Mapping[str, Any] | None = None,
    adopt: Callable[[Path], bool] | None = None,
    replace: bool = True,
    purpose: str | None = None,
) -> Iterator[Path]:
    """Hold `out` as a `kind` folder for the block (see the module docstring); yields it as a Path.

    `entries`: the names the command writes in `out`; `replace`: delete them (and those an earlier marker
    lists) first, so a rerun starts clean; `info`: more fields for the marker; `purpose`: what the lock
    names as its holder (default: `kind`).
    """
    out = Path(out)
    check_claimable(out, kind, option=option, adopt=adopt)  # before the lock creates anything
    with FolderLock(out, purpose or kind, option):
        check_claimable(out, kind, option=option, adopt=adopt)  # again, now that nobody else writes here
        old = read_marker(out, kind) or {}
        if replace:
            earlier = old.get("entries")
            _clear_entries(out, [*(earlier if isinstance(earlier, list) else []), *entries])
        earlier = old.get("entries") if not replace and isinstance(old.get("entries"), list) else []
        marker = {"kind": kind, **dict(info or {}), "entries": list(dict.fromkeys([*earlier, *entries]))}
        fresh = not (out / marker_name(kind)).exists()
        atomic_write_json(out / marker_name(kind), marker)
        try:
            yield out
        except BaseException:
            if fresh and _contents(out) == [marker_name(kind)]:  # it failed before writing anything
                (out / marker_name(kind)).unlink()
            raise
