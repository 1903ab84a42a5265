"""Vision-R1 verdict lines: the method against every other model on the same test images, per table column
(COCO metrics by a paired bootstrap that re-accumulates pycocotools' per-image results; failure rates and
accuracies by paired per-sample differences), with hand-worked figures and the reasons two models are not
comparable."""

from __future__ import annotations

import pytest
from PIL import Image

from rarl.eval.verdict import paired_difference
from rarl.recipes.localization.evaluation import write_localization_report
from rarl.recipes.localization.metrics import ImageResampler, _evaluation, coco_metrics
from rarl.recipes.localization.verdict import pair_verdict, render_verdicts, verdict_lines

A = [10.0, 10.0, 30.0, 30.0]
B = [50.0, 50.0, 70.0, 90.0]
FAR = [0.0, 0.0, 5.0, 5.0]  # overlaps neither
AP_HALF = 51 / 101  # 101-point interpolated AP when recall stops at 0.5 with precision 1
DETECTION = [("mAP", "mAP"), ("AP50", "AP50"), ("AP75", "AP75"), ("AR@100", "AR100")]


def row(model, sample_id, gt, pred, *, kind="detection", parsed=True):
    return {
        "model": model,
        "sample_id": sample_id,
        "kind": kind,
        "image": "gone.png",
        "parsed": parsed,
        "pred_boxes": pred,
        "pred_labels": ["cat"] * len(pred),
        "gt_boxes": gt,
        "gt_labels": ["cat"] * len(gt),
    }


def test_resampled_images_score_as_the_same_images_listed_again():
    gt = [[A], [B], [A, B]]
    labels = [["cat"], ["cat"], ["cat", "dog"]]
    preds = [[A], [FAR], [[12.0, 10.0, 30.0, 33.0], B]]
    plabels = [["cat"], ["cat"], ["cat", "cat"]]
    ev = _evaluation(gt, labels, preds, plabels, ["cat", "dog"])
    resampler = ImageResampler([ev])
    for draw in ([0, 0, 2], [2, 1, 1], [1, 1, 1], [0, 1, 2]):
        again = coco_metrics(
            [gt[i] for i in draw],
            [labels[i] for i in draw],
            [preds[i] for i in draw],
            [plabels[i] for i in draw],
            ["cat", "dog"],
        )
        assert resampler.stats(draw) == pytest.approx(again), draw


def test_two_images_hand_worked():
    # the method finds both cats; the other finds the first and answers the second far off: its mAP is
    # AP_HALF, so mAP(method) - mAP(other) = 1 - 51/101. A resample draws image 1 twice (other: 1, a
    # difference of 0), image 2 twice (other: 0, difference 1) or both (difference 50/101): the 95 %
    # interval is [0, 1], which does not exclude 0.
    mine = [row("m", "a", [A], [A]), row("m", "b", [B], [B])]
    theirs = [row("o", "a", [A], [A]), row("o", "b", [B], [FAR])]
    v = pair_verdict(mine, theirs, "mAP", n_boot=200)
    assert v.difference == pytest.approx(1 - AP_HALF)
    assert (v.ci_low, v.ci_high, v.word, v.n) == (0.0, 1.0, "no difference", 2)
    ar = pair_verdict(mine, theirs, "AR100", n_boot=200)
    assert ar.difference == pytest.approx(0.5) and (ar.ci_low, ar.ci_high) == (0.0, 1.0)


def test_a_clear_gain_is_better_and_the_point_is_the_tables_difference():
    gts = [[A], [B], [A, B], [B], [A], [A, B], [B], [A]]
    mine = [row("m", f"s{i}", g, g) for i, g in enumerate(gts)]
    theirs = [row("o", f"s{i}", g, g if i % 4 == 0 else [FAR]) for i, g in enumerate(gts)]
    for name in ("mAP", "AP50", "AP75", "AR100"):
        v = pair_verdict(mine, theirs, name, n_boot=100, seed=3)
        table = [
            coco_metrics([r["gt_boxes"] for r in rs], [r["gt_labels"] for r in rs], [r["pred_boxes"] for r in rs],
                         [r["pred_labels"] for r in rs], ["cat"])[name]
            for rs in (mine, theirs)
        ]  # fmt: skip
        assert v.difference == pytest.approx(table[0] - table[1]), name
        assert v.word == "better" and 0 < v.ci_low <= v.difference <= v.ci_high <= 1, name
        assert pair_verdict(theirs, mine, name, n_boot=100, seed=3).word == "worse", name
    same = pair_verdict(mine, mine, "mAP", n_boot=50)
    assert (same.difference, same.ci_low, same.ci_high, same.word) == (0.0, 0.0, 0.0, "no difference")


