"""`prepare` end to end: every source, image checks, the output folder guard, and `load_manifest`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from data_fixtures import UTK_GOOD, write_corrupt, write_jpeg, write_truncated_jpeg

from rarl.data.errors import DataError, ReadReport
from rarl.data.grouping import find_leaks
from rarl.data.manifest import load_summary
from rarl.data.validate import validate_images
from rarl.recipes.ordinal.manifest import load_manifest, load_task
from rarl.recipes.ordinal.prepare import SOURCES, label_histogram, prepare
from rarl.recipes.ordinal.prompts import answer_text, build_messages
from rarl.recipes.ordinal.schema import OrdinalItem
from rarl.recipes.ordinal.synthetic import synthetic_task


def _all_samples(out: Path) -> dict[str, list]:
    return {split: load_manifest(out, split) for split in ("train", "val", "test")}


def test_synthetic_end_to_end(tmp_path: Path):
    out = tmp_path / "manifest"
    summary = prepare("synthetic", out, property="count", num_images=90, seed=3, quiet=True)
    assert summary.items == {"train": 72, "val": 9, "test": 9}
    assert summary.samples["train"] == {1: 72, 2: 36, 4: 18, 8: 9}
    assert summary.samples["val"] == {1: 9, 2: 5, 4: 3, 8: 2}
    assert set(summary.histograms["train"].values()) == {8}
    assert sorted(p.name for p in out.iterdir()) == [
        "images",
        "summary.json",
        "task.json",
        "test.jsonl",
        "train.jsonl",
        "val.jsonl",
    ]
    assert len(list((out / "images").glob("*.png"))) == 90
    assert load_task(out) == synthetic_task("count")
    splits = _all_samples(out)
    assert not find_leaks({k: [it for s in v for it in s.items] for k, v in splits.items()})
    train = splits["train"]
    assert {s.n for s in train} == {1, 2, 4, 8}
    for s in train:
        assert all(Path(p).is_absolute() and Path(p).is_file() for p in s.image_paths)
        assert len(set(s.labels)) == s.n
    eight = next(s for s in train if s.n == 8)
    assert len(eight.load_images()) == 8 and eight.load_images()[0].size == (56, 56)
    assert sum(p["type"] == "image" for p in build_messages(eight)[1]["content"]) == 8
    assert answer_text(eight).startswith("<think>")
    assert [s.n for s in load_manifest(out, "test", sizes=[2])] == [2] * summary.samples["test"][2]
    saved = load_summary(out)
    assert saved["items"] == summary.items and saved["samples"]["train"] == {
        "1": 72,
        "2": 36,
        "4": 18,
        "8": 9,
    }
    assert saved["settings"]["options"] == {"property": "count", "num_images": 90}
    # The manifest is relocatable: image paths are relative to its folder.
    moved = tmp_path / "moved"
    shutil.move(str(out), moved)
    assert load_manifest(moved, "train", check_files=True)[0].image_paths[0].startswith(str(moved))


def test_deterministic_by_seed(tmp_path: Path):
    def run(name: str, seed: int) -> str:
        prepare("synthetic", tmp_path / name, property="brightness", num_images=40, seed=seed, quiet=True)
        return (tmp_path / name / "train.jsonl").read_text()

    assert run("a", 0) == run("b", 0)
    assert run("a", 0) != run("c", 1)
    # Same images too.
    assert (tmp_path / "a" / "images" / "brightness_00007.png").read_bytes() == (
        tmp_path / "b" / "images" / "brightness_00007.png"
    ).read_bytes()


def test_samples_per_size_and_sizes(tmp_path: Path):
    s = prepare(
        "synthetic",
        tmp_path / "m",
        num_images=90,
        sizes=(2, 4),
        samples_per_size={"train": 7, "val": 3},
        quiet=True,
    )
    assert s.samples["train"] == {2: 7, 4: 7} and s.samples["val"] == {2: 3, 4: 3}
    assert s.samples["test"] == {2: 5, 4: 3}  # not given for test: cover the items
    with pytest.raises(DataError, match="unknown splits \\['dev'\\]"):
        prepare("synthetic", tmp_path / "m2", num_images=20, samples_per_size={"dev": 3}, quiet=True)


def test_utkface_with_corrupt_images(utk_root: Path, tmp_path: Path):
    write_corrupt(utk_root / "33_0_0_20170116233306093.jpg")
    write_truncated_jpeg(utk_root / "34_1_0_20170116233306093.jpg")
    shutil.copy(utk_root / UTK_GOOD[0], utk_root / "26_0_1_20170116999999999.jpg")  # same bytes, other name
    out = tmp_path / "utk"
    s = prepare("utkface", out, root=utk_root, splits=(0.5, 0.25, 0.25), quiet=True)
    assert s.report.skipped["unreadable image"] == 2
    assert set(s.report.examples["unreadable image"]) == {
        str(utk_root / "33_0_0_20170116233306093.jpg"),
        str(utk_root / "34_1_0_20170116233306093.jpg"),
    }
    assert s.report.skipped["duplicate image"] == 1
    assert s.report.skipped["unparsable file name"] == 3
    assert sum(s.items.values()) == len(UTK_GOOD)
    splits = _all_samples(out)
    images = {Path(p).name for v in splits.values() for smp in v for p in smp.image_paths}
    assert images == set(UTK_GOOD)
    rec = json.loads((out / "train.jsonl").read_text().splitlines()[0])
    assert rec["items"][0]["image"].startswith("../UTKFace/")  # relative to the manifest folder
    with pytest.raises(DataError, match=r"^(unparsable file name|label outside 0-116): "):
        prepare("utkface", tmp_path / "strict", root=utk_root, strict=True, quiet=True)
    assert not (tmp_path / "strict").exists()  # nothing half-written


def test_strict_names_the_corrupt_file(tmp_path: Path):
    root = tmp_path / "utk"
    write_jpeg(root / "20_0_0_20170116233306093.jpg")
    write_corrupt(root / "21_0_0_20170116233306093.jpg")
    with pytest.raises(DataError, match=r"^unreadable image: .*21_0_0_20170116233306093.jpg"):
        prepare("utkface", tmp_path / "m", root=root, strict=True, quiet=True)


def test_validate_images_reports(tmp_path: Path):
    good = write_jpeg(tmp_path / "good.jpg")
    rows = [
        OrdinalItem(str(good), 1.0),
        OrdinalItem(str(write_corrupt(tmp_path / "bad.jpg")), 2.0),
        OrdinalItem(str(tmp_path / "missing.jpg"), 3.0),
        OrdinalItem(str(good), 4.0, {"rule": "other"}),
    ]
    report = ReadReport()
    kept, digests = validate_images(rows, report, workers=2)
    assert [it.label for it in kept] == [1.0, 4.0]
    assert report.skipped == {"unreadable image": 1, "missing image file": 1}
    assert set(digests) == {str(good)}


def test_ava_coco_csv_sources(ava_root: Path, coco_root: Path, table_dir: Path, tmp_path: Path):
    s = prepare("ava", tmp_path / "m-ava", root=ava_root, sizes=(1, 2, 4), splits=(0.6, 0.2, 0.2), quiet=True)
    assert s.task.name == "ava" and sum(s.items.values()) == 5
    assert s.report.skipped["no image file"] == 1
    labels = sorted(
        it.label
        for v in _all_samples(tmp_path / "m-ava").values()
        for smp in v
        if smp.n == 1
        for it in smp.items
    )
    assert all(round(x, 2) == x for x in labels)

    s = prepare(
        "coco-count", tmp_path / "m-coco", root=coco_root, sizes=(1, 2), splits=(0.6, 0.2, 0.2), quiet=True
    )
    assert sum(s.items.values()) == 7
    samples = [smp for v in _all_samples(tmp_path / "m-coco").values() for smp in v]
    assert {smp.task.rule for smp in samples} == {"number of person", "number of car"}
    for smp in samples:  # a sample never mixes categories
        assert {it.meta["category"] for it in smp.items} == {smp.task.rule.removeprefix("number of ")}
    # Both items of one COCO image (person and car) are in the same split.
    per_split = {
        k: {it.image for smp in v for it in smp.items} for k, v in _all_samples(tmp_path / "m-coco").items()
    }
    assert not (per_split["train"] & per_split["test"]) and not (per_split["train"] & per_split["val"])

    rows = ["path,label"] + [f"imgs/img_{i}.jpg,{i}" for i in range(10)] + ["imgs/nope.jpg,4"]
    (table_dir / "labels.csv").write_text("\n".join(rows) + "\n")
    s = prepare(
        "csv",
        tmp_path / "m-csv",
        root=table_dir,
        file="labels.csv",
        rule="darkness",
        value_range="0-9",
        quiet=True,
    )
    assert s.task.rule == "darkness" and s.report.skipped == {"missing image file": 1}
    assert s.settings["options"]["value_range"] == [0.0, 9.0]  # as read: (lo, hi)


def test_errors(tmp_path: Path, utk_root: Path):
    with pytest.raises(DataError, match="unknown source 'imagenet'"):
        prepare("imagenet", tmp_path / "m", quiet=True)
    with pytest.raises(DataError, match="unknown options \\['colour'\\]"):
        prepare("synthetic", tmp_path / "m", colour="red", quiet=True)
    with pytest.raises(DataError, match="root is required"):
        prepare("utkface", tmp_path / "m", quiet=True)
    with pytest.raises(DataError, match="folder not found"):
        prepare("utkface", tmp_path / "m", root=tmp_path / "missing", quiet=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="empty dataset"):
        prepare("utkface", tmp_path / "m", root=empty, quiet=True)
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep me")
    with pytest.raises(DataError, match="not a manifest folder"):
        prepare("synthetic", tmp_path / "precious", num_images=9, quiet=True)
    assert (tmp_path / "precious" / "notes.txt").read_text() == "keep me"
    with pytest.raises(DataError, match="contains the source data"):
        prepare("utkface", utk_root.parent, root=utk_root, quiet=True)
    assert set(SOURCES) == {"utkface", "ava", "coco-count", "csv", "jsonl", "synthetic"}
    assert "property" in SOURCES["synthetic"].options() and "max_count" in SOURCES["coco-count"].options()


def test_rerun_replaces_manifest_and_prints(tmp_path: Path, capsys):
    out = tmp_path / "m"
    prepare("synthetic", out, num_images=30, quiet=True)
    from rich.console import Console

    console = Console(file=open(tmp_path / "log.txt", "w"), width=120)  # noqa: SIM115
    prepare("synthetic", out, num_images=18, property="size", console=console)
    console.file.close()
    assert load_task(out).name == "synthetic-size" and len(list((out / "images").iterdir())) == 18
    log = (tmp_path / "log.txt").read_text()
    assert "synthetic-size" in log and "label histogram" in log


def test_label_histogram():
    t = synthetic_task("count")
    assert label_histogram([1, 1, 9], t) == {
        str(v): c for v, c in zip(range(1, 10), [2, 0, 0, 0, 0, 0, 0, 0, 1], strict=True)
    }
    from rarl.recipes.ordinal.readers.ava import AVA_TASK
    from rarl.recipes.ordinal.readers.utkface import UTKFACE_TASK

    h = label_histogram([0, 11, 12, 116], UTKFACE_TASK)
    assert list(h)[:2] == ["0-11", "12-23"] and h["0-11"] == 2 and h["12-23"] == 1 and sum(h.values()) == 4
    h = label_histogram([1.0, 10.0, 5.5], AVA_TASK)
    assert len(h) == 10 and sum(h.values()) == 3 and h["9.10-10.00"] == 1
