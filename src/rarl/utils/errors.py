"""The command line's one error boundary: which exceptions are the user's to fix, and their one-line message.

Expected problems are raised as the project's typed errors (`rarl.data.DataError`, `rarl.utils.config.ConfigError`,
`rarl.model.ModelLoadError`, `rarl.train.errors.TrainingAborted`), whose messages already name the bad input.
Failures of the file system (a full disk, a read-only or forbidden folder, a path through a file) come from
wherever a file is written, so they are mapped here, once, from their errno; libraries that wrap an OS error
in their own type (safetensors, torch's zip writer) are recognised by the OS error they carry. Anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import os
import re

_OS_MESSAGES = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded (no space left for this user)",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "is a folder, not a file",
    errno.EEXIST: "already exists (as a file where a folder is needed, or the reverse)",
    errno.ENOENT: "no such file or folder",
    errno.ENAMETOOLONG: "file name too long",
    errno.EMFILE: "too many open files",
    errno.EIO: "input/output error (a failing disk or network file system)",
}
_ADVICE = {
    errno.ENOSPC: "; free some space (or choose an output folder on another disk) and run again",
    errno.EDQUOT: "; free some space and run again",
    errno.EROFS: "; choose an output folder you can write to",
    errno.EACCES: "; choose a folder you can write to, or fix its permissions",
    errno.ENOTDIR: "; choose another output path",
    errno.EEXIST: "; choose another output path",
}


class UserError(Exception):
    """Base of the project's typed errors: an expected problem whose message names the bad input.

    `ConfigError`, `DataError`, `ModelLoadError` and `TrainingAborted` derive from it (besides the built-in
    type each one also is), so the error boundary needs to know none of them.
    """


_WRAPPED = re.compile(r"os error (\d+)|\[Errno (\d+)\]|No space left on device", re.IGNORECASE)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _os_error_number(e: BaseException) -> tuple[int | None, OSError | None]:
    """The errno an exception is about (its own, one it was raised from, or one named in its text)."""
    seen: set[int] = set()
    cause: BaseException | None = e
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and cause.errno is not None:
            return cause.errno, cause
        cause = cause.__cause__ or cause.__context__
    match = _WRAPPED.search(str(e))
    if match is None:
        return None, None
    number = match.group(1) or match.group(2)
    return (int(number) if number else errno.ENOSPC), None


def describe_os_error(number: int, error: OSError | None, fallback: str = "") -> str:
    """One line for a file-system failure: what went wrong, the path, and what to do."""
    what = _OS_MESSAGES.get(number) or (os.strerror(number) if number else fallback)
    where = ""
    if error is not None and error.filename is not None:
        where = f": {os.fsdecode(error.filename)}"
        if error.filename2 is not None:
            where += f" -> {os.fsdecode(error.filename2)}"
    return f"{what}{where}{_ADVICE.get(number, '')}"


def user_message(e: BaseException) -> str | None:
    """The one-line message for an expected failure `e`, or None for a bug (which keeps its traceback)."""
    if isinstance(e, UserError):
        return _one_line(str(e)) or type(e).__name__
    number, os_error = _os_error_number(e)
    if number in _OS_MESSAGES or isinstance(e, OSError) and number is not None:
        return describe_os_error(number, os_error, _one_line(str(e)))
    if isinstance(e, (FileNotFoundError, NotADirectoryError)):
        return _one_line(str(e))
    return None
