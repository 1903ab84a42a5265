"""Refine-IQA sample ids: two images with one file name in different folders (`a/x.png`, `b/x.png`) get two
ids, from their paths under the dataset's common folder; ids stay the file name when no two names repeat."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from rarl.recipes.quality.prepare import prepare_quality, sample_ids
from rarl.recipes.quality.samples import load_quality_manifest


def _image(path: Path, red: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 32), (red, 80, 160)).save(path)


def test_one_file_name_in_two_folders_gives_two_ids(tmp_path):
    folder = tmp_path / "iqa"
    _image(folder / "a" / "x.png", 0)
    _image(folder / "b" / "x.png", 100)  # another picture under the same file name
    _image(folder / "b" / "y.png", 200)
    (folder / "mos.csv").write_text("path,mos\na/x.png,1\nb/x.png,3\nb/y.png,5\n")
    out = tmp_path / "out"
    prepare_quality("iqa-csv", out, root=folder / "mos.csv", mos_range="0,5", split="test")
    assert sorted(s.sample_id for s in load_quality_manifest(out, "test")) == [
        "mos/a/x.png",
        "mos/b/x.png",
        "mos/b/y.png",
    ]


def test_sample_ids_are_names_unless_two_repeat():
    assert sample_ids(["/d/i/1.png", "/d/i/2.png"]) == ["1.png", "2.png"]  # as before: the file name
    assert sample_ids(["/d/a/x.png", "/d/b/x.png", "/d/b/c/y.png"]) == ["a/x.png", "b/x.png", "b/c/y.png"]
