"""Verdict lines of the `vision-r1` report: the method against every other model, one line per table column.

Every model is evaluated on the same test images in the same order (`evaluate_models`), and its prediction
rows (predictions.jsonl) keep each image's answer, so two models are compared pairwise on the same images:

- mAP, AP50, AP75, AR@100 are not means of per-image terms: a paired bootstrap over the detection images
  (`rarl.eval.verdict.paired_statistic_difference` with `metrics.paired_coco_statistics`): each resample draws
  the same image indices for both models and re-accumulates pycocotools' per-image results of each (as the
  table's intervals do, at most MAX_CI_RESAMPLES resamples); the figure is metric(method) - metric(other).
- Fail., Neg. acc, Ref acc@0.5, Ref fail. are means of per-sample terms (`metrics.sample_terms`): the mean
  per-sample difference with its bootstrap interval (`rarl.eval.verdict.paired_difference`).

The word is "better" / "worse" when the 95 % percentile interval excludes 0 (in the column's direction: lower
failure rates are better), else "no difference". Differences are in percentage points, as the table's
numbers are percent. A pair is "not comparable", with the reason, when one model has no prediction rows,
their test images or ground truth differ, or the metric is undefined (no ground-truth box among the
detection images, no sample of the column's kind).

    lines = verdict_lines(results, rows, columns)   # method: the last model of `results`
    # ['AP50: + Vision-R1 better vs Tiny-VL base (+4.1 [+1.2, +7.0]); no difference vs + SFT (+0.5 [-2.0, +3.1])']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rarl.eval.verdict import PairedVerdict, paired_difference, paired_statistic_difference
from rarl.recipes.localization.metrics import (
    DETECTION_METRICS,
    MAX_CI_RESAMPLES,
    SAMPLE_METRICS,
    paired_coco_statistics,
    sample_terms,
)

__all__ = ["pair_verdict", "render_verdicts", "verdict_lines"]

Rows = Sequence[Mapping[str, Any]]


def _by_model(rows: Rows) -> dict[str, list[Mapping[str, Any]]]:
    """Prediction rows grouped by their `model`, each in file order."""
    out: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        out.setdefault(str(row.get("model", "model")), []).append(row)
    return out


def _aligned(mine: Rows, theirs: Rows) -> tuple[Rows, Rows] | str:
    """The two models' rows on the same samples in the method's order, or why they cannot be paired."""
    ids = [str(r["sample_id"]) for r in mine]
    by_id = {str(r["sample_id"]): r for r in theirs}
    if len(set(ids)) != len(ids) or len(by_id) != len(theirs) or set(ids) != set(by_id):
        return "different test images"
    paired = [by_id[i] for i in ids]
    for a, b in zip(mine, paired, strict=True):
        same_truth = a.get("kind") == b.get("kind") and a.get("gt_labels") == b.get("gt_labels")
        if not same_truth or [list(map(float, x)) for x in a["gt_boxes"]] != [
            list(map(float, x)) for x in b["gt_boxes"]
        ]:
            return f"different ground truth for sample {a['sample_id']}"
    return mine, paired


def _detection(rows: Rows) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    """(gt_boxes, gt_labels, pred_boxes, pred_labels) of the detection and negative rows."""
    det = [r for r in rows if r.get("kind") != "grounding"]
    return (
        [r["gt_boxes"] for r in det],
        [list(r.get("gt_labels") or []) for r in det],
        [r["pred_boxes"] for r in det],
        [list(r.get("pred_labels") or [""] * len(r["pred_boxes"])) for r in det],
    )


class _Pair:
    """The method's and another model's prediction rows on the same samples, and what every column of the
    pair shares (the pycocotools evaluations, built on the first detection column)."""

    def __init__(self, mine: Rows, theirs: Rows) -> None:
        aligned = _aligned(mine, theirs)
        self.reason = aligned if isinstance(aligned, str) else None
        self.rows = None if isinstance(aligned, str) else aligned
        self._coco: Any = None

    def coco(self) -> tuple[Any, Any, dict[str, Any]] | str:
        """`metrics.paired_coco_statistics` of the pair's detection rows, or why there is none."""
        if self._coco is None:
            assert self.rows is not None
            det_a, det_b = (_detection(r) for r in self.rows)
            labels = [*det_a[1], *det_b[1], *det_a[3], *det_b[3]]
            categories = list(dict.fromkeys(lab for labs in labels for lab in labs))
            if not det_a[0]:
                self._coco = "no detection images"
            else:
                paired = paired_coco_statistics(det_a, det_b, categories)
                self._coco = "no ground-truth box among the detection images" if paired is None else paired
        return self._coco


