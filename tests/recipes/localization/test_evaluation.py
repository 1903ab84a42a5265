"""Vision-R1 evaluation on hand-made cases: COCO metrics (pycocotools), referring accuracy, answers read back
into original pixels, bootstrap intervals, the report table and the pictures."""

from __future__ import annotations

import contextlib
import io

import pytest
from PIL import Image

from rarl.recipes.localization.drawing import GT_COLOUR, PRED_COLOUR, draw_predictions
from rarl.recipes.localization.evaluation import (
    read_predictions,
    render_localization_table,
    write_localization_report,
)
from rarl.recipes.localization.metrics import coco_metrics, referring_hits

A = [10.0, 10.0, 30.0, 30.0]
B = [50.0, 50.0, 70.0, 90.0]
AP_HALF = 51 / 101  # 101-point interpolated AP when recall stops at 0.5 with precision 1


def test_perfect_predictions_give_one():
    m = coco_metrics(
        [[A], [B, A]], [["cat"], ["dog", "cat"]], [[A], [B, A]], [["cat"], ["dog", "cat"]], ["cat", "dog"]
    )
    assert m == {"mAP": 1.0, "AP50": 1.0, "AP75": 1.0, "AR100": 1.0}


def test_half_matching_case():
    # two images with one cat each: image 1 found exactly, image 2 answered with a box far off
    gt, labels = [[A], [B]], [["cat"], ["cat"]]
    m = coco_metrics(gt, labels, [[A], [[0.0, 0.0, 5.0, 5.0]]], labels, ["cat"])
    assert m["mAP"] == pytest.approx(AP_HALF) and m["AP50"] == pytest.approx(AP_HALF)
    assert m["AP75"] == pytest.approx(AP_HALF) and m["AR100"] == pytest.approx(0.5)
    # constant scores: ties keep the order (images in order): the false positive first halves precision
    swapped = coco_metrics(gt, labels, [[[0.0, 0.0, 5.0, 5.0]], [B]], labels, ["cat"])
    assert swapped["mAP"] == pytest.approx(AP_HALF / 2) and swapped["AR100"] == pytest.approx(0.5)


def test_iou_between_thresholds_wrong_labels_and_negatives():
    shifted = [10.0, 10.0, 30.0, 35.0]  # IoU 0.8 with A: a hit at 0.50 .. 0.80, a miss at 0.85 .. 0.95
    m = coco_metrics([[A]], [["cat"]], [[shifted]], [["cat"]], ["cat"])
    assert (
        m["AP50"] == pytest.approx(1.0) and m["AP75"] == pytest.approx(1.0) and m["mAP"] == pytest.approx(0.7)
    )
    assert m["AR100"] == pytest.approx(0.7)
    wrong = coco_metrics([[A]], [["cat"]], [[A]], [["dog"]], ["cat", "dog"])  # right box, wrong category
    assert wrong["mAP"] == 0.0 and wrong["AR100"] == 0.0  # dog has no ground truth: left out of the mean
    # a negative image (no ground truth) with a box: a false positive that ranks before the hit
    neg = coco_metrics([[], [A]], [[], ["cat"]], [[B], [A]], [["cat"], ["cat"]], ["cat"])
    assert neg["mAP"] == pytest.approx(0.5) and neg["AR100"] == pytest.approx(1.0)
    assert coco_metrics([[]], [[]], [[A]], [["cat"]], ["cat"]) == dict.fromkeys(
        ("mAP", "AP50", "AP75", "AR100")
    )
    assert coco_metrics([[A]], [["cat"]], [[]], [[]], ["cat"])["mAP"] == 0.0  # nothing predicted


