"""`prepare_localization`: a Vision-R1 manifest folder from one source, split by image.

Sources (`LOCALIZATION_SOURCES`): `coco`, `refcoco`, `boxes-jsonl` (`rarl.recipes.localization.readers`) and
`synthetic-shapes` (`rarl.recipes.localization.synthetic`); `source_options(source)` lists each one's options.

Splits are by image (content hash, so byte-identical copies under two names also stay together): all
questions about one image land in one split. The manifest folder holds `task.json` (`"recipe":
"vision-r1"`, categories, pixel budget, source), `{train,val,test}.jsonl` (image paths relative to the folder)
and `summary.json`, written in one atomic folder rename.
"""

from __future__ import annotations

import inspect
import math
import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rarl.data.errors import DataError, ReadReport
from rarl.data.grouping import allocate
from rarl.data.options import (
    Option,
    check_options,
    choice,
    flag,
    fractions,
    integer,
    names,
    number,
    path,
    text,
)
from rarl.data.prepare import check_images_outside, check_out_dir
from rarl.data.readers.safe import resolved, user_path
from rarl.recipes.localization.readers import read_boxes_jsonl, read_coco_instances, read_refcoco_jsonl
from rarl.recipes.localization.samples import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_MIN_PIXELS,
    KINDS,
    SPLITS,
    LocalizationRead,
    LocalizationSample,
    LocalizationTask,
    write_localization_manifest,
)
from rarl.recipes.localization.synthetic import read_synthetic_shapes
from rarl.utils.io import atomic_directory

__all__ = [
    "LOCALIZATION_SOURCES",
    "SOURCE_OPTIONS",
    "LocalizationSummary",
    "prepare_localization",
    "source_options",
    "split_by_image",
]


# --------------------------------------------------------------------------------------------------------------
# Splits


def split_by_image(
    samples: Sequence[LocalizationSample],
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    *,
    seed: int = 0,
    key: Callable[[LocalizationSample], str] | None = None,
) -> dict[str, list[LocalizationSample]]:
    """Assign images (not samples) to train/val/test in the given proportions, at random by `seed`.

    `key(sample)` identifies the image (default: its path; `prepare_localization` uses the content hash).
    Every sample of one image lands in the same split; sample order within a split follows the input.
    """
    if len(fractions) != len(SPLITS):
        raise DataError(f"splits: need {len(SPLITS)} fractions (train, val, test), got {list(fractions)}")
    if any(f < 0 for f in fractions) or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise DataError(f"splits: fractions must be >= 0 and sum to 1, got {list(fractions)}")
    key = key or (lambda s: s.image)
    keys = sorted({key(s) for s in samples})
    rng = np.random.default_rng([seed, zlib.crc32(b"split")])
    order = rng.permutation(len(keys))
    counts = allocate(len(keys), fractions, [f > 0 for f in fractions])
    assignment: dict[str, str] = {}
    start = 0
    for name, n in zip(SPLITS, counts):
        for i in order[start : start + n]:
            assignment[keys[int(i)]] = name
        start += n
    out: dict[str, list[LocalizationSample]] = {name: [] for name in SPLITS}
    for s in samples:
        out[assignment[key(s)]].append(s)
    return out


# --------------------------------------------------------------------------------------------------------------
# prepare


@dataclass
class LocalizationSummary:
    """What `prepare_localization` wrote: per-split counts by kind, boxes, images, and the read report."""

    out: Path
    source: str
    task: LocalizationTask
    counts: dict[str, dict[str, int]]
    boxes: dict[str, int]
    images: dict[str, int]
    report: ReadReport
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "task": self.task.to_dict(),
            "settings": self.settings,
            "samples": self.counts,
            "boxes": self.boxes,
            "images": self.images,
            "report": self.report.to_dict(),
        }

    def lines(self) -> list[str]:
        """Human-readable summary (one line per split, then the report)."""
        t = self.task
        out = [
            f"{self.out}: {t.name} ({len(t.categories)} categories, frame budget "
            f"{t.min_pixels}..{t.max_pixels} pixels)"
        ]
        for split, by_kind in self.counts.items():
            kinds = ", ".join(f"{n} {k}" for k, n in by_kind.items() if n)
            out.append(
                f"  {split}: {self.images[split]} images, {kinds or 'no samples'}, {self.boxes[split]} boxes"
            )
        out.extend(f"  {line}" for line in self.report.lines())
        return out


def _synthetic_source(root: Path | None, *, out_dir: Path, seed: int, **options: Any) -> LocalizationRead:
    return read_synthetic_shapes(out_dir, seed=seed, **options)


def _coco_source(root: Path | None, *, out_dir: Path, seed: int, **options: Any) -> LocalizationRead:
    return read_coco_instances(_need_root(root, "coco"), seed=seed, **options)


def _refcoco_source(root: Path | None, *, out_dir: Path, seed: int, **options: Any) -> LocalizationRead:
    return read_refcoco_jsonl(_need_root(root, "refcoco"), **options)


def _boxes_source(root: Path | None, *, out_dir: Path, seed: int, **options: Any) -> LocalizationRead:
    return read_boxes_jsonl(_need_root(root, "boxes-jsonl"), **options)


def _need_root(root: Path | None, source: str) -> Path:
    if root is None:
        raise DataError(f"{source}: root is required (the annotation file)")
    return root


LOCALIZATION_SOURCES: dict[str, tuple[Callable[..., LocalizationRead], Callable[..., LocalizationRead]]] = {
    "coco": (_coco_source, read_coco_instances),
    "refcoco": (_refcoco_source, read_refcoco_jsonl),
    "boxes-jsonl": (_boxes_source, read_boxes_jsonl),
    "synthetic-shapes": (_synthetic_source, read_synthetic_shapes),
}
"""source name -> (adapter called by `prepare_localization`, the reader whose keyword options it takes)."""

