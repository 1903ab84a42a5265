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
from rarl.data.manifest_checks import check_manifest_images, check_unique_ids
from rarl.data.readers.safe import finite, show
from rarl.utils.io import read_jsonl_numbered, user_path

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
    folder = user_path(manifest_dir)
    path = folder / TASK_FILE
    if not path.is_file():
        raise DataError(f"not a Refine-IQA manifest folder (no {TASK_FILE}): {folder}")
    try:
        task = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise DataError(f"{path}: not usable JSON (nested too deeply for the parser)") from None
    except ValueError as e:  # bad syntax, not UTF-8, an integer past Python's digit limit
        raise DataError(f"{path}: not valid JSON ({str(e).split(';')[0]})") from None
    if not isinstance(task, dict) or task.get("recipe") != RECIPE_NAME:
        got = task.get("recipe") if isinstance(task, dict) else None
        raise DataError(
            f"{path}: written for recipe {got!r}, not {RECIPE_NAME!r}; prepare it with a Refine-IQA source"
        )
    return task


def _image(folder: Path, name: object) -> str:
    """An image name of a record as an absolute path under `folder` (links followed where they resolve)."""
    if not isinstance(name, str) or not name.strip():
        raise DataError(f"'images' must be a list of image paths, got an item {show(name)}")
    if "\x00" in name:
        raise DataError(f"'images' holds a name with a NUL character: {show(name)}")
    path = folder / name
    try:
        return str(path.resolve())
    except (OSError, RuntimeError):  # a link loop: left as it is, for the image check to name
        return os.path.abspath(path)


_FIELD_TYPES = (
    ("task", str, "text"),
    ("dataset", str, "text"),
    ("reference", bool, "true or false"),
    ("meta", dict, "a JSON object"),
)


def _number(value: object, key: str) -> float:
    """A finite int or float (not a bool, not text)."""
    number = finite(value)
    if number is None:
        raise DataError(f"{key!r} must be a finite number, got {show(value)}")
    return number


def _parse(rec: Any, folder: Path, where: str) -> QualitySample:
    """One manifest record, each field checked for its type (then `QualitySample` checks its values)."""
    if not isinstance(rec, dict):
        raise DataError(f"{where}: a record must be a JSON object, got {show(rec)}")
    try:
        for key in ("id", "task", "images"):
            if key not in rec:
                raise DataError(f"no {key!r}")
        sample_id = rec["id"]
        if isinstance(sample_id, bool) or not isinstance(sample_id, (str, int)) or not str(sample_id).strip():
            raise DataError(f"'id' must be non-empty text or an integer, got {show(sample_id)}")
        images = rec["images"]
        if not isinstance(images, list) or not images:
            raise DataError(f"'images' must be a non-empty list of image paths, got {show(images)}")
        options, answer, box = rec.get("options", []), rec.get("answer"), rec.get("box")
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            raise DataError(f"'options' must be a list of text items, got {show(options)}")
        if answer is not None and (isinstance(answer, bool) or not isinstance(answer, int)):
            raise DataError(f"'answer' must be an option index (an integer), got {show(answer)}")
        if box is not None and (
            not isinstance(box, list) or len(box) != 4 or any(finite(v) is None for v in box)
        ):
            raise DataError(f"'box' must be [x1, y1, x2, y2], four finite numbers, got {show(box)}")
        for key, kind, noun in _FIELD_TYPES:
            if rec.get(key) is not None and not isinstance(rec[key], kind):
                raise DataError(f"{key!r} must be {noun}, got {show(rec[key])}")
        return QualitySample(
            sample_id=str(sample_id),
            task=rec["task"],
            images=tuple(_image(folder, p) for p in images),
            dataset=rec.get("dataset") or "",
            mos=None if rec.get("mos") is None else _number(rec["mos"], "mos"),
            options=tuple(options),
            answer=answer,
            box=None if box is None else tuple(float(v) for v in box),  # type: ignore[arg-type]
            reference=bool(rec.get("reference", False)),
            meta=dict(rec.get("meta") or {}),
        )
    except DataError as e:
        raise DataError(f"{where}: {e}") from None


def load_quality_manifest(
    manifest_dir: str | os.PathLike, split: str, tasks: Sequence[str] | None = None, check_files: bool = True
) -> list[QualitySample]:
    """The samples of `split` (only `tasks` when given).

    Raises one DataError naming the file and line for a record that is not valid, a sample id used twice,
    and (with `check_files`) an image that is missing, does not decode or is refused by the image rules:
    every image is decoded once up front (`rarl.data.manifest_checks.check_manifest_images`), as the other
    recipes do, so a corrupt file fails before any model is loaded rather than at the step that draws it.
    """
    folder = user_path(manifest_dir).resolve()
    load_quality_task(folder)
    path = split_file(folder, split)
    if not path.is_file():
        raise DataError(f"manifest {folder} has no split {split!r} ({path.name} missing)")
    try:
        records = read_jsonl_numbered(path)
    except RecursionError:
        raise DataError(f"{path}: not usable JSON (nested too deeply for the parser)") from None
    except ValueError as e:
        raise DataError(str(e)) from None
    rows = [(line, _parse(rec, folder, f"{path}:{line}")) for line, rec in records]
    check_unique_ids(path, [(line, s.sample_id) for line, s in rows])
    rows = [(line, s) for line, s in rows if not tasks or s.task in tasks]
    if not rows:
        raise DataError(f"{path}: no samples" + (f" of tasks {list(tasks)}" if tasks else ""))
    if check_files:
        check_manifest_images(path, [(line, s.images) for line, s in rows])
    return [s for _, s in rows]


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
