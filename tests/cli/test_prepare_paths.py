"""`rarl prepare` never deletes what the new manifest is made from (issue 24, data loss 2): `--out` may replace
an earlier manifest folder, so a source whose inputs lie inside `--out` (`-o images_dir=`, the manifests of
`iqa-merge`, `-o file=`, image paths inside the annotations, however they are spelled) is refused with one
`error:` line before anything is written, and the folder is left exactly as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .helpers import assert_clean_error, assert_ok, invoke


def _listing(folder: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture
def shapes(tmp_path: Path) -> Path:
    """keep/shapes: a synthetic-shapes manifest whose images are in keep/shapes/images, and keep/boxes.jsonl
    naming those images by file name (as a user re-labelling them would write it)."""
    out = tmp_path / "keep" / "shapes"
    assert_ok(
        invoke("prepare", "synthetic-shapes", "--out", out, "-o", "num_images=10", "-o", "image_size=56")
    )
    names = sorted(p.name for p in (out / "images").glob("*.png"))
    rows = [{"image": n, "boxes": [[2, 2, 30, 30]], "labels": ["circle"]} for n in names]
    (tmp_path / "keep" / "boxes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return out


def test_boxes_jsonl_with_images_dir_inside_out_is_refused(shapes: Path, monkeypatch: pytest.MonkeyPatch):
    keep = shapes.parent
    before = _listing(keep)
    result = invoke(
        "prepare", "boxes-jsonl", "--root", keep / "boxes.jsonl", "--out", shapes,
        "-o", f"images_dir={shapes / 'images'}",
    )  # fmt: skip
    assert_clean_error(
        result, f"the output folder {shapes} contains the source data {shapes / 'images'} (-o images_dir)"
    )
    assert _listing(keep) == before
    # the same folder spelled relative to the current folder, or through a link
    monkeypatch.chdir(keep.parent)
    (keep.parent / "alias").symlink_to(shapes / "images")
    for spelled in ("keep/shapes/images", "./keep/../keep/shapes/images/", "alias"):
        result = invoke("prepare", "boxes-jsonl", "--root", "keep/boxes.jsonl", "--out", "keep/shapes",
                        "-o", f"images_dir={spelled}")  # fmt: skip
        assert_clean_error(result, "contains the source data", "(-o images_dir)")
    # relative to the annotation file's folder, where the reader looks for it
    result = invoke("prepare", "boxes-jsonl", "--root", keep / "boxes.jsonl", "--out", shapes,
                    "-o", "images_dir=shapes/images")  # fmt: skip
    assert_clean_error(result, "contains the source data", "(-o images_dir)")
    assert _listing(keep) == before


def test_image_paths_inside_out_are_refused_whatever_option_names_them(shapes: Path, tmp_path: Path):
    keep = shapes.parent
    rows = [json.loads(line) for line in (keep / "boxes.jsonl").read_text().splitlines()]
    absolute = tmp_path / "elsewhere" / "abs.jsonl"
    absolute.parent.mkdir()
    absolute.write_text(
        "".join(json.dumps({**r, "image": str(shapes / "images" / r["image"])}) + "\n" for r in rows)
    )
    before = _listing(keep)
    result = invoke("prepare", "boxes-jsonl", "--root", absolute, "--out", shapes)
    assert_clean_error(result, f"the output folder {shapes} contains source image {shapes / 'images'}")
    # the stage-1 perception source reads the same annotations
    result = invoke(
        "prepare", "refine-perception", "--out", shapes, "--root", keep / "boxes.jsonl",
        "-o", "images_from=boxes-jsonl", "-o", f"images_dir={shapes / 'images'}",
    )  # fmt: skip
    assert_clean_error(result, "contains the source data", "(-o images_dir)")
    assert _listing(keep) == before


def test_a_merge_into_one_of_its_own_inputs_is_refused(tmp_path: Path):
    mga, mgb = tmp_path / "mga", tmp_path / "mgb"
    for out, distortion in ((mga, "noise"), (mgb, "underexposure")):  # two datasets: a merge that works
        args = ["prepare", "synthetic-quality", "--out", out, "-o", "num_images=6", "-o", "image_size=56"]
        assert_ok(invoke(*args, "-o", f"distortions={distortion}"))
    before = _listing(tmp_path)
    for manifests in (f"{mga},{mgb}", f"{mgb},{mga}/", f"{mga}"):
        result = invoke("prepare", "iqa-merge", "--out", mga, "-o", f"manifests={manifests}")
        assert_clean_error(result, f"the output folder {mga} contains the source data {mga} (-o manifests)")
    assert _listing(tmp_path) == before


@pytest.mark.parametrize(
    ("source", "option"),
    [
        ("csv", "file=labels.csv"),
        ("csv", "images_dir=images"),
        ("coco-count", "annotations=instances.json"),
        ("ava", "ava_file=AVA.txt"),
        ("koniq", "images=images"),
    ],
)
def test_any_path_option_inside_out_is_refused_before_reading(tmp_path: Path, source: str, option: str):
    out = tmp_path / "manifest"
    out.mkdir()
    (out / "task.json").write_text("{}")  # a manifest folder: the kind `--out` may replace
    (out / "images").mkdir()
    before = _listing(out)
    key, _, value = option.partition("=")
    result = invoke("prepare", source, "--root", tmp_path, "--out", out, "-o", f"{key}={out / value}")
    assert_clean_error(result, f"the output folder {out} contains the source data {out / value} (-o {key})")
    assert _listing(out) == before
