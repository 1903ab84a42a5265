"""Box geometry shared by localization data preparation and the localization reward.

Boxes are (x1, y1, x2, y2) in pixels of a (width, height) frame, x to the right and y down. Qwen2.5-VL
answers in absolute pixels of the image as its processor resized it (`smart_resize`); `resized_frame` gives
that frame for an image and a pixel budget, and `scale_boxes` maps boxes between the original image and the
frame (ground truth into the frame for the reward, predictions back for evaluation). `is_real` and
`frame_size` are the argument checks both sides use.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

__all__ = ["Box", "frame_size", "is_real", "resized_frame", "scale_boxes"]

Box = tuple[float, float, float, float]
"""(x1, y1, x2, y2) in pixels of a frame, x to the right and y down."""


def is_real(value: object) -> bool:
    """A finite real number: int, float or numpy scalar (bools excluded)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    return math.isfinite(value)


def frame_size(size: object) -> tuple[float, float]:
    """(width, height) as positive finite floats."""
    if isinstance(size, (str, bytes)):
        raise ValueError(f"a frame size must be (width, height), got {size!r}")
    try:
        width, height = size  # type: ignore[misc]
    except (TypeError, ValueError):
        raise ValueError(f"a frame size must be (width, height), got {size!r}") from None
    if not (is_real(width) and is_real(height) and width > 0 and height > 0):
        raise ValueError(f"a frame size must be two positive numbers (width, height), got {size!r}")
    return float(width), float(height)


def scale_boxes(
    boxes: Sequence[Sequence[float]], from_size: tuple[float, float], to_size: tuple[float, float]
) -> list[list[float]]:
    """Map (x1, y1, x2, y2) boxes from a (width, height) frame to another by scaling each axis.

    Ground truth goes from the original image into the resized frame the model sees; predictions come back
    the other way for evaluation. Raises ValueError for a box that is not 4 numbers or a non-positive size.
    """
    from_w, from_h = frame_size(from_size)
    to_w, to_h = frame_size(to_size)
    out = []
    for box in boxes:
        if isinstance(box, (str, bytes)) or len(box) != 4 or not all(is_real(v) for v in box):
            raise ValueError(f"a box must be 4 finite numbers [x1, y1, x2, y2], got {box!r}")
        x1, y1, x2, y2 = (float(v) for v in box)
        out.append([x1 * to_w / from_w, y1 * to_h / from_h, x2 * to_w / from_w, y2 * to_h / from_h])
    return out


def resized_frame(
    width: int, height: int, min_pixels: int, max_pixels: int, factor: int = 28
) -> tuple[int, int]:
    """(width, height) of the frame Qwen2.5-VL sees for a `width` x `height` image.

    Reproduces transformers' `Qwen2VLImageProcessor` `smart_resize` (which takes and returns height first):
    each side is rounded to a multiple of `factor` (Python's round, ties to even); if the area exceeds
    `max_pixels` both sides are scaled down by sqrt(area / max_pixels) and floored to multiples of `factor`
    (at least `factor`); if it falls below `min_pixels` they are scaled up and ceiled. The processor defaults
    are min_pixels = 56 * 56 and max_pixels = 28 * 28 * 1280. Raises ValueError for non-positive arguments or
    an aspect ratio above 200, as transformers does.
    """
    for name, value in (
        ("width", width),
        ("height", height),
        ("min_pixels", min_pixels),
        ("max_pixels", max_pixels),
        ("factor", factor),
    ):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    width, height, min_pixels, max_pixels, factor = (
        int(v) for v in (width, height, min_pixels, max_pixels, factor)
    )
    if min_pixels > max_pixels:
        raise ValueError(f"min_pixels must be <= max_pixels, got {min_pixels} > {max_pixels}")
    if max(height, width) / min(height, width) > 200:
        raise ValueError(
            f"absolute aspect ratio must be at most 200, got {max(height, width) / min(height, width)}"
        )
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return w_bar, h_bar
