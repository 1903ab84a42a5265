"""The image files a user hands an inference command (`rarl rank`, `rarl score`), checked before any model
loads: every unusable one is named in one error (missing, a folder, not an image PIL reads, too small or
too large for the processor), and a file given twice is noted."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from rarl.data.errors import DataError
from rarl.data.validate import image_file_problem
from rarl.utils.io import user_path

__all__ = ["check_user_images"]


def check_user_images(images: Sequence[str | Path], verb: str, most: int | None = None) -> list[str]:
    """Notes on `images` (a file given twice) when every one is usable; else a DataError naming each unusable
    image and why, in one line. `verb` says what the command does ("rank", "score"); `most`: the largest
    number of images it takes."""
    if not images:
        raise DataError(f"give {f'1 to {most} image files' if most else 'at least one image file'} to {verb}")
    if most is not None and len(images) > most:
        raise DataError(f"{verb} takes 1 to {most} images, got {len(images)}")
    bad = []
    for p in images:
        path = user_path(p)
        if path.is_dir():
            bad.append(f"{p} (a folder: give its image files)")
        elif not path.exists():
            bad.append(f"{p} (not found)")
        elif not path.is_file():
            bad.append(f"{p} (not a regular file)")
        else:
            problem = image_file_problem(str(path))  # what the processor would refuse
            if problem is not None:
                bad.append(f"{p} ({problem})")
    if bad:
        what = "the image" if len(images) == 1 else f"{len(bad)} of {len(images)} images"
        raise DataError(f"cannot {verb} {what}: " + "; ".join(bad))
    notes = []
    seen: dict[str, int] = {}
    for i, p in enumerate(images, 1):
        real = os.path.realpath(user_path(p))
        if real in seen:
            notes.append(f"image {i} ({p}) is the same file as image {seen[real]}")
        seen.setdefault(real, i)
    return notes
