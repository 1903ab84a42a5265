"""A Refine-IQA manifest edited by hand or with a damaged image: every record's fields are checked for their
type, sample ids must be unique, and every image is decoded up front (as the other recipes do), so the load
fails with one `DataError` naming the file and line instead of a PIL error at the step that draws the image."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rarl.data.errors import DataError
from rarl.recipes.quality import QualityRecipe
from rarl.recipes.quality.samples import load_quality_manifest


def _copy(src: Path, out: Path, change=None) -> Path:
    shutil.copytree(src, out)
    if change is not None:
        path = out / "train.jsonl"
        records = [json.loads(x) for x in path.read_text().splitlines()]
        records[0] = change(dict(records[0]))
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return out


def test_a_damaged_image_is_named_before_any_model(scoring_manifest, tmp_path):
    data = _copy(scoring_manifest, tmp_path / "d")
    record = json.loads((data / "train.jsonl").read_text().splitlines()[2])
    image = data / record["images"][0]
    image.write_bytes(image.read_bytes()[:100])
    with pytest.raises(DataError) as info:
        QualityRecipe().load_samples(str(data), "train")
    message = str(info.value)
    assert message.startswith(f"{data / 'train.jsonl'}:3: unreadable image file") and str(image) in message
    assert "(1 of " in message and "re-run `rarl prepare`" in message
    assert len(load_quality_manifest(data, "train", check_files=False)) > 0  # the records themselves are fine


def test_a_perception_question_checks_both_of_its_images(perception_manifest, tmp_path):
    data = _copy(perception_manifest, tmp_path / "p")
    lines = (data / "train.jsonl").read_text().splitlines()
    line, record = next(
        (k, json.loads(x)) for k, x in enumerate(lines, 1) if len(json.loads(x)["images"]) == 2
    )
    (data / record["images"][1]).write_bytes(b"GIF89a not really")
    with pytest.raises(DataError, match=rf"train.jsonl:{line}: .*{record['images'][1].split('/')[-1]}"):
        QualityRecipe().load_samples(str(data), "train")


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda r: {**r, "mos": "3.5"}, "train.jsonl:1: 'mos' must be a finite number, got '3.5'"),
        (lambda r: {**r, "mos": 10**400}, "'mos' must be a finite number"),
        (lambda r: {**r, "mos": float("nan")}, "'mos' must be a finite number, got nan"),
        (lambda r: {**r, "mos": 7.0}, "mos must be a number in [0, 5), got 7.0"),
        (lambda r: {**r, "images": "images/x.png"}, "'images' must be a non-empty list of image paths"),
        (lambda r: {**r, "images": ["a\u0000b.png"]}, "'images' holds a name with a NUL character"),
        (lambda r: {**r, "meta": [1, 2]}, "'meta' must be a JSON object, got [1, 2]"),
        (lambda r: {**r, "id": None}, "'id' must be non-empty text or an integer, got None"),
        (lambda r: {**r, "reference": "false"}, "'reference' must be true or false, got 'false'"),
        (lambda r: {k: v for k, v in r.items() if k != "task"}, "train.jsonl:1: no 'task'"),
    ],
)
def test_a_bad_field_is_one_error(scoring_manifest, tmp_path, change, fragment):
    data = _copy(scoring_manifest, tmp_path / "f", change)
    with pytest.raises(DataError) as info:
        load_quality_manifest(data, "train")
    assert fragment in str(info.value), str(info.value)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda r: {**r, "answer": "1"}, "'answer' must be an option index (an integer), got '1'"),
        (lambda r: {**r, "options": "abc"}, "'options' must be a list of text items, got 'abc'"),
        (
            lambda r: {**r, "task": "grounding", "box": [0, 0, float("inf"), 5]},
            "'box' must be [x1, y1, x2, y2]",
        ),
        (
            lambda r: {**r, "task": "grounding", "box": [9, 0, 5, 5]},
            "needs a box (x1, y1, x2, y2) with x1 < x2",
        ),
    ],
)
def test_perception_fields(perception_manifest, tmp_path, change, fragment):
    data = _copy(perception_manifest, tmp_path / "f", change)
    with pytest.raises(DataError) as info:
        load_quality_manifest(data, "train")
    assert fragment in str(info.value), str(info.value)


def test_repeated_ids_are_reported_before_training(scoring_manifest, tmp_path):
    data = _copy(scoring_manifest, tmp_path / "r")
    path = data / "train.jsonl"
    records = [json.loads(x) for x in path.read_text().splitlines()]
    records[3]["id"] = records[1]["id"]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    with pytest.raises(DataError, match=r"train.jsonl:4: sample id '.*' is also the id on line 2"):
        QualityRecipe().load_samples(str(data), "train")


def test_a_task_file_nested_too_deeply(scoring_manifest, tmp_path):
    data = _copy(scoring_manifest, tmp_path / "t")
    (data / "task.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(DataError, match="task.json: not usable JSON"):
        load_quality_manifest(data, "train")
