"""Issue 14, item 6: image files as users' tools write them are read faithfully or refused by name.

Real files in real formats (PIL writes them): CMYK JPEG, 16-bit greyscale PNG, palette PNG with a
transparent colour, LA PNG, EXIF-rotated JPEG, animated GIF and WebP, float TIFF, and images outside the
processor's limits (aspect ratio above 200, a side under 28 pixels). `rarl prepare` reports the refused
ones like other bad images; the accepted ones load with the pixels a viewer shows.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rarl.data.errors import DataError
from rarl.data.images import ANIMATED, ASPECT, TOO_SMALL, UNSUPPORTED_MODE, load_rgb
from rarl.data.validate import check_image, image_file_problem
from rarl.recipes.ordinal.manifest import load_manifest
from rarl.recipes.ordinal.prepare import prepare

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def _halves(size: tuple[int, int] = (60, 40)) -> Image.Image:
    """Left half red, right half blue."""
    image = Image.new("RGB", size, RED)
    image.paste(BLUE, (size[0] // 2, 0, size[0], size[1]))
    return image


def write_exif_rotated(path: Path) -> Path:
    """A 60x40 JPEG stored sideways with EXIF orientation 6 (turn 90 degrees clockwise to view)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    _halves().save(path, "JPEG", quality=95, exif=exif)
    return path


def write_sixteen_bit(path: Path, value: int = 32768) -> Path:
    """A 40x40 16-bit greyscale PNG of one value (half of the 16-bit range by default)."""
    Image.fromarray(np.full((40, 40), value, dtype=np.uint16)).save(path)
    return path


def write_transparent_palette(path: Path) -> Path:
    """A 40x40 palette PNG: left half transparent (palette entry 0 is black), right half blue."""
    image = Image.new("P", (40, 40), 0)
    image.putpalette([0, 0, 0, 0, 0, 255] + [0] * (254 * 3))
    image.paste(1, (20, 0, 40, 40))
    image.save(path, transparency=0)
    return path


def write_animated(path: Path, fmt: str) -> Path:
    frames = [Image.new("RGB", (40, 40), c) for c in (RED, BLUE, WHITE)]
    frames[0].save(path, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return path


def test_exif_orientation_is_applied(tmp_path: Path):
    path = write_exif_rotated(tmp_path / "phone.jpg")
    assert Image.open(path).size == (60, 40)  # as stored
    image = load_rgb(path)
    assert image.size == (40, 60)  # upright, as a viewer shows it
    top, bottom = image.getpixel((20, 5)), image.getpixel((20, 55))
    assert top[0] > 200 and top[2] < 60  # stored left half (red) is on top after a clockwise turn
    assert bottom[2] > 200 and bottom[0] < 60
    assert check_image(str(path)).size == (40, 60)


def test_sixteen_bit_greyscale_is_scaled_not_clipped(tmp_path: Path):
    path = write_sixteen_bit(tmp_path / "depth.png")
    assert Image.open(path).mode.startswith("I")
    pixels = np.asarray(load_rgb(path))
    assert pixels.shape == (40, 40, 3)
    assert np.all(pixels == 128)  # 32768 / 257; PIL's plain convert("RGB") gives 255 (white)


def test_transparency_is_composited_on_white(tmp_path: Path):
    palette = load_rgb(write_transparent_palette(tmp_path / "p.png"))
    assert palette.getpixel((5, 5)) == WHITE  # not the black hidden under the transparent entry
    assert palette.getpixel((35, 5)) == BLUE
    la = Image.new("LA", (40, 40), (0, 0))
    la.paste((90, 255), (20, 0, 40, 40))
    la.save(tmp_path / "la.png")
    image = load_rgb(tmp_path / "la.png")
    assert image.getpixel((5, 5)) == WHITE and image.getpixel((35, 5)) == (90, 90, 90)


def test_cmyk_jpeg_converts(tmp_path: Path):
    Image.new("CMYK", (40, 40), (0, 255, 255, 0)).save(tmp_path / "print.jpg", "JPEG", quality=95)
    r, g, b = load_rgb(tmp_path / "print.jpg").getpixel((20, 20))
    assert r > 200 and g < 50 and b < 50  # full magenta + yellow ink is red


def test_static_webp_reads(tmp_path: Path):
    _halves((60, 40)).save(tmp_path / "photo.webp", "WEBP", lossless=True)
    image = load_rgb(tmp_path / "photo.webp")
    assert image.size == (60, 40) and image.getpixel((5, 5)) == RED


@pytest.mark.parametrize(
    ("name", "write", "reason", "detail"),
    [
        ("anim.gif", lambda p: write_animated(p, "GIF"), ANIMATED, "GIF with 3 frames"),
        ("anim.webp", lambda p: write_animated(p, "WEBP"), ANIMATED, "WEBP with 3 frames"),
        ("wide.png", lambda p: Image.new("RGB", (6030, 30)).save(p), ASPECT, "6030x30, ratio 201"),
        ("tall.png", lambda p: Image.new("RGB", (28, 5700)).save(p), ASPECT, "28x5700"),
        ("small.png", lambda p: Image.new("RGB", (20, 20)).save(p), TOO_SMALL, "20x20"),
        (
            "float.tif",
            lambda p: Image.fromarray(np.ones((40, 40), np.float32)).save(p),
            UNSUPPORTED_MODE,
            "mode F",
        ),
    ],
)
def test_refused_by_name(tmp_path: Path, name, write, reason: str, detail: str):
    path = tmp_path / name
    write(path)
    check = check_image(str(path))
    assert check.digest is None and check.problem == reason and detail in check.detail
    assert image_file_problem(str(path)).startswith(reason)  # the same rule at load time
    with pytest.raises(DataError, match=reason) as err:
        load_rgb(path)
    assert str(path) in str(err.value)


def test_prepare_reports_refused_images_and_keeps_faithful_ones(tmp_path: Path):
    images = tmp_path / "images"
    images.mkdir()
    good = {
        "phone.jpg": write_exif_rotated(images / "phone.jpg"),
        "depth.png": write_sixteen_bit(images / "depth.png"),
        "p.png": write_transparent_palette(images / "p.png"),
    }
    for k in range(6):
        Image.new("RGB", (40, 40), (40 * k, 10, 10)).save(images / f"plain{k}.png")
        good[f"plain{k}.png"] = images / f"plain{k}.png"
    write_animated(images / "anim.gif", "GIF")
    Image.new("RGB", (6030, 30)).save(images / "wide.png")
    Image.new("RGB", (20, 20)).save(images / "small.png")
    names = [*good, "anim.gif", "wide.png", "small.png"]
    table = tmp_path / "labels.csv"
    with open(table, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label"])
        writer.writerows([f"images/{n}", k % 5] for k, n in enumerate(names))
    summary = prepare(
        "csv", tmp_path / "m", root=table, sizes=(1,), rule="r", value_range="0-4", quiet=True,
        splits=(1.0, 0.0, 0.0),
    )  # fmt: skip
    skipped = summary.report.skipped
    assert skipped == {ANIMATED: 1, ASPECT: 1, TOO_SMALL: 1}, summary.report.lines()
    assert any("wide.png (6030x30, ratio 201)" in line for line in summary.report.lines())
    samples = load_manifest(tmp_path / "m", "train", check_files=True)
    loaded = {Path(s.items[0].image).name: s.load_images()[0] for s in samples}
    assert set(loaded) == set(good)
    assert loaded["phone.jpg"].size == (40, 60)
    assert loaded["depth.png"].getpixel((0, 0)) == (128, 128, 128)
    assert loaded["p.png"].getpixel((0, 0)) == WHITE
