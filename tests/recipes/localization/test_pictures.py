"""Vision-R1 example pictures: which test images are drawn, the two box colours and the legend, one folder per
model named without the table's "+ ", and model names with or without that prefix."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from rarl.data.errors import DataError
from rarl.recipes.localization.drawing import (
    GT_COLOUR,
    PRED_COLOUR,
    choose_examples,
    draw_examples,
    draw_prediction_file,
    draw_predictions,
    match_model,
    model_folders,
)

A = [10.0, 10.0, 30.0, 30.0]
B = [50.0, 50.0, 70.0, 90.0]


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "im.png"
    Image.new("RGB", (100, 100), (128, 128, 128)).save(path)
    return str(path)


def rows_for(model, image, counts, missing=()):
    """One row per sample s0, s1, ... with `counts[i]` ground-truth boxes (0: a negative)."""
    return [
        {
            "model": model,
            "sample_id": f"s{i}",
            "image": "gone.png" if i in missing else image,
            "pred_boxes": [A],
            "pred_labels": ["cat"],
            "gt_boxes": [B] * n,
            "gt_labels": ["dog"] * n,
        }
        for i, n in enumerate(counts)
    ]


def test_several_objects_first_and_at_most_one_negative(image):
    counts = [1, 0, 2, 0, 3, 1, 2, 0]
    rows = rows_for("m", image, counts)
    assert choose_examples(rows, 4) == ["s2", "s4", "s6", "s1"]  # three with >= 2 objects, one negative
    assert choose_examples(rows, 6) == ["s2", "s4", "s6", "s0", "s5", "s1"]  # then one-object positives
    assert choose_examples(rows, 1) == ["s2"]  # one picture: a positive
    assert choose_examples(rows, 8) == ["s2", "s4", "s6", "s0", "s5", "s1", "s3"]  # negatives: a quarter
    assert choose_examples(rows_for("m", image, [0, 0, 0]), 4) == ["s0"]
    assert choose_examples(rows_for("m", image, [1, 2, 2], missing={1}), 4) == ["s2", "s0"]  # image gone


def test_every_model_gets_the_same_images_in_a_folder_named_without_the_plus(tmp_path, image):
    counts = [1, 0, 2, 0, 3, 1, 2]
    rows = [r for model in ("Tiny-VL base", "+ SFT", "+ Vision-R1") for r in rows_for(model, image, counts)]
    paths = draw_examples(tmp_path, rows)
    names = [p.relative_to(tmp_path / "examples").as_posix() for p in paths]
    assert names == [
        f"{m}/{s}.png" for m in ("Tiny-VL_base", "SFT", "Vision-R1") for s in ("s2", "s4", "s6", "s1")
    ]
    assert model_folders(["SFT", "+ SFT", "sft", "+++", "a/b", " +Vision-R1 (x) "]) == {
        "SFT": "SFT",
        "+ SFT": "SFT-2",
        "sft": "sft-3",  # apart on case-insensitive file systems too
        "+++": "model",
        "a/b": "a_b",
        " +Vision-R1 (x) ": "Vision-R1_x",
    }


def test_the_two_colours_and_the_legend(tmp_path):
    background = Image.new("RGB", (100, 100), (128, 128, 128))
    out = draw_predictions(
        background, [A, B], [A], tmp_path / "p.png", pred_labels=["cat", "dog"], gt_labels=["cat"]
    )
    pixels = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert pixels.shape[:2][1] == 336 and pixels.shape[0] > 336  # enlarged 3.36x, the legend strip under it
    # B is a prediction only: its top edge is magenta
    assert tuple(pixels[int(50 * 3.36), int(60 * 3.36)]) == PRED_COLOUR
    # A is predicted exactly: the thinner prediction outline lies on the outer half of the ground truth's
    assert tuple(pixels[int(20 * 3.36), int(10 * 3.36)]) == PRED_COLOUR
    assert tuple(pixels[int(20 * 3.36), int(10 * 3.36) + 3]) == GT_COLOUR
    assert tuple(pixels[int(20 * 3.36), int(20 * 3.36)]) == (128, 128, 128)  # inside: untouched
    legend = pixels[336:]
    colours = {tuple(p) for p in legend.reshape(-1, 3)}
    assert GT_COLOUR in colours and PRED_COLOUR in colours and (255, 255, 255) in colours
    assert np.linalg.norm(np.subtract(GT_COLOUR, PRED_COLOUR)) > 200  # far apart


def test_a_model_named_with_or_without_its_plus(tmp_path, image):
    rows = [r for model in ("Tiny-VL base", "+ SFT", "+ Vision-R1") for r in rows_for(model, image, [2, 1])]
    (tmp_path / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    models = ["Tiny-VL base", "+ SFT", "+ Vision-R1"]
    assert [match_model(m, models) for m in ("Vision-R1", "+ Vision-R1", "+Vision-R1", "Tiny-VL_base")] == [
        "+ Vision-R1",
        "+ Vision-R1",
        "+ Vision-R1",
        "Tiny-VL base",
    ]
    assert match_model("SFT", ["SFT", "+ SFT"]) == "SFT" and match_model("sft", models) is None
    paths, missing = draw_prediction_file(tmp_path, model="Vision-R1")
    assert [p.relative_to(tmp_path / "pictures").as_posix() for p in paths] == [
        "Vision-R1/s0.png",
        "Vision-R1/s1.png",
    ]
    assert missing == 0
    with pytest.raises(DataError, match="no rows for model 'R1'; models: "):
        draw_prediction_file(tmp_path, model="R1")
