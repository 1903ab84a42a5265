"""The manifest checks every recipe runs before a model is loaded (`rarl.data.manifest_checks`): images
decoded up front with their upright sizes, and unique sample ids, each failure one line naming the line."""

from __future__ import annotations

import pytest
from PIL import Image

from rarl.data.errors import DataError
from rarl.data.manifest_checks import check_manifest_images, check_unique_ids, decode_images


def test_sizes_are_upright_and_every_problem_is_named(tmp_path):
    wide = tmp_path / "wide.png"
    Image.new("RGB", (64, 40)).save(wide)
    turned = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: shown 40 wide, 64 high
    Image.new("RGB", (64, 40)).save(turned, exif=exif)
    source = tmp_path / "train.jsonl"
    sizes = check_manifest_images(source, [(1, [str(wide)]), (2, [str(turned), str(wide)])])
    assert sizes == {str(wide): (64, 40), str(turned): (40, 64)}

    (tmp_path / "folder.png").mkdir()
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(turned.read_bytes()[:200])
    status = decode_images([str(tmp_path / "gone.png"), str(tmp_path / "folder.png"), str(truncated)])
    assert [s.problem for s in status.values()] == [
        "image file not found",
        "image path is a folder",
        status[str(truncated)].problem,
    ]
    assert status[str(truncated)].problem.startswith("unreadable image file")
    rows = [(1, [str(wide)]), (3, [str(wide), str(tmp_path / "gone.png")]), (4, [str(truncated)])]
    with pytest.raises(DataError) as info:
        check_manifest_images(source, rows)
    assert str(info.value).startswith(f"{source}:3: image file not found: {tmp_path / 'gone.png'} (2 of 3 ")
    assert "2 files in all" in str(info.value)


def test_repeated_ids():
    check_unique_ids("a/train.jsonl", [(1, "x"), (2, "y")])
    with pytest.raises(DataError, match=r"train.jsonl:5: sample id 'x' is also the id on line 1 \(2 id\(s\)"):
        check_unique_ids("a/train.jsonl", [(1, "x"), (2, "y"), (5, "x"), (6, "y"), (7, "x")])
