"""`rarl prepare synthetic` end to end: `-o key=value` options reach the source and `prepare`."""

from __future__ import annotations

import json
from pathlib import Path

from rarl.recipes.ordinal.manifest import load_manifest, load_task

from .helpers import SAMPLES, assert_clean_error, assert_ok, invoke


def test_session_manifest_loads(manifest: Path):
    task = load_task(manifest)
    assert task.name == "synthetic-count"
    for split, count in SAMPLES.items():
        samples = load_manifest(manifest, split, check_files=True)
        by_size = {n: sum(s.n == n for s in samples) for n in (1, 2)}
        assert by_size == {1: count, 2: count}, split
        assert all(task.value_range[0] <= v <= task.value_range[1] for s in samples for v in s.labels)


def test_prepare_synthetic_with_options(tmp_path: Path):
    out = tmp_path / "bars"
    result = invoke(
        "prepare", "synthetic", "--out", out, "--sizes", "1,2,4", "--seed", "3",
        "-o", "property=bar", "-o", "num_images=60", "-o", "samples_per_size=3", "-o", "image_size=32",
    )  # fmt: skip
    assert_ok(result)
    assert str(out) in " ".join(result.output.split())  # the printed summary names the folder
    task = load_task(out)
    assert task.name == "synthetic-bar"
    for split in ("train", "val", "test"):
        samples = load_manifest(out, split, sizes=[1, 2, 4], check_files=True)
        assert sorted(s.n for s in samples) == [1, 1, 1, 2, 2, 2, 4, 4, 4], split
    summary = json.loads((out / "summary.json").read_text())
    settings = summary["settings"]
    assert settings["sizes"] == [1, 2, 4]
    assert settings["seed"] == 3
    assert settings["samples_per_size"] == 3
    assert settings["options"] == {"property": "bar", "num_images": 60, "image_size": 32}
    assert len(list((out / "images").glob("*.png"))) == 60


def test_prepare_replaces_its_own_manifest(tmp_path: Path):
    out = tmp_path / "again"
    args = ["prepare", "synthetic", "--out", out, "--sizes", "1", "-o", "num_images=30"]
    assert_ok(invoke(*args))
    assert_ok(invoke(*args))
    assert len(load_manifest(out, "train")) > 0


def test_prepare_refuses_a_folder_that_is_not_a_manifest(tmp_path: Path):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert_clean_error(invoke("prepare", "synthetic", "--out", out, "-o", "num_images=30"), "refusing")
    assert (out / "notes.txt").read_text() == "keep me"


def test_non_integer_num_images_is_a_clean_error(tmp_path: Path):
    assert_clean_error(
        invoke("prepare", "synthetic", "--out", tmp_path / "x", "-o", "num_images=abc"), "num_images"
    )


def test_prepare_a_vision_r1_source(tmp_path: Path):
    out = tmp_path / "shapes"
    result = invoke("prepare", "synthetic-shapes", "--out", out, "-o", "num_images=12", "-o", "image_size=56")
    assert_ok(result)
    assert "detection" in result.output
    task = json.loads((out / "task.json").read_text())
    assert task["max_pixels"] == 56 * 56
    assert all((out / f"{split}.jsonl").is_file() for split in ("train", "val", "test"))
    bad = invoke("prepare", "synthetic-shapes", "--out", tmp_path / "bad", "-o", "bogus=1")
    assert_clean_error(bad, "unknown options ['bogus']", "num_images")
    assert not (tmp_path / "bad").exists()
