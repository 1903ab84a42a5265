"""apply_distortion: the 12-distortion pool, severity monotonicity, box locality, determinism, errors.

Each distortion is measured on a fixed synthetic test image (colour gradients, sinusoidal texture and fixed
noise, 96x96, mid-grey mean) with a statistic it should move, and with the mean absolute difference to the
clean image; both must change strictly (and visibly: by at least 2% per step) from severity 1 to 5.
"""

from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from rarl.recipes.quality.distortions import DISTORTIONS, PARAMETERS, SEVERITY_NAMES, apply_distortion

SEVERITIES = (1, 2, 3, 4, 5)
BOX = (20, 30, 76, 82)  # x0, y0, x1, y1


def make_test_image(size: int = 96) -> Image.Image:
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) / (size - 1)
    r = 60 + 130 * x + 20 * np.sin(2 * np.pi * 6 * y)
    g = 60 + 130 * y + 20 * np.sin(2 * np.pi * 5 * x)
    b = 70 + 110 * (1 - x) * (1 - y) + 25 * np.sin(2 * np.pi * (4 * x + 3 * y))
    rgb = np.stack([r, g, b], axis=-1) + np.random.default_rng(0).normal(0, 6, (size, size, 3))
    return Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), "RGB")


CLEAN = make_test_image()


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)  # [H, W, 3]


def luma(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.float64)  # [H, W]


def high_frequency(image: Image.Image) -> float:
    """Mean absolute difference between neighbouring pixels (vertical + horizontal) of the luma."""
    lum = luma(image)
    return float(np.abs(np.diff(lum, axis=0)).mean() + np.abs(np.diff(lum, axis=1)).mean())


def saturation(image: Image.Image) -> float:
    return float(pixels(image.convert("HSV"))[..., 1].mean())


def distinct_colours(image: Image.Image) -> float:
    return float(len(np.unique(np.asarray(image).reshape(-1, 3), axis=0)))


def mad(image: Image.Image, reference: Image.Image) -> float:
    return float(np.abs(pixels(image) - pixels(reference)).mean())


def mad_to_clean(image: Image.Image) -> float:
    """Mean absolute difference to the clean image, or to its box region for an image of the box's size."""
    return mad(image, CLEAN if image.size == CLEAN.size else CLEAN.crop(BOX))


# distortion -> (statistic, +1 if it must increase with severity, -1 if it must decrease)
STATISTICS: dict[str, tuple[Callable[[Image.Image], float], int]] = {
    "blur": (high_frequency, -1),
    "noise": (mad_to_clean, +1),
    "compression": (mad_to_clean, +1),
    "overexposure": (lambda im: float(luma(im).mean()), +1),
    "underexposure": (lambda im: float(luma(im).mean()), -1),
    "high_contrast": (lambda im: float(luma(im).std()), +1),
    "low_contrast": (lambda im: float(luma(im).std()), -1),
    "oversaturate": (saturation, +1),
    "desaturate": (saturation, -1),
    "oversharpen": (high_frequency, +1),
    "pixelate": (mad_to_clean, +1),
    "quantization": (distinct_colours, -1),
}


def assert_visibly_monotone(values: list[float], direction: int, clean_value: float, name: str) -> None:
    """Strictly monotone from the clean value through severities 1..5, each step at least 2% relative."""
    chain = [clean_value, *values]
    for before, after in zip(chain, chain[1:]):
        step = (after - before) * direction
        assert step > 0.02 * max(abs(before), abs(after)), (name, chain)


# --- the pool -------------------------------------------------------------------------------------------


def test_pool_matches_the_paper():
    assert len(DISTORTIONS) == 12 and len(set(DISTORTIONS)) == 12
    assert set(PARAMETERS) == set(DISTORTIONS)
    assert all(len(params) == 5 for params in PARAMETERS.values())
    assert SEVERITY_NAMES == ("slight", "just noticeable", "relatively obvious", "severe", "very severe")
    assert set(STATISTICS) == set(DISTORTIONS)


# --- monotone severities --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DISTORTIONS)
def test_specific_statistic_is_visibly_monotone(name):
    statistic, direction = STATISTICS[name]
    values = [statistic(apply_distortion(CLEAN, name, s)) for s in SEVERITIES]
    assert_visibly_monotone(values, direction, statistic(CLEAN), name)


@pytest.mark.parametrize("name", DISTORTIONS)
def test_difference_to_clean_is_visibly_monotone(name):
    values = [mad(apply_distortion(CLEAN, name, s), CLEAN) for s in SEVERITIES]
    assert values[0] > 2.0, (name, values)  # severity 1 is already visible (> 2 grey levels on average)
    assert_visibly_monotone(values, +1, 0.0, name)


