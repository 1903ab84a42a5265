"""Refine-IQA samples and their manifest: quality scoring (stage 2) and quality perception (stage 1).

A `QualitySample` is one question about one distorted or natural image:

- `score` (stage 2): "rate the quality"; ground truth the MOS rescaled to [0, 5) (`mos`), with the raw MOS
  and the dataset it came from;
- `distortion` and `severity` (stage 1): multiple choice among the 12 distortion names or the 5 severity
  names (`options`, `answer` the index of the right one);
- `object` (stage 1): multiple choice among the objects of the image (which one was distorted);
- `grounding` (stage 1): one box `(x1, y1, x2, y2)` around the distorted area, in pixels of the image as it
  is stored (the perception data is written at the frame size the model sees, so no mapping is needed).

Each stage-1 question has a full-reference variant (`images = (original, distorted)`) and a no-reference
one (`images = (distorted,)`); `reference` says which.

The manifest folder (written by `rarl prepare` with a Refine-IQA source) holds `task.json` (`"recipe":
"refine-iqa"`, `"kind"`: "scoring" or "perception", the datasets and their MOS mappings), `{train,val,test}.jsonl`
(one record per sample, image paths relative to the folder) and `summary.json`. `split_labels` is the seeded
random train/val/test assignment both preparers (scoring and perception) use.
"""

from __future__ import annotations

import json
import math
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from rarl.data.errors import DataError
from rarl.data.manifest import TASK_FILE, relative_path, split_file, write_manifest_files
from rarl.utils.io import read_jsonl_numbered

RECIPE_NAME = "refine-iqa"
SCORE_TASK = "score"
CHOICE_TASKS: tuple[str, ...] = ("distortion", "severity", "object")
PERCEPTION_TASKS: tuple[str, ...] = (*CHOICE_TASKS, "grounding")
TASKS: tuple[str, ...] = (SCORE_TASK, *PERCEPTION_TASKS)
SPLITS: tuple[str, ...] = ("train", "val", "test")

__all__ = [
    "CHOICE_TASKS",
    "PERCEPTION_TASKS",
    "RECIPE_NAME",
    "SCORE_TASK",
    "SPLITS",
    "TASKS",
    "QualitySample",
    "load_quality_manifest",
    "load_quality_task",
    "parse_fractions",
    "split_labels",
    "write_quality_manifest",
]


@dataclass(frozen=True)
class QualitySample:
    """One Refine-IQA question (see the module docstring).

    Attributes:
        sample_id: stable id (logs and RMO memory are keyed by it).
        task: one of `TASKS`.
        images: absolute image paths, in prompt order (full reference: original first, then distorted).
        dataset: the dataset name (KonIQ, SPAQ, ..., or the perception source).
        mos: ground-truth score on [0, 5) (`score` only; None for an unlabelled image to score).
        options: the candidate answers (choice tasks only).
        answer: index of the right option (choice tasks only).
        box: (x1, y1, x2, y2) of the distorted area in image pixels (`grounding` only).
        reference: a full-reference question (the original image is shown first).
        meta: free-form (raw MOS, distortion, severity, object, ...).
    """

    sample_id: str
    task: str
    images: tuple[str, ...]
    dataset: str = ""
    mos: float | None = None
    options: tuple[str, ...] = ()
    answer: int | None = None
    box: tuple[float, float, float, float] | None = None
    reference: bool = False
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        where = f"sample {self.sample_id}"
        if self.task not in TASKS:
            raise DataError(f"{where}: task must be one of {TASKS}, got {self.task!r}")
        if not self.images:
            raise DataError(f"{where}: no image")
        if self.reference and len(self.images) != 2:
            raise DataError(f"{where}: a full-reference question needs 2 images, got {len(self.images)}")
        if self.task == SCORE_TASK:
            if self.mos is None:
                pass  # an unlabelled image to score (`rarl score`); it has no target
            elif (
                not isinstance(self.mos, (int, float)) or not math.isfinite(self.mos) or not 0 <= self.mos < 5
            ):
                raise DataError(f"{where}: mos must be a number in [0, 5), got {self.mos!r}")
        elif self.task in CHOICE_TASKS:
            if len(self.options) < 2 or self.answer is None or not 0 <= self.answer < len(self.options):
                raise DataError(f"{where}: a choice question needs >= 2 options and a valid answer index")
        elif (
            self.box is None
            or len(self.box) != 4
            or not self.box[0] < self.box[2]
            or not self.box[1] < self.box[3]
        ):
            raise DataError(
                f"{where}: a grounding question needs a box (x1, y1, x2, y2) with x1 < x2, y1 < y2"
            )

    @property
    def target(self) -> float | dict[str, Any]:
        """What the reward scores against: the MOS (a float) for `score`, else a dict with the task."""
        if self.task == SCORE_TASK:
            if self.mos is None:
                raise DataError(f"sample {self.sample_id}: an unlabelled image has no target")
            return float(self.mos)
        if self.task == "grounding":
            return {"task": self.task, "box": list(self.box)}  # type: ignore[arg-type]
        return {"task": self.task, "options": list(self.options), "answer": self.answer}

    @property
    def distortion(self) -> str | None:
        """The distortion applied (perception samples), from `meta`."""
        return self.meta.get("distortion")

    def load_images(self) -> list[Image.Image]:
        """The images as RGB PIL images, in prompt order."""
        out = []
        for path in self.images:
            with Image.open(path) as im:
                out.append(im.convert("RGB"))
        return out