_COMMON = {"root", "out_dir", "seed", "strict", "workers", "subdir"}

_PREPARE_OPTIONS: dict[str, Option] = {
    "splits": fractions(3),
    "min_pixels": integer(lo=1),
    "max_pixels": integer(lo=1),
    "workers": integer(lo=1),
    "name": text(),
}
"""The options `prepare_localization` itself takes, for every source."""

_BOX_FORMAT = choice("xyxy", "xywh")
SOURCE_OPTIONS: dict[str, dict[str, Option]] = {
    "coco": {
        "images_dir": path(),
        "categories": names(),
        "max_instances": integer(lo=0),
        "negatives": flag(),
        "max_negatives": integer(lo=0),
        "max_images": integer(lo=0),
    },
    "refcoco": {"images_dir": path(), "box_format": _BOX_FORMAT},
    "boxes-jsonl": {"images_dir": path(), "box_format": _BOX_FORMAT, "categories": names()},
    "synthetic-shapes": {
        "num_images": integer(lo=1),
        "image_size": integer(lo=28, hi=4096),
        "max_objects": integer(lo=0, hi=8),
        "grounding_fraction": number(lo=0, hi=1),
    },
}
"""Each source's own options and their types (`rarl.data.options`), checked before anything is read."""


def source_options(source: str) -> list[str]:
    """The source-specific keyword options `prepare_localization` accepts for `source`."""
    _, reader = LOCALIZATION_SOURCES[source]
    params = inspect.signature(reader).parameters
    return [p for p, v in params.items() if v.kind is v.KEYWORD_ONLY and p not in _COMMON]


def prepare_localization(
    source: str,
    out: str | os.PathLike,
    *,
    root: str | os.PathLike | None = None,
    seed: int = 0,
    splits: Sequence[float] = (0.8, 0.1, 0.1),
    strict: bool = False,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    workers: int | None = None,
    name: str | None = None,
    **options: Any,
) -> LocalizationSummary:
    """Build a Vision-R1 manifest folder at `out` from `source` (replaced as a whole, atomically).

    Args:
        source: "coco" | "refcoco" | "boxes-jsonl" | "synthetic-shapes" (`LOCALIZATION_SOURCES`).
        root: the annotation file (coco: instances JSON; refcoco / boxes-jsonl: the JSONL); unused for
            synthetic-shapes, whose images are drawn into `out/images`.
        seed: drives the split (and synthetic drawing, negative sampling).
        splits: train/val/test fractions of the images.
        strict: the first bad item (missing/corrupt image, degenerate or out-of-image box, malformed
            record) raises DataError instead of being reported and excluded.
        min_pixels, max_pixels: pixel budget of the frame the model sees (task.json). Default: the
            Qwen2.5-VL processor defaults (56*56, 28*28*1280); synthetic-shapes: image_size**2 for both,
            so the model sees the drawn image as it is. Use the model's own budget (`model.min_pixels` /
            `model.max_pixels` of the training config).
        name: the task name (default: the source).
        options: source options, see `source_options(source)`.

    Returns the summary (also written to summary.json).
    """
    if source not in LOCALIZATION_SOURCES:
        raise DataError(f"unknown localization source {source!r}; choose from {sorted(LOCALIZATION_SOURCES)}")
    given = {"min_pixels": min_pixels, "max_pixels": max_pixels, "workers": workers, "name": name}
    options = check_options(
        source, {"splits": splits, **given, **options}, {**_PREPARE_OPTIONS, **SOURCE_OPTIONS[source]}
    )
    splits = options.pop("splits", (0.8, 0.1, 0.1))
    min_pixels, max_pixels, workers, name = (options.pop(k, None) for k in given)
    adapter, _ = LOCALIZATION_SOURCES[source]
    if source == "synthetic-shapes":
        side = int(options.get("image_size", 112))
        min_pixels = side * side if min_pixels is None else min_pixels
        max_pixels = side * side if max_pixels is None else max_pixels
    else:
        options = {**options, "strict": strict, "workers": workers}
    out_path = user_path(out).resolve()
    root_path = resolved(user_path(root)) if root is not None else None
    check_out_dir(out_path, root_path, options)
    settings = {
        "root": str(root_path) if root_path is not None else None,
        "seed": seed,
        "splits": [float(f) for f in splits],
        "strict": strict,
        "options": {k: v for k, v in options.items() if k not in ("strict", "workers")},
    }
    with atomic_directory(out_path) as tmp:
        read = adapter(root_path, out_dir=tmp, seed=seed, **options)
        check_images_outside(out_path, (s.image for s in read.samples))  # before out is replaced
        task = LocalizationTask(
            name=name or source,
            categories=read.categories,
            min_pixels=DEFAULT_MIN_PIXELS if min_pixels is None else min_pixels,
            max_pixels=DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels,
            source=source,
        )
        if not read.samples:
            detail = "; ".join(read.report.lines()) or f"{read.report.read} records read"
            raise DataError(f"empty dataset: no usable samples from {source} ({detail})")
        digests = read.digests
        by_split = split_by_image(
            read.samples, splits, seed=seed, key=lambda s: digests.get(s.image, s.image)
        )
        summary = LocalizationSummary(
            out=out_path,
            source=source,
            task=task,
            counts={sp: {k: sum(1 for s in v if s.kind == k) for k in KINDS} for sp, v in by_split.items()},
            boxes={sp: sum(len(s.boxes) for s in v) for sp, v in by_split.items()},
            images={sp: len({s.image for s in v}) for sp, v in by_split.items()},
            report=read.report,
            settings=settings,
        )
        write_localization_manifest(tmp, task, by_split, summary.to_dict(), final_dir=out_path)
    return summary
