"""Vision-R1 metrics: COCO-style detection metrics (pycocotools) and referring accuracy, with bootstrap intervals.

    m = coco_metrics(gt_boxes, gt_labels, pred_boxes, pred_labels, categories, n_boot=200)
    hits = referring_hits(gt_boxes, pred_boxes)             # per grounding sample: IoU >= 0.5

- Detection (and negative) samples: mAP (AP averaged over IoU 0.50:0.05:0.95), AP50, AP75 and AR@100 over
  all object sizes, from pycocotools' `COCOeval` (bbox). An LVLM gives no box scores, so every predicted box
  gets the same score 1.0. pycocotools ranks detections with a stable sort, so ties keep their order: within
  an image the answer's order, across images the order given. Images without ground truth take part as
  such (their boxes are false positives).
- Grounding samples: accuracy at IoU 0.5 (the REC metric): the first predicted box (Qwen answers one) must
  overlap the ground truth with IoU >= 0.5 (with several ground-truth boxes, any of them).
- Confidence intervals of the detection metrics: percentile bootstrap over images, re-accumulating
  pycocotools' per-image results for each resample.

How these enter the evaluation protocol: `rarl.recipes.localization.evaluation`.

Evaluation library: pycocotools (the reference COCO evaluation; the authors' released evaluation uses it,
so our numbers mean what the paper's do). It ships wheels for every platform we support and needs only
numpy; faster-coco-eval is faster, but speed does not matter at our sizes and matching the reference does.
"""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from rarl.rewards.localization import pairwise_overlap

__all__ = ["DETECTION_METRICS", "MAX_CI_RESAMPLES", "Boxes", "coco_metrics", "referring_hits"]

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
    n = len(gt_boxes)
    if not (len(gt_labels) == len(pred_boxes) == len(pred_labels) == n):
        raise ValueError("gt_boxes, gt_labels, pred_boxes and pred_labels need one entry per image")
    empty = dict.fromkeys(DETECTION_METRICS)
    if n == 0 or not any(len(b) for b in gt_boxes):
        return empty

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
    out: dict[str, Any] = _stats(ev.eval, ev.params)
    if n_boot > 0:
        out.update(_bootstrap(ev, n, n_boot, seed, alpha))
    return out


def _bootstrap(ev: Any, n: int, n_boot: int, seed: int, alpha: float) -> dict[str, list[float] | None]:
    """Percentile intervals of the four metrics over image resamples.

    pycocotools' per-image results (`ev.evalImgs`, laid out [category][area range][image]) are reused: each
    resample re-accumulates the "all"-area results of the drawn images (duplicates included, under fresh
    image ids) at 100 detections, which is all the four metrics read.
    """
    per_image = ev.evalImgs  # [K * A * n]
    pe = ev._paramsEval
    k_n, a_n = len(pe.catIds), len(pe.areaRng)
    a_all = list(pe.areaRngLbl).index("all")
    boot = copy.copy(ev)
    boot.params = copy.deepcopy(ev.params)
    boot._paramsEval = copy.deepcopy(pe)
    for p in (boot.params, boot._paramsEval):
        p.imgIds = list(range(n))
        p.areaRng, p.areaRngLbl, p.maxDets = [pe.areaRng[a_all]], ["all"], [100]
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {m: [] for m in DETECTION_METRICS}
    for _ in range(n_boot):
        idx = rng.integers(0, n, size=n).tolist()
        boot.evalImgs = [per_image[(k * a_n + a_all) * n + i] for k in range(k_n) for i in idx]
        with _quiet():
            boot.accumulate()
        for name, value in _stats(boot.eval, boot.params).items():
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
