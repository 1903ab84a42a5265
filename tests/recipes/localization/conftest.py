"""Fixtures of the vision-r1 tests: the real-format annotation files with their images, synthetic manifests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from rarl.recipes.localization.prepare import prepare_localization

FIXTURES = Path(__file__).resolve().parent / "fixtures"

GOOD_IMAGES = ("000000000001", "000000000002", "000000000005", "000000000006", "000000000007", "000000000009")


def write_images(folder: Path) -> None:
    """The images the fixture annotations name: 64x48 JPEGs, one corrupt (4), one of the wrong size (8),
    one missing (3)."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, stem in enumerate(GOOD_IMAGES):
        Image.new("RGB", (64, 48), (20 * k, 100, 200 - 20 * k)).save(folder / f"{stem}.jpg", quality=90)
    Image.new("RGB", (32, 32), (1, 2, 3)).save(folder / "000000000008.jpg")
    whole = (folder / "000000000001.jpg").read_bytes()
    (folder / "000000000004.jpg").write_bytes(whole[: len(whole) // 3])  # truncated: undecodable


@pytest.fixture
def coco_dir(tmp_path: Path) -> Path:
    """A COCO-layout folder: annotations/instances_val2017.json and val2017/*.jpg."""
    (tmp_path / "annotations").mkdir()
    shutil.copy(FIXTURES / "instances_val2017.json", tmp_path / "annotations" / "instances_val2017.json")
    write_images(tmp_path / "val2017")
    return tmp_path


@pytest.fixture
def jsonl_dir(tmp_path: Path) -> Path:
    """refcoco.jsonl and boxes.jsonl beside their images."""
    for name in ("refcoco.jsonl", "boxes.jsonl"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    write_images(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def shapes_56(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic shapes at 56x56 (the tiny model's own frame), a quarter of them grounding questions."""
    out = tmp_path_factory.mktemp("loc") / "shapes56"
    prepare_localization(
        "synthetic-shapes", out, num_images=24, image_size=56, max_objects=2, grounding_fraction=0.25
    )
    return out


@pytest.fixture(scope="session")
def shapes_112(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic shapes at 112x112 (frame budget 112*112)."""
    out = tmp_path_factory.mktemp("loc") / "shapes112"
    prepare_localization("synthetic-shapes", out, num_images=20, image_size=112, max_objects=3, seed=1)
    return out
