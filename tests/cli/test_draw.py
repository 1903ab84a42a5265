"""`rarl draw`: an evaluation's box predictions as pictures, and one-line errors on the wrong input."""

import json

import numpy as np
from PIL import Image
from tests.cli.helpers import assert_clean_error, assert_ok, invoke


def _eval_folder(tmp_path, image_exists=True):
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
        for name in ("base", "rl")
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
    green, red = pixels[40, 120], pixels[220, 300]  # on the top edges of the ground-truth and predicted box
    assert green[1] > 200 and green[0] < 100, green
    assert red[0] > 200 and red[1] < 100, red
    assert (pixels[120, 120] == 128).all()  # inside a box: untouched


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