def test_metrics_match_pycocotools_summarize():
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = [[A, B], [A], [B]]
    labels = [["cat", "dog"], ["cat"], ["dog"]]
    preds = [[[12.0, 10.0, 30.0, 32.0], [0.0, 0.0, 9.0, 9.0]], [A], [[50.0, 55.0, 70.0, 95.0]]]
    plabels = [["cat", "dog"], ["cat"], ["dog"]]
    ours = coco_metrics(gt, labels, preds, plabels, ["cat", "dog"])
    cats = [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]
    ids = {"cat": 1, "dog": 2}

    def anns(boxes, labs, score):
        out = []
        for i, (bs, ls) in enumerate(zip(boxes, labs), 1):
            for b, lab in zip(bs, ls):
                a = {"id": len(out) + 1, "image_id": i, "category_id": ids[lab], "iscrowd": 0}
                a.update(bbox=[b[0], b[1], b[2] - b[0], b[3] - b[1]], area=(b[2] - b[0]) * (b[3] - b[1]))
                out.append({**a, "score": score} if score else a)
        return out

    with contextlib.redirect_stdout(io.StringIO()):
        g = COCO()
        g.dataset = {
            "images": [{"id": i} for i in (1, 2, 3)],
            "annotations": anns(gt, labels, None),
            "categories": cats,
        }
        g.createIndex()
        d = g.loadRes(anns(preds, plabels, 1.0))
        ev = COCOeval(g, d, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert [ours["mAP"], ours["AP50"], ours["AP75"], ours["AR100"]] == pytest.approx(
        [ev.stats[0], ev.stats[1], ev.stats[2], ev.stats[8]]
    )


def test_bootstrap_intervals_bracket_the_estimate():
    gt = [[A]] * 6
    labels = [["cat"]] * 6
    preds = [[A], [A], [A], [[0.0, 0.0, 5.0, 5.0]], [A], [[0.0, 0.0, 5.0, 5.0]]]
    m = coco_metrics(gt, labels, preds, labels, ["cat"], n_boot=50, seed=0)
    lo, hi = m["AR100_ci"]
    assert 0.0 <= lo <= m["AR100"] <= hi <= 1.0 and lo < hi
    again = coco_metrics(gt, labels, preds, labels, ["cat"], n_boot=50, seed=0)
    assert again["mAP_ci"] == m["mAP_ci"]  # same seed, same interval
    perfect = coco_metrics(gt, labels, gt, labels, ["cat"], n_boot=20)
    assert perfect["mAP_ci"] == [1.0, 1.0]
    # identical images: every resample is the data again, so re-accumulation must give the estimate itself
    same = coco_metrics(
        [[A, B]] * 4,
        [["cat", "dog"]] * 4,
        [[[12.0, 10.0, 30.0, 33.0], B]] * 4,
        [["cat", "cat"]] * 4,
        ["cat", "dog"],
        n_boot=10,
    )
    for name in ("mAP", "AP50", "AP75", "AR100"):
        assert same[f"{name}_ci"] == pytest.approx([same[name], same[name]]), name
    assert 0.0 < same["mAP"] < 1.0


def test_referring_hits_and_reading_answers_back():
    assert referring_hits([[A], [A], [A], [A]], [[A, B], [B, A], [], [[10.0, 10.0, 30.0, 40.0]]]) == [
        True,
        False,  # only the first box counts
        False,
        True,  # IoU 0.67
    ]
    # an answer in a 56x56 frame of a 112x84 image: coordinates scale by (2, 1.5), then clip to the image
    text = '```json\n[{"bbox_2d": [10, 10, 20, 30], "label": "cat"}, {"bbox_2d": [50, 0, 60, 5], "label": "cat"}]\n```'
    ok, boxes, labels = read_predictions(text, (56, 56), (112, 84), ["cat"])
    assert ok and boxes == [[20.0, 15.0, 40.0, 45.0], [100.0, 0.0, 112.0, 7.5]] and labels == ["cat", "cat"]
    assert (
        read_predictions('[{"bbox_2d": [1, 1, 5, 5], "label": "dog"}]', (56, 56), (56, 56), ["cat"])[1] == []
    )
    assert read_predictions('[{"bbox_2d": [1, 1, 5, 5], "label": "dog"}]', (56, 56), (56, 56), None)[2] == [
        "dog"
    ]
    assert read_predictions("no boxes here", (56, 56), (56, 56), None) == (False, [], [])
    assert read_predictions("[]", (56, 56), (56, 56), None) == (True, [], [])


def test_report_table_and_pictures(tmp_path):
    image = tmp_path / "im.png"
    Image.new("RGB", (100, 100), (30, 30, 30)).save(image)
    results = {
        "Qwen2.5-VL-7B": {
            "mAP": 0.177,
            "AP50": 0.273,
            "AP75": 0.18,
            "AR100": 0.3,
            "failure_rate": 0.05,
            "n_detection": 10,
            "n_boxes": 20,
            "ref_acc": None,
            "n_grounding": 0,
        },
        "+ Vision-R1": {
            "mAP": 0.266,
            "mAP_ci": [0.2, 0.3],
            "AP50": 0.4,
            "AP75": 0.278,
            "AR100": 0.35,
            "failure_rate": 0.0,
            "n_detection": 10,
            "n_boxes": 20,
            "n_grounding": 0,
        },
    }
    table = render_localization_table(results, title="COCO val2017")
    lines = table.splitlines()
    assert lines[2] == "| Model | mAP | AP50 | AP75 | AR@100 | Fail. |"
    assert lines[4] == "| Qwen2.5-VL-7B | 17.7 | 27.3 | 18.0 | 30.0 | 5.0 |"
    assert lines[5] == "| + Vision-R1 | 26.6 [20.0, 30.0] | 40.0 | 27.8 | 35.0 | 0.0 |"
    rows = [
        {
            "model": "+ Vision-R1",
            "sample_id": f"s{i}",
            "image": str(image),
            "pred_boxes": [A],
            "pred_labels": ["cat"],
            "gt_boxes": [B],
            "gt_labels": ["cat"],
        }
        for i in range(6)
    ]
    written = write_localization_report(tmp_path / "report", results, title="COCO val2017", rows=rows)
    # the table, then the verdicts: the base has no prediction rows here, so there is nothing to pair
    assert written.startswith(table + "\n\nVerdicts of + Vision-R1 (paired bootstrap")
    assert written.endswith(
        "- Fail.: + Vision-R1 not comparable with Qwen2.5-VL-7B (no per-image predictions of Qwen2.5-VL-7B)"
    )
    md = (tmp_path / "report" / "report.md").read_text()
    assert md.startswith("**COCO val2017**") and md.count("](examples/") == 4  # 4 pictures per model
    assert "](examples/Vision-R1/s0.png)" in md  # the folder is named without the table's "+ "
    picture = Image.open(tmp_path / "report" / "examples" / "Vision-R1" / "s0.png")
    assert picture.width == 336 and picture.height > 336  # enlarged for viewing, the legend under it
    assert picture.getpixel((int(50 * 3.36), int(70 * 3.36))) == GT_COLOUR  # ground truth
    assert picture.getpixel((int(30 * 3.36) - 2, int(20 * 3.36))) == PRED_COLOUR  # prediction
    assert (tmp_path / "report" / "results.json").is_file()
    out = draw_predictions(Image.new("RGB", (400, 400)), [A], [], tmp_path / "big.png", legend=False)
    assert Image.open(out).size == (400, 400)
