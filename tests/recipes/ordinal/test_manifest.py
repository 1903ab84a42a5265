"""Manifest files: write/load round trip, relative paths, and the errors for bad manifests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rarl.data.errors import DataError
from rarl.recipes.ordinal.manifest import load_manifest, load_task, write_manifest
from rarl.recipes.ordinal.schema import OrdinalItem, OrdinalSample, OrdinalTask

TASK = OrdinalTask("t", "level", (1, 9), "int", 0, 2.0, "accuracy")


def _samples(folder: Path) -> list[OrdinalSample]:
    inside = [OrdinalItem(str(folder / "images" / f"{i}.png"), float(i), {"k": i}) for i in range(1, 4)]
    outside = OrdinalItem(str(folder.parent / "elsewhere" / "x.png"), 5.0)
    return [
        OrdinalSample("train-1-000000", TASK, (inside[0],)),
        OrdinalSample("train-2-000000", TASK.with_rule("other rule"), (inside[2], outside)),
        OrdinalSample("train-3-000000", TASK, tuple(inside)),
    ]


def test_round_trip(tmp_path: Path):
    folder = tmp_path / "m"
    samples = _samples(folder)
    write_manifest(folder, TASK, {"train": samples, "val": []}, {"note": 1})
    assert load_task(folder) == TASK
    lines = (folder / "train.jsonl").read_text().splitlines()
    rec = json.loads(lines[1])
    assert rec == {
        "id": "train-2-000000",
        "n": 2,
        "rule": "other rule",
        "items": [
            {"image": "images/3.png", "label": 3.0, "meta": {"k": 3}},
            {"image": "../elsewhere/x.png", "label": 5.0, "meta": {}},
        ],
    }
    assert "rule" not in json.loads(lines[0])
    loaded = load_manifest(folder, "train")
    assert loaded == samples  # absolute paths, per-sample rule restored
    assert [s.n for s in load_manifest(folder, "train", sizes=[1, 3])] == [1, 3]
    assert load_manifest(folder, "val") == []
    assert json.loads((folder / "summary.json").read_text()) == {"note": 1}


def test_relative_to_final_dir(tmp_path: Path):
    # Written in a temporary sibling folder, but paths are relative to where the folder will end up.
    final = tmp_path / "final"
    tmp = tmp_path / ".final.tmp"
    item_in_tmp = OrdinalItem(str(tmp / "images" / "a.png"), 1.0)
    item_outside = OrdinalItem(str(tmp_path / "data" / "b.png"), 2.0)
    write_manifest(
        tmp, TASK, {"test": [OrdinalSample("s", TASK, (item_in_tmp, item_outside))]}, final_dir=final
    )
    rec = json.loads((tmp / "test.jsonl").read_text())
    assert [it["image"] for it in rec["items"]] == ["images/a.png", "../data/b.png"]


def _write(folder: Path, lines: list[str]) -> None:
    write_manifest(folder, TASK, {})
    (folder / "train.jsonl").write_text("\n".join(lines) + "\n")


def _line(label=3, n=1, image="a.png", **extra) -> str:
    return json.dumps({"id": "x", "n": n, "items": [{"image": image, "label": label, "meta": {}}], **extra})


def test_errors(tmp_path: Path):
    with pytest.raises(DataError, match="manifest folder not found"):
        load_manifest(tmp_path / "missing", "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no task.json"):
        load_manifest(tmp_path / "empty", "train")
    folder = tmp_path / "m"
    _write(folder, [_line(), "{oops"])
    with pytest.raises(DataError, match=r"train.jsonl:2: not valid JSON"):
        load_manifest(folder, "train")
    with pytest.raises(DataError, match="has no split 'dev'.*splits: train"):
        load_manifest(folder, "dev")
    _write(folder, [_line(), _line(label=12)])
    with pytest.raises(
        DataError, match=r"record 2 \(id x\): label 12 of .*a.png is outside the task's range 1-9"
    ):
        load_manifest(folder, "train")
    _write(folder, [_line(n=2)])
    with pytest.raises(DataError, match="'n' is 2 but there are 1 items"):
        load_manifest(folder, "train")
    _write(folder, [_line(label="three")])
    with pytest.raises(DataError, match="must be a finite number"):
        load_manifest(folder, "train")
    _write(folder, [json.dumps({"id": "x", "n": 0, "items": []})])
    with pytest.raises(DataError, match="non-empty list"):
        load_manifest(folder, "train")
    _write(folder, [_line()])
    with pytest.raises(DataError, match="image file not found"):
        load_manifest(folder, "train", check_files=True)
    (folder / "task.json").write_text(json.dumps({"name": "t", "rule": "r", "value_range": [3, 1]}))
    with pytest.raises(DataError, match="task.json: .*lo < hi"):
        load_task(folder)
