"""Hostile values in annotation files (`rarl.data.readers.safe`): a 400-digit coordinate, a file name with a
NUL character or a leading `~`, a symbolic-link loop, JSON nested thousands deep, an integer past Python's
4300-digit limit, a CSV field past the csv module's limit. A bad record among good ones is reported under
its reason and left out (one `error:` line with --strict); a file that cannot be read as a whole is one
`error:` line naming it; never a traceback, and nothing is written on an error."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image
from tests.cli.helpers import assert_clean_error, assert_ok, invoke

from rarl.data.readers.safe import finite, home_path, image_path, nested_deeper_than, show

BIG = "1" * 400  # a JSON integer no float holds
GOOD = ["im1.png", "im2.png", "im3.png"]


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """Four decodable images and a symbolic-link loop (`loop` -> `loop2` -> `loop`)."""
    folder = tmp_path / "images"
    folder.mkdir()
    for k in range(4):
        Image.new("RGB", (40, 40), (50 * k, 90, 160)).save(folder / f"im{k}.png")
    os.symlink("loop2", folder / "loop")
    os.symlink("loop", folder / "loop2")
    return folder


def _coco(names: list[str], coord: str = "20") -> str:
    coco = {
        "images": [{"id": k, "file_name": n, "width": 40, "height": 40} for k, n in enumerate(names)],
        "annotations": [{"id": k, "image_id": k, "category_id": 1, "bbox": [4, 4, 20, 20]} for k in range(len(names))],
        "categories": [{"id": 1, "name": "cat"}],
    }  # fmt: skip
    return json.dumps(coco).replace("[4, 4, 20, 20]", f"[4, 4, {coord}, 20]", 1)


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def _source(kind: str, folder: Path, images: Path, names: list[str], coord: str = "20") -> list[str | Path]:
    """The `rarl prepare` arguments of a `kind` annotation file over `names` (the first box's width `coord`)."""
    if kind in ("coco", "refine-perception"):
        (folder / "instances.json").write_text(_coco(names, coord))
        extra = ["-o", "images_from=coco"] if kind == "refine-perception" else []
        return [kind, "--root", folder / "instances.json", "-o", f"images_dir={images}", *extra]
    if kind == "coco-count":
        (folder / "annotations").mkdir()
        (folder / "annotations" / "instances_x.json").write_text(_coco(names, coord))
        return [kind, "--root", folder, "-o", f"images_dir={images}", "--sizes", "1"]
    if kind == "boxes-jsonl":
        rows = [{"image": n, "boxes": [[2, 2, 30, 30]], "labels": ["cat"]} for n in names]
        (folder / "boxes.jsonl").write_text(
            _jsonl(rows).replace("[[2, 2, 30, 30]]", f"[[2, 2, {coord}, 30]]", 1)
        )
        return [kind, "--root", folder / "boxes.jsonl", "-o", f"images_dir={images}"]
    if kind == "refcoco":
        rows = [{"image": n, "expression": "the cat", "bbox": [2, 2, 30, 30]} for n in names]
        (folder / "refs.jsonl").write_text(_jsonl(rows).replace("[2, 2, 30, 30]", f"[2, 2, {coord}, 30]", 1))
        return [kind, "--root", folder / "refs.jsonl", "-o", f"images_dir={images}"]
    if kind in ("csv", "jsonl"):
        rows = [{"path": n, "label": k, "rule": "brightness"} for k, n in enumerate(names)]
        if kind == "jsonl":
            (folder / "t.jsonl").write_text(_jsonl(rows))
        else:
            (folder / "t.csv").write_text(
                "path,label,rule\n" + "".join(f"{r['path']},{r['label']},x\n" for r in rows)
            )
        return [kind, "--root", folder / f"t.{kind}", "-o", f"images_dir={images}", "--sizes", "1"]
    raise AssertionError(kind)


def _report(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())["report"]


ONE_NAME = "fewer than two object names for the object question"  # refine-perception: one category here
NAME_SOURCES = ["coco", "coco-count", "boxes-jsonl", "refcoco", "csv", "jsonl", "refine-perception"]


@pytest.mark.parametrize("kind", NAME_SOURCES)
@pytest.mark.parametrize(
    ("name", "reasons", "shown"),
    [
        ("a\x00b.png", {"unreadable image", "no image file"}, "a\x00b.png"),
        ("~draft.png", {"missing image file", "no image file"}, "~draft.png"),
        ("loop", {"unreadable image", "no image file"}, "loop"),
    ],
    ids=["nul", "tilde", "link-loop"],
)
def test_a_hostile_image_name_is_a_reported_skip(kind, name, reasons, shown, images, tmp_path):
    out = tmp_path / "out"
    args = _source(kind, tmp_path, images, [name, *GOOD])
    if kind == "csv" and "\x00" in name:  # a table is text: a NUL character refuses the whole file
        assert_clean_error(invoke("prepare", *args, "--out", out), "t.csv: holds NUL characters")
        assert not out.exists()
        return
    assert_ok(invoke("prepare", *args, "--out", out))
    report = _report(out)
    report["skipped"].pop(ONE_NAME, None)
    (reason,) = report["skipped"]
    assert reason in reasons and report["skipped"][reason] == 1
    assert shown in report["examples"][reason][0]
    if name == "~draft.png" and kind not in ("coco-count",):  # a file name, not someone's home folder
        assert str(images / "~draft.png") in report["examples"][reason][0]


@pytest.mark.parametrize("kind", ["coco", "boxes-jsonl", "refcoco", "jsonl"])
def test_strict_stops_at_a_hostile_name_with_one_line(kind, images, tmp_path):
    out = tmp_path / "out"
    args = _source(kind, tmp_path, images, ["a\x00b.png", *GOOD])
    assert_clean_error(
        invoke("prepare", *args, "--out", out, "--strict"), "unreadable image", "not a valid file name"
    )
    assert not out.exists()


@pytest.mark.parametrize("kind", ["coco", "boxes-jsonl", "refcoco", "refine-perception"])
def test_a_coordinate_no_float_holds_is_a_degenerate_box(kind, images, tmp_path):
    out = tmp_path / "out"
    args = _source(kind, tmp_path, images, ["im0.png", *GOOD], coord=BIG)
    assert_ok(invoke("prepare", *args, "--out", out))
    report = _report(out)
    report["skipped"].pop(ONE_NAME, None)
    assert report["skipped"] == {"degenerate box": 1}
    assert "box 1 [" in report["examples"]["degenerate box"][0]
    assert "..." in report["examples"]["degenerate box"][0]  # the number is cut short, not printed whole
    strict = tmp_path / "strict"
    assert_clean_error(invoke("prepare", *args, "--out", strict, "--strict"), "degenerate box", "im0.png")
    assert not strict.exists()


@pytest.mark.parametrize("kind", ["coco", "coco-count", "boxes-jsonl", "refcoco", "refine-perception"])
@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply for the parser"),
        ("[" + "1" * 5000 + "]", "Exceeds the limit (4300 digits)"),
    ],
    ids=["deep", "5000-digits"],
)
def test_a_json_file_python_cannot_parse_is_one_line(kind, text, says, images, tmp_path):
    out = tmp_path / "out"
    args = _source(kind, tmp_path, images, ["im0.png", *GOOD])
    annotation = Path(args[2]) if kind != "coco-count" else Path(args[2]) / "annotations" / "instances_x.json"
    annotation.write_text(text)
    assert_clean_error(invoke("prepare", *args, "--out", out), str(annotation), says)
    assert not out.exists()


