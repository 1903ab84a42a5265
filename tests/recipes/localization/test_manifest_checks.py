"""A Vision-R1 manifest edited by hand: every field of a record is checked when the manifest is loaded, so a
value that would crash a run (`"size": [0, 0]`, `[Infinity, 56]`, NaN or text coordinates), or silently
train on nothing (boxes with reversed corners, outside the image), or mix two samples (a repeated id), is one
`DataError` naming the file, the line and the field, before any model is loaded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rarl.data.errors import DataError
from rarl.recipes.localization import LocalizationRecipe
from rarl.recipes.localization.prepare import prepare_localization
from rarl.recipes.localization.records import box_problem, read_box, read_size


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hand") / "shapes"
    prepare_localization("synthetic-shapes", out, num_images=8, image_size=56, max_objects=2, seed=3)
    return out


def edited(shapes: Path, tmp_path: Path, change, line: int = 0) -> Path:
    """A copy of `shapes` whose train.jsonl record `line` (0-based) is `change(record)` (a dict, or raw text)."""
    out = tmp_path / "edited"
    shutil.copytree(shapes, out)
    path = out / "train.jsonl"
    records = [json.loads(x) for x in path.read_text().splitlines()]
    records[line] = change(dict(records[line]))
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return out


def load(folder: Path):
    return LocalizationRecipe().load_samples(str(folder), "train")


def test_the_prepared_manifest_loads_unchanged(shapes):
    samples = load(shapes)
    records = [json.loads(x) for x in (shapes / "train.jsonl").read_text().splitlines()]
    assert [s.sample_id for s in samples] == [r["id"] for r in records]
    assert [list(map(list, s.boxes)) for s in samples] == [r["boxes"] for r in records]
    assert all(s.image_size == tuple(r["size"]) for s, r in zip(samples, records))


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        (lambda r: {**r, "size": [0, 0]}, ["train.jsonl:1", "'size' must be [width, height]", "[0, 0]"]),
        (lambda r: {**r, "size": [float("inf"), 56]}, ["'size' must be", "[inf, 56]"]),
        (lambda r: {**r, "size": [float("nan"), 56]}, ["'size' must be", "[nan, 56]"]),
        (lambda r: {**r, "size": [-56, 56]}, ["'size' must be"]),
        (lambda r: {**r, "size": [56.5, 56]}, ["'size' must be", "56.5"]),  # was truncated to 56
        (lambda r: {**r, "size": ["56", "56"]}, ["'size' must be", "'56'"]),  # was read as a number
        (lambda r: {**r, "size": [10**400, 56]}, ["'size' must be"]),  # was an OverflowError
        (lambda r: {**r, "size": [56, 56, 3]}, ["'size' must be"]),
        (lambda r: {**r, "size": [56 * 300, 56]}, ["'size' 16800x56", "aspect ratio must be at most 200"]),
        (lambda r: {**r, "boxes": [[float("nan"), 1, 20, 20]]}, ["boxes item 1 must be", "[nan, 1, 20, 20]"]),
        (lambda r: {**r, "boxes": [[0, 1, float("inf"), 20]]}, ["boxes item 1 must be", "inf"]),
        (lambda r: {**r, "boxes": [["1", 1, 20, 20]]}, ["boxes item 1 must be", "four finite numbers"]),
        (lambda r: {**r, "boxes": [[True, 1, 20, 20]]}, ["boxes item 1 must be"]),
        (lambda r: {**r, "boxes": [[10**400, 1, 20, 20]]}, ["boxes item 1 must be"]),
        (lambda r: {**r, "boxes": [[1, 20, 20]]}, ["boxes item 1 must be"]),
        (lambda r: {**r, "boxes": None}, ["'boxes' must be a list"]),
        (lambda r: {**r, "id": None}, ["train.jsonl:1: 'id' must be non-empty text or an integer"]),
        (lambda r: {**r, "id": ""}, ["'id' must be non-empty text"]),
        (lambda r: {**r, "image": 5}, ["'image' must be non-empty text, got 5"]),
        (lambda r: {**r, "categories": "abc"}, ["'categories' must be a list of text items, got 'abc'"]),
        (lambda r: {**r, "labels": ["dog"]}, ["labels ['dog'] are not among the categories"]),
        (lambda r: {**r, "kind": "segm"}, ["kind must be one of"]),
        (lambda r: {k: v for k, v in r.items() if k != "size"}, ["train.jsonl:1: no 'size'"]),
        (lambda r: None, ["train.jsonl:1: expected a JSON object, got None"]),
        (lambda r: '{"id": ' * 5000 + "1" + "}" * 5000, ["train.jsonl:1", "nested too deeply"]),
    ],
)
def test_a_bad_field_is_one_error_naming_the_line(shapes, tmp_path, change, fragments):
    with pytest.raises(DataError) as info:
        load(edited(shapes, tmp_path, change))
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_boxes_that_cannot_score_are_reported_with_their_count(shapes, tmp_path):
    """Reversed corners trained to completion with every reward 0 (one warning per row); now the load stops."""
    out = tmp_path / "reversed"
    shutil.copytree(shapes, out)
    path = out / "train.jsonl"
    records = [json.loads(x) for x in path.read_text().splitlines()]
    flipped = [{**r, "boxes": [[b[2], b[3], b[0], b[1]] for b in r["boxes"]]} for r in records]
    path.write_text("".join(json.dumps(r) + "\n" for r in flipped))
    n_with_boxes = sum(bool(r["boxes"]) for r in records)
    first = next(k for k, r in enumerate(flipped, 1) if r["boxes"])
    with pytest.raises(DataError) as info:
        load(out)
    message = str(info.value)
    assert f"train.jsonl:{first}:" in message
    assert "cannot score: its corners are reversed" in message
    assert f"({n_with_boxes} of {len(records)} records in train.jsonl hold such boxes" in message


@pytest.mark.parametrize(
    ("box", "problem"),
    [
        ((5, 5, 5, 20), "it is empty"),
        ((20, 5, 5, 20), "its corners are reversed"),
        ((1, 1, 500, 500), "it lies outside the 56x56 image"),
        ((-2, 0, 10, 10), "it lies outside"),
        ((-0.5, 0, 56.5, 10), None),  # within the tolerance prepare clips to
        ((0, 0, 56, 56), None),
    ],
)
def test_box_problem(box, problem):
    got = box_problem(box, (56, 56))
    assert got is None if problem is None else got.startswith(problem), got


def test_field_readers_refuse_what_they_used_to_convert():
    assert read_size([56, 40.0]) == (56, 40)
    assert read_box([1, 2.5, 3, 4]) == (1.0, 2.5, 3.0, 4.0)
    for bad in ([56], [True, 56], ["56", 56], None, "56x56"):
        with pytest.raises(DataError):
            read_size(bad)


def test_a_repeated_id_names_both_lines(shapes, tmp_path):
    records = [json.loads(x) for x in (shapes / "train.jsonl").read_text().splitlines()]
    out = edited(shapes, tmp_path, lambda r: {**r, "id": records[0]["id"]}, line=2)
    with pytest.raises(
        DataError, match=r"train.jsonl:3: sample id '.*' is also the id on line 1 \(1 id\(s\)"
    ):
        load(out)


def test_images_are_decoded_and_their_size_checked(shapes, tmp_path):
    out = edited(shapes, tmp_path, lambda r: {**r, "image": "broken.png"})
    (out / "broken.png").write_bytes(b"not a png")
    with pytest.raises(
        DataError, match=r"train.jsonl:1: not an image file PIL can read: .*broken.png \(1 of"
    ):
        load(out)
    out = edited(shapes, tmp_path / "b", lambda r: {**r, "size": [112, 112], "boxes": [[0, 0, 50, 50]]})
    with pytest.raises(DataError, match=r"train.jsonl:1: sample .*'size' says 112x112 but .* is 56x56"):
        load(out)
