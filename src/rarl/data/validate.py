"""Up-front image checks: every image is read and decoded once before a manifest is written.

Each distinct file is read into memory, hashed (BLAKE2b of the bytes, so identical copies under two
names are recognised) and decoded with PIL. JPEGs are decoded in draft mode (DCT scaling to about 1/8),
which still walks the whole entropy-coded stream, so truncated or corrupt files fail, at a fraction of
the cost of a full decode. Files are checked on a thread pool (file reads and PIL decoding release the
GIL), so tens of thousands of images take seconds to a minute.

When a manifest is used (training, SFT, evaluation) its images are checked again, faster: that each file
exists and PIL can read its header (`image_header_problem`, `find_bad_images`), so a file deleted or
replaced since `rarl prepare` is named before any model is loaded rather than mid-run.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from rarl.data.errors import DataError, ReadReport
from rarl.data.schema import OrdinalItem

MISSING = "missing image file"
UNREADABLE = "unreadable image"


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
    try:
        with Image.open(io.BytesIO(data)) as im:
            size = (int(im.width), int(im.height))
            if im.format == "JPEG":
                im.draft("RGB", (max(1, im.width // 8), max(1, im.height // 8)))
            im.load()
            if im.width < 1 or im.height < 1:
                return ImageCheck(path, None, UNREADABLE, "empty image")
    except Exception as e:  # PIL raises many types for bad data
        return ImageCheck(path, None, UNREADABLE, str(e).splitlines()[0] if str(e) else type(e).__name__)
    return ImageCheck(path, hashlib.blake2b(data, digest_size=16).hexdigest(), size=size)


def default_workers() -> int:
    """Threads for image checks: the CPU count, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))


def validate_images(
    items: Sequence[OrdinalItem],
    report: ReadReport,
    *,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[OrdinalItem], dict[str, str]]:
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
            if report.strict:
                detail = f" ({check.detail})" if check.detail else ""
                raise DataError(f"{check.problem}: {check.path}{detail}")
            report.skip(check.problem or UNREADABLE, check.path)
    return [it for it in items if it.image not in bad], digests


def image_header_problem(path: str) -> str | None:
    """Why the image file at `path` cannot be used, judged from its existence and header only (PIL reads
    the header, not the pixels); None when it looks usable."""
    try:
        with Image.open(path) as im:
            width, height = im.size
    except FileNotFoundError:
        return "image file not found"
    except IsADirectoryError:
        return "image path is a folder"
    except UnidentifiedImageError:
        return "not an image file PIL can read"
    except OSError as e:
        return f"unreadable image file ({e.strerror or str(e).splitlines()[0] or type(e).__name__})"
    except Exception as e:  # PIL raises many types for a bad header
        return f"unreadable image file ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
    if width < 1 or height < 1:
        return "empty image (0 pixels)"
    return None


def find_bad_images(paths: Sequence[str], *, workers: int | None = None) -> dict[str, str]:
    """Image path -> problem for every distinct path in `paths` that fails `image_header_problem`."""
    distinct = list(dict.fromkeys(paths))
    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        problems = pool.map(image_header_problem, distinct, chunksize=64)
        return {p: problem for p, problem in zip(distinct, problems) if problem is not None}