def test_a_jsonl_table_row_of_hostile_values_is_a_reported_skip(images, tmp_path):
    rows = [
        {"path": "im0.png", "label": True, "rule": "x"},  # a flag is not a label
        {"path": "im1.png", "label": int(BIG), "rule": "x"},  # no float holds it
        {"path": "im2.png", "label": 2, "rule": "x", "meta": json.loads("[" * 200 + "]" * 200)},
        {"path": "im3.png", "label": 3, "rule": "x"},
    ]
    (tmp_path / "t.jsonl").write_text(_jsonl(rows) + "[" * 100_000 + "]" * 100_000 + "\n")
    (tmp_path / "t2.jsonl").write_text(_jsonl([{"path": "im0.png", "label": 1, "rule": "x"}]))
    out = tmp_path / "out"
    assert_ok(invoke("prepare", "jsonl", "--root", tmp_path / "t.jsonl", "-o", f"images_dir={images}",
                     "-o", "value_range=0-9", "--sizes", "1", "--out", out))  # fmt: skip
    report = _report(out)
    assert report["skipped"] == {"label is not a number": 2, "malformed row": 2}
    assert report["examples"]["malformed row"] == ["t.jsonl:3", "t.jsonl:5"]
    assert report["examples"]["label is not a number"][0] == "t.jsonl:1 (True)"


