"""Localization data for the Vision-R1 recipe: samples, readers, checks, splits, the manifest, synthetic shapes.

A `LocalizationSample` is one image and one question about it, of one of three kinds:

- `detection`: "locate every item from the category list"; ground truth = every box of those categories;
- `grounding`: one referring phrase (RefCOCO-style expression, or a category as in visual grounding);
  ground truth = its box(es), labelled with the phrase;
- `negative`: a detection question whose image holds none of the listed categories; the right answer is `[]`.

Ground-truth boxes are stored in pixels of the ORIGINAL image, (x1, y1, x2, y2) with x to the right and y
down, continuous coordinates (a box covering pixel columns 10..19 is x1 = 10, x2 = 20). The frame the model
sees is `sample.frame`: the image resized by Qwen2.5-VL's `smart_resize` under the sample's pixel budget
(`min_pixels`, `max_pixels`, stored in the manifest's task.json); the recipe maps boxes between the two.

Readers (`read_coco_instances`, `read_refcoco_jsonl`, `read_boxes_jsonl`, `read_synthetic_shapes`) return a
`LocalizationRead` (samples, categories, `ReadReport`). Every image is opened and decoded once up front
(JPEGs in draft mode, as `rarl.data.validate` does), which also gives its true size and content hash.

How we read the sources where they are ambiguous
------------------------------------------------
- COCO instances: `bbox` is [x, y, width, height] in pixels (converted to corners). Crowd boxes
  (`iscrowd = 1`) are dropped and counted in a note (COCO evaluation treats them as "ignore" regions; we
  simply leave them out, which makes our evaluation slightly stricter near crowds). An image with more than
  `max_instances` boxes of the chosen categories is left out whole (a truncated box list would punish right
  answers), as is an image with a broken box. Images with none of the chosen categories become `negative`
  samples only with `negatives=True` (at most `max_negatives` of them, chosen by seed).
- RefCOCO-style JSONL: one line per expression, `{"image", "expression" (or "sentence", "sent", "phrase",
  "ref"), "bbox"}` with the box as corners by default (`box_format="xywh"` for the raw RefCOCO
  [x, y, w, h]). The phrase is also the box's label and the only allowed category.
- Generic JSONL: `{"image", "boxes": [[x1, y1, x2, y2], ...], "labels": [...]}`, optional `"categories"`
  (default: every label of the file) and `"id"`; an empty `boxes` list is a negative sample.
- Box checks (every source): a box must be 4 finite numbers with sides of at least `MIN_BOX_SIDE` pixel
  ("degenerate box"), and lie inside the image up to `BOX_TOLERANCE` pixels (clipped to it) ("box outside
  the image"). A sample with a bad box, a missing or undecodable image, or a listed image size that differs
  from the file is reported under that reason with its name and excluded; with `strict=True` the first one
  raises `DataError` instead. Policy filters (crowd boxes, `max_instances`, images without the categories)
  are counted in notes, never raised.

Splits are by image (content hash, so byte-identical copies under two names also stay together): all
questions about one image land in one split. The manifest folder holds `task.json` (`"recipe":
"vision-r1"`, categories, pixel budget, source), `{train,val,test}.jsonl` (image paths relative to the folder)
and `summary.json`, written in one atomic folder rename.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from rarl.data.errors import DataError, ReadReport
from rarl.data.grouping import allocate
from rarl.data.images import load_rgb
from rarl.data.manifest import TASK_FILE, relative_path, write_manifest_files
from rarl.data.prepare import check_out_dir
from rarl.data.readers.coco import annotation_problem, check_coco, select_categories
from rarl.data.validate import UNREADABLE, ImageCheck, check_image, default_workers, find_bad_images
from rarl.rewards.localization import resized_frame, scale_boxes
from rarl.utils.io import atomic_directory, read_jsonl
from rarl.utils.text import read_text

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MIN_PIXELS",
    "KINDS",
    "LOCALIZATION_SOURCES",
    "RECIPE_NAME",
    "SHAPES",
    "SPLITS",
    "LocalizationRead",
    "LocalizationSample",
    "LocalizationSummary",
    "LocalizationTask",
    "load_localization_manifest",
    "load_localization_task",
    "prepare_localization",
    "read_boxes_jsonl",
    "read_coco_instances",
    "read_refcoco_jsonl",
    "read_synthetic_shapes",
    "source_options",
    "split_by_image",
    "write_localization_manifest",
]

RECIPE_NAME = "vision-r1"
KINDS: tuple[str, str, str] = ("detection", "grounding", "negative")
SPLITS: tuple[str, str, str] = ("train", "val", "test")

DEFAULT_MIN_PIXELS = 56 * 56
"""transformers' `Qwen2VLImageProcessor` default pixel floor (3,136)."""
DEFAULT_MAX_PIXELS = 28 * 28 * 1280
"""transformers' `Qwen2VLImageProcessor` default pixel budget (1,003,520, about 1000 x 1000). The released
Qwen2.5-VL-7B folder allows more (12,845,056); the authors trained with 401,408 (`--max-pixels 401408`)."""

