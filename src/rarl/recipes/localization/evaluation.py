"""Vision-R1 evaluation: COCO-style detection metrics, referring accuracy, failure rates, tables, pictures.

    results, rows = evaluate_localization(policy, manifest, EvalSettings(split="test"), name="base")
    table = write_localization_report(out, {"base": results, "vision-r1": results2}, title="COCO val2017")

Protocol (our reading where the paper leaves it open):

- Every test sample is answered once (greedy by default, `EvalSettings`) with the recipe's prompt; the answer
  is read with the reward's parser (`rarl.rewards.localization.parse_boxes`), in the frame the evaluated
  model's processor shows the image in, and its boxes are mapped back to original pixels. Boxes are clipped
  to the image; entries without 4 finite numbers or with an empty box after clipping are dropped, and for
  detection so is a label outside the sample's category list (it names no category to score against).
- Detection (and negative) samples: mAP (AP averaged over IoU 0.50:0.05:0.95), AP50, AP75 and AR@100 over
  all object sizes, from pycocotools' `COCOeval` (bbox). An LVLM gives no box scores, so every predicted box
  gets the same score 1.0. pycocotools ranks detections with a stable sort, so ties keep their order: within
  an image the answer's order, across images the manifest's order. Negative images take part as images
  without ground truth (their boxes are false positives). Crowd boxes were dropped when the data was read.
- Grounding samples: accuracy at IoU 0.5 (the REC metric): the first predicted box (Qwen answers one) must
  overlap the ground truth with IoU >= 0.5 (with several ground-truth boxes, any of them).
- Failure rate beside every number: the share of samples whose answer holds no parsable JSON box list
  (`parse_boxes(...).ok` is False). Such an answer counts as predicting nothing; it is never dropped.
- Negative accuracy: the share of negative samples answered with a parsed empty list.
- Confidence intervals: percentile bootstrap over images (detection metrics, re-accumulating pycocotools'
  per-image results for each resample) and over samples (referring accuracy), with
  min(settings.n_boot, MAX_CI_RESAMPLES) resamples; `n_boot = 0` gives none.

Evaluation library: pycocotools (the reference COCO evaluation; the authors' released evaluation uses it,
so our numbers mean what the paper's do). It ships wheels for every platform we support and needs only
numpy; faster-coco-eval is faster, but speed does not matter at our sizes and matching the reference does.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from rarl.eval.protocol import EvalSettings, generate_answers
from rarl.rewards.localization import pairwise_overlap, parse_boxes, scale_boxes

log = logging.getLogger("rarl")

__all__ = [
    "DETECTION_METRICS",
    "MAX_CI_RESAMPLES",
    "coco_metrics",
    "draw_prediction_file",
    "draw_predictions",
    "evaluate_localization",
    "read_predictions",
    "referring_hits",
    "render_localization_table",
    "write_localization_report",
]

DETECTION_METRICS = ("mAP", "AP50", "AP75", "AR100")
MAX_CI_RESAMPLES = 200
"""Bootstrap resamples at most (each re-accumulates pycocotools' results: about 10-50 ms on small sets)."""
EXAMPLES_PER_MODEL = 4
"""Pictures drawn per model in the report."""

Boxes = Sequence[Sequence[float]]


# --------------------------------------------------------------------------------------------------------------
# Reading answers


def read_predictions(
    completion: str, seen: tuple[int, int], image_size: tuple[int, int], categories: Sequence[str] | None
) -> tuple[bool, list[list[float]], list[str]]:
    """(parsed, boxes in original pixels, labels) of one answer given in the `seen` frame.

    `categories`: labels to keep (None keeps every entry with a box; grounding answers may name the object
    in their own words).
    """
    parsed = parse_boxes(completion)
    if not parsed.ok:
        return False, [], []
    allowed = None if categories is None else set(categories)
    width, height = image_size
    boxes, labels = [], []
    for entry in parsed.entries:
        if entry.box is None or (allowed is not None and entry.label not in allowed):
            continue
        x1, y1, x2, y2 = scale_boxes([entry.box], seen, image_size)[0]
        x1, y1 = min(max(x1, 0.0), width), min(max(y1, 0.0), height)
        x2, y2 = min(max(x2, 0.0), width), min(max(y2, 0.0), height)
        if x2 > x1 and y2 > y1:
            boxes.append([x1, y1, x2, y2])
            labels.append(entry.label or "")
    return True, boxes, labels


# --------------------------------------------------------------------------------------------------------------
# COCO metrics


def _quiet() -> contextlib.AbstractContextManager[Any]:
    return contextlib.redirect_stdout(io.StringIO())


def _coco(images: list[dict[str, Any]], anns: list[dict[str, Any]], cats: list[dict[str, Any]]) -> Any:
    from pycocotools.coco import COCO

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
    from pycocotools.cocoeval import COCOeval

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


def _rate(flags: Sequence[bool]) -> float | None:
    return float(np.mean(flags)) if len(flags) else None


# --------------------------------------------------------------------------------------------------------------
# Evaluating a policy


def _seen_frame_fn(policy: Any) -> Callable[[Any], tuple[int, int]]:
    """sample -> the frame the policy's processor shows the sample's frame-sized image in."""
    from rarl.rewards.localization_batch import processor_budget, seen_frame

    budget = processor_budget(getattr(policy, "processor", None))
    warned: set[tuple[int, int]] = set()

    def frame_of(sample: Any) -> tuple[int, int]:
        frame = sample.frame
        if budget is None:
            return frame
        seen = seen_frame(frame, budget)
        if seen != frame and frame not in warned:
            warned.add(frame)
            log.warning(
                "the model's processor shows the task's %dx%d frame as %dx%d; its answers are read in that "
                "frame (set model.min_pixels/max_pixels to the task's to evaluate as trained)",
                *frame,
                *seen,
            )
        return seen

    return frame_of


def evaluate_localization(
    policy: Any,
    manifest: str | os.PathLike,
    settings: EvalSettings,
    name: str = "model",
    messages_fn: Any = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Answer every sample of `settings.split` once and score the answers -> (results, prediction rows).

    `results`: mAP, AP50, AP75, AR100, failure_rate (detection and negative samples), ref_acc,
    ref_failure_rate (grounding samples), negative_acc, counts, and `<metric>_ci` when `settings.n_boot` > 0.
    Rows: one per sample with the raw completion, whether it parsed, and predicted / ground-truth boxes in
    original pixels.
    """
    from rich.progress import Progress

    from rarl.recipes.localization.data import load_localization_manifest

    if messages_fn is None:
        from rarl.recipes.localization import LocalizationRecipe

        messages_fn = LocalizationRecipe().messages
    samples = load_localization_manifest(manifest, settings.split)
    if settings.max_samples is not None:
        samples = samples[: settings.max_samples]
    frame_of = _seen_frame_fn(policy)
    with Progress(disable=not settings.progress, transient=True) as progress:
        bar = progress.add_task(f"eval {name}", total=len(samples))
        texts = generate_answers(
            policy, samples, settings, messages_fn, on_batch=lambda k: progress.advance(bar, k)
        )
    rows = []
    for sample, text in zip(samples, texts, strict=True):
        cats = None if sample.kind == "grounding" else sample.categories
        ok, boxes, labels = read_predictions(text, frame_of(sample), sample.image_size, cats)
        rows.append(
            {
                "model": name,
                "sample_id": sample.sample_id,
                "kind": sample.kind,
                "image": sample.image,
                "completion": text,
                "parsed": ok,
                "pred_boxes": [[round(v, 2) for v in b] for b in boxes],
                "pred_labels": labels,
                "gt_boxes": [list(b) for b in sample.boxes],
                "gt_labels": list(sample.labels),
            }
        )
    n_boot = min(int(settings.n_boot), MAX_CI_RESAMPLES)
    return score_rows(rows, samples, n_boot=n_boot, seed=settings.seed), rows


def score_rows(
    rows: Sequence[Mapping[str, Any]], samples: Sequence[Any], *, n_boot: int = 0, seed: int = 0
) -> dict[str, Any]:
    """The results dict of `evaluate_localization` from its prediction rows (one per sample, same order)."""
    from rarl.eval.bootstrap import bootstrap_ci

    det = [(r, s) for r, s in zip(rows, samples, strict=True) if s.kind != "grounding"]
    ref = [(r, s) for r, s in zip(rows, samples, strict=True) if s.kind == "grounding"]
    neg = [r for r, s in det if s.kind == "negative"]
    cats = list(dict.fromkeys(c for _, s in det for c in s.categories))
    results: dict[str, Any] = coco_metrics(
        [r["gt_boxes"] for r, _ in det],
        [r["gt_labels"] for r, _ in det],
        [r["pred_boxes"] for r, _ in det],
        [r["pred_labels"] for r, _ in det],
        cats,
        n_boot=n_boot,
        seed=seed,
    )
    results["failure_rate"] = _rate([not r["parsed"] for r, _ in det])
    results["negative_acc"] = _rate([bool(r["parsed"] and not r["pred_boxes"]) for r in neg])
    hits = referring_hits([r["gt_boxes"] for r, _ in ref], [r["pred_boxes"] for r, _ in ref])
    results["ref_acc"] = _rate(hits)
    results["ref_failure_rate"] = _rate([not r["parsed"] for r, _ in ref])
    if n_boot > 0 and hits:
        lo, hi = bootstrap_ci(np.asarray(hits, dtype=float), n_resamples=n_boot, seed=seed)
        results["ref_acc_ci"] = [lo, hi]
    results["n_detection"] = len(det)
    results["n_negative"] = len(neg)
    results["n_boxes"] = sum(len(r["gt_boxes"]) for r, _ in det)
    results["n_grounding"] = len(ref)
    return results


# --------------------------------------------------------------------------------------------------------------
# Tables


def _pct(value: Any) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"


def _cell(results: Mapping[str, Any], metric: str) -> str:
    text = _pct(results.get(metric))
    ci = results.get(f"{metric}_ci")
    if text != "-" and isinstance(ci, (list, tuple)) and len(ci) == 2:
        text += f" [{_pct(ci[0])}, {_pct(ci[1])}]"
    return text


def _columns(results: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(header, metric) of the table: detection columns and/or referring columns, each with its failure rate."""
    cols: list[tuple[str, str]] = []
    if any(r.get("n_detection") for r in results.values()):
        cols += [
            ("mAP", "mAP"),
            ("AP50", "AP50"),
            ("AP75", "AP75"),
            ("AR@100", "AR100"),
            ("Fail.", "failure_rate"),
        ]
    if any(r.get("n_negative") for r in results.values()):
        cols += [("Neg. acc", "negative_acc")]
    if any(r.get("n_grounding") for r in results.values()):
        cols += [("Ref acc@0.5", "ref_acc"), ("Ref fail.", "ref_failure_rate")]
    return cols


def render_localization_table(
    results: Mapping[str, Mapping[str, Any]], *, title: str, first_col: str = "Model"
) -> str:
    """Markdown in the layout of the paper's Tables 1 and 4: one row per model, numbers in percent."""
    cols = _columns(results)
    lines = [
        f"**{title}**",
        "",
        f"| {first_col} | " + " | ".join(h for h, _ in cols) + " |",
        "|---|" + "---:|" * len(cols),
    ]
    for model, row in results.items():
        lines.append(f"| {model} | " + " | ".join(_cell(row, m) for _, m in cols) + " |")
    lines += ["", _legend(results)]
    return "\n".join(lines)


def _legend(results: Mapping[str, Mapping[str, Any]]) -> str:
    some = next(iter(results.values()), {})
    parts = [
        "Numbers in percent; every predicted box has score 1.0 (an LVLM gives none).",
        "Fail.: answers without a parsable JSON box list (counted as predicting nothing).",
    ]
    if any(f"{m}_ci" in r for r in results.values() for m in DETECTION_METRICS):
        parts.append("[low, high]: 95% bootstrap interval over images.")
    counts = ", ".join(
        f"{k[2:]} {some[k]}" for k in ("n_detection", "n_negative", "n_boxes", "n_grounding") if some.get(k)
    )
    if counts:
        parts.append(f"Samples: {counts}.")
    return " ".join(parts)


def render_sections_table(sections: Mapping[str, Mapping[str, Mapping[str, Any]]], *, title: str) -> str:
    """One table with a header row per section (ablations): `sections[header][label] = results`."""
    everything = {f"{h}/{k}": v for h, rows in sections.items() for k, v in rows.items()}
    cols = _columns(everything)
    lines = [
        f"**{title}**",
        "",
        "| Setting | " + " | ".join(h for h, _ in cols) + " |",
        "|---|" + "---:|" * len(cols),
    ]
    for header, rows in sections.items():
        if header:
            lines.append(f"| *{header}* |" + " |" * len(cols))
        for label, row in rows.items():
            lines.append(f"| {label} | " + " | ".join(_cell(row, m) for _, m in cols) + " |")
    lines += ["", _legend(everything)]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------------
# Pictures and the report


def draw_predictions(
    image: Image.Image | str | os.PathLike,
    pred_boxes: Boxes,
    gt_boxes: Boxes,
    out_png: str | os.PathLike,
    *,
    pred_labels: Sequence[str] | None = None,
    gt_labels: Sequence[str] | None = None,
    min_side: int = 336,
) -> Path:
    """Save `image` with ground-truth boxes (green) and predicted boxes (red, labelled) as a PNG.

    Boxes are (x1, y1, x2, y2) in pixels of `image`. Small images are enlarged (nearest neighbour) so that
    their shorter side is at least `min_side`, boxes scaled alike. Returns the PNG's path.
    """
    from rarl.utils.io import atomic_path

    if isinstance(image, (str, os.PathLike)):
        from rarl.data.images import load_rgb

        picture = load_rgb(image)
    else:
        picture = image.convert("RGB")
    scale = max(1.0, min_side / max(1, min(picture.size)))
    if scale > 1.0:
        picture = picture.resize(
            (round(picture.width * scale), round(picture.height * scale)), Image.Resampling.NEAREST
        )
    draw = ImageDraw.Draw(picture)
    width = max(2, round(min(picture.size) / 150))

    def boxes(items: Boxes, labels: Sequence[str] | None, colour: tuple[int, int, int]) -> None:
        for k, box in enumerate(items):
            x1, y1, x2, y2 = (float(v) * scale for v in box)
            draw.rectangle((x1, y1, max(x1, x2 - 1), max(y1, y2 - 1)), outline=colour, width=width)
            if labels is not None and k < len(labels) and labels[k]:
                left, top, right, bottom = draw.textbbox((x1 + width, y1 + width), str(labels[k]))
                draw.rectangle((left - 1, top - 1, right + 1, bottom + 1), fill=colour)
                draw.text((x1 + width, y1 + width), str(labels[k]), fill=(0, 0, 0))

    boxes(gt_boxes, gt_labels, (40, 220, 60))
    boxes(pred_boxes, pred_labels, (240, 40, 40))
    out = Path(out_png)
    with atomic_path(out, suffix=".png") as tmp:
        picture.save(tmp, format="PNG")
    return out


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80] or "x"


def draw_examples(
    out: Path,
    rows: Sequence[Mapping[str, Any]],
    per_model: int = EXAMPLES_PER_MODEL,
    folder: str = "examples",
) -> list[Path]:
    """Pictures of the first `per_model` predictions of each model under `out/<folder>/<model>/`."""
    done: dict[str, int] = {}
    paths = []
    for row in rows:
        model = str(row.get("model", "model"))
        if done.get(model, 0) >= per_model or not os.path.isfile(str(row.get("image", ""))):
            continue
        done[model] = done.get(model, 0) + 1
        path = out / folder / _safe(model) / f"{_safe(str(row['sample_id']))}.png"
        paths.append(
            draw_predictions(
                row["image"],
                row.get("pred_boxes", []),
                row.get("gt_boxes", []),
                path,
                pred_labels=row.get("pred_labels"),
                gt_labels=row.get("gt_labels"),
            )
        )
    return paths


def draw_prediction_file(
    source: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    model: str | None = None,
    limit: int = 16,
    sample_ids: Sequence[str] = (),
) -> tuple[list[Path], int]:
    """Draw the rows of an evaluation's predictions.jsonl (or of the folder holding it) as PNGs.

    Pictures go to `out/<model>/<sample_id>.png` (default `<folder>/pictures`); at most `limit` per model,
    only `model` and `sample_ids` when given. Returns (paths, rows skipped because their image is gone).
    Raises DataError naming the file when it is missing or holds no localization predictions.
    """
    from rarl.data.errors import DataError
    from rarl.utils.io import read_jsonl

    path = Path(source)
    if path.is_dir():
        path = path / "predictions.jsonl"
    if not path.is_file():
        raise DataError(f"{path}: no such file (point at an evaluation folder or its predictions.jsonl)")
    try:
        rows = read_jsonl(path)
    except ValueError as e:
        raise DataError(f"{path}: not a JSON-lines file ({e})") from None
    if not any(isinstance(r, Mapping) and "pred_boxes" in r and "gt_boxes" in r for r in rows):
        raise DataError(
            f"{path}: no box predictions in it (was it written by `rarl eval --recipe vision-r1`?)"
        )
    wanted = {str(i) for i in sample_ids}
    chosen = [
        r
        for r in rows
        if isinstance(r, Mapping)
        and "pred_boxes" in r
        and (model is None or str(r.get("model")) == model)
        and (not wanted or str(r.get("sample_id")) in wanted)
    ]
    if not chosen:
        models = sorted({str(r.get("model")) for r in rows if isinstance(r, Mapping)})
        raise DataError(
            f"{path}: no rows for model {model!r} / sample ids {sorted(wanted)}; models: {models}"
        )
    missing = sum(1 for r in chosen if not os.path.isfile(str(r.get("image", ""))))
    target = Path(out) if out is not None else path.parent / "pictures"
    return draw_examples(target, chosen, per_model=limit, folder=""), missing


def write_localization_report(
    out: str | os.PathLike,
    results: Mapping[str, Mapping[str, Any]],
    *,
    title: str,
    curves: Mapping[str, list[dict[str, Any]]] | None = None,
    rows: Sequence[Mapping[str, Any]] | None = None,
) -> str:
    """Write results.json, report.md (table + example pictures) and, with `curves`, training curves.

    `rows`: prediction rows to draw examples from (default: `out/predictions.jsonl` when it exists, as
    `evaluate_models` writes it before the report). Returns the markdown table.
    """
    from rarl.utils.io import atomic_write_text, read_jsonl

    out = Path(out)
    table = render_localization_table(results, title=title)
    atomic_write_text(out / "results.json", json.dumps(results, indent=1, default=str) + "\n")
    if rows is None and (out / "predictions.jsonl").is_file():
        rows = read_jsonl(out / "predictions.jsonl")
    lines = [table]
    pictures = draw_examples(out, rows or [])
    if pictures:
        lines += ["", "Examples (green: ground truth, red: prediction):", ""]
        lines += [f"![{p.parent.name} {p.stem}]({p.relative_to(out).as_posix()})" for p in pictures]
    if curves:
        from rarl.eval.plots import plot_training_curves

        plot_training_curves(dict(curves), out / "training_curves.png")
        lines += ["", "![training curves](training_curves.png)"]
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
    return table
