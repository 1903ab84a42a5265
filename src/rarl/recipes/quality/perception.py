"""Stage-1 data: `rarl prepare refine-perception`, locally distorted images and four perception tasks.

    rarl prepare refine-perception --out data/perception -o images_from=coco --root instances_val2017.json
    rarl prepare refine-perception --out data/perception -o images_from=synthetic-shapes -o num_images=300

Pipeline (the paper's Fig. 2 without its model-based filtering and human scrutiny, which we cannot run):

1. clean images with object boxes from a localization reader (`images_from`): COCO instances JSON,
   the generic box JSONL (`boxes-jsonl`; both `rarl.recipes.localization.readers`), or the synthetic
   shapes (`rarl.recipes.localization.synthetic`);
2. each image is resized to the frame the model sees (Qwen2.5-VL's `smart_resize` under `min_pixels` /
   `max_pixels`; synthetic shapes: their own size), so that boxes are in the pixels the model sees;
3. one object's box (at least `min_box_side` pixels a side in the frame; a seeded choice) receives one
   distortion of the paper's pool of 12 at one of 5 severities (`rarl.recipes.quality.distortions.apply_distortion`,
   uniform choices); the original and the distorted image are saved as PNG;
4. four questions per image: distortion type (12 options), severity (5 options), distorted object (the
   image's distinct object names, topped up to at least `min_options` from other images' names) and
   grounding (the box); each question is full-reference (original + distorted) or no-reference (distorted
   only), drawn at random per question (`reference=random`), or both variants (`reference=both`), or one.

An object question whose right answer names two boxes of the image (two "person"s) is ambiguous and is left
out (counted in a note). Splits are by source image, so no image is in two splits.
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from rarl.data.errors import DataError, ReadReport
from rarl.data.options import Option, check_options, choice, fractions, integer, names
from rarl.data.prepare import check_images_outside, check_out_dir
from rarl.data.readers.safe import resolved, user_path
from rarl.recipes.localization.prepare import SOURCE_OPTIONS as IMAGE_SOURCE_OPTIONS
from rarl.recipes.localization.readers import read_boxes_jsonl, read_coco_instances
from rarl.recipes.localization.samples import DEFAULT_MAX_PIXELS, DEFAULT_MIN_PIXELS
from rarl.recipes.localization.synthetic import read_synthetic_shapes
from rarl.recipes.quality.distortions import DISTORTIONS, SEVERITY_NAMES, apply_distortion
from rarl.recipes.quality.samples import (
    SPLITS,
    QualitySample,
    parse_fractions,
    split_labels,
    write_quality_manifest,
)
from rarl.rewards.localization import resized_frame
from rarl.utils.io import atomic_directory

IMAGE_SOURCES = ("synthetic-shapes", "coco", "boxes-jsonl")
TASKS = ("distortion", "severity", "object", "grounding")

PERCEPTION_OPTIONS: dict[str, Option] = {
    "images_from": choice(*IMAGE_SOURCES),
    "tasks": names(*TASKS),
    "reference": choice("random", "both", "fr", "nr"),
    "fractions": fractions(3),
    "min_pixels": integer(lo=1),
    "max_pixels": integer(lo=1),
    "min_box_side": integer(lo=1),
    "min_options": integer(lo=2),
}
"""refine-perception's own options and their types (`rarl.data.options`)."""

_IMAGE_OPTION_NAMES = {
    "synthetic-shapes": ("num_images", "image_size", "max_objects"),
    "coco": ("images_dir", "categories", "max_instances", "max_images"),
    "boxes-jsonl": ("images_dir", "categories"),
}
"""The options of the image source (`images_from`) that refine-perception passes on to its reader."""


def perception_options(images_from: str) -> dict[str, Option]:
    """Every option refine-perception takes with `images_from` (its own and its image source's)."""
    own = IMAGE_SOURCE_OPTIONS[images_from]
    return {**PERCEPTION_OPTIONS, **{k: own[k] for k in _IMAGE_OPTION_NAMES[images_from]}}


__all__ = [
    "IMAGE_SOURCES",
    "PERCEPTION_OPTIONS",
    "PerceptionSummary",
    "distortion_label",
    "perception_options",
    "prepare_perception",
]


