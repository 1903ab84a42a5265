"""Localization samples for the Vision-R1 recipe: the sample and task types, and the manifest folder's I/O.

A `LocalizationSample` is one image and one question about it, of one of three kinds:

- `detection`: "locate every item from the category list"; ground truth = every box of those categories;
- `grounding`: one referring phrase (RefCOCO-style expression, or a category as in visual grounding);
  ground truth = its box(es), labelled with the phrase;
- `negative`: a detection question whose image holds none of the listed categories; the right answer is `[]`.

Ground-truth boxes are stored in pixels of the ORIGINAL image, (x1, y1, x2, y2) with x to the right and y
down, continuous coordinates (a box covering pixel columns 10..19 is x1 = 10, x2 = 20). The frame the model
sees is `sample.frame`: the image resized by Qwen2.5-VL's `smart_resize` under the sample's pixel budget
(`min_pixels`, `max_pixels`, stored in the manifest's task.json); the recipe maps boxes between the two.

The manifest folder holds `task.json` (`"recipe": "vision-r1"`, categories, pixel budget, source),
`{train,val,test}.jsonl` (image paths relative to the folder) and `summary.json`
(`rarl.recipes.localization.prepare` writes it in one atomic folder rename): `write_localization_manifest`
writes the files, `load_localization_task` and `load_localization_manifest` read them back.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from rarl.data.boxes import Box, resized_frame, scale_boxes
from rarl.data.errors import DataError, ReadReport
from rarl.data.images import load_rgb
from rarl.data.manifest import TASK_FILE, relative_path, write_manifest_files
from rarl.data.manifest_checks import check_manifest_images, check_unique_ids
from rarl.data.readers.safe import load_json, show
from rarl.recipes.localization.records import (
    box_problem,
    read_boxes,
    read_id,
    read_size,
    text_list,
    text_value,
)
from rarl.utils.io import read_jsonl_numbered, user_path

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MIN_PIXELS",
    "KINDS",
    "RECIPE_NAME",
    "SPLITS",
    "LocalizationRead",
    "LocalizationSample",
    "LocalizationTask",
    "load_json",
    "load_jsonl",
    "load_jsonl_numbered",
    "load_localization_manifest",
    "load_localization_task",
    "sample_record",
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
# Reading JSON files


def load_jsonl(path: Path, what: str) -> list[Any]:
    """The records of a JSON-lines file; DataError naming it (and the line) when missing or malformed."""
    return [rec for _, rec in load_jsonl_numbered(path, what)]


def load_jsonl_numbered(path: Path, what: str) -> list[tuple[int, Any]]:
    """(line number, record) of a JSON-lines file; DataError naming it (and the line) when missing or
    malformed."""
    if not path.is_file():
        raise DataError(f"{what}: file not found: {path}")
    try:
        return read_jsonl_numbered(path)
    except RecursionError:
        raise DataError(f"{path}: not usable JSON (nested too deeply for the parser)") from None
    except ValueError as e:
        raise DataError(str(e)) from None


# --------------------------------------------------------------------------------------------------------------
# The manifest


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
    folder = user_path(manifest_dir)
    path = folder / TASK_FILE
    if not path.is_file():
        raise DataError(f"not a manifest folder (no {TASK_FILE}): {folder}")
    data = load_json(path, "manifest")
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object")
    try:
        return LocalizationTask.from_dict(data)
    except DataError as e:
        raise DataError(f"{path}: {e}") from None


def _parse_record(rec: Any, task: LocalizationTask, folder: Path, where: str) -> LocalizationSample:
    """One manifest record, every field checked (`rarl.recipes.localization.records`)."""
    if not isinstance(rec, dict):
        raise DataError(f"{where}: expected a JSON object, got {show(rec)}")
    try:
        for key in ("id", "image", "size", "kind"):
            if key not in rec:
                raise DataError(f"no {key!r}")
        sample_id = read_id(rec["id"])
    except DataError as e:
        raise DataError(f"{where}: {e}") from None
    try:
        image = text_value(rec["image"], "image")
        width, height = read_size(rec["size"])
        try:
            resized_frame(width, height, task.min_pixels, task.max_pixels)
        except ValueError as e:  # an aspect ratio the processor refuses
            raise DataError(f"'size' {width}x{height}: {e}") from None
        categories = text_list(rec.get("categories", list(task.categories)), "categories", allow_empty=False)
        labels = text_list(rec.get("labels", []), "labels")
        outside = sorted(set(labels) - set(categories))
        if outside:
            raise DataError(f"labels {show(outside)} are not among the categories {show(list(categories))}")
        phrase = rec.get("phrase")
        fields = {
            "image": os.path.normpath(os.path.join(folder, image)),
            "kind": text_value(rec["kind"], "kind"),
            "categories": categories,
            "boxes": read_boxes(rec.get("boxes", []), "boxes"),
            "labels": labels,
            "image_size": (width, height),
            "phrase": None if phrase is None else text_value(phrase, "phrase"),
        }
    except DataError as e:
        raise DataError(f"{where}: sample {show(sample_id)}: {e}") from None
    try:  # the sample's own consistency checks name it
        return LocalizationSample(
            sample_id=sample_id, min_pixels=task.min_pixels, max_pixels=task.max_pixels, **fields
        )
    except DataError as e:
        raise DataError(f"{where}: {e}") from None


def _check_boxes(rows: list[tuple[int, LocalizationSample]], path: Path) -> None:
    """DataError naming the first ground-truth box that cannot score, and how many records hold one."""
    bad = []
    for line, s in rows:
        found = next(((k, p) for k, b in enumerate(s.boxes, 1) if (p := box_problem(b, s.image_size))), None)
        if found is not None:
            bad.append((line, s, *found))
    if bad:
        line, s, k, problem = bad[0]
        box = [float(v) if not float(v).is_integer() else int(v) for v in s.boxes[k - 1]]
        raise DataError(
            f"{path}:{line}: sample {show(s.sample_id)}: box {k} {box} cannot score: {problem} "
            f"({len(bad)} of {len(rows)} records in {path.name} hold such boxes; no prediction can match "
            "them, so their rewards would stay 0). Boxes are [x1, y1, x2, y2] in pixels of the image, "
            "x1 < x2 and y1 < y2: fix or remove those records, or re-run `rarl prepare`"
        )


def load_localization_manifest(
    manifest_dir: str | os.PathLike, split: str, *, check_files: bool = False
) -> list[LocalizationSample]:
    """The samples of one split, with absolute image paths and the task's pixel budget.

    Raises one DataError (naming the file and line) for a missing folder or split, a line that is not JSON,
    a malformed record (every field is checked: `rarl.recipes.localization.records`), a ground-truth box that
    cannot score (corners reversed or equal, outside the image), or a sample id used twice; with
    `check_files`, also for an image file that is missing, does not decode or is not the size its record
    states (`rarl.data.manifest_checks.check_manifest_images`).
    """
    folder = user_path(manifest_dir)
    if not folder.is_dir():
        raise DataError(f"manifest folder not found: {folder}")
    folder = folder.resolve()
    task = load_localization_task(folder)
    path = folder / f"{split}.jsonl"
    if not path.is_file():
        have = ", ".join(sorted(p.stem for p in folder.glob("*.jsonl"))) or "none"
        raise DataError(f"manifest {folder} has no split {split!r} (no {path.name}; splits: {have})")
    rows = [
        (line, _parse_record(rec, task, folder, f"{path}:{line}"))
        for line, rec in load_jsonl_numbered(path, "manifest")
    ]
    check_unique_ids(path, [(line, s.sample_id) for line, s in rows])
    _check_boxes(rows, path)
    if check_files:
        sizes = check_manifest_images(path, [(line, (s.image,)) for line, s in rows])
        wrong = [(line, s) for line, s in rows if sizes[s.image] != s.image_size]
        if wrong:
            line, s = wrong[0]
            listed, actual = "x".join(map(str, s.image_size)), "x".join(map(str, sizes[s.image]))
            raise DataError(
                f"{path}:{line}: sample {show(s.sample_id)}: 'size' says {listed} but {s.image} is {actual} "
                f"({len(wrong)} of {len(rows)} records in {path.name} state another size than their image's; "
                "their boxes would be scaled wrongly): re-run `rarl prepare`, or correct 'size' and the boxes"
            )
    return [s for _, s in rows]
