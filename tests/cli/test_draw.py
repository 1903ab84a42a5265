"""`rarl draw`: an evaluation's box predictions as pictures, and one-line errors on the wrong input."""

import json

import numpy as np
import pytest
from PIL import Image
from tests.cli.helpers import assert_clean_error, assert_ok, invoke

from rarl.recipes.localization.drawing import GT_COLOUR, PRED_COLOUR


def _eval_folder(tmp_path, image_exists=True, models=("base", "rl")):
    image = tmp_path / "img.png"
    if image_exists:
        Image.new("RGB", (400, 400), (128, 128, 128)).save(image)
    rows = [
        {
            "model": name,
            "sample_id": f"s{k}",
            "image": str(image),
            "parsed": True,
            "gt_boxes": [[40, 40, 200, 200]],
            "gt_labels": ["cat"],
            "pred_boxes": [[220, 220, 380, 380]],
            "pred_labels": ["cat"],
        }
        for name in models
        for k in range(3)
    ]
    folder = tmp_path / "eval"
    folder.mkdir()
    (folder / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_draw_writes_one_png_per_prediction_with_both_boxes(tmp_path):
    folder = _eval_folder(tmp_path)
    result = invoke("draw", folder, "--model", "rl", "--limit", "2")
    assert_ok(result)
    pictures = sorted((folder / "pictures").rglob("*.png"))
    assert [p.relative_to(folder / "pictures").as_posix() for p in pictures] == ["rl/s0.png", "rl/s1.png"]
    pixels = np.asarray(Image.open(pictures[0]).convert("RGB")).astype(int)
    # on the top edges of the ground-truth (yellow) and the predicted box (magenta)
    assert tuple(pixels[41, 120]) == GT_COLOUR and tuple(pixels[221, 300]) == PRED_COLOUR
    assert (pixels[120, 120] == 128).all()  # inside a box: untouched
    assert pixels.shape[0] > 400 and (pixels[-1] == 255).any()  # the legend strip under the image


def test_draw_takes_the_model_name_with_or_without_its_plus(tmp_path):
    folder = _eval_folder(tmp_path, models=("Tiny-VL base", "+ SFT", "+ Vision-R1"))
    for asked in ("Vision-R1", "+ Vision-R1"):
        assert_ok(invoke("draw", folder, "--model", asked, "--limit", "1"))
        assert [
            p.relative_to(folder / "pictures").as_posix() for p in (folder / "pictures").rglob("*.png")
        ] == ["Vision-R1/s0.png"]
    assert_ok(invoke("draw", folder, "--limit", "1"))  # every model, in folders without the "+ "
    assert sorted(p.name for p in (folder / "pictures").iterdir()) == ["SFT", "Tiny-VL_base", "Vision-R1"]


def test_draw_errors_name_the_input(tmp_path):
    assert_clean_error(invoke("draw", tmp_path / "nowhere"), "nowhere", "no such file")
    ordinal = tmp_path / "ordinal.jsonl"
    ordinal.write_text(json.dumps({"model": "base", "completion": "x", "labels": [3]}) + "\n")
    assert_clean_error(invoke("draw", ordinal), "ordinal.jsonl", "no box predictions")
    assert_clean_error(invoke("draw", _eval_folder(tmp_path), "--model", "sft"), "models: ['base', 'rl']")


def test_draw_counts_rows_whose_image_is_gone(tmp_path):
    result = invoke("draw", _eval_folder(tmp_path, image_exists=False))
    assert_ok(result)
    assert "drew 0 pictures" in result.output and "skipped 6 rows" in result.output


def _one_row_file(tmp_path, **changes):
    """predictions.jsonl with one row of model `m` (its fields replaced by `changes`; None removes one)."""
    image = tmp_path / "img.png"
    Image.new("RGB", (400, 400), (128, 128, 128)).save(image)
    row = {
        "model": "m",
        "sample_id": "s0",
        "image": str(image),
        "gt_boxes": [[40, 40, 200, 200]],
        "gt_labels": ["cat"],
        "pred_boxes": [[220, 220, 380, 380]],
        "pred_labels": ["cat"],
    }
    for key, value in changes.items():
        if value is _DROP:
            row.pop(key)
        else:
            row[key] = value
    path = tmp_path / "predictions.jsonl"
    path.write_text(json.dumps(row) + "\n")
    return path


_DROP = object()


@pytest.mark.parametrize(
    ("changes", "fragments"),
    [
        ({"sample_id": _DROP}, ["predictions.jsonl:1: no 'sample_id'"]),
        ({"sample_id": [1, 2]}, ["'sample_id' must be non-empty text or an integer, got [1, 2]"]),
        (
            {"pred_boxes": [["a", 1, 2, 3]]},
            ["predictions.jsonl:1: pred_boxes item 1 must be [x1, y1, x2, y2]"],
        ),
        ({"pred_boxes": [[float("nan"), 1, 2, 3]]}, ["pred_boxes item 1 must be", "[nan, 1, 2, 3]"]),
        ({"pred_boxes": [[0, 0, float("inf"), 5]]}, ["pred_boxes item 1 must be", "four finite numbers"]),
        ({"pred_boxes": [[1, 2, 3]]}, ["pred_boxes item 1 must be", "[1, 2, 3]"]),
        ({"pred_boxes": [[10**400, 0, 1, 1]]}, ["pred_boxes item 1 must be"]),
        ({"pred_boxes": [[True, 0, 1, 1]]}, ["pred_boxes item 1 must be"]),
        ({"pred_boxes": None}, ["'pred_boxes' must be a list of [x1, y1, x2, y2] boxes, got None"]),
        ({"pred_boxes": "[[1, 2, 3, 4]]"}, ["'pred_boxes' must be a list"]),
        ({"gt_boxes": None}, ["'gt_boxes' must be a list"]),
        ({"pred_labels": 5}, ["'pred_labels' must be a list of text items, got 5"]),
        ({"model": None}, ["'model' must be text, got None"]),
        ({"image": 5}, ["'image' must be non-empty text, got 5"]),
    ],
)
def test_draw_hand_edited_rows_are_one_error_and_nothing_is_drawn(tmp_path, changes, fragments):
    path = _one_row_file(tmp_path, **changes)
    assert_clean_error(invoke("draw", path), *fragments)
    assert not (tmp_path / "pictures").exists()


def test_draw_file_level_problems(tmp_path):
    good = _one_row_file(tmp_path)
    row = good.read_text()
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert_clean_error(invoke("draw", empty), "empty.jsonl: no box predictions in it")
    broken = tmp_path / "broken.jsonl"
    broken.write_text(row + "{oops\n")
    assert_clean_error(invoke("draw", broken), "broken.jsonl:2: not valid JSON")
    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"a":' * 100_000 + "1" + "}" * 100_000 + "\n")
    assert_clean_error(invoke("draw", deep), "deep.jsonl:1", "nested too deeply")
    twice = tmp_path / "twice.jsonl"
    twice.write_text(row + row)
    assert_clean_error(invoke("draw", twice), "twice.jsonl:2: model 'm' sample 's0' is also on line 1")
    assert_clean_error(
        invoke("draw", good, "--sample-id", "nope"), "no rows for sample ids ['nope']; models: ['m']"
    )
    assert not (tmp_path / "pictures").exists()


def test_draw_clips_far_boxes_and_draws_reversed_corners_as_their_rectangle(tmp_path):
    path = _one_row_file(tmp_path, pred_boxes=[[380, 380, 220, 220], [1e300, -1e300, 5e12, 10]], gt_boxes=[])
    assert_ok(invoke("draw", path))
    pixels = np.asarray(Image.open(tmp_path / "pictures" / "m" / "s0.png").convert("RGB")).astype(int)
    assert tuple(pixels[221, 300]) == PRED_COLOUR  # the top edge of the reversed box: [220, 220, 380, 380]