def _record(sample: QualitySample, folder: str, final_dir: str) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "id": sample.sample_id,
        "task": sample.task,
        "images": [relative_path(p, folder, final_dir) for p in sample.images],
        "dataset": sample.dataset,
    }
    if sample.mos is not None:
        rec["mos"] = round(float(sample.mos), 6)
    if sample.options:
        rec["options"] = list(sample.options)
        rec["answer"] = sample.answer
    if sample.box is not None:
        rec["box"] = [round(float(v), 3) for v in sample.box]
    if sample.reference:
        rec["reference"] = True
    if sample.meta:
        rec["meta"] = sample.meta
    return rec


def write_quality_manifest(
    folder: str | os.PathLike,
    task: Mapping[str, Any],
    splits: Mapping[str, Sequence[QualitySample]],
    summary: Mapping[str, Any] | None = None,
    *,
    final_dir: str | os.PathLike | None = None,
) -> Path:
    """task.json (with `"recipe": "refine-iqa"`), `<split>.jsonl` per split and summary.json into `folder`."""
    return write_manifest_files(
        folder, {"recipe": RECIPE_NAME, **task}, splits, _record, summary, final_dir=final_dir
    )


def load_quality_task(manifest_dir: str | os.PathLike) -> dict[str, Any]:
    """The manifest's task.json; DataError if it is missing or names another recipe."""
    folder = Path(manifest_dir).expanduser()
    path = folder / TASK_FILE
    if not path.is_file():
        raise DataError(f"not a Refine-IQA manifest folder (no {TASK_FILE}): {folder}")
    try:
        task = json.loads(path.read_text())
    except ValueError as e:
        raise DataError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(task, dict) or task.get("recipe") != RECIPE_NAME:
        got = task.get("recipe") if isinstance(task, dict) else None
        raise DataError(
            f"{path}: written for recipe {got!r}, not {RECIPE_NAME!r}; prepare it with a Refine-IQA source"
        )
    return task


def _parse(rec: Any, folder: Path, where: str) -> QualitySample:
    if not isinstance(rec, dict):
        raise DataError(f"{where}: a record must be a JSON object")
    try:
        images = tuple(str((folder / p).resolve()) for p in rec["images"])
        box = rec.get("box")
        return QualitySample(
            sample_id=str(rec["id"]),
            task=str(rec["task"]),
            images=images,
            dataset=str(rec.get("dataset", "")),
            mos=None if rec.get("mos") is None else float(rec["mos"]),
            options=tuple(str(o) for o in rec.get("options", ())),
            answer=None if rec.get("answer") is None else int(rec["answer"]),
            box=None if box is None else tuple(float(v) for v in box),  # type: ignore[arg-type]
            reference=bool(rec.get("reference", False)),
            meta=dict(rec.get("meta") or {}),
        )
    except DataError as e:
        raise DataError(f"{where}: {e}") from None
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"{where}: malformed record ({type(e).__name__}: {e})") from None


def load_quality_manifest(
    manifest_dir: str | os.PathLike, split: str, tasks: Sequence[str] | None = None, check_files: bool = True
) -> list[QualitySample]:
    """The samples of `split` (only `tasks` when given); every image is checked to exist when `check_files`."""
    folder = Path(manifest_dir).expanduser().resolve()
    load_quality_task(folder)
    path = split_file(folder, split)
    if not path.is_file():
        raise DataError(f"manifest {folder} has no split {split!r} ({path.name} missing)")
    samples = []
    for line, rec in read_jsonl_numbered(path):
        sample = _parse(rec, folder, f"{path}:{line}")
        if tasks and sample.task not in tasks:
            continue
        if check_files:
            for image in sample.images:
                if not os.path.isfile(image):
                    raise DataError(f"{path}:{line}: image not found: {image}")
        samples.append(sample)
    if not samples:
        raise DataError(f"{path}: no samples" + (f" of tasks {list(tasks)}" if tasks else ""))
    return samples


def split_labels(n: int, fractions: Sequence[float], seed: int) -> list[str]:
    """A split name for each of `n` items: a seeded random assignment in the (train, val, test) `fractions`."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise DataError(
            f"fractions must be three non-negative numbers (train, val, test), got {list(fractions)}"
        )
    order = list(range(n))
    random.Random(seed).shuffle(order)
    total = sum(fractions)
    counts = [int(n * f / total) for f in fractions]
    counts[0] += n - sum(counts)
    labels = [SPLITS[k] for k, c in enumerate(counts) for _ in range(c)]
    out = [""] * n
    for i, label in zip(order, labels):
        out[i] = label
    return out


def parse_fractions(value: object) -> list[float]:
    """The split fractions from `"train,val,test"` text or a sequence of numbers."""
    if isinstance(value, str):
        try:
            return [float(v) for v in value.split(",")]
        except ValueError:
            raise DataError(f"fractions must be 'train,val,test' numbers, got {value!r}") from None
    return [float(v) for v in value]  # type: ignore[union-attr]
