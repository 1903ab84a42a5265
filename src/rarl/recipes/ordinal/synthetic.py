"""Synthetic ordinal tasks drawn with numpy, deterministic by seed, for the demo and the tests.

Each property maps an integer level v in 1..levels (levels <= 9) to a picture in which v is plainly
visible even at 56x56 pixels (the demo's tiny VLM sees 56x56 as 4x4 patches of 14 px, merged 2x2 into
4 visual tokens):

- `count`: v bright squares on a dark background, each in its own cell of a 3x3 grid (never overlapping);
- `brightness`: the whole image one grey level, from dark (1) to bright (levels), with mild noise;
- `bar`: a bright horizontal bar whose length grows with v, from the left edge, on a dark background;
- `size`: one bright disc centred near the middle whose diameter grows with v.

Labels are balanced (every level equally often, shuffled). `label_noise` > 0 simulates subjective labels
(as in aesthetics): the recorded label is v + N(0, label_noise), rounded and clipped to 1..levels, while
the clean level is kept in `meta["level"]`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from rarl.data.errors import DataError, ReadReport
from rarl.recipes.ordinal.readers.base import ReadResult
from rarl.recipes.ordinal.schema import OrdinalItem, OrdinalTask

Drawer = Callable[[int, int, int, np.random.Generator], np.ndarray]
MIN_IMAGE_SIZE = 28
"""Smallest side the Qwen2.5-VL image processor accepts (one 2x2 merge of 14 px patches)."""


def _background(size: int, rng: np.random.Generator, level: float = 18.0) -> np.ndarray:
    return level + rng.normal(0.0, 6.0, (size, size, 3))


def _bright(rng: np.random.Generator) -> np.ndarray:
    """A light colour with a small random tint (every channel >= 170)."""
    return rng.uniform(170.0, 255.0, 3)


def draw_count(v: int, levels: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """v non-overlapping bright squares in distinct cells of a 3x3 grid."""
    img = _background(size, rng)
    cell = size / 3
    side = max(2, int(round(cell * 0.6)))
    for c in rng.choice(9, size=v, replace=False):
        r, q = divmod(int(c), 3)
        slack = max(0, int(cell) - side)
        y = int(r * cell) + int(rng.integers(0, slack + 1))
        x = int(q * cell) + int(rng.integers(0, slack + 1))
        img[y : y + side, x : x + side] = _bright(rng)
    return img


def draw_brightness(v: int, levels: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """A uniform grey level rising linearly with v (about 20 for 1 to 235 for `levels`)."""
    grey = 20.0 + (v - 1) * 215.0 / max(1, levels - 1)
    return grey + rng.normal(0.0, 4.0, (size, size, 3))


def draw_bar(v: int, levels: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """A bright bar from the left margin, length proportional to v."""
    img = _background(size, rng)
    margin = max(1, size // 14)
    length = int(round(v / levels * (size - 2 * margin)))
    height = max(2, size // 4)
    y = int(rng.integers(margin, size - margin - height + 1))
    img[y : y + height, margin : margin + length] = _bright(rng)
    return img


def draw_size(v: int, levels: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """A bright disc whose diameter is proportional to v, its centre jittered within the frame."""
    img = _background(size, rng)
    radius = v / levels * (size / 2 - 2)
    room = max(0.0, size / 2 - 2 - radius)
    cy, cx = size / 2 + rng.uniform(-room, room, 2)
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    img[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = _bright(rng)
    return img


@dataclass(frozen=True)
class SyntheticProperty:
    """One synthetic ordinal property: how to draw level v, and the task it defines."""

    name: str
    rule: str
    draw: Drawer
    metric: str = "mae"

    def task(self, levels: int) -> OrdinalTask:
        """The task for levels 1..levels (int values, delta 2)."""
        return OrdinalTask(
            name=f"synthetic-{self.name}",
            rule=self.rule,
            value_range=(1, levels),
            value_type="int",
            precision=0,
            delta=2.0,
            metric=self.metric,  # type: ignore[arg-type]
        )


SYNTHETIC_PROPERTIES: dict[str, SyntheticProperty] = {
    p.name: p
    for p in (
        SyntheticProperty("count", "number of squares", draw_count, metric="accuracy"),
        SyntheticProperty("brightness", "brightness of the image", draw_brightness),
        SyntheticProperty("bar", "length of the bar", draw_bar),
        SyntheticProperty("size", "size of the disc", draw_size),
    )
}


def synthetic_task(property: str = "count", levels: int = 9) -> OrdinalTask:
    """The `OrdinalTask` of a synthetic property (without drawing anything)."""
    if property not in SYNTHETIC_PROPERTIES:
        raise DataError(
            f"synthetic: unknown property {property!r}; choose from {sorted(SYNTHETIC_PROPERTIES)}"
        )
    return SYNTHETIC_PROPERTIES[property].task(levels)


def render_synthetic(
    property: str, level: int, *, levels: int = 9, image_size: int = 56, seed: int = 0
) -> Image.Image:
    """One RGB image of `property` at `level`, deterministic in (property, level, levels, size, seed)."""
    if property not in SYNTHETIC_PROPERTIES:
        raise DataError(
            f"synthetic: unknown property {property!r}; choose from {sorted(SYNTHETIC_PROPERTIES)}"
        )
    rng = np.random.default_rng(seed)
    arr = SYNTHETIC_PROPERTIES[property].draw(int(level), levels, image_size, rng)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def generate_synthetic(
    out_dir: str | os.PathLike,
    *,
    property: str = "count",
    num_images: int = 600,
    image_size: int = 56,
    levels: int = 9,
    label_noise: float = 0.0,
    seed: int = 0,
    subdir: str = "images",
    progress: Callable[[int], None] | None = None,
) -> ReadResult:
    """Draw `num_images` PNGs of `property` into `out_dir/subdir` and return them as labelled items.

    Levels are balanced over 1..levels and shuffled; image i uses its own random stream derived from
    `seed`, so the output is identical for the same arguments. `progress(k)` is called after k images.
    """
    task = synthetic_task(property, levels)
    if not isinstance(levels, int) or not 2 <= levels <= 9:
        raise DataError(f"synthetic: levels must be an int in 2..9, got {levels!r}")
    if not isinstance(num_images, int) or num_images < 1:
        raise DataError(f"synthetic: num_images must be an int >= 1, got {num_images!r}")
    if not isinstance(image_size, int) or image_size < MIN_IMAGE_SIZE:
        raise DataError(f"synthetic: image_size must be an int >= {MIN_IMAGE_SIZE}, got {image_size!r}")
    if label_noise < 0:
        raise DataError(f"synthetic: label_noise must be >= 0, got {label_noise!r}")
    folder = Path(out_dir) / subdir
    folder.mkdir(parents=True, exist_ok=True)
    root_rng = np.random.default_rng(seed)
    values = (np.arange(num_images) % levels + 1)[root_rng.permutation(num_images)]
    noise = root_rng.normal(0.0, label_noise, num_images) if label_noise > 0 else np.zeros(num_images)
    streams = np.random.SeedSequence(seed).spawn(num_images)
    draw = SYNTHETIC_PROPERTIES[property].draw
    items = []
    for i, (v, eps, stream) in enumerate(zip(values.tolist(), noise.tolist(), streams, strict=True)):
        arr = draw(v, levels, image_size, np.random.default_rng(stream))
        path = folder / f"{property}_{i:05d}.png"
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB").save(path, optimize=False)
        label = float(min(levels, max(1, round(v + eps))))
        items.append(OrdinalItem(image=str(path.resolve()), label=label, meta={"level": v}))
        if progress is not None:
            progress(i + 1)
    report = ReadReport(read=num_images)
    if label_noise > 0:
        changed = sum(1 for it in items if it.label != it.meta["level"])
        report.note(
            f"label noise std {label_noise:g}: {changed} of {num_images} labels differ from the level"
        )
    return ReadResult(task, items, report)
