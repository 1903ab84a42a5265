"""Vision-R1 readers of COCO instances, RefCOCO-style JSONL and generic box JSONL files.

Readers (`read_coco_instances`, `read_refcoco_jsonl`, `read_boxes_jsonl`, and `read_synthetic_shapes` in
`rarl.recipes.localization.synthetic`) return a `LocalizationRead` (samples, categories, `ReadReport`). Every
image is opened and decoded once up front (JPEGs in draft mode, as `rarl.data.validate` does), which also
gives its true size and content hash (`rarl.recipes.localization.checks`).

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
- Box checks (every source, `rarl.recipes.localization.checks`): a box must be 4 finite numbers with sides
  of at least `MIN_BOX_SIDE` pixel ("degenerate box"), and lie inside the image up to `BOX_TOLERANCE` pixels
  (clipped to it) ("box outside the image"). A sample with a bad box, a missing or undecodable image, or a
  listed image size that differs from the file is reported under that reason with its name and excluded;
  with `strict=True` the first one raises `DataError` instead. Policy filters (crowd boxes,
  `max_instances`, images without the categories) are counted in notes, never raised.
"""

from __future__ import annotations

import os
import zlib
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rarl.data.errors import DataError, ReadReport
from rarl.data.readers.coco import annotation_problem, check_coco, select_categories
from rarl.data.readers.safe import image_path, load_json, resolved, show, user_path
from rarl.recipes.localization.checks import Candidate, finish_candidates
from rarl.recipes.localization.samples import LocalizationRead, load_jsonl

__all__ = ["BAD_RECORD", "read_boxes_jsonl", "read_coco_instances", "read_refcoco_jsonl"]

BAD_RECORD = "malformed record"


def _image_path(name: str, images_dir: Path) -> str:
    return image_path(name, images_dir)


def _names(value: str | Sequence[str] | None) -> list[str] | None:
    """A category option: a comma-separated string or a list (None: all)."""
    if value is None:
        return None
    if isinstance(value, str):
        return [c.strip() for c in value.split(",") if c.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(c, (str, int)) for c in value):
        raise DataError(f"categories must be names 'a,b' or a list of names, got {show(value)}")
    return [str(c) for c in value]


def _sample_id(rec: Mapping[str, Any], default: str) -> str | None:
    """A record's `id` as text (its default when absent), or None when it is not text or an integer."""
    value = rec.get("id", default)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    return str(value)


def _coco_images_dir(ann_path: Path, coco: Mapping[str, Any], images_dir: str | os.PathLike | None) -> Path:
    """`images_dir`, or the first of the annotation's folder, its parent, and their images/val2017/train2017
    subfolders holding the first listed image."""
    if images_dir is not None:
        folder = user_path(images_dir)
        if not folder.is_dir():
            raise DataError(f"coco: images folder not found: {folder}")
        return resolved(folder)
    first = next((img.get("file_name") for img in coco["images"] if isinstance(img, dict)), None)
    bases = [ann_path.parent, ann_path.parent.parent]
    for base in bases:
        for c in (base, base / "images", base / "val2017", base / "train2017"):
            if first is not None and (c / first).is_file():
                return resolved(c)
    return resolved(ann_path.parent)


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
    ann_path = resolved(user_path(root))
    coco = load_json(ann_path, "coco")
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
            Candidate(
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
    samples, digests = finish_candidates(candidates, report, workers)
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
    path = resolved(user_path(root))
    records = load_jsonl(path, "refcoco")
    img_dir = resolved(user_path(images_dir)) if images_dir is not None else path.parent
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
        sample_id = _sample_id(rec, f"ref-{k}")
        if sample_id is None:
            report.skip(BAD_RECORD, f"{where} ('id' must be text or an integer, got {show(rec['id'])})")
            continue
        phrase = " ".join(phrase.split())
        candidates.append(
            Candidate(
                sample_id=sample_id,
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
    samples, digests = finish_candidates(candidates, report, workers)
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
    path = resolved(user_path(root))
    records = load_jsonl(path, "boxes-jsonl")
    img_dir = resolved(user_path(images_dir)) if images_dir is not None else path.parent
    default = _names(categories)
    if default is None:
        labels_seen = {
            str(lab)
            for rec in records
            if isinstance(rec, dict) and isinstance(rec.get("labels"), list)
            for lab in rec["labels"]
            if isinstance(lab, str)
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
            report.skip(BAD_RECORD, f"{where} (labels {show(outside)} not among the categories)")
            continue
        sample_id = _sample_id(rec, f"img-{k}")
        if sample_id is None:
            report.skip(BAD_RECORD, f"{where} ('id' must be text or an integer, got {show(rec['id'])})")
            continue
        candidates.append(
            Candidate(
                sample_id=sample_id,
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
    samples, digests = finish_candidates(candidates, report, workers)
    return LocalizationRead(samples, tuple(default), report, digests)


def _unique_ids(candidates: Sequence[Candidate], path: Path) -> None:
    seen = Counter(c.sample_id for c in candidates)
    dup = [sid for sid, n in seen.items() if n > 1]
    if dup:
        raise DataError(f"{path}: duplicate ids {dup[:5]}")
