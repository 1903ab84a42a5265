"""Reading text files as users' tools write them (spreadsheets, Windows editors, older tools).

`read_text` decodes by the byte-order mark when there is one (UTF-8 with BOM, as Excel's "CSV UTF-8" and
Notepad write; UTF-16, as Excel's "Unicode text" and PowerShell's `>` write; UTF-32), else as UTF-8, or as
the encoding the caller names. Text that is none of these is refused with one line saying where decoding
failed and which encoding was expected; 8-bit encodings (cp1252, latin-1, ...) are never guessed, since
any byte sequence decodes under them and a wrong guess would silently change names and labels.
"""

from __future__ import annotations

import codecs
import os
from pathlib import Path

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def bom_encoding(raw: bytes) -> str | None:
    """The encoding a byte-order mark at the start of `raw` announces, or None."""
    return next((name for bom, name in _BOMS if raw.startswith(bom)), None)


def decode_text(
    raw: bytes,
    where: str,
    *,
    encoding: str | None = None,
    error: type[Exception] = ValueError,
    hint: str = "",
) -> str:
    """`raw` decoded (see the module docstring); `error(message)` names `where` when it cannot be.

    `encoding` (a Python codec name such as "cp1252") overrides detection; `hint` is appended to the
    message of a failure (e.g. how to pass an encoding).
    """
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise error(f"{where}: unknown text encoding {encoding!r}") from None
        chosen = encoding
    else:
        chosen = bom_encoding(raw) or "utf-8"
    try:
        text = raw.decode(chosen)
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        expected = (
            f"{chosen} as given" if encoding is not None else "UTF-8 (or UTF-8/UTF-16 with a byte-order mark)"
        )
        extra = f"; {hint}" if hint else ""
        raise error(
            f"{where}:{line}: not {expected}: byte 0x{raw[e.start]:02x} cannot be decoded{extra}"
        ) from None
    if text.startswith("\ufeff"):  # a BOM decoded as text (an explicit utf-8 / utf-16-le encoding)
        text = text[1:]
    if "\x00" in text:
        raise error(
            f"{where}: holds NUL characters: not a text file, or UTF-16 without a byte-order mark "
            f"(save it as UTF-8){'; ' + hint if hint else ''}"
        )
    return text


def read_text(
    path: str | os.PathLike,
    *,
    encoding: str | None = None,
    error: type[Exception] = ValueError,
    hint: str = "",
) -> str:
    """The text of the file at `path` (see `decode_text`); line endings are left as they are."""
    path = Path(path)
    return decode_text(path.read_bytes(), str(path), encoding=encoding, error=error, hint=hint)