MIN_BOX_SIDE = 1.0
"""Boxes narrower or lower than this (pixels of the original image) are degenerate."""
BOX_TOLERANCE = 1.0
"""Boxes may poke out of the image by this many pixels (rounding in annotation tools); they are clipped."""

SIZE_MISMATCH = "image size differs from the annotation"
DEGENERATE = "degenerate box"
OUTSIDE = "box outside the image"
BAD_RECORD = "malformed record"

Box = tuple[float, float, float, float]


# --------------------------------------------------------------------------------------------------------------
# Samples and the task


@dataclass(frozen=True)
class LocalizationSample:
    """One image and one localization question about it (see the module docstring).

    Attributes:
        sample_id: stable id (RMO memory and logs are keyed by it).
        image: absolute path of the image file.
        kind: "detection", "grounding" or "negative".
        categories: the labels the prompt allows (detection and negative: the category list; grounding:
            the phrase alone).
        boxes: (G, 4) ground truth, (x1, y1, x2, y2) in pixels of the original image.
        labels: (G,) label of each box (grounding: the phrase).
        image_size: (width, height) of the original image in pixels.
        phrase: the referring phrase of a grounding sample (None otherwise).
        min_pixels, max_pixels: the pixel budget under which the model sees the image (task.json).
    """

    sample_id: str
    image: str
    kind: str
    categories: tuple[str, ...]
    boxes: tuple[Box, ...]
    labels: tuple[str, ...]
    image_size: tuple[int, int]
    phrase: str | None = None
    min_pixels: int = DEFAULT_MIN_PIXELS
    max_pixels: int = DEFAULT_MAX_PIXELS

    def __post_init__(self) -> None:
        where = f"sample {self.sample_id}"
        if self.kind not in KINDS:
            raise DataError(f"{where}: kind must be one of {KINDS}, got {self.kind!r}")
        if len(self.boxes) != len(self.labels):
            raise DataError(f"{where}: {len(self.boxes)} boxes but {len(self.labels)} labels")
        if not self.categories:
            raise DataError(f"{where}: no categories")
        if self.kind == "negative" and self.boxes:
            raise DataError(f"{where}: a negative sample has no boxes, got {len(self.boxes)}")
        if self.kind == "detection" and not self.boxes:
            raise DataError(f"{where}: a detection sample needs at least one box (use kind 'negative')")
        if self.kind == "grounding" and (not self.phrase or not self.boxes):
            raise DataError(f"{where}: a grounding sample needs a phrase and a box")

    @property
    def frame(self) -> tuple[int, int]:
        """(width, height) of the image as the model sees it (Qwen2.5-VL's smart_resize of `image_size`)."""
        return resized_frame(self.image_size[0], self.image_size[1], self.min_pixels, self.max_pixels)

    def frame_boxes(self) -> list[list[float]]:
        """(G, 4) ground-truth boxes in pixels of `frame`."""
        return scale_boxes(self.boxes, self.image_size, self.frame)

    def load_image(self) -> Image.Image:
        """The original image, upright RGB (`rarl.data.images.load_rgb`)."""
        return load_rgb(self.image)

    def load_images(self) -> list[Image.Image]:
        """[the original image] (the engine's image-part fallback)."""
        return [self.load_image()]

    def frame_image(self) -> Image.Image:
        """The image resized (bicubic, as the processor does) to `frame`: what the model is shown."""
        image = self.load_image()
        if image.size == self.frame:
            return image
        return image.resize(self.frame, Image.Resampling.BICUBIC)