def test_per_sample_columns_are_paired_differences():
    # 10 detection samples: the method parses every answer, the other fails 6 (lower failure rate is better)
    mine = [row("m", f"s{i}", [A], [A]) for i in range(10)]
    theirs = [row("o", f"s{i}", [A], [] if i < 6 else [A], parsed=i >= 6) for i in range(10)]
    v = pair_verdict(mine, theirs, "failure_rate", n_boot=1000, seed=0)
    assert v == paired_difference([0.0] * 10, [1.0] * 6 + [0.0] * 4, False, n_boot=1000, seed=0)
    assert v.difference == pytest.approx(-0.6) and v.ci_high < 0 and v.word == "better"
    # negatives: a parsed empty list is right; grounding: the first box must hit (IoU >= 0.5)
    mine += [row("m", "n1", [], [], kind="negative"), row("m", "g1", [A], [A], kind="grounding")]
    theirs += [row("o", "n1", [], [B], kind="negative"), row("o", "g1", [A], [B, A], kind="grounding")]
    neg, ref = pair_verdict(mine, theirs, "negative_acc"), pair_verdict(mine, theirs, "ref_acc")
    assert (neg.difference, neg.n, ref.difference, ref.n) == (1.0, 1, 1.0, 1)
    assert pair_verdict(mine, theirs, "ref_failure_rate").difference == 0.0


def test_lines_read_like_the_other_recipes():
    gts = [[A], [B], [A, B], [B], [A], [A, B], [B], [A]]
    rows = [
        row("Tiny-VL base", f"s{i}", g, [FAR] if i % 2 == 0 else [], parsed=i % 2 == 0)
        for i, g in enumerate(gts)
    ]
    rows += [row("+ SFT", f"s{i}", g, g if i % 2 else [FAR]) for i, g in enumerate(gts)]
    rows += [row("+ Vision-R1", f"s{i}", g, g) for i, g in enumerate(gts)]
    results = dict.fromkeys(["Tiny-VL base", "+ SFT", "+ Vision-R1"], {})
    columns = [("AP50", "AP50"), ("Fail.", "failure_rate")]
    lines = verdict_lines(results, rows, columns, n_boot=200)
    assert lines[0].startswith(
        "AP50: + Vision-R1 better vs Tiny-VL base (+100.0 [+100.0, +100.0]); better vs + SFT (+"
    )
    assert lines[1].startswith("Fail.: + Vision-R1 better vs Tiny-VL base (-50.0 [")
    assert lines[1].endswith("no difference vs + SFT (+0.0 [+0.0, +0.0])")
    block = render_verdicts(results, rows, columns, n_boot=200)
    assert block.splitlines()[0] == (
        "Verdicts of + Vision-R1 (paired bootstrap over the same test images, 95 %; differences in "
        "percentage points):"
    )
    assert block.splitlines()[2:] == [f"- {line}" for line in lines]
    assert (
        verdict_lines({"only": {}}, rows, columns) == []
        and render_verdicts({"only": {}}, rows, columns) == ""
    )


def test_not_comparable_says_why():
    mine = [row("m", "a", [A], [A]), row("m", "b", [B], [B])]
    assert pair_verdict(mine, mine[:1], "AP50") == "different test images"
    moved = [row("o", "a", [A], [A]), row("o", "b", [A], [B])]
    assert pair_verdict(mine, moved, "failure_rate") == "different ground truth for sample b"
    negatives = [row("m", "a", [], [B], kind="negative"), row("m", "b", [], [], kind="negative")]
    assert pair_verdict(negatives, negatives, "mAP") == (
        "mAP undefined: no ground-truth box among the detection images"
    )
    grounding = [row("m", "g", [A], [A], kind="grounding")]
    assert pair_verdict(grounding, grounding, "AP50") == "AP50 undefined: no detection images"
    assert pair_verdict(grounding, grounding, "negative_acc") == "negative_acc undefined: no negative samples"
    results = {"base": {}, "+ Vision-R1": {}}
    lines = verdict_lines(results, [row("+ Vision-R1", "a", [A], [A])], DETECTION[:1])
    assert lines == ["mAP: + Vision-R1 not comparable with base (no per-image predictions of base)"]


def test_the_report_has_the_verdicts_under_the_table(tmp_path):
    image = tmp_path / "im.png"
    Image.new("RGB", (100, 100), (30, 30, 30)).save(image)
    gts = [[A], [B], [A, B], [], [B], [A]]
    kinds = ["negative" if not g else "detection" for g in gts]
    rows = [
        {**row(name, f"s{i}", g, g if name == "+ Vision-R1" else [FAR], kind=k), "image": str(image)}
        for name in ("base", "+ Vision-R1")
        for i, (g, k) in enumerate(zip(gts, kinds))
    ]
    results = {
        name: {"mAP": 0.5, "AP50": 0.5, "AP75": 0.5, "AR100": 0.5, "failure_rate": 0.0, "negative_acc": 1.0,
               "n_detection": 6, "n_negative": 1, "n_boxes": 7}
        for name in ("base", "+ Vision-R1")
    }  # fmt: skip

    class Settings:
        n_boot, seed = 50, 1

    table = write_localization_report(tmp_path / "r", results, title="t", rows=rows, settings=Settings())
    report = (tmp_path / "r" / "report.md").read_text()
    assert report.startswith(table)
    verdicts = table.split("Verdicts of + Vision-R1 ")[1].splitlines()[2:]
    headers = ["mAP", "AP50", "AP75", "AR@100", "Fail.", "Neg. acc"]
    assert [line.split(":")[0] for line in verdicts] == [f"- {h}" for h in headers]
    assert verdicts[1] == "- AP50: + Vision-R1 better vs base (+100.0 [+100.0, +100.0])"
    assert verdicts[5] == "- Neg. acc: + Vision-R1 better vs base (+100.0 [+100.0, +100.0])"