def distortion_label(name: str) -> str:
    """The prompt's name of a distortion identifier (`high_contrast` -> "high contrast")."""
    return name.replace("_", " ")


@dataclass
class PerceptionSummary:
    """What `prepare_perception` wrote: questions per split and task, distortions used, the report."""

    out: Path
    counts: dict[str, dict[str, int]]
    distortions: dict[str, int]
    report: ReadReport

    def to_dict(self) -> dict[str, Any]:
        return {"samples": self.counts, "distortions": self.distortions, "report": self.report.to_dict()}

    def lines(self) -> list[str]:
        out = [f"{self.out}: refine-perception (stage-1 quality perception questions)"]
        for split, by_task in self.counts.items():
            out.append(f"  {split}: " + (", ".join(f"{n} {t}" for t, n in by_task.items()) or "no samples"))
        out.append("  distortions: " + ", ".join(f"{d} {n}" for d, n in self.distortions.items()))
        out.extend(f"  {line}" for line in self.report.lines())
        return out


def _read_source(
    images_from: str, root: Path | None, tmp: Path, seed: int, strict: bool, options: dict
) -> Any:
    if images_from == "synthetic-shapes":
        keys = {"num_images", "image_size", "max_objects"}
        opts = {k: options.pop(k) for k in list(options) if k in keys}
        opts.setdefault("max_objects", 3)
        return read_synthetic_shapes(tmp / "source", seed=seed, **opts)
    if root is None:
        raise DataError(f"refine-perception from {images_from}: --root (the annotation file) is required")
    keys = (
        {"images_dir", "categories", "max_instances", "max_images"}
        if images_from == "coco"
        else {"images_dir", "categories"}
    )
    opts = {k: options.pop(k) for k in list(options) if k in keys}
    reader = read_coco_instances if images_from == "coco" else read_boxes_jsonl
    return reader(root, strict=strict, **opts)


