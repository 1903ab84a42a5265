"""One process at a time per folder: an advisory lock the kernel releases when its holder dies.

    with FolderLock("runs/x"):       # FolderInUse (a ConfigError) naming the pid and host that hold it
        ...                          # the folder is ours until the block ends

The lock is `fcntl.flock` on `<folder>/.rarl-run.lock`, a file holding who took it (pid, host, start time).
A process killed with SIGKILL leaves no stuck lock: the kernel drops a dead process's locks, and the next
taker reuses the file. A clean release deletes the file (while still holding it; a taker checks that the file
it locked is still the one at that path), and removes the folder again when taking the lock created it and
nothing else was written there, so a run refused for bad input leaves nothing behind.

Within one process the lock is re-entrant (a count per folder): a command that takes it and then starts a
trainer that takes it again does not lock itself out. Where `fcntl` does not exist (Windows) the lock does
nothing.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rarl.utils.config import ConfigError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".rarl-run.lock"
"""The lock's file inside the folder it guards."""

_ATTEMPTS = 20
_PAUSE_S = 0.05  # a holder that is just releasing gets this long (x attempts) to finish


class FolderInUse(ConfigError):
    """Another process holds the folder's lock; the message names the folder and the holder."""


@dataclass
class _Held:
    fd: int
    count: int = 1
    created: list[Path] = field(default_factory=list)  # folders taking the lock made, deepest first


_HELD: dict[str, _Held] = {}  # real path of the folder -> this process's hold on it


def _key(folder: Path) -> str:
    return os.path.realpath(folder)


def _holder_text(fd: int, purpose: str) -> str:
    """`run (pid N on host H since T)` from a lock file's content (what holds it, and who), or `purpose`
    with a note that it names no holder yet."""
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or "pid" not in info:
        return f"{purpose} (a process that has not yet written its pid)"
    what = info.get("purpose") if isinstance(info.get("purpose"), str) else purpose
    return f"{what} (pid {info.get('pid')} on host {info.get('host', '?')} since {info.get('started', '?')})"


def _missing_parents(folder: Path) -> list[Path]:
    """`folder` and its ancestors that do not exist yet, deepest first."""
    missing = []
    for path in [folder, *folder.parents]:
        if path.exists() or path.is_symlink():
            break
        missing.append(path)
    return missing


def _lock_once(folder: Path, purpose: str) -> tuple[int | None, str]:
    """(fd holding the lock, "") or (None, what and who holds it)."""
    path = folder / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder_text(fd, purpose)
        os.close(fd)
        return None, holder
    try:
        same = os.stat(path).st_ino == os.fstat(fd).st_ino  # a releasing holder may have just deleted it
    except FileNotFoundError:
        same = False
    if not same:
        os.close(fd)
        return None, ""
    return fd, ""


def acquire(folder: str | os.PathLike, purpose: str = "run", label: str = "output folder") -> None:
    """Take `folder`'s lock (creating the folder if needed); FolderInUse when another process holds it.

    `purpose` names what holds a lock in the message ("run", "demo"), `label` the option naming the folder.
    """
    folder = Path(folder)
    key = _key(folder)
    if fcntl is None:
        return
    if key in _HELD:
        _HELD[key].count += 1
        return
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{label} {folder} is a file, not a folder; choose another folder")
    created = _missing_parents(folder)
    folder.mkdir(parents=True, exist_ok=True)
    holder = ""
    for _ in range(_ATTEMPTS):
        fd, holder = _lock_once(folder, purpose)
        if fd is not None:
            info = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                "purpose": purpose,
            }
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(info) + "\n").encode("utf-8"), 0)
            _HELD[key] = _Held(fd, created=created)
            return
        time.sleep(_PAUSE_S)
    _remove_if_empty(created)
    raise FolderInUse(
        f"{label} {folder} is in use by another {holder or purpose}; wait for it to finish, or choose "
        "another folder"
    )


def _remove_if_empty(folders: list[Path]) -> None:
    for path in folders:  # deepest first; a folder someone else wrote into stays
        with contextlib.suppress(OSError):
            path.rmdir()


def release(folder: str | os.PathLike) -> None:
    """Give back one hold on `folder`; the last one deletes the lock file (and folders it created, if empty)."""
    key = _key(Path(folder))
    held = _HELD.get(key)
    if held is None:
        return
    held.count -= 1
    if held.count > 0:
        return
    del _HELD[key]
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(Path(folder) / LOCK_FILE)  # still holding it: nobody can be using this file
        _remove_if_empty(held.created)
    finally:
        os.close(held.fd)  # the kernel releases the lock


def holds(folder: str | os.PathLike) -> bool:
    """Whether this process holds `folder`'s lock."""
    return _key(Path(folder)) in _HELD


class FolderLock:
    """`with FolderLock(folder):` holds the folder's lock for the block (see the module docstring)."""

    def __init__(self, folder: str | os.PathLike, purpose: str = "run", label: str = "output folder") -> None:
        self.folder = Path(folder)
        self.purpose = purpose
        self.label = label

    def __enter__(self) -> FolderLock:
        acquire(self.folder, self.purpose, self.label)
        return self

    def __exit__(self, *exc: Any) -> None:
        release(self.folder)