def _verdict(pair: _Pair, metric: str, n_boot: int, seed: int, alpha: float) -> PairedVerdict | str:
    if pair.rows is None:
        return str(pair.reason)
    if metric in DETECTION_METRICS:
        coco = pair.coco()
        if isinstance(coco, str):
            return f"{metric} undefined: {coco}"
        rows_a, rows_b, statistics = coco
        n = min(int(n_boot), MAX_CI_RESAMPLES)
        v = paired_statistic_difference(
            rows_a, rows_b, statistics[metric], True, n_boot=n, seed=seed, alpha=alpha
        )
        return v if v is not None else f"no resample with a defined {metric}"
    kinds, higher = SAMPLE_METRICS[metric]
    terms_a, terms_b = (sample_terms(r)[metric] for r in pair.rows)
    if not terms_a:
        return f"{metric} undefined: no {kinds} samples"
    v = paired_difference(terms_a, terms_b, higher, n_boot=n_boot, seed=seed, alpha=alpha)
    return v if v is not None else "different test images"


def pair_verdict(
    mine: Rows, theirs: Rows, metric: str, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> PairedVerdict | str:
    """`metric` (a table column: DETECTION_METRICS or SAMPLE_METRICS) of the method's prediction rows against
    the other model's, on the same samples: the paired verdict (fractions, not percent), or the reason they
    are not comparable. Detection metrics use at most MAX_CI_RESAMPLES resamples."""
    return _verdict(_Pair(mine, theirs), metric, n_boot, seed, alpha)


def verdict_lines(
    results: Mapping[str, Any],
    rows: Rows,
    columns: Sequence[tuple[str, str]],
    method: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> list[str]:
    """One line per `(header, metric)` column: `method` (default: the last model of `results`) against every
    other model, from the models' prediction `rows`, at 95 %."""
    names = list(results)
    if len(names) < 2:
        return []
    method = method or names[-1]
    grouped = _by_model(rows)
    pairs = {
        other: _Pair(grouped[method], grouped[other])
        for other in names
        if other != method and grouped.get(method) and grouped.get(other)
    }
    lines = []
    for header, metric in columns:
        parts = []
        for other in names:
            if other == method:
                continue
            if other not in pairs:
                missing = method if not grouped.get(method) else other
                parts.append(f"not comparable with {other} (no per-image predictions of {missing})")
                continue
            v = _verdict(pairs[other], metric, n_boot, seed, alpha)
            if isinstance(v, str):
                parts.append(f"not comparable with {other} ({v})")
            else:
                d, lo, hi = (100 * x for x in (v.difference, v.ci_low, v.ci_high))  # percentage points
                parts.append(f"{v.word} vs {other} ({d:+.1f} [{lo:+.1f}, {hi:+.1f}])")
        if parts:
            lines.append(f"{header}: {method} " + "; ".join(parts))
    return lines


def render_verdicts(
    results: Mapping[str, Any],
    rows: Rows,
    columns: Sequence[tuple[str, str]],
    n_boot: int = 1000,
    seed: int = 0,
) -> str:
    """The verdict lines of the last model against the others under a header; "" with fewer than 2 models."""
    lines = verdict_lines(results, rows, columns, n_boot=n_boot, seed=seed)
    if not lines:
        return ""
    header = (
        f"Verdicts of {list(results)[-1]} (paired bootstrap over the same test images, 95 %; differences in "
        "percentage points):"
    )
    return "\n".join([header, "", *(f"- {line}" for line in lines)])