def prepare_perception(
    source: str,
    out: str | os.PathLike,
    *,
    root: str | os.PathLike | None = None,
    seed: int = 0,
    strict: bool = False,
    images_from: str = "synthetic-shapes",
    tasks: str = "distortion,severity,object,grounding",
    reference: str = "random",
    fractions: str = "0.8,0.1,0.1",
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    min_box_side: int = 8,
    min_options: int = 3,
    **options: Any,
) -> PerceptionSummary:
    """Write a stage-1 perception manifest at `out` (atomically); see the module docstring."""
    chosen = check_options(source, {"images_from": images_from}, PERCEPTION_OPTIONS)
    images_from = chosen.get("images_from", "synthetic-shapes")
    given = {
        "tasks": tasks,
        "reference": reference,
        "fractions": fractions,
        "min_pixels": min_pixels,
        "max_pixels": max_pixels,
        "min_box_side": min_box_side,
        "min_options": min_options,
    }
    options = check_options(source, {**given, **options}, perception_options(images_from))
    wanted: list[str] = options.pop("tasks")
    reference, fractions = options.pop("reference"), options.pop("fractions")
    min_box_side, min_options = options.pop("min_box_side"), options.pop("min_options")
    min_pixels, max_pixels = options.pop("min_pixels", None), options.pop("max_pixels", None)
    if images_from == "synthetic-shapes":
        side = int(options.get("image_size", 112))
        min_pixels = side * side if min_pixels is None else min_pixels
        max_pixels = side * side if max_pixels is None else max_pixels
    lo = DEFAULT_MIN_PIXELS if min_pixels is None else int(min_pixels)
    hi = DEFAULT_MAX_PIXELS if max_pixels is None else int(max_pixels)
    if lo > hi:
        raise DataError(f"{source}: min_pixels {lo} > max_pixels {hi} (the pixel budget of the frame)")
    out_path = user_path(out).resolve()
    root_path = resolved(user_path(root)) if root is not None else None
    check_out_dir(out_path, root_path, options)
    rng = random.Random(seed)
    with atomic_directory(out_path) as tmp:
        read = _read_source(images_from, root_path, tmp, seed, strict, dict(options))
        check_images_outside(out_path, (s.image for s in read.samples))  # before out is replaced
        report = read.report
        all_labels = sorted({label for s in read.samples for label in s.labels})
        images_dir = tmp / "images"
        images_dir.mkdir()
        groups: list[list[QualitySample]] = []
        used: dict[str, int] = {}
        ambiguous = 0
        for k, source_sample in enumerate(read.samples):
            if not source_sample.boxes:
                continue
            w, h = source_sample.image_size
            frame = resized_frame(w, h, lo, hi)
            sx, sy = frame[0] / w, frame[1] / h
            boxes = []
            for box, label in zip(source_sample.boxes, source_sample.labels):
                x1, y1 = max(0, math.floor(box[0] * sx)), max(0, math.floor(box[1] * sy))
                x2, y2 = min(frame[0], math.ceil(box[2] * sx)), min(frame[1], math.ceil(box[3] * sy))
                if x2 - x1 >= min_box_side and y2 - y1 >= min_box_side:
                    boxes.append(((x1, y1, x2, y2), label))
            if not boxes:
                report.skip(
                    "no box large enough to distort", f"{source_sample.image} (< {min_box_side} px a side)"
                )
                continue
            box, label = rng.choice(boxes)
            name, severity = rng.choice(DISTORTIONS), rng.randint(1, 5)
            with Image.open(source_sample.image) as im:
                clean = im.convert("RGB").resize(frame, Image.Resampling.BICUBIC)
            distorted = apply_distortion(clean, name, severity, box=box, seed=seed + k)
            stem = f"{k:06d}"
            original_path, distorted_path = (
                images_dir / f"{stem}-original.png",
                images_dir / f"{stem}-distorted.png",
            )
            clean.save(original_path)
            distorted.save(distorted_path)
            used[name] = used.get(name, 0) + 1
            labels_here = [lab for _, lab in boxes] + [lab for lab in source_sample.labels]
            meta = {
                "distortion": name,
                "severity": severity,
                "object": label,
                "source": Path(source_sample.image).name,
            }
            questions = []
            for task in wanted:
                variants = {
                    "random": [rng.random() < 0.5],
                    "both": [True, False],
                    "fr": [True],
                    "nr": [False],
                }[reference]
                if task == "object":
                    if list(source_sample.labels).count(label) > 1:
                        ambiguous += 1
                        continue
                    names = sorted(set(labels_here))
                    others = [c for c in all_labels if c not in names]
                    rng.shuffle(others)
                    names += others[: max(0, min_options - len(names))]
                    if len(names) < 2:
                        report.skip(
                            "fewer than two object names for the object question", source_sample.image
                        )
                        continue
                    options_, answer = tuple(rng.sample(names, len(names))), None
                    answer = options_.index(label)
                elif task == "distortion":
                    options_, answer = (
                        tuple(distortion_label(d) for d in DISTORTIONS),
                        DISTORTIONS.index(name),
                    )
                elif task == "severity":
                    options_, answer = tuple(SEVERITY_NAMES), severity - 1
                else:
                    options_, answer = (), None
                for fr in variants:
                    images = (str(original_path), str(distorted_path)) if fr else (str(distorted_path),)
                    questions.append(
                        QualitySample(
                            sample_id=f"{stem}/{task}/{'fr' if fr else 'nr'}",
                            task=task,
                            images=images,
                            dataset=f"refine-perception ({images_from})",
                            options=options_,
                            answer=answer,
                            box=tuple(float(v) for v in box) if task == "grounding" else None,  # type: ignore[arg-type]
                            reference=fr,
                            meta=meta,
                        )
                    )
            groups.append(questions)
        if ambiguous:
            report.note(
                f"{ambiguous} object questions left out: the distorted object's name names several boxes"
            )
        if not groups:
            raise DataError(
                f"empty dataset: no usable images from {images_from} ({'; '.join(report.lines())})"
            )
        labels = split_labels(len(groups), parse_fractions(fractions), seed)
        by_split: dict[str, list[QualitySample]] = {s: [] for s in SPLITS}
        for group, sp in zip(groups, labels):
            by_split[sp].extend(group)
        counts = {sp: {t: sum(1 for s in v if s.task == t) for t in wanted} for sp, v in by_split.items()}
        summary = PerceptionSummary(out_path, counts, dict(sorted(used.items())), report)
        task_info = {"kind": "perception", "source": images_from, "frame_pixels": [lo, hi], "tasks": wanted}
        write_quality_manifest(tmp, task_info, by_split, summary.to_dict(), final_dir=out_path)
    return summary
