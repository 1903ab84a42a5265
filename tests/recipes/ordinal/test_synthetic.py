"""Synthetic ordinal tasks: determinism, visibility of the property in the pixels, label noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rarl.data.errors import DataError
from rarl.recipes.ordinal.synthetic import (
    SYNTHETIC_PROPERTIES,
    generate_synthetic,
    render_synthetic,
    synthetic_task,
)


def _grey(im: Image.Image) -> np.ndarray:
    return np.asarray(im.convert("L"), dtype=np.float64)


def test_tasks():
    assert set(SYNTHETIC_PROPERTIES) >= {"count", "brightness", "bar", "size"}
    t = synthetic_task("count")
    assert t.name == "synthetic-count" and t.range_text() == "1-9" and t.metric == "accuracy"
    assert synthetic_task("brightness", levels=5).range_text() == "1-5"
    with pytest.raises(DataError, match="unknown property 'hue'"):
        synthetic_task("hue")


@pytest.mark.parametrize("prop", sorted(SYNTHETIC_PROPERTIES))
def test_render_deterministic_and_small(prop: str):
    a = render_synthetic(prop, 5, seed=3)
    b = render_synthetic(prop, 5, seed=3)
    c = render_synthetic(prop, 5, seed=4)
    assert a.size == (56, 56) and a.mode == "RGB"
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()


def test_count_is_visible():
    for v in range(1, 10):
        g = _grey(render_synthetic("count", v, seed=v))
        bright = g > 128
        # Count connected bright blobs with a tiny flood fill (squares never touch: one per grid cell).
        seen = np.zeros_like(bright)
        blobs = 0
        for y, x in zip(*np.nonzero(bright), strict=True):
            if seen[y, x]:
                continue
            blobs += 1
            stack = [(y, x)]
            while stack:
                cy, cx = stack.pop()
                if 0 <= cy < 56 and 0 <= cx < 56 and bright[cy, cx] and not seen[cy, cx]:
                    seen[cy, cx] = True
                    stack.extend([(cy + 1, cx), (cy - 1, cx), (cy, cx + 1), (cy, cx - 1)])
        assert blobs == v


@pytest.mark.parametrize("prop", ["brightness", "bar", "size"])
def test_monotone_in_level(prop: str):
    if prop == "brightness":
        stat = [_grey(render_synthetic(prop, v, seed=v)).mean() for v in range(1, 10)]
    else:
        stat = [(_grey(render_synthetic(prop, v, seed=v)) > 128).sum() for v in range(1, 10)]
    assert all(b > a for a, b in zip(stat, stat[1:], strict=False)), stat
    if prop == "brightness":
        assert min(np.diff(stat)) > 15  # neighbouring levels are clearly apart


def test_generate_writes_pngs_deterministically(tmp_path: Path):
    r1 = generate_synthetic(tmp_path / "a", property="bar", num_images=27, seed=7)
    r2 = generate_synthetic(tmp_path / "b", property="bar", num_images=27, seed=7)
    assert [it.label for it in r1.items] == [it.label for it in r2.items]
    assert sorted(it.label for it in r1.items) == sorted(list(range(1, 10)) * 3)  # balanced
    for x, y in zip(r1.items, r2.items, strict=True):
        assert Path(x.image).suffix == ".png" and Path(x.image).parent == tmp_path / "a" / "images"
        assert Path(x.image).read_bytes() == Path(y.image).read_bytes()
        assert x.meta == {"level": int(x.label)}
    r3 = generate_synthetic(tmp_path / "c", property="bar", num_images=27, seed=8)
    assert [it.label for it in r3.items] != [it.label for it in r1.items]


def test_label_noise(tmp_path: Path):
    r = generate_synthetic(tmp_path, property="brightness", num_images=90, label_noise=1.5, seed=0)
    labels = np.array([it.label for it in r.items])
    levels = np.array([it.meta["level"] for it in r.items])
    assert labels.min() >= 1 and labels.max() <= 9 and np.all(labels == np.round(labels))
    assert (labels != levels).sum() > 20
    assert np.corrcoef(labels, levels)[0, 1] > 0.7
    assert any("label noise" in note for note in r.report.notes)


def test_generate_errors(tmp_path: Path):
    with pytest.raises(DataError, match="image_size must be an int >= 28"):
        generate_synthetic(tmp_path, image_size=16)
    with pytest.raises(DataError, match="num_images"):
        generate_synthetic(tmp_path, num_images=0)
    with pytest.raises(DataError, match="levels"):
        generate_synthetic(tmp_path, levels=12)
