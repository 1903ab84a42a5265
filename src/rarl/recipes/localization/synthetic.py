"""Synthetic shapes for the Vision-R1 recipe: a localization task drawn on the spot, nothing downloaded.

`read_synthetic_shapes` draws images of 0..max_objects non-overlapping named shapes (`SHAPES`: a red square,
a green circle, a blue triangle) on a noisy dark background, at known boxes, deterministic by seed. An image
without shapes is a negative sample; optionally a share of the images holding exactly one shape of a kind
is asked as grounding ("the red square"). It backs the CPU demo and the tests, and is the
`synthetic-shapes` source of `prepare_localization`.
"""

from __future__ import annotations

import os
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from rarl.data.errors import DataError, ReadReport
from rarl.recipes.localization.samples import LocalizationRead, LocalizationSample

__all__ = ["SHAPES", "Shape", "read_synthetic_shapes", "render_shapes"]


@dataclass(frozen=True)
class Shape:
    """A synthetic object: its name (the label) and its fixed colour (RGB)."""

    name: str
    colour: tuple[int, int, int]
    colour_name: str


SHAPES: tuple[Shape, ...] = (
    Shape("square", (230, 60, 50), "red"),
    Shape("circle", (60, 210, 80), "green"),
    Shape("triangle", (70, 110, 245), "blue"),
)
"""Each shape has its own colour, so even a few visual tokens tell them apart."""


def _draw_shape(draw: ImageDraw.ImageDraw, shape: Shape, box: tuple[int, int, int, int]) -> None:
    """Fill `shape` so that its tight box is `box` (x1, y1, x2, y2), ends exclusive."""
    x1, y1, x2, y2 = box
    inner = (x1, y1, x2 - 1, y2 - 1)  # ImageDraw's coordinates are inclusive pixel indices
    if shape.name == "square":
        draw.rectangle(inner, fill=shape.colour)
    elif shape.name == "circle":
        draw.ellipse(inner, fill=shape.colour)
    else:
        draw.polygon([(x1, y2 - 1), ((x1 + x2 - 1) / 2, y1), (x2 - 1, y2 - 1)], fill=shape.colour)


def render_shapes(
    image_size: int, max_objects: int, rng: np.random.Generator
) -> tuple[Image.Image, list[tuple[int, int, int, int]], list[str]]:
    """One image with 0..max_objects non-overlapping shapes; returns (image, boxes, labels)."""
    size = image_size
    base = rng.integers(15, 45)
    noise = rng.normal(0.0, 5.0, (size, size, 3))
    image = Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    count = int(rng.integers(0, max_objects + 1))
    lo, hi = max(6, size // 5), max(7, int(size * 0.42))
    boxes: list[tuple[int, int, int, int]] = []
    labels: list[str] = []
    for _ in range(count):
        for _attempt in range(50):
            w = int(rng.integers(lo, hi + 1))
            h = int(rng.integers(lo, hi + 1))
            x = int(rng.integers(0, size - w + 1))
            y = int(rng.integers(0, size - h + 1))
            box = (x, y, x + w, y + h)
            gap = 2
            if all(
                box[2] + gap <= b[0] or b[2] + gap <= box[0] or box[3] + gap <= b[1] or b[3] + gap <= box[1]
                for b in boxes
            ):
                shape = SHAPES[int(rng.integers(0, len(SHAPES)))]
                _draw_shape(draw, shape, box)
                boxes.append(box)
                labels.append(shape.name)
                break
    return image, boxes, labels


def read_synthetic_shapes(
    out_dir: str | os.PathLike,
    *,
    num_images: int = 500,
    image_size: int = 112,
    max_objects: int = 2,
    grounding_fraction: float = 0.0,
    seed: int = 0,
    subdir: str = "images",
) -> LocalizationRead:
    """Draw `num_images` PNGs with 0..max_objects shapes into `out_dir/subdir`, deterministic by `seed`.

    The defaults are the Vision-R1 demo's task (500 images of 112 x 112 pixels, 0..2 shapes each).

    An image without shapes is a negative sample. With `grounding_fraction` > 0, that share of the images
    holding exactly one shape of some kind is asked as grounding ("the red square") instead of detection.
    """
    if isinstance(num_images, bool) or not isinstance(num_images, int) or num_images < 1:
        raise DataError(f"synthetic-shapes: num_images must be an int >= 1, got {num_images!r}")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 28:
        raise DataError(f"synthetic-shapes: image_size must be an int >= 28, got {image_size!r}")
    if isinstance(max_objects, bool) or not isinstance(max_objects, int) or not 0 <= max_objects <= 8:
        raise DataError(f"synthetic-shapes: max_objects must be an int in 0..8, got {max_objects!r}")
    if not 0.0 <= grounding_fraction <= 1.0:
        raise DataError(f"synthetic-shapes: grounding_fraction must be in [0, 1], got {grounding_fraction!r}")
    folder = Path(out_dir) / subdir
    folder.mkdir(parents=True, exist_ok=True)
    cats = tuple(s.name for s in SHAPES)
    colour_of = {s.name: s.colour_name for s in SHAPES}
    streams = np.random.SeedSequence([seed, zlib.crc32(b"shapes")]).spawn(num_images)
    samples = []
    for i, stream in enumerate(streams):
        rng = np.random.default_rng(stream)
        image, boxes, labels = render_shapes(image_size, max_objects, rng)
        path = folder / f"shapes_{i:05d}.png"
        image.save(path, optimize=False)
        fboxes = tuple(tuple(float(v) for v in b) for b in boxes)
        single = [name for name, n in Counter(labels).items() if n == 1]
        sid = f"shapes-{i:05d}"
        common = {"sample_id": sid, "image": str(path.resolve()), "image_size": (image_size, image_size)}
        if single and rng.random() < grounding_fraction:
            name = single[int(rng.integers(0, len(single)))]
            phrase = f"{colour_of[name]} {name}"
            k = labels.index(name)
            samples.append(
                LocalizationSample(
                    kind="grounding",
                    categories=(phrase,),
                    boxes=(fboxes[k],),
                    labels=(phrase,),
                    phrase=phrase,
                    **common,
                )
            )
        else:
            samples.append(
                LocalizationSample(
                    kind="detection" if boxes else "negative",
                    categories=cats,
                    boxes=fboxes,  # type: ignore[arg-type]
                    labels=tuple(labels),
                    **common,
                )
            )
    return LocalizationRead(samples, cats, ReadReport(read=num_images))
