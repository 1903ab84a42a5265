"""Refine-IQA's synthetic quality task (`rarl prepare synthetic-quality`): a MOS known from severity.

The synthetic quality task (`synthetic-quality`) draws clean images (smooth colour fields with shapes),
applies one distortion of `rarl.recipes.quality.distortions` to the whole image at severity k = 0..5
(0: clean) and sets `MOS = 4.6 - 0.9 k` exactly, a known function of severity; each distortion is its own
dataset ("synthetic-noise", ...), so the evaluation table has a column per distortion.

`label_noise` > 0 records subjective ratings instead, as a mean of a few raters' opinions is: each image's
MOS is `4.6 - 0.9 k` plus Gaussian noise of that std, rounded to two decimals and kept on [0, 4.99]; the
exact value is kept in the sample's `meta` as `mos_clean`. The demo's base is warmed up on such labels (a
coarse scorer that samples several scores for one image); the demo's own data are exact.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

from rarl.data.errors import DataError, ReadReport
from rarl.recipes.quality.distortions import DISTORTIONS, apply_distortion
from rarl.recipes.quality.iqa_readers import MosScale, QualityRead

__all__ = ["SYNTHETIC_DISTORTIONS", "read_synthetic_quality", "synthetic_mos"]

SYNTHETIC_DISTORTIONS: tuple[str, ...] = ("underexposure", "overexposure")
"""Default distortions of the synthetic quality task (each its own dataset): the demo's task. Too dark and too
bright, so a scorer must learn that quality falls on both sides of a normal exposure (reading brightness alone
ranks one of the two backwards). The tiny demo model, whose vision tower is trained from scratch on CPU, did
not learn to see additive noise at 56x56 within a 25-minute build (docs/refine-iqa.md); `-o
distortions=noise,underexposure` draws that task."""


def synthetic_mos(severity: int) -> float:
    """The synthetic task's MOS on [0, 5): 4.6 for a clean image, 0.9 less per severity level (0.1 at 5)."""
    return round(4.6 - 0.9 * severity, 2)


def _clean_image(rng: random.Random, size: int) -> Image.Image:
    """A smooth colour gradient with two or three flat shapes: a 'clean' image with edges and colour."""
    a = tuple(rng.randint(60, 200) for _ in range(3))
    b = tuple(rng.randint(60, 200) for _ in range(3))
    img = Image.new("RGB", (size, size))
    draw = ImageDraw.Draw(img)
    for y in range(size):
        t = y / max(1, size - 1)
        draw.line([(0, y), (size, y)], fill=tuple(int(a[c] * (1 - t) + b[c] * t) for c in range(3)))
    for _ in range(rng.randint(2, 3)):
        x0, y0 = rng.randint(0, size // 2), rng.randint(0, size // 2)
        x1, y1 = x0 + rng.randint(size // 6, size // 2), y0 + rng.randint(size // 6, size // 2)
        colour = tuple(rng.randint(0, 255) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x0, y0, x1, y1], fill=colour)
    return img.filter(ImageFilter.SMOOTH)


def read_synthetic_quality(
    out_dir: Path,
    *,
    num_images: int = 300,
    image_size: int = 56,
    distortions: str | Sequence[str] = SYNTHETIC_DISTORTIONS,
    seed: int = 0,
    subdir: str = "images",
    label_noise: float = 0.0,
) -> list[QualityRead]:
    """Draw `num_images` images per distortion at severities 0..5 into `out_dir/subdir` (see module docstring)."""
    names = [d.strip() for d in distortions.split(",")] if isinstance(distortions, str) else list(distortions)
    unknown = [d for d in names if d not in DISTORTIONS]
    if unknown or not names:
        raise DataError(f"synthetic-quality: unknown distortions {unknown}; choose from {DISTORTIONS}")
    if isinstance(num_images, bool) or not isinstance(num_images, int) or num_images < 6:
        raise DataError(f"synthetic-quality: num_images must be an int >= 6, got {num_images!r}")
    if isinstance(label_noise, bool) or not isinstance(label_noise, (int, float)) or not label_noise >= 0:
        raise DataError(f"synthetic-quality: label_noise must be a number >= 0, got {label_noise!r}")
    folder = out_dir / subdir
    folder.mkdir(parents=True, exist_ok=True)
    reads = []
    for d_index, name in enumerate(names):
        rng = random.Random(seed * 1000 + d_index)
        raters = random.Random(seed * 1000 + d_index + 500)  # its own stream: the images do not depend on it
        rows, meta = [], []
        for i in range(num_images):
            severity = i % 6
            clean = _clean_image(rng, image_size)
            image = clean if severity == 0 else apply_distortion(clean, name, severity, seed=seed + i)
            path = folder / f"{name}-{i:05d}.png"
            image.save(path)
            mos = synthetic_mos(severity)
            noisy = (
                min(max(round(mos + raters.gauss(0.0, label_noise), 2), 0.0), 4.99) if label_noise else mos
            )
            rows.append((str(path), noisy))
            meta.append(
                {"distortion": name, "severity": severity, **({"mos_clean": mos} if label_noise else {})}
            )
        reads.append(
            QualityRead(f"synthetic-{name}", MosScale(0.0, 5.0), rows, ReadReport(read=num_images), meta)
        )
    return reads
