"""What every recipe checks of a manifest split it is about to use, before any model is loaded.

    sizes = check_manifest_images(path, [(line, sample.images) for line, sample in rows])
    check_unique_ids(path, [(line, sample.sample_id) for line, sample in rows])

- `check_manifest_images`: every distinct image file is opened and decoded once (JPEGs in draft mode, with
  the image rules of `rarl.data.images`: `rarl.data.validate.image_file_problem`), on a thread pool. A file
  deleted, truncated, replaced by something that is not an image, or refused by the processor's limits since
  `rarl prepare` is one `DataError` naming the first manifest line that uses it and how many lines and files
  are affected, instead of a PIL exception at the first step that draws it. It returns each image's upright
  (width, height), for recipes whose records state the size (Vision-R1's boxes are in its pixels).
- `check_unique_ids`: sample ids key RMO memory, logs and prediction rows; two records with one id would
  mix them. The first repeat is one `DataError` naming both lines and the number of repeated ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from rarl.data.errors import DataError
from rarl.data.images import oriented_size
from rarl.data.readers.safe import show
from rarl.data.validate import default_workers, image_file_problem

__all__ = ["ImageStatus", "check_manifest_images", "check_unique_ids", "decode_images"]


@dataclass(frozen=True)
class ImageStatus:
    """One image file checked: its upright (width, height) when usable, else why not."""

    size: tuple[int, int] | None
    problem: str | None = None


def _status(path: str) -> ImageStatus:
    problem = image_file_problem(path)  # opens, applies the image rules and decodes the pixel stream
    if problem is not None:
        return ImageStatus(None, problem)
    try:
        with Image.open(path) as im:  # the header again, for the upright size
            return ImageStatus(oriented_size(im))
    except Exception as e:  # the file changed between the two opens
        return ImageStatus(None, f"unreadable image file ({type(e).__name__})")


def decode_images(paths: Sequence[str], *, workers: int | None = None) -> dict[str, ImageStatus]:
    """`ImageStatus` of every distinct path in `paths` (each file decoded once, on a thread pool)."""
    distinct = list(dict.fromkeys(paths))
    if not distinct:
        return {}
    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        return dict(zip(distinct, pool.map(_status, distinct, chunksize=16)))


def check_manifest_images(
    source: str | Path, rows: Sequence[tuple[int, Sequence[str]]], *, workers: int | None = None
) -> dict[str, tuple[int, int]]:
    """Upright (width, height) of every image of `rows` ((line, image paths) per record of `source`).

    Raises one `DataError` naming the first line with a missing or unusable image, the file and why, and how
    many lines and files are affected.
    """
    source = Path(source)
    status = decode_images([p for _, images in rows for p in images], workers=workers)
    bad = {p: s.problem for p, s in status.items() if s.problem is not None}
    if bad:
        bad_rows = [(line, images) for line, images in rows if any(p in bad for p in images)]
        line, images = bad_rows[0]
        image = next(p for p in images if p in bad)
        files = "file" if len(bad) == 1 else "files"
        have = "has" if len(bad_rows) == 1 else "have"
        raise DataError(
            f"{source}:{line}: {bad[image]}: {image} ({len(bad_rows)} of {len(rows)} records in {source.name} "
            f"{have} a missing or unusable image, {len(bad)} {files} in all); remove those lines from "
            f"{source.name}, or re-run `rarl prepare` to rebuild the manifest from the images there are"
        )
    return {p: s.size for p, s in status.items() if s.size is not None}


def check_unique_ids(source: str | Path, ids: Sequence[tuple[int, str]]) -> None:
    """DataError when two records of `source` ((line, sample id) each) share a sample id."""
    first_line: dict[str, int] = {}
    repeats: list[tuple[int, str]] = []
    for line, sample_id in ids:
        if sample_id in first_line:
            repeats.append((line, sample_id))
        else:
            first_line[sample_id] = line
    if repeats:
        line, sample_id = repeats[0]
        n_ids = len({sid for _, sid in repeats})
        source = Path(source)
        raise DataError(
            f"{source}:{line}: sample id {show(sample_id)} is also the id on line {first_line[sample_id]} "
            f"({n_ids} id(s) repeat in {source.name}, {len(repeats)} extra record(s)); sample ids must be "
            "unique (RMO memory, logs and predictions are keyed by them): rename or remove the repeats"
        )
