"""Up-front image checks: every image is read and decoded once before a manifest is written.

Each distinct file is read into memory, hashed (BLAKE2b of the bytes, so identical copies under two
names are recognised) and decoded with PIL. JPEGs are decoded in draft mode (DCT scaling to about 1/8),
which still walks the whole entropy-coded stream, so truncated or corrupt files fail, at a fraction of
the cost of a full decode. Files are checked on a thread pool (file reads and PIL decoding release the
GIL), so tens of thousands of images take seconds to a minute.

Both checks also apply the limits and pixel-format rules of `rarl.data.images` (aspect ratio, minimum
side, animated files, pixel modes), so an image `prepare` accepts is one the processor takes.

When a manifest is used (training, SFT, evaluation) its images are checked again (`image_file_problem`,
`find_bad_images`): that each file exists, its header passes those rules and it decodes (JPEGs in draft
mode), so a file deleted, truncated or replaced since `rarl prepare` is named before any model is loaded
rather than mid-run.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, TypeVar

from PIL import Image, UnidentifiedImageError

from rarl.data.errors import DataError, ReadReport
from rarl.data.images import image_problem, oriented_size, to_rgb

MISSING = "missing image file"
UNREADABLE = "unreadable image"


class ImageItem(Protocol):
    """What `validate_images` needs from an item: the path of its image."""

    @property
    def image(self) -> str: ...


ItemT = TypeVar("ItemT", bound=ImageItem)


@dataclass(frozen=True)
class ImageCheck:
    """Outcome of checking one file: its content hash and size, or the reason it is unusable."""

    path: str
    digest: str | None
    problem: str | None = None
    detail: str = ""
    size: tuple[int, int] | None = None
    """(width, height) of a usable image."""


def check_image(path: str) -> ImageCheck:
    """Read, hash and decode one image file (JPEGs in draft mode: still walks the whole entropy stream)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return ImageCheck(path, None, MISSING)
    except OSError as e:
        return ImageCheck(path, None, UNREADABLE, e.strerror or type(e).__name__)
    except ValueError as e:  # a name no file can have: a NUL character, an unencodable surrogate
        return ImageCheck(path, None, UNREADABLE, f"not a valid file name: {_first_line(e)}")
    try:
        with Image.open(io.BytesIO(data)) as im:
            size = oriented_size(im)
            problem = image_problem(im)
            if problem is not None:
                return ImageCheck(path, None, problem[0], problem[1])
            _decode(im)
    except Exception as e:  # PIL raises many types for bad data
        return ImageCheck(path, None, UNREADABLE, _first_line(e))
    return ImageCheck(path, hashlib.blake2b(data, digest_size=16).hexdigest(), size=size)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _decode(im: Image.Image) -> None:
    """Decode the whole pixel stream of the opened `im` and convert it as `to_rgb` will (JPEGs in draft
    mode, which scales the DCT to about 1/8 but still walks every entropy-coded byte)."""
    if im.format == "JPEG" and im.mode in ("RGB", "L"):
        im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))
    im.load()
    to_rgb(im)


def default_workers() -> int:
    """Threads for image checks: the CPU count, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))


def validate_images(
    items: Sequence[ItemT],
    report: ReadReport,
    *,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[ItemT], dict[str, str]]:
    """The items whose image is readable, and a map image path -> content hash.

    Items with a missing or undecodable image are skipped in `report` (`DataError` naming the file when
    the report is strict). `progress(k)` is called with the number of files checked so far.
    """
    paths = list(dict.fromkeys(it.image for it in items))
    digests: dict[str, str] = {}
    bad: set[str] = set()
    workers = workers or default_workers()
    done = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for check in pool.map(check_image, paths, chunksize=64):
            done += 1
            if progress is not None:
                progress(done)
            if check.digest is not None:
                digests[check.path] = check.digest
                continue
            bad.add(check.path)
            detail = f" ({check.detail})" if check.detail else ""
            if report.strict:
                raise DataError(f"{check.problem}: {check.path}{detail}")
            shown = check.path if check.problem in (MISSING, UNREADABLE) else f"{check.path}{detail}"
            report.skip(check.problem or UNREADABLE, shown)
    return [it for it in items if it.image not in bad], digests


def image_file_problem(path: str) -> str | None:
    """Why the image file at `path` cannot be used, or None: it must exist, pass `image_problem` (size,
    aspect ratio, frames, pixel mode) and decode (JPEGs in draft mode)."""
    try:
        with Image.open(path) as im:
            problem = image_problem(im)
            if problem is not None:
                return f"{problem[0]} ({problem[1]})"
            _decode(im)
    except FileNotFoundError:
        return "image file not found"
    except IsADirectoryError:
        return "image path is a folder"
    except UnidentifiedImageError:
        return "not an image file PIL can read"
    except OSError as e:
        return f"unreadable image file ({e.strerror or _first_line(e)})"
    except Exception as e:  # PIL raises many types for bad data
        return f"unreadable image file ({_first_line(e)})"
    return None


def find_bad_images(paths: Sequence[str], *, workers: int | None = None) -> dict[str, str]:
    """Image path -> problem for every distinct path in `paths` that fails `image_file_problem`."""
    distinct = list(dict.fromkeys(paths))
    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        problems = pool.map(image_file_problem, distinct, chunksize=16)
        return {p: problem for p, problem in zip(distinct, problems) if problem is not None}