@pytest.mark.parametrize("name", DISTORTIONS)
def test_statistic_inside_a_box_is_monotone(name):
    statistic, direction = STATISTICS[name]
    region = [statistic(apply_distortion(CLEAN, name, s, box=BOX).crop(BOX)) for s in SEVERITIES]
    assert_visibly_monotone(region, direction, statistic(CLEAN.crop(BOX)), name)


# --- locality -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DISTORTIONS)
@pytest.mark.parametrize("severity", [1, 5])
def test_pixels_outside_the_box_are_unchanged(name, severity):
    out = np.asarray(apply_distortion(CLEAN, name, severity, box=BOX))
    clean = np.asarray(CLEAN)
    x0, y0, x1, y1 = BOX
    outside = np.ones(clean.shape[:2], dtype=bool)
    outside[y0:y1, x0:x1] = False
    np.testing.assert_array_equal(out[outside], clean[outside])
    assert not np.array_equal(out[y0:y1, x0:x1], clean[y0:y1, x0:x1])


@pytest.mark.parametrize("name", DISTORTIONS)
def test_one_pixel_box_and_image(name):
    out = apply_distortion(CLEAN, name, 5, box=(3, 4, 4, 5))
    assert out.size == CLEAN.size
    assert apply_distortion(Image.new("RGB", (1, 1), (90, 120, 200)), name, 5).size == (1, 1)


def test_box_on_the_image_border_and_whole_image_box():
    corner = apply_distortion(CLEAN, "blur", 3, box=(80, 80, 96, 96))
    np.testing.assert_array_equal(np.asarray(corner)[:80], np.asarray(CLEAN)[:80])
    whole = apply_distortion(CLEAN, "quantization", 2, box=(0, 0, 96, 96))
    assert np.array_equal(np.asarray(whole), np.asarray(apply_distortion(CLEAN, "quantization", 2)))


# --- output, determinism ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DISTORTIONS)
def test_output_is_a_new_rgb_image_and_input_is_untouched(name):
    before = np.asarray(CLEAN).copy()
    out = apply_distortion(CLEAN, name, 3, box=BOX)
    assert out is not CLEAN and out.mode == "RGB" and out.size == CLEAN.size
    np.testing.assert_array_equal(np.asarray(CLEAN), before)


@pytest.mark.parametrize("name", DISTORTIONS)
def test_deterministic_given_seed(name):
    a = apply_distortion(CLEAN, name, 4, box=BOX, seed=7)
    b = apply_distortion(CLEAN, name, 4, box=BOX, seed=7)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_seed_only_matters_for_noise():
    a, b = (np.asarray(apply_distortion(CLEAN, "noise", 2, seed=s)) for s in (0, 1))
    assert not np.array_equal(a, b)
    a, b = (np.asarray(apply_distortion(CLEAN, "blur", 2, seed=s)) for s in (0, 1))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P"])
def test_other_modes_are_converted_to_rgb(mode):
    out = apply_distortion(CLEAN.convert(mode), "compression", 2, box=BOX)
    assert out.mode == "RGB" and out.size == CLEAN.size


def test_numpy_integer_arguments_are_accepted():
    box = tuple(np.int64(v) for v in BOX)
    out = apply_distortion(CLEAN, "pixelate", np.int64(3), box=box)  # type: ignore[arg-type]
    np.testing.assert_array_equal(
        np.asarray(out), np.asarray(apply_distortion(CLEAN, "pixelate", 3, box=BOX))
    )


# --- errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["gaussian_blur", "Blur", "high contrast", ""])
def test_unknown_distortion_is_named(name):
    with pytest.raises(ValueError, match=repr(name)):
        apply_distortion(CLEAN, name, 1)


@pytest.mark.parametrize("severity", [0, 6, -1, True, 2.0, "3", None])
def test_bad_severity_is_named(severity):
    with pytest.raises(ValueError, match="severity") as info:
        apply_distortion(CLEAN, "blur", severity)  # type: ignore[arg-type]
    assert repr(severity) in str(info.value)


@pytest.mark.parametrize(
    "box",
    [
        (10, 10, 10, 20),  # empty
        (30, 10, 20, 20),  # x1 < x0
        (-1, 0, 10, 10),  # outside
        (0, 0, 97, 10),  # past the right edge
        (0, 0, 10),  # three values
        (0.0, 0, 10, 10),  # float
        "0, 0, 10, 10",
    ],
)
def test_bad_box_raises(box):
    with pytest.raises(ValueError, match="box"):
        apply_distortion(CLEAN, "blur", 1, box=box)  # type: ignore[arg-type]