@pytest.mark.parametrize("kind", ["csv"])
def test_a_csv_field_past_the_limit_is_one_line(kind, images, tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("path,label,rule\nim1.png,1,x\n" + "x" * 200_000 + ",2,x\nim2.png,2,x\n")
    out = tmp_path / "out"
    result = invoke("prepare", kind, "--root", table, "-o", f"images_dir={images}", "--out", out)
    assert_clean_error(result, f"{table}:3: not a usable CSV line (a field longer than 131072 characters)")
    assert not out.exists()


def test_a_link_loop_in_the_images_folder_does_not_stop_coco_count(images, tmp_path):
    out = tmp_path / "out"
    args = _source("coco-count", tmp_path, images, ["im0.png", *GOOD])
    assert_ok(invoke("prepare", *args, "--out", out))
    assert _report(out)["skipped"] == {}


def test_a_malformed_id_is_a_malformed_record(images, tmp_path):
    rows = [{"image": f"im{k}.png", "boxes": [], "labels": [], "id": k} for k in range(4)]
    rows[0]["id"] = json.loads("[" * 500 + "]" * 500)
    rows[1]["id"] = True
    (tmp_path / "b.jsonl").write_text(_jsonl(rows))
    out = tmp_path / "out"
    assert_ok(invoke("prepare", "boxes-jsonl", "--root", tmp_path / "b.jsonl", "-o", f"images_dir={images}",
                     "-o", "categories=cat", "--out", out))  # fmt: skip
    report = _report(out)
    assert report["skipped"] == {"malformed record": 2}
    assert (
        report["examples"]["malformed record"][0]
        == "b.jsonl:1 ('id' must be text or an integer, got [[[[...]]]])"
    )


# --- the helpers, by hand ------------------------------------------------------------------------------------


def test_only_the_home_folder_is_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert home_path("~/x.png") == str(tmp_path / "home" / "x.png")
    assert home_path("~draft.png") == "~draft.png"
    assert home_path("~root/x.png") == "~root/x.png"  # even a user that exists: a name in a data file
    assert image_path("~draft.png", tmp_path) == str(tmp_path / "~draft.png")
    assert image_path("a\x00b.png", tmp_path) == str(tmp_path / "a\x00b.png")  # left for the image check


def test_numbers_and_shapes():
    assert finite(3) == 3.0 and finite(2.5) == 2.5
    assert (
        finite(int(BIG)) is None
        and finite(True) is None
        and finite(float("nan")) is None
        and finite("3") is None
    )
    deep = json.loads("[" * 900 + "]" * 900)
    assert show(deep) == "[[[[...]]]]"
    assert len(show(int(BIG))) < 50
    assert nested_deeper_than(deep, 32) and not nested_deeper_than({"a": [[1]]}, 3)
    assert nested_deeper_than({"a": [[1]]}, 2)
