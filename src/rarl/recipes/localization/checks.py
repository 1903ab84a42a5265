"""Image and box checks every Vision-R1 reader applies before a record becomes a `LocalizationSample`.

A reader collects `Candidate`s (a sample before its image is checked); `finish_candidates` opens and decodes
every image once up front (JPEGs in draft mode, as `rarl.data.validate` does), which also gives its true size
and content hash, and keeps the candidates whose image decodes, whose listed size matches the file and whose
boxes pass `check_box`. The rest are reported under their reason (the policy: "Box checks" in
`rarl.recipes.localization.readers`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from rarl.data.boxes import Box
from rarl.data.errors import ReadReport
from rarl.data.readers.safe import finite, show
from rarl.data.validate import UNREADABLE, ImageCheck, check_image, default_workers
from rarl.recipes.localization.samples import LocalizationSample

__all__ = [
    "BOX_TOLERANCE",
    "DEGENERATE",
    "MIN_BOX_SIDE",
    "OUTSIDE",
    "SIZE_MISMATCH",
    "Candidate",
    "check_box",
    "finish_candidates",
]

MIN_BOX_SIDE = 1.0
"""Boxes narrower or lower than this (pixels of the original image) are degenerate."""
BOX_TOLERANCE = 1.0
"""Boxes may poke out of the image by this many pixels (rounding in annotation tools); they are clipped."""

SIZE_MISMATCH = "image size differs from the annotation"
DEGENERATE = "degenerate box"
OUTSIDE = "box outside the image"


# --------------------------------------------------------------------------------------------------------------
# Image and box checks


def _probe_all(paths: Iterable[str], workers: int | None) -> dict[str, ImageCheck]:
    unique = list(dict.fromkeys(paths))
    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        return {p.path: p for p in pool.map(check_image, unique, chunksize=32)}


def _finite(value: object) -> bool:
    return finite(value) is not None  # an int too large for a float is not a coordinate


def check_box(raw: object, size: tuple[int, int], box_format: str = "xyxy") -> tuple[Box | None, str]:
    """`raw` as a corner box inside the image (clipped within `BOX_TOLERANCE`), or (None, reason)."""
    if not isinstance(raw, (list, tuple)) or len(raw) != 4 or not all(_finite(v) for v in raw):
        return None, DEGENERATE
    a, b, c, d = (float(v) for v in raw)
    x1, y1, x2, y2 = (a, b, a + c, b + d) if box_format == "xywh" else (a, b, c, d)
    width, height = size
    tol = BOX_TOLERANCE
    if x1 < -tol or y1 < -tol or x2 > width + tol or y2 > height + tol:
        return None, OUTSIDE
    x1, y1, x2, y2 = max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2)
    if x2 - x1 < MIN_BOX_SIDE or y2 - y1 < MIN_BOX_SIDE:
        return None, DEGENERATE
    return (x1, y1, x2, y2), ""


@dataclass
class Candidate:
    """A sample before its image is checked: raw boxes, and the image size the annotation claims."""

    sample_id: str
    image: str
    kind: str
    categories: tuple[str, ...]
    raw_boxes: list[Any]
    labels: list[str]
    phrase: str | None = None
    listed_size: tuple[int, int] | None = None
    box_format: str = "xyxy"
    where: str = ""


def finish_candidates(
    candidates: Sequence[Candidate], report: ReadReport, workers: int | None
) -> tuple[list[LocalizationSample], dict[str, str]]:
    """Samples whose image decodes and whose boxes pass `check_box`; the rest are skipped in `report`.

    Returns the samples and a map image path -> content hash (for splitting by image).
    """
    probes = _probe_all((c.image for c in candidates), workers)
    samples: list[LocalizationSample] = []
    for c in candidates:
        probe = probes[c.image]
        name = c.where or c.image
        if probe.size is None:
            detail = f" ({probe.detail})" if probe.detail else ""
            report.skip(probe.problem or UNREADABLE, f"{c.image}{detail}")
            continue
        if c.listed_size is not None and tuple(c.listed_size) != probe.size:
            listed, actual = "x".join(map(str, c.listed_size)), "x".join(map(str, probe.size))
            report.skip(SIZE_MISMATCH, f"{name} (listed {listed}, file {actual})")
            continue
        boxes: list[Box] = []
        problem = ""
        for k, raw in enumerate(c.raw_boxes):
            box, problem = check_box(raw, probe.size, c.box_format)
            if box is None:
                report.skip(problem, f"{name} box {k + 1} {show(raw)}")
                break
            boxes.append(box)
        if problem:
            continue
        samples.append(
            LocalizationSample(
                sample_id=c.sample_id,
                image=c.image,
                kind=c.kind,
                categories=c.categories,
                boxes=tuple(boxes),
                labels=tuple(c.labels),
                image_size=probe.size,
                phrase=c.phrase,
            )
        )
    digests = {p.path: p.digest for p in probes.values() if p.digest is not None}
    return samples, digests
