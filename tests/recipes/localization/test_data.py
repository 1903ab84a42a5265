"""Vision-R1 data: readers on real-format fixtures (broken entries included), splits, manifest, synthetic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rarl.data.errors import DataError
from rarl.recipes.localization.prepare import prepare_localization, source_options, split_by_image
from rarl.recipes.localization.readers import read_boxes_jsonl, read_coco_instances, read_refcoco_jsonl
from rarl.recipes.localization.samples import (
    DEFAULT_MAX_PIXELS,
    LocalizationSample,
    load_localization_manifest,
    load_localization_task,
)
from rarl.recipes.localization.synthetic import read_synthetic_shapes


def _by_id(samples):
    return {s.sample_id: s for s in samples}


def test_coco_reader_keeps_good_images_and_names_every_bad_one(coco_dir):
    read = read_coco_instances(coco_dir / "annotations" / "instances_val2017.json")
    got = _by_id(read.samples)
    assert sorted(got) == ["coco-1", "coco-5", "coco-9"]
    assert read.categories == ("person", "cat", "dog")  # category id order
    one = got["coco-1"]
    # xywh -> corners; the crowd person box is dropped, the others kept in annotation order
    assert one.kind == "detection" and one.boxes == ((4.0, 4.0, 24.0, 20.0), (30.0, 10.0, 50.0, 30.0))
    assert one.labels == ("cat", "dog") and one.image_size == (64, 48)
    assert got["coco-9"].boxes == ((60.5, 2.0, 64.0, 12.0),)  # 0.7 px past the edge: clipped
    assert Path(one.image).is_file() and Path(one.image).parent.name == "val2017"
    r = read.report
    assert r.skipped == {
        "annotation of an unlisted image": 1,
        "degenerate box": 1,
        "missing image file": 1,
        "unreadable image": 1,
        "box outside the image": 1,
        "image size differs from the annotation": 1,
    }
    assert "000000000002.jpg box 1" in r.examples["degenerate box"][0]
    assert r.examples["missing image file"][0].endswith("000000000003.jpg")
    assert "000000000007.jpg" in r.examples["box outside the image"][0]
    assert "listed 64x48, file 32x32" in r.examples["image size differs from the annotation"][0]
    notes = " ".join(r.notes)
    assert "dropped 1 crowd boxes" in notes and "left out 1 images with none" in notes


def test_coco_category_subset_negatives_and_caps(coco_dir):
    ann = coco_dir / "annotations" / "instances_val2017.json"
    read = read_coco_instances(ann, categories="cat,dog", negatives=True)
    got = _by_id(read.samples)
    assert read.categories == ("cat", "dog")
    assert got["coco-5"].kind == "negative" and got["coco-5"].boxes == ()  # only a person: negative now
    assert got["coco-6"].kind == "negative" and got["coco-6"].categories == ("cat", "dog")
    assert "coco-5" in got and "coco-1" in got and got["coco-1"].labels == ("cat", "dog")
    capped = read_coco_instances(
        ann, categories=["cat", "dog"], max_instances=1, negatives=True, max_negatives=1
    )
    ids = _by_id(capped.samples)
    assert "coco-1" not in ids  # two boxes > max_instances: the whole image is left out
    assert sum(s.kind == "negative" for s in capped.samples) == 1
    assert any("more than 1 boxes" in n for n in capped.report.notes)
    with pytest.raises(DataError, match=r"unknown categories \['zebra'\]"):
        read_coco_instances(ann, categories=["zebra"])


def test_coco_strict_aborts_on_the_first_bad_item(coco_dir):
    with pytest.raises(DataError, match="annotation of an unlisted image: annotation 111"):
        read_coco_instances(coco_dir / "annotations" / "instances_val2017.json", strict=True)


def test_refcoco_reader(jsonl_dir):
    read = read_refcoco_jsonl(jsonl_dir / "refcoco.jsonl")
    got = _by_id(read.samples)
    assert sorted(got) == ["r1", "ref-2"]
    assert got["r1"].kind == "grounding" and got["r1"].phrase == "the cat on the left"
    assert got["r1"].categories == ("the cat on the left",) and got["r1"].labels == ("the cat on the left",)
    assert got["ref-2"].phrase == "brown dog" and got["ref-2"].boxes == ((30.0, 10.0, 50.0, 30.0),)
    assert read.report.skipped == {"missing image file": 1, "degenerate box": 1, "malformed record": 1}
    assert "refcoco.jsonl:5" in read.report.examples["malformed record"][0]
    xywh = read_refcoco_jsonl(jsonl_dir / "refcoco.jsonl", box_format="xywh")
    assert _by_id(xywh.samples)["r1"].boxes == ((4.0, 4.0, 28.0, 24.0),)


def test_boxes_jsonl_reader(jsonl_dir):
    read = read_boxes_jsonl(jsonl_dir / "boxes.jsonl")
    got = _by_id(read.samples)
    assert sorted(got) == ["b1", "img-2"]
    assert read.categories == ("bird", "cat", "dog")  # every label of the file
    assert got["img-2"].kind == "negative"
    assert read.report.skipped == {"unreadable image": 1, "malformed record": 1, "box outside the image": 1}
    assert "not among the categories" in read.report.examples["malformed record"][0]
    with pytest.raises(DataError, match=r"malformed record: boxes.jsonl:4 \(labels \['bird'\]"):
        read_boxes_jsonl(jsonl_dir / "boxes.jsonl", strict=True)  # records are checked before images


def test_sample_checks_its_own_consistency():
    common = {"image": "x.png", "image_size": (10, 10), "categories": ("a",)}
    with pytest.raises(DataError, match="negative sample has no boxes"):
        LocalizationSample("s", kind="negative", boxes=((0, 0, 1, 1),), labels=("a",), **common)
    with pytest.raises(DataError, match="kind must be one of"):
        LocalizationSample("s", kind="segmentation", boxes=(), labels=(), **common)
    with pytest.raises(DataError, match="grounding sample needs a phrase"):
        LocalizationSample("s", kind="grounding", boxes=((0, 0, 1, 1),), labels=("a",), **common)


def test_synthetic_shapes_are_deterministic_and_boxes_are_tight(tmp_path):
    a = read_synthetic_shapes(tmp_path / "a", num_images=12, image_size=56, max_objects=3, seed=3)
    b = read_synthetic_shapes(tmp_path / "b", num_images=12, image_size=56, max_objects=3, seed=3)
    c = read_synthetic_shapes(tmp_path / "c", num_images=12, image_size=56, max_objects=3, seed=4)
    assert [(s.boxes, s.labels, s.kind) for s in a.samples] == [
        (s.boxes, s.labels, s.kind) for s in b.samples
    ]
    assert [s.boxes for s in a.samples] != [s.boxes for s in c.samples]
    for sa, sb in zip(a.samples, b.samples):
        assert Path(sa.image).read_bytes() == Path(sb.image).read_bytes()
    kinds = {s.kind for s in a.samples}
    assert kinds <= {"detection", "negative"} and "detection" in kinds
    for s in a.samples:
        pixels = np.asarray(Image.open(s.image), dtype=int)  # [H, W, 3]
        bright = pixels.max(axis=2) > 100  # shapes are bright, the background dark
        for x1, y1, x2, y2 in s.boxes:
            inner = bright[int(y1) : int(y2), int(x1) : int(x2)]
            # the shape touches all four sides of its box (tight box)
            assert inner[0].any() and inner[-1].any() and inner[:, 0].any() and inner[:, -1].any()
        covered = np.zeros_like(bright)
        for x1, y1, x2, y2 in s.boxes:
            covered[int(y1) : int(y2), int(x1) : int(x2)] = True
        assert not (bright & ~covered).any()  # nothing bright outside the boxes


def test_split_by_image_keeps_each_image_in_one_split(jsonl_dir):
    samples = read_refcoco_jsonl(jsonl_dir / "refcoco.jsonl").samples * 1
    more = [
        LocalizationSample(f"s{i}", f"/img/{i % 7}.png", "negative", ("a",), (), (), (10, 10))
        for i in range(40)
    ]
    splits = split_by_image(samples + more, (0.6, 0.2, 0.2), seed=0)
    seen: dict[str, str] = {}
    for name, items in splits.items():
        for s in items:
            assert seen.setdefault(s.image, name) == name  # never in two splits
    assert sum(len(v) for v in splits.values()) == len(samples) + len(more)
    assert all(splits[n] for n in ("train", "val", "test"))
    assert split_by_image(samples + more, (0.6, 0.2, 0.2), seed=0) == splits
    with pytest.raises(DataError, match="sum to 1"):
        split_by_image(more, (0.5, 0.2, 0.2))


def test_prepare_writes_a_manifest_that_loads_back(coco_dir, tmp_path):
    out = tmp_path / "manifest"
    summary = prepare_localization(
        "coco",
        out,
        root=coco_dir / "annotations" / "instances_val2017.json",
        categories=["cat", "dog"],
        negatives=True,
        splits=(0.5, 0.25, 0.25),
    )
    task = load_localization_task(out)
    assert task.categories == ("cat", "dog") and task.max_pixels == DEFAULT_MAX_PIXELS
    assert json.loads((out / "task.json").read_text())["recipe"] == "vision-r1"
    loaded = {
        s.sample_id: s for split in ("train", "val", "test") for s in load_localization_manifest(out, split)
    }
    assert sorted(loaded) == ["coco-1", "coco-5", "coco-6", "coco-9"]
    one = loaded["coco-1"]
    assert Path(one.image).is_file() and one.boxes == ((4.0, 4.0, 24.0, 20.0), (30.0, 10.0, 50.0, 30.0))
    assert one.frame == (56, 56)  # 64x48 -> smart_resize (multiples of 28, at least 56*56 pixels)
    line = (out / "train.jsonl").read_text().splitlines()[0]
    assert not json.loads(line)["image"].startswith("/")  # relative to the folder
    assert "categories" not in json.loads(line)  # same as the task's: not repeated
    written = json.loads((out / "summary.json").read_text())
    assert written["report"]["skipped"]["missing image file"] == 1
    assert sum(summary.images.values()) == 4
    # a folder that is not a manifest is never replaced; unknown options are named
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep")
    with pytest.raises(DataError, match="refusing to replace"):
        prepare_localization("synthetic-shapes", tmp_path / "precious", num_images=2)
    with pytest.raises(DataError, match=r"unknown options \['colour'\]"):
        prepare_localization("synthetic-shapes", tmp_path / "x", colour="red")
    assert "max_instances" in source_options("coco")


def test_prepare_synthetic_budget_and_manifest_errors(shapes_112, tmp_path):
    task = load_localization_task(shapes_112)
    assert (task.min_pixels, task.max_pixels) == (112 * 112, 112 * 112)
    samples = load_localization_manifest(shapes_112, "train", check_files=True)
    assert samples and all(s.frame == (112, 112) for s in samples)
    with pytest.raises(DataError, match="has no split 'dev'"):
        load_localization_manifest(shapes_112, "dev")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "task.json").write_text(json.dumps({"name": "ages", "rule": "age"}))
    with pytest.raises(DataError, match="an ordinal \\(rarl\\) manifest, not a vision-r1 one"):
        load_localization_task(bad)
    (bad / "task.json").write_text(json.dumps({"recipe": "vision-r1", "categories": ["a"]}))
    (bad / "train.jsonl").write_text('{"id": "x", "image": "a.png", "kind": "detection"}\n')
    with pytest.raises(DataError, match="train.jsonl:1: no 'size'"):
        load_localization_manifest(bad, "train")
