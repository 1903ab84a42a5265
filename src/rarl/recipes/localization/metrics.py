"""Vision-R1 metrics: COCO-style detection metrics (pycocotools) and referring accuracy, with bootstrap intervals.

    m = coco_metrics(gt_boxes, gt_labels, pred_boxes, pred_labels, categories, n_boot=200)
    hits = referring_hits(gt_boxes, pred_boxes)             # per grounding sample: IoU >= 0.5
    terms = sample_terms(rows)                              # per-sample terms of the averaged columns

- Detection (and negative) samples: mAP (AP averaged over IoU 0.50:0.05:0.95), AP50, AP75 and AR@100 over
  all object sizes, from pycocotools' `COCOeval` (bbox). An LVLM gives no box scores, so every predicted box
  gets the same score 1.0. pycocotools ranks detections with a stable sort, so ties keep their order: within
  an image the answer's order, across images the order given. Images without ground truth take part as
  such (their boxes are false positives).
- Grounding samples: accuracy at IoU 0.5 (the REC metric): the first predicted box (Qwen answers one) must
  overlap the ground truth with IoU >= 0.5 (with several ground-truth boxes, any of them).
- Confidence intervals of the detection metrics: percentile bootstrap over images, re-accumulating
  pycocotools' per-image results for each resample (`ImageResampler`). Two models on the same images are
  compared the same way (`paired_coco_statistics`, for `rarl.eval.verdict.paired_statistic_difference`).
- Failure rate, negative accuracy, referring accuracy and referring failure rate are means of per-sample
  terms (`sample_terms`).

How these enter the evaluation protocol: `rarl.recipes.localization.evaluation`.

Evaluation library: pycocotools (the reference COCO evaluation; the authors' released evaluation uses it,
so our numbers mean what the paper's do). It ships wheels for every platform we support and needs only
numpy; faster-coco-eval is faster, but speed does not matter at our sizes and matching the reference does.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from rarl.rewards.localization import pairwise_overlap

__all__ = [
    "DETECTION_METRICS",
    "MAX_CI_RESAMPLES",
    "SAMPLE_METRICS",
    "Boxes",
    "ImageResampler",
    "coco_metrics",
    "paired_coco_statistics",
    "referring_hits",
    "sample_terms",
]

DETECTION_METRICS = ("mAP", "AP50", "AP75", "AR100")
MAX_CI_RESAMPLES = 200
"""Bootstrap resamples at most (each re-accumulates pycocotools' results: about 10-50 ms on small sets)."""

Boxes = Sequence[Sequence[float]]


# --------------------------------------------------------------------------------------------------------------
# COCO metrics


def _quiet() -> contextlib.AbstractContextManager[Any]:
    return contextlib.redirect_stdout(io.StringIO())


def _coco(images: list[dict[str, Any]], anns: list[dict[str, Any]], cats: list[dict[str, Any]]) -> Any:
    coco = COCO()
    coco.dataset = {"images": images, "annotations": anns, "categories": cats}
    with _quiet():
        coco.createIndex()
    return coco


def _annotations(
    boxes_per_image: Sequence[Boxes],
    labels_per_image: Sequence[Sequence[str]],
    cat_ids: Mapping[str, int],
    score: float | None,
) -> list[dict[str, Any]]:
    """COCO annotations (bbox x, y, w, h; image ids 1..N in order); labels outside `cat_ids` are left out."""
    anns = []
    for image_id, (boxes, labels) in enumerate(zip(boxes_per_image, labels_per_image, strict=True), 1):
        for box, label in zip(boxes, labels, strict=True):
            if label not in cat_ids:
                continue
            x1, y1, x2, y2 = (float(v) for v in box)
            ann = {
                "id": len(anns) + 1,
                "image_id": image_id,
                "category_id": cat_ids[label],
                "bbox": [x1, y1, x2 - x1, y2 - y1],  # COCO: x, y, width, height
                "area": (x2 - x1) * (y2 - y1),
                "iscrowd": 0,
            }
            if score is not None:
                ann["score"] = score
            anns.append(ann)
    return anns


def _stats(ev: Mapping[str, Any], params: Any) -> dict[str, float | None]:
    """mAP, AP50, AP75, AR100 (area "all", 100 detections) from `COCOeval.eval`, as `summarize` computes them."""
    precision = ev["precision"]  # [T, R, K, A, M]
    recall = ev["recall"]  # [T, K, A, M]
    a = [i for i, lbl in enumerate(params.areaRngLbl) if lbl == "all"][0]
    m = list(params.maxDets).index(100)
    thresholds = np.asarray(params.iouThrs)

    def mean(values: np.ndarray) -> float | None:
        valid = values[values > -1]
        return float(valid.mean()) if valid.size else None

    def at(iou: float) -> np.ndarray:
        return precision[np.where(np.isclose(thresholds, iou))[0]]

    return {
        "mAP": mean(precision[:, :, :, a, m]),
        "AP50": mean(at(0.5)[:, :, :, a, m]),
        "AP75": mean(at(0.75)[:, :, :, a, m]),
        "AR100": mean(recall[:, :, a, m]),
    }


def _evaluation(
    gt_boxes: Sequence[Boxes],
    gt_labels: Sequence[Sequence[str]],
    pred_boxes: Sequence[Boxes],
    pred_labels: Sequence[Sequence[str]],
    categories: Sequence[str],
) -> Any:
    """pycocotools' evaluation of N images after `evaluate` and `accumulate`; None without any ground-truth
    box. Category ids follow `categories`, then any other ground-truth label, in order of appearance."""
    n = len(gt_boxes)
    if not (len(gt_labels) == len(pred_boxes) == len(pred_labels) == n):
        raise ValueError("gt_boxes, gt_labels, pred_boxes and pred_labels need one entry per image")
    if n == 0 or not any(len(b) for b in gt_boxes):
        return None
    names = list(dict.fromkeys([*categories, *(lab for labs in gt_labels for lab in labs)]))
    cat_ids = {name: k for k, name in enumerate(names, 1)}
    cats = [{"id": k, "name": name} for name, k in cat_ids.items()]
    images = [{"id": i} for i in range(1, n + 1)]
    gt = _coco(images, _annotations(gt_boxes, gt_labels, cat_ids, None), cats)
    dt = _coco(images, _annotations(pred_boxes, pred_labels, cat_ids, 1.0), cats)
    ev = COCOeval(gt, dt, "bbox")
    with _quiet():
        ev.evaluate()
        ev.accumulate()
    return ev


def coco_metrics(
    gt_boxes: Sequence[Boxes],
    gt_labels: Sequence[Sequence[str]],
    pred_boxes: Sequence[Boxes],
    pred_labels: Sequence[Sequence[str]],
    categories: Sequence[str],
    *,
    n_boot: int = 0,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """COCO bbox mAP, AP50, AP75 and AR@100 (in [0, 1]; None without any ground-truth box) of N images.

    Args:
        gt_boxes, gt_labels: per image, (G_i, 4) boxes (x1, y1, x2, y2) and their labels.
        pred_boxes, pred_labels: per image, (P_i, 4) predicted boxes in the same pixels, in answer order
            (every box gets the constant score 1.0; see the module docstring for what ties mean).
        categories: the label set; predictions with other labels are ignored.
        n_boot: bootstrap resamples of the images for `<metric>_ci` = [low, high] (0: none).
    """
    ev = _evaluation(gt_boxes, gt_labels, pred_boxes, pred_labels, categories)
    if ev is None:
        return dict.fromkeys(DETECTION_METRICS)
    out: dict[str, Any] = _stats(ev.eval, ev.params)
    if n_boot > 0:
        out.update(_bootstrap(ev, len(gt_boxes), n_boot, seed, alpha))
    return out


class ImageResampler:
    """Re-accumulates pycocotools' per-image results over drawn images, as a bootstrap resample needs.

    `evaluate` matches every image once (`COCOeval.evalImgs`, laid out [category][area range][image]); the four
    metrics read only the "all"-area results at 100 detections, so a resample re-accumulates the drawn
    images' results (duplicates included, under fresh image ids) instead of matching again. Several
    evaluations with the same categories (two models on the same images) share one table: image j of
    evaluation e is row `offsets[e] + j`. A drawn list of rows keeps its order, which decides ties between
    detections of different images (every box has score 1.0).

        resampler = ImageResampler([ev])           # one evaluation: rows 0..n-1
        resampler.stats([0, 0, 2])                 # {"mAP": ..., "AP50": ..., "AP75": ..., "AR100": ...}
    """

    def __init__(self, evaluations: Sequence[Any]) -> None:
        pe = evaluations[0]._paramsEval
        self.k_n = len(pe.catIds)
        if any(list(ev._paramsEval.catIds) != list(pe.catIds) for ev in evaluations):
            raise ValueError("the evaluations must share their categories")
        a_n, a_all = len(pe.areaRng), list(pe.areaRngLbl).index("all")
        self.rows: list[list[Any]] = []  # [N_total][K]: the "all"-area result of each row, per category
        self.offsets: list[int] = []
        for ev in evaluations:
            n = len(ev._paramsEval.imgIds)
            self.offsets.append(len(self.rows))
            self.rows += [[ev.evalImgs[(k * a_n + a_all) * n + i] for k in range(self.k_n)] for i in range(n)]
        boot = copy.copy(evaluations[0])
        boot.params = copy.deepcopy(boot.params)
        boot._paramsEval = copy.deepcopy(pe)
        for p in (boot.params, boot._paramsEval):
            p.areaRng, p.areaRngLbl, p.maxDets = [pe.areaRng[a_all]], ["all"], [100]
        self._boot = boot
        self._cache: dict[bytes, dict[str, float | None]] = {}

    def stats(self, rows: Sequence[int]) -> dict[str, float | None]:
        """The four metrics of the drawn `rows` (in that order); remembered, so that the same draw asked for
        another metric is not accumulated again."""
        key = np.asarray(rows, dtype=np.int64).tobytes()
        if key not in self._cache:
            boot = self._boot
            for p in (boot.params, boot._paramsEval):
                p.imgIds = list(range(len(rows)))
            boot.evalImgs = [self.rows[r][k] for k in range(self.k_n) for r in rows]
            with _quiet():
                boot.accumulate()
            self._cache[key] = _stats(boot.eval, boot.params)
        return self._cache[key]


def paired_coco_statistics(
    method: Sequence[Any], other: Sequence[Any], categories: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]] | None:
    """Two models' detection answers on the same images as the inputs of
    `rarl.eval.verdict.paired_statistic_difference`, one statistic per metric of DETECTION_METRICS.

    `method`, `other`: per model `(gt_boxes, gt_labels, pred_boxes, pred_labels)`, each a list over the same
    N images in the same order. Returns `(rows_method [N, 1], rows_other [N, 1], {metric: statistic})`: each
    image's row in one shared `ImageResampler` and, per metric, the counts-mode statistic
    `statistic(rows [N, 1], counts [B, N]) -> [B]` (nan where the metric is undefined in a resample; a draw
    is accumulated once for all four metrics); None without any ground-truth box.
    """
    evaluations = [_evaluation(*model, categories) for model in (method, other)]
    if evaluations[0] is None or evaluations[1] is None:
        return None
    resampler = ImageResampler(evaluations)
    n = len(method[0])
    ids = [np.arange(n, dtype=np.float64)[:, None] + offset for offset in resampler.offsets]  # [N, 1] each

    def statistic_of(metric: str) -> Any:
        def statistic(rows: np.ndarray, counts: np.ndarray) -> np.ndarray:
            index = rows[:, 0].astype(np.int64)  # [N]
            out = []
            for draw in counts.astype(np.int64):  # [N]: how often each image was drawn
                value = resampler.stats(np.repeat(index, draw).tolist())[metric]
                out.append(math.nan if value is None else value)
            return np.asarray(out, dtype=np.float64)  # [B]

        return statistic

    return ids[0], ids[1], {metric: statistic_of(metric) for metric in DETECTION_METRICS}


def _bootstrap(ev: Any, n: int, n_boot: int, seed: int, alpha: float) -> dict[str, list[float] | None]:
    """Percentile intervals of the four metrics over image resamples (`ImageResampler`)."""
    resampler = ImageResampler([ev])
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {m: [] for m in DETECTION_METRICS}
    for _ in range(n_boot):
        idx = rng.integers(0, n, size=n).tolist()
        for name, value in resampler.stats(idx).items():
            if value is not None:
                draws[name].append(value)
    out: dict[str, list[float] | None] = {}
    for name, values in draws.items():
        if values:
            lo, hi = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
            out[f"{name}_ci"] = [float(lo), float(hi)]
        else:
            out[f"{name}_ci"] = None
    return out


# --------------------------------------------------------------------------------------------------------------
# Referring accuracy


def referring_hits(
    gt_boxes: Sequence[Boxes], pred_boxes: Sequence[Boxes], threshold: float = 0.5
) -> list[bool]:
    """Per sample: the first predicted box overlaps a ground-truth box with IoU >= `threshold`."""
    hits = []
    for gts, preds in zip(gt_boxes, pred_boxes, strict=True):
        if not preds or not gts:
            hits.append(False)
            continue
        iou = pairwise_overlap(np.asarray([preds[0]], dtype=float), np.asarray(gts, dtype=float))  # [1, G]
        hits.append(bool((iou >= threshold).any()))
    return hits


# --------------------------------------------------------------------------------------------------------------
# Per-sample terms

SAMPLE_METRICS = {
    "failure_rate": ("detection and negative", False),
    "negative_acc": ("negative", True),
    "ref_acc": ("grounding", True),
    "ref_failure_rate": ("grounding", False),
}
"""Columns that are means of per-sample terms: metric -> (the samples it averages over, higher is better)."""


def sample_terms(
    rows: Sequence[Mapping[str, Any]], kinds: Sequence[str] | None = None
) -> dict[str, list[float]]:
    """Per-sample terms (0 or 1) of the SAMPLE_METRICS columns, from prediction rows (`parsed`, `pred_boxes`,
    `gt_boxes`; the kind from `kinds`, else each row's `kind`), each list in row order over its samples:
    failure_rate (detection and negative: the answer did not parse), negative_acc (negative: a parsed empty
    list), ref_acc (grounding: `referring_hits`), ref_failure_rate (grounding: did not parse)."""
    kinds = [str(r.get("kind", "detection")) for r in rows] if kinds is None else list(kinds)
    det = [r for r, k in zip(rows, kinds, strict=True) if k != "grounding"]
    neg = [r for r, k in zip(rows, kinds, strict=True) if k == "negative"]
    ref = [r for r, k in zip(rows, kinds, strict=True) if k == "grounding"]
    hits = referring_hits([r["gt_boxes"] for r in ref], [r["pred_boxes"] for r in ref])
    return {
        "failure_rate": [float(not r["parsed"]) for r in det],
        "negative_acc": [float(bool(r["parsed"] and not r["pred_boxes"])) for r in neg],
        "ref_acc": [float(h) for h in hits],
        "ref_failure_rate": [float(not r["parsed"]) for r in ref],
    }
