"""Readers on fixture files written in each dataset's real format, including the bad cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from data_fixtures import AVA_ROWS, UTK_BAD, UTK_GOOD, ava_mean, write_jpeg

from rarl.data.errors import DataError
from rarl.recipes.ordinal.readers.ava import parse_ava_row, read_ava
from rarl.recipes.ordinal.readers.coco_count import read_coco_counts
from rarl.recipes.ordinal.readers.table import parse_value_range, read_table
from rarl.recipes.ordinal.readers.utkface import parse_utkface_name, read_utkface

# --- UTKFace -------------------------------------------------------------------------------------------


def test_parse_utkface_name_both_variants():
    assert parse_utkface_name("26_0_1_20170116233306093.jpg") == {
        "age": 26,
        "gender": "male",
        "race": "black",
        "datetime": "20170116233306093",
    }
    assert parse_utkface_name("3_1_2_20161219140623097.jpg.chip.jpg")["age"] == 3
    for bad in UTK_BAD + ["26_0_1_20170116233306093.png", "26_0_1.jpg", "26_0_1_2017.jpg.chip"]:
        assert parse_utkface_name(bad) is None, bad


def test_read_utkface_items_and_report(utk_root: Path):
    task, items, report = read_utkface(utk_root)
    assert task.name == "utkface" and task.rule == "age of the person"
    assert task.range_text() == "0-116" and task.metric == "mae" and task.delta == 5.0
    by_name = {Path(it.image).name: it for it in items}
    assert set(by_name) == set(UTK_GOOD)
    assert by_name["26_0_1_20170116233306093.jpg"].label == 26.0
    assert by_name["70_1_3_20170109150557335.jpg.chip.jpg"].meta == {
        "gender": "female",
        "race": "indian",
        "datetime": "20170109150557335",
    }
    assert all(Path(it.image).is_absolute() for it in items)
    # Unparsable names are reported with a count and the first examples, never guessed.
    assert report.read == len(UTK_GOOD) + len(UTK_BAD) + 1
    assert report.skipped["unparsable file name"] == len(UTK_BAD)
    assert set(report.examples["unparsable file name"]) == set(UTK_BAD)
    assert report.skipped["label outside 0-116"] == 1
    assert "130_0_0" in report.examples["label outside 0-116"][0]
    assert any("unparsable file name" in line for line in report.lines())


def test_read_utkface_strict_and_missing_root(utk_root: Path, tmp_path: Path):
    with pytest.raises(DataError, match=r"^(unparsable file name|label outside 0-116): \S+\.jpg"):
        read_utkface(utk_root, strict=True)
    with pytest.raises(DataError, match="folder not found"):
        read_utkface(tmp_path / "nope")
    with pytest.raises(DataError, match="no root"):
        read_utkface(None)


def test_read_utkface_recursive(tmp_path: Path):
    write_jpeg(tmp_path / "part1" / "20_0_0_20170116233306093.jpg")
    write_jpeg(tmp_path / "21_1_0_20170116233306093.jpg")
    assert len(read_utkface(tmp_path).items) == 2
    assert len(read_utkface(tmp_path, recursive=False).items) == 1


# --- AVA -----------------------------------------------------------------------------------------------


def test_parse_ava_row():
    image_id, votes, tags = parse_ava_row("1 953619 0 1 5 17 38 36 15 6 5 1 1 22 1396\n")
    assert image_id == "953619" and votes == AVA_ROWS["953619"]
    assert tags == {"semantic_tag1": 1, "semantic_tag2": 22, "challenge_id": 1396}
    assert parse_ava_row("1 2 3") is None
    assert parse_ava_row("1 953619 0 1 x 17 38 36 15 6 5 1 1 22 1396") is None


def test_read_ava_mean_scores_and_report(ava_root: Path):
    task, items, report = read_ava(ava_root)
    assert task.rule == "aesthetic score of the photo" and task.range_text() == "1-10"
    assert task.value_type == "float" and task.precision == 2 and task.metric == "srcc"
    by_id = {it.meta["image_id"]: it for it in items}
    assert set(by_id) == set(AVA_ROWS)
    for image_id, votes in AVA_ROWS.items():
        it = by_id[image_id]
        assert it.label == round(ava_mean(votes), 2)
        assert it.meta["mean_score"] == pytest.approx(ava_mean(votes))
        assert it.meta["votes"] == sum(votes)
        assert it.image == str(ava_root / "images" / f"{image_id}.jpg")
    assert report.read == len(AVA_ROWS) + 3
    assert report.skipped == {"no image file": 1, "malformed row": 1, "no votes": 1}
    assert report.examples["no image file"] == ["AVA.txt:6 (999999.jpg)"]
    assert report.examples["malformed row"] == ["AVA.txt:7"]


def test_read_ava_images_dir_option(ava_root: Path, tmp_path: Path):
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "AVA.txt").write_text((ava_root / "AVA.txt").read_text())
    # Images next to AVA.txt are found without an images/ folder ...
    write_jpeg(flat / "953619.jpg")
    assert [it.meta["image_id"] for it in read_ava(flat).items] == ["953619"]
    # ... and an explicit images_dir wins.
    items = read_ava(flat, images_dir=ava_root / "images").items
    assert len(items) == len(AVA_ROWS)
    with pytest.raises(DataError, match="file not found"):
        read_ava(tmp_path)


# --- COCO counting -------------------------------------------------------------------------------------


def test_read_coco_counts_default(coco_root: Path):
    task, items, report = read_coco_counts(coco_root)
    assert task.name == "coco-count" and task.metric == "accuracy" and task.value_type == "int"
    assert task.value_range == (1.0, 10.0)
    got = {(it.meta["image_id"], it.meta["category"]): it.label for it in items}
    assert got == {
        (1, "person"): 1,
        (3, "person"): 3,
        (5, "person"): 5,
        (7, "person"): 4,
        (1, "car"): 2,
        (3, "car"): 1,
        (5, "car"): 3,
    }
    assert all(it.meta["rule"] == f"number of {it.meta['category']}" for it in items)
    assert all(Path(it.image).parent.name == "val2017" for it in items)
    assert report.skipped == {"more than 10 instances": 1, "no image file": 1, "crowd annotation": 1}
    assert report.examples["crowd annotation"] == ["000000000007.jpg [dog]"]


def test_read_coco_counts_options(coco_root: Path):
    task, items, report = read_coco_counts(
        coco_root, categories=["person"], max_count=5, over_max="cap", include_zero=True
    )
    assert task.rule == "number of person" and task.value_range == (0.0, 5.0)
    got = {it.meta["image_id"]: it.label for it in items}
    assert got == {1: 1, 3: 3, 4: 5, 5: 5, 6: 0, 7: 4}  # 12 capped to 5; image 6 has zero persons
    assert report.skipped == {"no image file": 1}
    _, items, _ = read_coco_counts(coco_root, categories="person,car", rule_template="how many {category}s")
    assert {it.meta["rule"] for it in items} == {"how many persons", "how many cars"}


def test_read_coco_counts_errors(coco_root: Path, tmp_path: Path):
    with pytest.raises(DataError, match="unknown categories \\['zebra'\\]"):
        read_coco_counts(coco_root, categories=["zebra"])
    with pytest.raises(DataError, match="over_max"):
        read_coco_counts(coco_root, over_max="clip")
    bad = tmp_path / "bad"
    (bad / "annotations").mkdir(parents=True)
    (bad / "annotations" / "instances_x.json").write_text("{not json")
    with pytest.raises(DataError, match="instances_x.json:1: not valid JSON"):
        read_coco_counts(bad)
    (bad / "annotations" / "instances_x.json").write_text(json.dumps({"images": []}))
    with pytest.raises(DataError, match="not a COCO instances file"):
        read_coco_counts(bad)


# --- generic CSV / JSONL -------------------------------------------------------------------------------


def test_read_table_csv_inferred_task(table_dir: Path):
    rows = ["path,label,extra"] + [f"imgs/img_{i}.jpg,{i},x{i}" for i in range(10)]
    rows.append("imgs/img_0.jpg,not-a-number,x")
    rows.append(",3,x")
    (table_dir / "labels.csv").write_text("\n".join(rows) + "\n")
    task, items, report = read_table(table_dir / "labels.csv", rule="darkness of the image")
    assert task.rule == "darkness of the image" and task.name == "custom"
    assert task.value_range == (0.0, 9.0) and task.value_type == "int" and task.delta == 1.0
    assert [it.label for it in items] == list(range(10))
    assert items[3].image == str(table_dir / "imgs" / "img_3.jpg") and items[3].meta == {"extra": "x3"}
    assert report.skipped == {"label is not a number": 1, "no 'path' value": 1}
    assert report.examples["label is not a number"] == ["labels.csv:12 ('not-a-number')"]
    assert any("inferred" in note for note in report.notes)


def test_read_table_jsonl_rules_and_declared_range(table_dir: Path):
    lines = [
        json.dumps({"image": f"imgs/img_{i}.jpg", "label": i / 2, "rule": "r1" if i < 5 else "r2"})
        for i in range(10)
    ]
    lines.insert(3, "{broken")
    (table_dir / "labels.jsonl").write_text("\n".join(lines) + "\n")
    task, items, report = read_table(
        table_dir / "labels.jsonl", value_range="0-4", precision=1, metric="srcc"
    )
    assert task.value_type == "float" and task.precision == 1 and task.range_text() == "0-4"
    assert task.rule == "r1"  # most common rule column value (tie -> first seen)
    assert [it.label for it in items] == [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4]
    assert {it.meta.get("rule") for it in items} == {None, "r2"}  # rule kept only where it differs
    assert report.skipped["label outside 0-4"] == 1
    assert report.skipped["malformed row"] == 1
    assert report.examples["malformed row"] == ["labels.jsonl:4"]


def test_read_table_errors(table_dir: Path):
    (table_dir / "a.csv").write_text("path,label\nimgs/img_1.jpg,1\nimgs/img_2.jpg,2\n")
    with pytest.raises(DataError, match="no rule"):
        read_table(table_dir / "a.csv")
    with pytest.raises(DataError, match="file not found"):
        read_table(table_dir / "missing.csv", rule="x")
    (table_dir / "b.csv").write_text("path,label\n")
    with pytest.raises(DataError, match="no usable rows"):
        read_table(table_dir / "b.csv", rule="x")
    (table_dir / "c.csv").write_text("path,label\nimgs/img_1.jpg,1.5\n")
    with pytest.raises(DataError, match="non-integer label"):
        read_table(table_dir / "c.csv", rule="x", value_range=(0, 9), value_type="int", strict=True)


def test_parse_value_range():
    assert parse_value_range("0-116") == (0.0, 116.0)
    assert parse_value_range("1.5, 9") == (1.5, 9.0)
    assert parse_value_range("-3:3") == (-3.0, 3.0)
    assert parse_value_range([1, 10]) == (1.0, 10.0)
    with pytest.raises(DataError):
        parse_value_range("one to ten")
