"""Helpers and fixtures that write tiny datasets in the real on-disk formats (UTKFace, AVA, COCO, CSV)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image


def write_jpeg(path: Path, value: int = 128, size: int = 32, mode: str = "RGB") -> Path:
    """A small valid JPEG with a uniform colour derived from `value`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    colour = value % 256 if mode == "L" else (value % 256, (value * 7) % 256, (value * 13) % 256)
    Image.new(mode, (size, size), colour).save(path, "JPEG", quality=90)
    return path


def jpeg_bytes(value: int = 128, size: int = 32) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (value, value, value)).save(buf, "JPEG")
    return buf.getvalue()


def write_corrupt(path: Path) -> Path:
    """Bytes that are not an image at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00\x01 this is not a jpeg \xff" * 10)
    return path


def write_truncated_jpeg(path: Path) -> Path:
    """A JPEG cut in the middle of its entropy-coded data (header intact)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    Image.effect_noise((64, 64), 60).convert("RGB").save(buf, "JPEG", quality=95)
    data = buf.getvalue()
    path.write_bytes(data[: len(data) // 2])
    return path


UTK_GOOD = [
    "26_0_1_20170116233306093.jpg",
    "3_1_2_20161219140623097.jpg.chip.jpg",
    "45_0_0_20170117190000111.jpg",
    "70_1_3_20170109150557335.jpg.chip.jpg",
    "8_0_4_20170103200000000.jpg",
    "116_1_0_20170120000000000.jpg",
]
UTK_BAD = [
    "39_1_20170116174525125.jpg.chip.jpg",  # missing race (as in the public release)
    "abc_0_1_20170116233306093.jpg",
    "30_2_1_20170116233306093.jpg",  # gender 2 does not exist
]
UTK_OUT_OF_RANGE = ["130_0_0_20170116233306093.jpg"]


@pytest.fixture
def utk_root(tmp_path: Path) -> Path:
    """A UTKFace folder: valid names (both variants), unparsable names, an age outside 0-116."""
    root = tmp_path / "UTKFace"
    for i, name in enumerate(UTK_GOOD + UTK_BAD + UTK_OUT_OF_RANGE):
        write_jpeg(root / name, value=20 * i + 5)
    (root / "README.txt").write_text("not an image")
    return root


def ava_row(index: int, image_id: str, votes: list[int], tags: tuple[int, int, int] = (1, 2, 3)) -> str:
    return " ".join(str(x) for x in [index, image_id, *votes, *tags])


AVA_ROWS = {
    "953619": [0, 1, 5, 17, 38, 36, 15, 6, 5, 1],
    "953958": [10, 7, 15, 26, 26, 21, 10, 8, 1, 2],
    "954184": [0, 0, 4, 8, 41, 56, 10, 3, 4, 0],
    "954113": [0, 1, 4, 6, 48, 37, 23, 5, 2, 2],
    "953980": [0, 3, 6, 47, 31, 25, 9, 6, 0, 1],
}


def ava_mean(votes: list[int]) -> float:
    return sum(k * c for k, c in enumerate(votes, 1)) / sum(votes)


@pytest.fixture
def ava_root(tmp_path: Path) -> Path:
    """An AVA folder: AVA.txt with good rows, a row without image, a malformed row, a row without votes."""
    root = tmp_path / "AVA"
    lines = [ava_row(i, image_id, votes) for i, (image_id, votes) in enumerate(AVA_ROWS.items(), 1)]
    lines.append(ava_row(6, "999999", [1] * 10))  # no image file
    lines.append("7 123456 1 2 3")  # malformed
    lines.append(ava_row(8, "777777", [0] * 10))  # no votes
    (root / "images").mkdir(parents=True)
    (root / "AVA.txt").write_text("\n".join(lines) + "\n")
    for i, image_id in enumerate([*AVA_ROWS, "777777"]):
        write_jpeg(root / "images" / f"{image_id}.jpg", value=40 * i)
    return root


@pytest.fixture
def coco_root(tmp_path: Path) -> Path:
    """A COCO-style folder: annotations/instances_val.json and val2017/ images."""
    root = tmp_path / "coco"
    images = [{"id": i, "file_name": f"{i:012d}.jpg", "width": 32, "height": 32} for i in range(1, 8)]
    categories = [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}, {"id": 18, "name": "dog"}]
    person_counts = {1: 1, 2: 2, 3: 3, 4: 12, 5: 5, 6: 0, 7: 4}
    car_counts = {1: 2, 3: 1, 5: 3}
    anns = []

    def add(image_id: int, cat: int, n: int, crowd: int = 0) -> None:
        for _ in range(n):
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": image_id,
                    "category_id": cat,
                    "iscrowd": crowd,
                    "bbox": [0, 0, 1, 1],
                }
            )

    for image_id, n in person_counts.items():
        add(image_id, 1, n)
    for image_id, n in car_counts.items():
        add(image_id, 3, n)
    add(7, 18, 1, crowd=1)  # a crowd annotation: no exact dog count for image 7
    add(7, 18, 1)
    (root / "annotations").mkdir(parents=True)
    coco = {"images": images, "annotations": anns, "categories": categories}
    (root / "annotations" / "instances_val.json").write_text(json.dumps(coco))
    for img in images:
        if img["id"] != 2:  # image 2 is missing on disk
            write_jpeg(root / "val2017" / img["file_name"], value=img["id"] * 30)
    return root


@pytest.fixture
def table_dir(tmp_path: Path) -> Path:
    """A folder with images img_0..img_9.jpg (label = i) and no table yet."""
    root = tmp_path / "custom"
    for i in range(10):
        write_jpeg(root / "imgs" / f"img_{i}.jpg", value=25 * i)
    return root
