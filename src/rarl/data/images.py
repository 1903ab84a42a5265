"""Reading image files the way the model will see them: orientation, pixel modes, and the processor's limits.

Every image the project reads (at `rarl prepare`, at the up-front manifest check, when a prompt is built)
goes through `image_problem` and `to_rgb`, so an image `prepare` accepts is one the model can take, and
it is shown as an image viewer would show it:

- EXIF orientation is applied (a phone photo stored sideways is turned upright; the size reported is the
  upright size).
- Transparency (RGBA, LA, palette images with a transparent colour, ...) is composited onto white, as
  transformers' `convert_to_rgb` does, instead of showing whatever colour hides under transparent pixels.
- 16-bit greyscale (`I;16*`, and `I` holding 0..65535, as 16-bit PNG and TIFF files open) is scaled to
  8 bits (value / 257) instead of clipped at 255, which would turn most of the image white.
- CMYK (print JPEGs), palette, 1-bit and YCbCr images convert with PIL's conversions.
- Refused by name: animated or multi-frame files (GIF, APNG, WebP animations, multi-page TIFF; which frame
  was meant is unknowable; the primary image of a camera MPO file is used), floating-point pixels (`F`: no
  fixed range), and modes without a faithful RGB conversion.
- Qwen2.5-VL's processor refuses an aspect ratio above `MAX_ASPECT_RATIO` (its `smart_resize` raises), and
  releases of it refuse a side shorter than its 28-pixel patch factor (`MIN_SIDE`); such images are
  reported here rather than failing inside the processor mid-run.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image, ImageOps

from rarl.data.errors import DataError

MAX_ASPECT_RATIO = 200.0
"""Longer side / shorter side above which Qwen2.5-VL's `smart_resize` raises."""
MIN_SIDE = 28
"""Shortest side in pixels (the processor's patch factor, 14 x merge 2)."""

ASPECT = f"aspect ratio above {MAX_ASPECT_RATIO:g}"
TOO_SMALL = f"image smaller than {MIN_SIDE} pixels on a side"
ANIMATED = "animated or multi-frame image"
UNSUPPORTED_MODE = "unsupported pixel format"

_ORIENTATION = 0x0112
_SWAPS_SIDES = {5, 6, 7, 8}  # EXIF orientations that rotate by 90 degrees
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_PLAIN_MODES = {"RGB", "L", "1", "P", "CMYK", "YCbCr", "RGBX"}
_SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I;16N"}


def oriented_size(im: Image.Image) -> tuple[int, int]:
    """(width, height) of `im` once its EXIF orientation is applied (read from the header only)."""
    width, height = im.size
    try:
        orientation = im.getexif().get(_ORIENTATION, 1)
    except Exception:  # a broken EXIF block: no orientation to apply
        orientation = 1
    return (height, width) if orientation in _SWAPS_SIDES else (width, height)


def image_problem(im: Image.Image) -> tuple[str, str] | None:
    """(reason, detail) why the opened image `im` cannot be given to the model, or None.

    Judged from the header: frame count, pixel mode, and the upright size against the processor's limits.
    """
    frames = getattr(im, "n_frames", 1)
    if frames > 1 and im.format != "MPO":
        return ANIMATED, f"{im.format} with {frames} frames"
    if im.mode not in _PLAIN_MODES | _ALPHA_MODES | _SIXTEEN_BIT | {"I"}:
        why = "floating-point pixels have no fixed range" if im.mode == "F" else "no faithful RGB conversion"
        return UNSUPPORTED_MODE, f"mode {im.mode}: {why}"
    width, height = oriented_size(im)
    if width < 1 or height < 1:
        return TOO_SMALL, f"{width}x{height}"
    if max(width, height) / min(width, height) > MAX_ASPECT_RATIO:
        return ASPECT, f"{width}x{height}, ratio {max(width, height) / min(width, height):.0f}"
    if min(width, height) < MIN_SIDE:
        return TOO_SMALL, f"{width}x{height}"
    return None


def _sixteen_bit_to_l(im: Image.Image) -> Image.Image:
    """A 16-bit greyscale image scaled to 8 bits (0..65535 -> 0..255)."""
    values = np.asarray(im.convert("I"), dtype=np.int64)
    if values.size and (values.min() < 0 or values.max() > 65535):
        raise DataError(
            f"mode {im.mode}: pixel values {values.min()}..{values.max()} are outside the 16-bit range"
        )
    return Image.fromarray(((values * 255 + 32767) // 65535).astype(np.uint8), "L")


def to_rgb(im: Image.Image) -> Image.Image:
    """The decoded image `im` upright and in RGB, converted faithfully (see the module docstring)."""
    im = ImageOps.exif_transpose(im) or im
    if im.mode in _SIXTEEN_BIT or im.mode == "I":
        return _sixteen_bit_to_l(im).convert("RGB")
    has_alpha = im.mode in _ALPHA_MODES or (im.mode in ("P", "L", "RGB") and "transparency" in im.info)
    if has_alpha:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im if im.mode == "RGB" else im.convert("RGB")


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """Read the image file at `path` as an upright RGB image the processor accepts.

    Raises `DataError` naming the file for a missing, unreadable, truncated or refused image.
    """
    try:
        with Image.open(path) as im:
            problem = image_problem(im)
            if problem is not None:
                raise DataError(f"{problem[0]} ({problem[1]}): {path}")
            im.load()
            return to_rgb(im)
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"image file not found: {path}") from None
    except Exception as e:  # PIL raises many types for bad data (OSError, SyntaxError, ValueError, ...)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"unreadable image ({first}): {path}") from None