@dataclass(frozen=True)
class LocalizationTask:
    """What task.json says: the recipe, the categories of the dataset, and the pixel budget of the frame."""

    name: str
    categories: tuple[str, ...]
    min_pixels: int = DEFAULT_MIN_PIXELS
    max_pixels: int = DEFAULT_MAX_PIXELS
    source: str = ""

    def __post_init__(self) -> None:
        for key, value in (("min_pixels", self.min_pixels), ("max_pixels", self.max_pixels)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise DataError(f"task {self.name!r}: {key} must be a positive int, got {value!r}")
        if self.min_pixels > self.max_pixels:
            raise DataError(
                f"task {self.name!r}: min_pixels {self.min_pixels} > max_pixels {self.max_pixels}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipe": RECIPE_NAME,
            "name": self.name,
            "categories": list(self.categories),
            "min_pixels": self.min_pixels,
            "max_pixels": self.max_pixels,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LocalizationTask:
        recipe = data.get("recipe")
        if recipe != RECIPE_NAME:
            what = "an ordinal (rarl) manifest" if recipe is None else f"a {recipe!r} manifest"
            raise DataError(f"{what}, not a {RECIPE_NAME} one (task.json 'recipe')")
        cats = data.get("categories")
        if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
            raise DataError("task.json: 'categories' must be a list of strings")
        return cls(
            name=str(data.get("name", "")),
            categories=tuple(cats),
            min_pixels=data.get("min_pixels", DEFAULT_MIN_PIXELS),
            max_pixels=data.get("max_pixels", DEFAULT_MAX_PIXELS),
            source=str(data.get("source", "")),
        )


@dataclass
class LocalizationRead:
    """A reader's output: samples (budget not yet applied), the dataset's categories, the report."""

    samples: list[LocalizationSample]
    categories: tuple[str, ...]
    report: ReadReport = field(default_factory=ReadReport)
    digests: dict[str, str] = field(default_factory=dict)
    """image path -> content hash (empty: split by path)."""


# --------------------------------------------------------------------------------------------------------------
# Image and box checks


def _probe_all(paths: Iterable[str], workers: int | None) -> dict[str, ImageCheck]:
    unique = list(dict.fromkeys(paths))
    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        return {p.path: p for p in pool.map(check_image, unique, chunksize=32)}


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


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
class _Candidate:
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


def _finish(
    candidates: Sequence[_Candidate], report: ReadReport, workers: int | None
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
                report.skip(problem, f"{name} box {k + 1} {raw!r}")
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


# --------------------------------------------------------------------------------------------------------------
# Readers


def _load_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise DataError(f"{what}: file not found: {path}")
    try:
        return json.loads(read_text(path, error=DataError, hint="save it as UTF-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None


def _load_jsonl(path: Path, what: str) -> list[Any]:
    if not path.is_file():
        raise DataError(f"{what}: file not found: {path}")
    try:
        return read_jsonl(path)
    except ValueError as e:
        raise DataError(str(e)) from None


def _image_path(name: str, images_dir: Path) -> str:
    p = Path(name).expanduser()
    return str(p if p.is_absolute() else (images_dir / p).resolve())


def _names(value: str | Sequence[str] | None) -> list[str] | None:
    """A category option: a comma-separated string or a list (None: all)."""
    if value is None:
        return None
    if isinstance(value, str):
        return [c.strip() for c in value.split(",") if c.strip()]
    return [str(c) for c in value]


def _coco_images_dir(ann_path: Path, coco: Mapping[str, Any], images_dir: str | os.PathLike | None) -> Path:
    """`images_dir`, or the first of the annotation's folder, its parent, and their images/val2017/train2017
    subfolders holding the first listed image."""
    if images_dir is not None:
        folder = Path(images_dir).expanduser()
        if not folder.is_dir():
            raise DataError(f"coco: images folder not found: {folder}")
        return folder.resolve()
    first = next((img.get("file_name") for img in coco["images"] if isinstance(img, dict)), None)
    bases = [ann_path.parent, ann_path.parent.parent]
    for base in bases:
        for c in (base, base / "images", base / "val2017", base / "train2017"):
            if first is not None and (c / first).is_file():
                return c.resolve()
    return ann_path.parent.resolve()


def read_coco_instances(
    root: str | os.PathLike,
    *,
    images_dir: str | os.PathLike | None = None,
    categories: str | Sequence[str] | None = None,
    max_instances: int | None = None,
    negatives: bool = False,
    max_negatives: int | None = None,
    max_images: int | None = None,
    seed: int = 0,
    strict: bool = False,
    workers: int | None = None,
) -> LocalizationRead:
    """Detection samples from a COCO instances JSON (`root`: the file), one per image.

    Args:
        images_dir: folder of the images (default: found next to the annotation file).
        categories: names to keep (list or "a,b,c"; default all); the prompt lists exactly these.
        max_instances: images with more boxes of the kept categories are left out (None: no cap).
        negatives: images with none of the kept categories become negative samples.
        max_negatives: at most this many negatives (a seeded choice; None: all).
        max_images: keep the first this many positive images by id (None: all), e.g. for a quick eval.
    """
    ann_path = Path(root).expanduser().resolve()
    coco = _load_json(ann_path, "coco")
    check_coco(coco, ann_path)
    for key, value in (
        ("max_instances", max_instances),
        ("max_negatives", max_negatives),
        ("max_images", max_images),
    ):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise DataError(f"coco: {key} must be an int >= 0 or None, got {value!r}")
    selected = select_categories(coco["categories"], _names(categories), "coco")
    cats = tuple(selected[cid] for cid in sorted(selected))
    img_dir = _coco_images_dir(ann_path, coco, images_dir)

    report = ReadReport(strict=strict)
    images = {img["id"]: img for img in coco["images"]}
    boxes: dict[Any, list[tuple[Any, str]]] = defaultdict(list)
    crowd = 0
    for k, ann in enumerate(coco["annotations"]):
        problem = annotation_problem(ann)
        if problem is not None:
            report.skip("malformed annotation", f"{ann_path.name} annotations[{k}] {problem}")
            continue
        if ann.get("category_id") not in selected:
            continue
        if ann.get("image_id") not in images:
            report.skip("annotation of an unlisted image", f"annotation {ann.get('id')}")
            continue
        if ann.get("iscrowd", 0):
            crowd += 1
            continue
        boxes[ann["image_id"]].append((ann.get("bbox"), selected[ann["category_id"]]))
    if crowd:
        report.note(f"dropped {crowd} crowd boxes (iscrowd = 1)")

    positives, empty = [], []
    over = 0
    for image_id in sorted(images, key=lambda i: (isinstance(i, str), i)):  # numeric ids in number order
        found = boxes.get(image_id, [])
        if not found:
            empty.append(image_id)
        elif max_instances is not None and len(found) > max_instances:
            over += 1
        else:
            positives.append(image_id)
    if over:
        report.note(f"left out {over} images with more than {max_instances} boxes of the chosen categories")
    if max_images is not None and len(positives) > max_images:
        report.note(f"kept the first {max_images} of {len(positives)} images with boxes (max_images)")
        positives = positives[:max_images]
    chosen_neg: list[Any] = []
    if negatives and empty:
        chosen_neg = list(empty)
        if max_negatives is not None and len(chosen_neg) > max_negatives:
            rng = np.random.default_rng([seed, zlib.crc32(b"negatives")])
            keep = sorted(rng.choice(len(chosen_neg), size=max_negatives, replace=False).tolist())
            chosen_neg = [chosen_neg[i] for i in keep]
        report.note(f"{len(chosen_neg)} negative samples (images with none of the chosen categories)")
    elif empty:
        report.note(f"left out {len(empty)} images with none of the chosen categories (negatives=False)")

    candidates = []
    for image_id in positives + chosen_neg:
        img = images[image_id]
        found = boxes.get(image_id, [])
        listed = (img.get("width"), img.get("height"))
        candidates.append(
            _Candidate(
                sample_id=f"coco-{image_id}",
                image=_image_path(str(img.get("file_name", "")), img_dir),
                kind="detection" if found else "negative",
                categories=cats,
                raw_boxes=[b for b, _ in found],
                labels=[label for _, label in found],
                listed_size=listed if all(isinstance(v, int) for v in listed) else None,  # type: ignore[arg-type]
                box_format="xywh",
                where=str(img.get("file_name", image_id)),
            )
        )
    report.read = len(candidates)
    samples, digests = _finish(candidates, report, workers)
    return LocalizationRead(samples, cats, report, digests)


_PHRASE_KEYS = ("expression", "sentence", "sent", "phrase", "ref", "caption")
_IMAGE_KEYS = ("image", "img_path", "file_name", "image_path")
_BOX_KEYS = ("bbox", "box", "bbox_2d")


def _first(rec: Mapping[str, Any], keys: Sequence[str]) -> Any:
    return next((rec[k] for k in keys if k in rec), None)


def _listed_size(rec: Mapping[str, Any]) -> tuple[int, int] | None:
    w, h = rec.get("width"), rec.get("height")
    ok = all(isinstance(v, int) and not isinstance(v, bool) for v in (w, h))
    return (w, h) if ok else None  # type: ignore[return-value]


def read_refcoco_jsonl(
    root: str | os.PathLike,
    *,
    images_dir: str | os.PathLike | None = None,
    box_format: str = "xyxy",
    strict: bool = False,
    workers: int | None = None,
) -> LocalizationRead:
    """Grounding samples from a RefCOCO-style JSONL (`root`: the file), one per line.

    A line: `{"image": "COCO_train2014_000000000009.jpg", "expression": "the bowl on the left",
    "bbox": [x1, y1, x2, y2]}`; optional `"id"`, `"width"`, `"height"`. Relative image paths are under
    `images_dir` (default: the file's folder). `box_format="xywh"` reads RefCOCO's raw [x, y, w, h].
    """
    if box_format not in ("xyxy", "xywh"):
        raise DataError(f"refcoco: box_format must be 'xyxy' or 'xywh', got {box_format!r}")
    path = Path(root).expanduser().resolve()
    records = _load_jsonl(path, "refcoco")
    img_dir = Path(images_dir).expanduser().resolve() if images_dir is not None else path.parent
    report = ReadReport(strict=strict)
    candidates = []
    for k, rec in enumerate(records, 1):
        where = f"{path.name}:{k}"
        image, phrase, box = (
            (_first(rec, _IMAGE_KEYS), _first(rec, _PHRASE_KEYS), _first(rec, _BOX_KEYS))
            if isinstance(rec, dict)
            else (None, None, None)
        )
        if not isinstance(image, str) or not image or not isinstance(phrase, str) or not phrase.strip():
            report.skip(BAD_RECORD, f"{where} (needs 'image' and 'expression')")
            continue
        phrase = " ".join(phrase.split())
        candidates.append(
            _Candidate(
                sample_id=str(rec.get("id", f"ref-{k}")),
                image=_image_path(image, img_dir),
                kind="grounding",
                categories=(phrase,),
                raw_boxes=[box],
                labels=[phrase],
                phrase=phrase,
                listed_size=_listed_size(rec),
                box_format=box_format,
                where=f"{where} ({image})",
            )
        )
    report.read = len(records)
    _unique_ids(candidates, path)
    samples, digests = _finish(candidates, report, workers)
    return LocalizationRead(samples, tuple(sorted({s.phrase or "" for s in samples})), report, digests)


def read_boxes_jsonl(
    root: str | os.PathLike,
    *,
    images_dir: str | os.PathLike | None = None,
    box_format: str = "xyxy",
    categories: str | Sequence[str] | None = None,
    strict: bool = False,
    workers: int | None = None,
) -> LocalizationRead:
    """Detection (and negative) samples from a generic JSONL (`root`: the file), one image per line.

    A line: `{"image": "a.jpg", "boxes": [[x1, y1, x2, y2], ...], "labels": ["cat", ...]}`; optional
    `"categories"` (the prompt's list for this line), `"id"`, `"width"`, `"height"`. `categories` (the
    option) is the default list; without it, every label in the file. A label outside its line's list is a
    malformed record.
    """
    if box_format not in ("xyxy", "xywh"):
        raise DataError(f"boxes-jsonl: box_format must be 'xyxy' or 'xywh', got {box_format!r}")
    path = Path(root).expanduser().resolve()
    records = _load_jsonl(path, "boxes-jsonl")
    img_dir = Path(images_dir).expanduser().resolve() if images_dir is not None else path.parent
    default = _names(categories)
    if default is None:
        labels_seen = {
            str(lab)
            for rec in records
            if isinstance(rec, dict) and isinstance(rec.get("labels"), list)
            for lab in rec["labels"]
        }
        default = sorted(labels_seen)
    report = ReadReport(strict=strict)
    candidates = []
    for k, rec in enumerate(records, 1):
        where = f"{path.name}:{k}"
        if not isinstance(rec, dict) or not isinstance(rec.get("image"), str) or not rec["image"]:
            report.skip(BAD_RECORD, f"{where} (needs 'image')")
            continue
        raw_boxes, labels = rec.get("boxes", []), rec.get("labels", [])
        cats = rec.get("categories", default)
        if (
            not isinstance(raw_boxes, list)
            or not isinstance(labels, list)
            or len(raw_boxes) != len(labels)
            or not all(isinstance(x, str) for x in labels)
        ):
            report.skip(BAD_RECORD, f"{where} ('boxes' and 'labels' must be lists of equal length)")
            continue
        if not isinstance(cats, list) or not cats or not all(isinstance(c, str) for c in cats):
            report.skip(BAD_RECORD, f"{where} ('categories' must be a non-empty list of strings)")
            continue
        outside = [x for x in labels if x not in cats]
        if outside:
            report.skip(BAD_RECORD, f"{where} (labels {outside} not among the categories)")
            continue
        candidates.append(
            _Candidate(
                sample_id=str(rec.get("id", f"img-{k}")),
                image=_image_path(rec["image"], img_dir),
                kind="detection" if raw_boxes else "negative",
                categories=tuple(cats),
                raw_boxes=raw_boxes,
                labels=labels,
                listed_size=_listed_size(rec),
                box_format=box_format,
                where=f"{where} ({rec['image']})",
            )
        )
    report.read = len(records)
    _unique_ids(candidates, path)
    samples, digests = _finish(candidates, report, workers)
    return LocalizationRead(samples, tuple(default), report, digests)


def _unique_ids(candidates: Sequence[_Candidate], path: Path) -> None:
    seen = Counter(c.sample_id for c in candidates)
    dup = [sid for sid, n in seen.items() if n > 1]
    if dup:
        raise DataError(f"{path}: duplicate ids {dup[:5]}")


# --------------------------------------------------------------------------------------------------------------
# Synthetic shapes


@dataclass(frozen=True)
class Shape:
    """A synthetic object: its name (the label) and its fixed colour (RGB)."""

    name: str
    colour: tuple[int, int, int]
    colour_name: str


SHAPES: tuple[Shape, ...] = (
    Shape("square", (230, 60, 50), "red"),
    Shape("circle", (60, 210, 80), "green"),
    Shape("triangle", (70, 110, 245), "blue"),
)
"""Each shape has its own colour, so even a few visual tokens tell them apart."""


def _draw_shape(draw: ImageDraw.ImageDraw, shape: Shape, box: tuple[int, int, int, int]) -> None:
    """Fill `shape` so that its tight box is `box` (x1, y1, x2, y2), ends exclusive."""
    x1, y1, x2, y2 = box
    inner = (x1, y1, x2 - 1, y2 - 1)  # ImageDraw's coordinates are inclusive pixel indices
    if shape.name == "square":
        draw.rectangle(inner, fill=shape.colour)
    elif shape.name == "circle":
        draw.ellipse(inner, fill=shape.colour)
    else:
        draw.polygon([(x1, y2 - 1), ((x1 + x2 - 1) / 2, y1), (x2 - 1, y2 - 1)], fill=shape.colour)


def render_shapes(
    image_size: int, max_objects: int, rng: np.random.Generator
) -> tuple[Image.Image, list[tuple[int, int, int, int]], list[str]]:
    """One image with 0..max_objects non-overlapping shapes; returns (image, boxes, labels)."""
    size = image_size
    base = rng.integers(15, 45)
    noise = rng.normal(0.0, 5.0, (size, size, 3))
    image = Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    count = int(rng.integers(0, max_objects + 1))
    lo, hi = max(6, size // 5), max(7, int(size * 0.42))
    boxes: list[tuple[int, int, int, int]] = []
    labels: list[str] = []
    for _ in range(count):
        for _attempt in range(50):
            w = int(rng.integers(lo, hi + 1))
            h = int(rng.integers(lo, hi + 1))
            x = int(rng.integers(0, size - w + 1))
            y = int(rng.integers(0, size - h + 1))
            box = (x, y, x + w, y + h)
            gap = 2
            if all(
                box[2] + gap <= b[0] or b[2] + gap <= box[0] or box[3] + gap <= b[1] or b[3] + gap <= box[1]
                for b in boxes
            ):
                shape = SHAPES[int(rng.integers(0, len(SHAPES)))]
                _draw_shape(draw, shape, box)
                boxes.append(box)
                labels.append(shape.name)
                break
    return image, boxes, labels


def read_synthetic_shapes(
    out_dir: str | os.PathLike,
    *,
    num_images: int = 300,
    image_size: int = 112,
    max_objects: int = 3,
    grounding_fraction: float = 0.0,
    seed: int = 0,
    subdir: str = "images",
) -> LocalizationRead:
    """Draw `num_images` PNGs with 0..max_objects shapes into `out_dir/subdir`, deterministic by `seed`.

    An image without shapes is a negative sample. With `grounding_fraction` > 0, that share of the images
    holding exactly one shape of some kind is asked as grounding ("the red square") instead of detection.
    """
    if isinstance(num_images, bool) or not isinstance(num_images, int) or num_images < 1:
        raise DataError(f"synthetic-shapes: num_images must be an int >= 1, got {num_images!r}")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 28:
        raise DataError(f"synthetic-shapes: image_size must be an int >= 28, got {image_size!r}")
    if isinstance(max_objects, bool) or not isinstance(max_objects, int) or not 0 <= max_objects <= 8:
        raise DataError(f"synthetic-shapes: max_objects must be an int in 0..8, got {max_objects!r}")
    if not 0.0 <= grounding_fraction <= 1.0:
        raise DataError(f"synthetic-shapes: grounding_fraction must be in [0, 1], got {grounding_fraction!r}")
    folder = Path(out_dir) / subdir
    folder.mkdir(parents=True, exist_ok=True)
    cats = tuple(s.name for s in SHAPES)
    colour_of = {s.name: s.colour_name for s in SHAPES}
    streams = np.random.SeedSequence([seed, zlib.crc32(b"shapes")]).spawn(num_images)
    samples = []
    for i, stream in enumerate(streams):
        rng = np.random.default_rng(stream)
        image, boxes, labels = render_shapes(image_size, max_objects, rng)
        path = folder / f"shapes_{i:05d}.png"
        image.save(path, optimize=False)
        fboxes = tuple(tuple(float(v) for v in b) for b in boxes)
        single = [name for name, n in Counter(labels).items() if n == 1]
        sid = f"shapes-{i:05d}"
        common = {"sample_id": sid, "image": str(path.resolve()), "image_size": (image_size, image_size)}
        if single and rng.random() < grounding_fraction:
            name = single[int(rng.integers(0, len(single)))]
            phrase = f"{colour_of[name]} {name}"
            k = labels.index(name)
            samples.append(
                LocalizationSample(
                    kind="grounding",
                    categories=(phrase,),
                    boxes=(fboxes[k],),
                    labels=(phrase,),
                    phrase=phrase,
                    **common,
                )
            )
        else:
            samples.append(
                LocalizationSample(
                    kind="detection" if boxes else "negative",
                    categories=cats,
                    boxes=fboxes,  # type: ignore[arg-type]
                    labels=tuple(labels),
                    **common,
                )
            )
    return LocalizationRead(samples, cats, ReadReport(read=num_images))


# --------------------------------------------------------------------------------------------------------------
# Splits and the manifest


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


def _round(v: float) -> float | int:
    """A coordinate for JSON: an int when integral, else 3 decimals."""
    return int(v) if float(v).is_integer() else round(float(v), 3)


def sample_record(
    s: LocalizationSample, folder: str, final_dir: str, task: LocalizationTask
) -> dict[str, Any]:
    """The JSON line of one sample (categories only when they differ from the task's)."""
    rec: dict[str, Any] = {
        "id": s.sample_id,
        "image": relative_path(s.image, folder, final_dir),
        "size": list(s.image_size),
        "kind": s.kind,
    }
    if s.phrase is not None:
        rec["phrase"] = s.phrase
    if s.categories != task.categories:
        rec["categories"] = list(s.categories)
    rec["boxes"] = [[_round(v) for v in b] for b in s.boxes]
    rec["labels"] = list(s.labels)
    return rec


def write_localization_manifest(
    folder: str | os.PathLike,
    task: LocalizationTask,
    splits: Mapping[str, Sequence[LocalizationSample]],
    summary: Mapping[str, Any] | None = None,
    *,
    final_dir: str | os.PathLike | None = None,
) -> Path:
    """task.json, `<split>.jsonl` per split and summary.json into `folder`, each file written atomically.

    Image paths are relative to `final_dir` (where `folder` will be renamed to; default `folder`), except
    images inside `folder` itself, which are relative to it.
    """
    return write_manifest_files(
        folder,
        task.to_dict(),
        splits,
        lambda s, folder_abs, final_abs: sample_record(s, folder_abs, final_abs, task),
        summary,
        final_dir=final_dir,
    )


def load_localization_task(manifest_dir: str | os.PathLike) -> LocalizationTask:
    """The `LocalizationTask` of a manifest folder (DataError naming the folder otherwise)."""
    folder = Path(manifest_dir).expanduser()
    path = folder / TASK_FILE
    if not path.is_file():
        raise DataError(f"not a manifest folder (no {TASK_FILE}): {folder}")
    data = _load_json(path, "manifest")
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object")
    try:
        return LocalizationTask.from_dict(data)
    except DataError as e:
        raise DataError(f"{path}: {e}") from None


def _parse_record(rec: Any, task: LocalizationTask, folder: Path, where: str) -> LocalizationSample:
    if not isinstance(rec, dict):
        raise DataError(f"{where}: expected a JSON object")
    try:
        image = rec["image"]
        width, height = rec["size"]
        boxes = tuple(tuple(float(v) for v in b) for b in rec.get("boxes", []))
        if any(len(b) != 4 for b in boxes):
            raise ValueError("a box needs 4 numbers")
        return LocalizationSample(
            sample_id=str(rec["id"]),
            image=os.path.normpath(os.path.join(folder, image)),
            kind=rec["kind"],
            categories=tuple(rec.get("categories", task.categories)),
            boxes=boxes,  # type: ignore[arg-type]
            labels=tuple(rec.get("labels", [])),
            image_size=(int(width), int(height)),
            phrase=rec.get("phrase"),
            min_pixels=task.min_pixels,
            max_pixels=task.max_pixels,
        )
    except DataError as e:
        raise DataError(f"{where}: {e}") from None
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"{where}: malformed record ({type(e).__name__}: {e})") from None


def load_localization_manifest(
    manifest_dir: str | os.PathLike, split: str, *, check_files: bool = False
) -> list[LocalizationSample]:
    """The samples of one split, with absolute image paths and the task's pixel budget.

    Raises DataError for a missing folder or split, a line that is not JSON (file:line), a malformed record,
    or (with `check_files`) an image file that is missing or unusable (`rarl.data.validate.find_bad_images`).
    """
    folder = Path(manifest_dir).expanduser()
    if not folder.is_dir():
        raise DataError(f"manifest folder not found: {folder}")
    folder = folder.resolve()
    task = load_localization_task(folder)
    path = folder / f"{split}.jsonl"
    if not path.is_file():
        have = ", ".join(sorted(p.stem for p in folder.glob("*.jsonl"))) or "none"
        raise DataError(f"manifest {folder} has no split {split!r} (no {path.name}; splits: {have})")
    records = _load_jsonl(path, "manifest")
    samples = [_parse_record(rec, task, folder, f"{path}: record {k}") for k, rec in enumerate(records, 1)]
    if check_files:
        bad = find_bad_images([s.image for s in samples])
        first = next((s for s in samples if s.image in bad), None)
        if first is not None:
            raise DataError(
                f"{path}: sample {first.sample_id}: {bad[first.image]}: {first.image} ({len(bad)} unusable "
                f"image file(s) in {path.name}); remove those samples, or re-run `rarl prepare`"
            )
    return samples


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
    unknown = sorted(set(options) - set(source_options(source)))
    if unknown:
        raise DataError(f"{source}: unknown options {unknown}; known: {source_options(source)}")
    adapter, _ = LOCALIZATION_SOURCES[source]
    if source == "synthetic-shapes":
        side = int(options.get("image_size", 112))
        min_pixels = side * side if min_pixels is None else min_pixels
        max_pixels = side * side if max_pixels is None else max_pixels
    else:
        options = {**options, "strict": strict, "workers": workers}
    out_path = Path(out).expanduser().resolve()
    root_path = Path(root).expanduser().resolve() if root is not None else None
    check_out_dir(out_path, root_path)
    settings = {
        "root": str(root_path) if root_path is not None else None,
        "seed": seed,
        "splits": [float(f) for f in splits],
        "strict": strict,
        "options": {k: v for k, v in options.items() if k not in ("strict", "workers")},
    }
    with atomic_directory(out_path) as tmp:
        read = adapter(root_path, out_dir=tmp, seed=seed, **options)
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
