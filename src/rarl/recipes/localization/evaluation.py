"""Vision-R1 evaluation: the protocol, failure rates and the report (tables, pictures).

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

Report (`write_localization_report`): the table; with two or more models, one verdict line per column, the
last model against each other from a paired bootstrap over the same test images (`verdict`); example
pictures of the same test images for every model (positives with several objects first, at most one
negative; ground truth and predictions in two colours with a legend), one folder per model named without
the table's "+ " (`drawing`); with `curves`, the training curves (`CURVE_PANELS`: the reward components,
boxes per answer, threshold switches marked) and the on-policy reward trend per stage.

The metrics are computed in `rarl.recipes.localization.metrics` (pycocotools), the verdicts in
`rarl.recipes.localization.verdict`, the pictures drawn by `rarl.recipes.localization.drawing`.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import Progress

from rarl.eval.bootstrap import bootstrap_ci
from rarl.eval.curves import LogSource, Panel, load_runs, recipe_curves, series
from rarl.eval.plots import DEFAULT_PANELS, plot_training_curves
from rarl.eval.protocol import generate_answers
from rarl.eval.settings import EvalSettings
from rarl.eval.trend import trend_lines, trend_markdown
from rarl.recipes.base import RECIPES
from rarl.recipes.localization.drawing import draw_examples
from rarl.recipes.localization.metrics import (
    DETECTION_METRICS,
    MAX_CI_RESAMPLES,
    SAMPLE_METRICS,
    coco_metrics,
    sample_terms,
)
from rarl.recipes.localization.prompts import user_turn
from rarl.recipes.localization.samples import load_localization_manifest
from rarl.recipes.localization.verdict import render_verdicts
from rarl.rewards.localization import parse_boxes, scale_boxes
from rarl.rewards.localization_batch import processor_budget, seen_frame
from rarl.utils.io import atomic_write_text, read_jsonl

log = logging.getLogger("rarl")

__all__ = [
    "CURVE_PANELS",
    "evaluate_localization",
    "read_predictions",
    "render_localization_table",
    "render_sections_table",
    "score_rows",
    "threshold_lines",
    "write_localization_report",
]


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
# Evaluating a policy


def _rate(flags: Sequence[float]) -> float | None:
    return float(np.mean(flags)) if len(flags) else None


def _seen_frame_fn(policy: Any) -> Callable[[Any], tuple[int, int]]:
    """sample -> the frame the policy's processor shows the sample's frame-sized image in."""
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
    if messages_fn is None:
        messages_fn = user_turn
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
    det = [(r, s) for r, s in zip(rows, samples, strict=True) if s.kind != "grounding"]
    ref = [(r, s) for r, s in zip(rows, samples, strict=True) if s.kind == "grounding"]
    neg = [r for r, s in det if s.kind == "negative"]
    terms = sample_terms(rows, [s.kind for s in samples])  # per-sample 0/1 terms of the averaged columns
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
    for metric in SAMPLE_METRICS:
        results[metric] = _rate(terms[metric])
    hits = terms["ref_acc"]
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
# The report


CURVE_PANELS: tuple[Panel, ...] = (
    *DEFAULT_PANELS[:2],
    ("Boxes per answer (mean)", ("reward/num_predictions", "reward/true_positives")),
    *DEFAULT_PANELS[2:],
)
"""The report's training-curve panels: the default ones, and after the reward components (format, recall,
precision, count) the mean number of boxes an answer lists and of those matched at IoU >= xi0, on their own
scale (`reward/num_predictions`, `reward/true_positives`)."""


def threshold_lines(curves: Mapping[str, LogSource] | None) -> list[str]:
    """Per run of `curves`, where the reward's IoU threshold xi0 (logged as `reward/xi0` on every GRPO step)
    stepped up: `"Vision-R1: xi0 0.5 from step 1, 0.75 from step 11"`, or `"... 0.5 throughout (40 steps;
    the thresholds never stepped up)"`; a run without the key (SFT, another reward) gives no line."""
    lines = []
    for name, run in load_runs(dict(curves or {})).items():
        steps, values = series(run.rows, "reward/xi0")
        changes = [(x, v) for i, (x, v) in enumerate(zip(steps, values)) if i == 0 or v != values[i - 1]]
        if not changes:
            continue
        label = f"{name}: " if name else ""
        if len(steps) == 1:
            lines.append(f"{label}xi0 {values[0]:g} (one step)")
        elif len(changes) == 1:
            lines.append(
                f"{label}xi0 {values[0]:g} throughout ({len(steps)} steps; the thresholds never stepped up)"
            )
        else:
            lines.append(label + "xi0 " + ", ".join(f"{v:g} from step {x:g}" for x, v in changes))
    return lines


def write_localization_report(
    out: str | os.PathLike,
    results: Mapping[str, Mapping[str, Any]],
    *,
    title: str,
    curves: Mapping[str, LogSource] | None = None,
    rows: Sequence[Mapping[str, Any]] | None = None,
    settings: Any = None,
) -> str:
    """Write results.json, report.md (table, verdict lines, example pictures) and, with `curves`, training
    curves (the figure, `CURVE_PANELS` with the threshold switches marked, and the on-policy reward trend per
    stage, `rarl.eval.trend`).

    `rows`: prediction rows for the verdicts and pictures (default: `out/predictions.jsonl` when it exists,
    as `evaluate_models` writes it before the report). `settings`: the evaluation's `EvalSettings`, whose
    `n_boot` and `seed` the verdicts' bootstrap uses (None: 1000 resamples, seed 0). Returns the markdown
    table with the verdict lines under it.
    """
    out = Path(out)
    table = render_localization_table(results, title=title)
    atomic_write_text(out / "results.json", json.dumps(results, indent=1, default=str) + "\n")
    if rows is None and (out / "predictions.jsonl").is_file():
        rows = read_jsonl(out / "predictions.jsonl")
    n_boot, seed = getattr(settings, "n_boot", 1000), getattr(settings, "seed", 0)
    verdicts = render_verdicts(results, rows or [], _columns(results), n_boot=n_boot, seed=seed)
    table = "\n\n".join(part for part in (table, verdicts) if part)
    lines = [table]
    pictures = draw_examples(out, rows or [])
    if pictures:
        lines += [
            "",
            "Examples (yellow: ground truth, magenta: prediction; the legend under each counts the boxes):",
        ]
        lines += [""] + [f"![{p.parent.name} {p.stem}]({p.relative_to(out).as_posix()})" for p in pictures]
    if curves:
        # this recipe's reward components, boxes per answer, threshold schedule and validation metrics
        figure = recipe_curves(RECIPES["vision-r1"])
        plot_training_curves(dict(curves), out / "training_curves.png", **figure)
        lines += ["", "![training curves](training_curves.png)"]
        thresholds = threshold_lines(curves)
        if thresholds:  # the progressive rule: where the IoU thresholds stepped up (marked in the figure)
            lines += ["", "IoU threshold of the reward (as logged; the figure marks each step-up):", ""]
            lines += [f"- {line}" for line in thresholds]
        lines += trend_markdown(trend_lines(curves))
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
    return table
