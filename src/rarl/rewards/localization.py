"""The Vision-R1 localization reward (paper Sec. 3.2-3.3, Eq. 3-8) for Qwen2.5-VL grounding answers.

    total = w_format * format + w_recall * recall + w_precision * precision        (Eq. 7, weights (1, 1, 1))

A completion lists boxes in Qwen2.5-VL's native grounding format, absolute pixels of the frame the model sees:
`[{"bbox_2d": [x1, y1, x2, y2], "label": "cat"}, ...]`. `localization_reward` parses it, matches the boxes to
the ground truth (Eq. 3), and returns the dual-format (Eq. 4), recall (Eq. 5) and precision (Eq. 6) rewards
after differentiation (Eq. 8). The staged progression of Sec. 3.3 is the caller's: `staged_thresholds` gives
the (xi0, xi1, xi2) of a training stage. `scale_boxes` and `resized_frame` map boxes between the original
image and the frame Qwen2.5-VL sees after its `smart_resize`.

The parser (`parse_boxes`, `ParsedBoxes`, `BoxEntry`) lives in `rarl.rewards.localization_parsing` and the frame
geometry (`scale_boxes`, `resized_frame`) in `rarl.data.boxes`; both are re-exported here.

How we read the paper
---------------------
Where the paper is silent or ambiguous, these are the readings this module implements:

- Answer forms. The list may stand bare, inside one fenced block (```` ```json ... ``` ````, the tag `json`
  optional), or inside a single `<answer>...</answer>` block (bare or fenced there), optionally preceded by one
  `<think>...</think>` block. `template_ok` (the f_tem of Eq. 4) holds when the completion is exactly one of
  these forms with only whitespace around. A fenced block with prose around it is still read (`ok`), but
  fails the template. Zero or several answer blocks, several fenced blocks, or a list that is not valid JSON
  (single quotes, trailing commas, a truncated generation): nothing parses, and every term is 0.
- Entries (the f_cont of Eq. 4). An entry is valid when it is a JSON object whose `bbox_2d` is exactly 4
  finite JSON numbers (bools and numeric strings are not numbers) with x1 < x2 and y1 < y2, inside the frame
  [0, W] x [0, H] (edges included), and whose `label` is a string among `categories` (exact, case-sensitive
  match). Other keys are ignored. Format is 1 only if the template holds and every entry is valid; an empty
  list `[]` is valid.
- Invalid entries are dropped before matching (they can never be true positives) but still count as
  predictions: M in Eq. 6 is the length of the answer list, valid or not. A broken entry is thus charged twice,
  once by format and once as a false positive, and cannot be used to hide a poor box from precision.
- Matching (Eq. 3). Hungarian assignment (`scipy.optimize.linear_sum_assignment`) of the valid predictions to
  the ground truth, minimising the summed cost -overlap, so min(V, G) pairs are formed (V valid predictions,
  G ground-truth boxes). `matcher="box_only"` (the paper's choice, Table 3) ignores labels. With
  `matcher="box_and_label"` a pair whose labels differ costs a constant `LABEL_MISMATCH_COST` (above any box
  cost, and independent of overlap), which makes the assignment the per-label Hungarian matching: as many
  same-label pairs as possible, and among those the largest summed overlap. Mismatched pairs are then
  discarded: under `box_and_label` a prediction never matches a box of another label.
- Overlap. `overlap="iou"` (the paper's wording, the default) matches on and rewards IoU. `overlap="giou"`
  matches on and rewards GIoU (in [-1, 1]; xi0 >= 0 keeps negative values out of every reward), as the
  authors' released code does. That code also adds an unnormalised pixel L1 distance to the matching cost
  and a label term; this module matches on overlap alone.
- Recall (Eq. 5). Matched pairs with overlap >= xi0 are the true positives; recall = TP / G, then f of Eq. 8.
- Precision (Eq. 6). sum over true positives of f(overlap) (f applied per instance, Eq. 8), divided by M.
  `precision_over="matched"` divides by the number of matched pairs instead, which does not charge extra
  boxes: the reading of the authors' Open-R1-based release (a mean over the min(V, G) Hungarian pairs); their
  later EasyR1-based release divides by the number of predictions, as Eq. 6 does.
- Differentiation (Eq. 8). f(x) = 1 if x >= xi2, 0 if x < xi1, else x. With `differentiation=False`, recall
  is TP / G and each true positive contributes its overlap as it is (Eq. 5-6 only).
- Empty answers and negative samples. An empty list with no ground truth (a negative sample answered
  correctly) gets full marks (format, recall and precision 1); an empty list against ground truth gets 0 in
  every component, format included: otherwise declining to look would earn the format third of the reward
  on every image, a policy a weak model collapses into (the CPU demo did, before this rule). Predictions on
  a negative sample get recall 0 and precision 0: there is nothing to recall, every prediction is a false
  positive, and such an answer must not approach the full marks of the correct empty answer (a vacuous
  recall of 1 would still pay it two thirds of them).
- Robustness. `localization_reward` and `parse_boxes` never raise on any completion string; malformed
  output is data. Invalid other arguments (unknown matcher, thresholds outside [0, 1] or xi1 > xi2, negative
  weights, malformed ground truth, an empty `categories`) raise ValueError.

Bounds: format, recall and precision lie in [0, 1] (format in {0, 1}); total in [0, sum(weights)].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from rarl.data.boxes import Box, frame_size, is_real, resized_frame, scale_boxes
from rarl.rewards.localization_parsing import (
    MAX_ANSWER_CHARS,
    BoxEntry,
    ParsedBoxes,
    category_set,
    parse_boxes,
    parse_in_frame,
)

__all__ = [
    "ADVANCED_THRESHOLDS",
    "BEGINNER_THRESHOLDS",
    "LABEL_MISMATCH_COST",
    "MATCHERS",
    "MAX_ANSWER_CHARS",
    "OVERLAPS",
    "PRECISION_OVER",
    "Box",
    "BoxEntry",
    "LocalizationBreakdown",
    "ParsedBoxes",
    "differentiate",
    "localization_reward",
    "match_boxes",
    "pairwise_overlap",
    "parse_boxes",
    "resized_frame",
    "scale_boxes",
    "staged_thresholds",
]

LABEL_MISMATCH_COST = 10.0
"""Matching cost of a prediction/ground-truth pair with different labels under `matcher="box_and_label"`.

Box costs (-IoU or -GIoU) lie in [-1, 1]; any constant above 1 gives the same optimal assignments.
"""

BEGINNER_THRESHOLDS: tuple[float, float, float] = (0.5, 0.5, 0.75)
"""(xi0, xi1, xi2) of the initial learning phase (Sec. 3.3)."""
ADVANCED_THRESHOLDS: tuple[float, float, float] = (0.75, 0.75, 0.9)
"""(xi0, xi1, xi2) of the advanced learning phase (Sec. 3.3)."""

MATCHERS = ("box_only", "box_and_label")
OVERLAPS = ("iou", "giou")
PRECISION_OVER = ("predictions", "matched")


# --------------------------------------------------------------------------------------------------------------
# Overlap and matching


def pairwise_overlap(boxes_a: np.ndarray, boxes_b: np.ndarray, kind: str = "iou") -> np.ndarray:
    """IoU or GIoU of every box in `boxes_a` (N, 4) with every box in `boxes_b` (M, 4), as an (N, M) array.

    Boxes are (x1, y1, x2, y2) with positive area. IoU lies in [0, 1], GIoU in [-1, 1].
    """
    if kind not in OVERLAPS:
        raise ValueError(f"overlap must be one of {OVERLAPS}, got {kind!r}")
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    ax1, ay1, ax2, ay2 = (a[:, i : i + 1] for i in range(4))  # (N, 1) each
    bx1, by1, bx2, by2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]  # (M,) each
    with np.errstate(all="ignore"):
        inter_w = np.maximum(np.minimum(ax2, bx2) - np.maximum(ax1, bx1), 0.0)  # (N, M)
        inter_h = np.maximum(np.minimum(ay2, by2) - np.maximum(ay1, by1), 0.0)
        inter = inter_w * inter_h
        union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
        iou = inter / union
        if kind == "iou":
            out = np.minimum(iou, 1.0)  # >= 0 already; the bound guards against rounding
        else:
            hull = (np.maximum(ax2, bx2) - np.minimum(ax1, bx1)) * (
                np.maximum(ay2, by2) - np.minimum(ay1, by1)
            )
            out = np.clip(iou - (hull - union) / hull, -1.0, 1.0)
    if not np.isfinite(out).all():
        # Areas that underflow to 0 (subnormal sides) or overflow to inf (huge coordinates) make 0/0 or inf/inf:
        # such pairs count as not overlapping, and the matcher never sees a NaN.
        out = np.where(np.isfinite(out), out, 0.0 if kind == "iou" else -1.0)
    return out


def match_boxes(
    pred_boxes: Sequence[Sequence[float]],
    pred_labels: Sequence[str | None],
    gt_boxes: Sequence[Sequence[float]],
    gt_labels: Sequence[str],
    *,
    matcher: str = "box_only",
    overlap: str = "iou",
) -> list[tuple[int, int, float]]:
    """Box-prioritised Hungarian matching (Eq. 3): `(pred index, gt index, overlap)` per matched pair.

    `box_only` returns min(len(pred), len(gt)) pairs; `box_and_label` drops the pairs whose labels differ.
    Pairs are ordered by prediction index.
    """
    if matcher not in MATCHERS:
        raise ValueError(f"matcher must be one of {MATCHERS}, got {matcher!r}")
    if len(pred_boxes) == 0 or len(gt_boxes) == 0:
        return []
    overlaps = pairwise_overlap(np.asarray(pred_boxes), np.asarray(gt_boxes), overlap)  # (P, G)
    return _assign(overlaps, pred_labels, gt_labels, matcher == "box_and_label")


def _assign(
    overlaps: np.ndarray, pred_labels: Sequence[str | None], gt_labels: Sequence[str], use_labels: bool
) -> list[tuple[int, int, float]]:
    n_pred, n_gt = overlaps.shape
    same: np.ndarray | None = None
    if use_labels:
        same = np.asarray(pred_labels, dtype=object)[:, None] == np.asarray(gt_labels, dtype=object)[None, :]
        same = same.astype(bool)
        cost = np.where(same, -overlaps, LABEL_MISMATCH_COST)
    else:
        cost = -overlaps
    if n_pred == 1:
        rows, cols = np.zeros(1, dtype=np.intp), np.array([int(np.argmin(cost[0]))])
    elif n_gt == 1:
        rows, cols = np.array([int(np.argmin(cost[:, 0]))]), np.zeros(1, dtype=np.intp)
    else:
        rows, cols = linear_sum_assignment(cost)
    pairs = []
    for r, c in zip(rows.tolist(), cols.tolist()):
        if same is None or same[r, c]:
            pairs.append((r, c, float(overlaps[r, c])))
    return pairs


# --------------------------------------------------------------------------------------------------------------
# The reward


def differentiate(value: float, xi1: float, xi2: float) -> float:
    """Eq. 8: 1 if value >= xi2, 0 if value < xi1, value otherwise."""
    if value >= xi2:
        return 1.0
    if value < xi1:
        return 0.0
    return float(value)


@dataclass(frozen=True, slots=True)
class LocalizationBreakdown:
    """The components of one Vision-R1 localization score, their weighted total, and the counts behind them."""

    format: float
    """reward_DF, Eq. 4: 1 when the template parses and every entry is valid, else 0."""
    recall: float
    """reward_recall, Eq. 5 (after Eq. 8 when differentiating): true positives over ground-truth boxes."""
    precision: float
    """reward_prec, Eq. 6 (Eq. 8 per instance when differentiating), in [0, 1]."""
    total: float
    """Eq. 7: w_format * format + w_recall * recall + w_precision * precision."""
    num_predictions: int = 0
    """M: entries in the answer list, valid or not (0 when nothing parsed)."""
    num_valid: int = 0
    """Valid entries: the predictions that take part in matching."""
    num_matched: int = 0
    """Pairs kept by the assignment: min(valid, G) for box_only, the same-label pairs for box_and_label."""
    num_true_positives: int = 0
    """Matched pairs whose overlap reaches xi0."""

    def as_dict(self) -> dict[str, float]:
        """Every reward component and the total, keyed by name (logged as `reward/<name>`)."""
        return {
            "format": self.format,
            "recall": self.recall,
            "precision": self.precision,
            "total": self.total,
        }


_ZERO = LocalizationBreakdown(0.0, 0.0, 0.0, 0.0)


def localization_reward(
    completion: str,
    gt_boxes: Sequence[Sequence[float]],
    gt_labels: Sequence[str],
    categories: Sequence[str],
    image_size: tuple[int, int],
    *,
    xi0: float = 0.5,
    xi1: float = 0.5,
    xi2: float = 0.75,
    differentiation: bool = True,
    matcher: str = "box_only",
    overlap: str = "iou",
    precision_over: str = "predictions",
    weights: Sequence[float] = (1.0, 1.0, 1.0),
) -> LocalizationBreakdown:
    """Score one grounding completion against its ground truth (Vision-R1, Eq. 3-8).

    Args:
        completion: model output (see the module docstring for the accepted forms).
        gt_boxes: (G, 4) ground-truth boxes [x1, y1, x2, y2] in pixels of the completion's frame.
        gt_labels: (G,) label of each ground-truth box.
        categories: the labels the prompt allows; a predicted label outside them makes its entry invalid.
        image_size: (width, height) of that frame, in pixels.
        xi0: overlap at which a matched prediction is a true positive (Eq. 5-6).
        xi1, xi2: penalty and full-reward thresholds of the differentiation f (Eq. 8), xi1 <= xi2.
        differentiation: apply f to recall and to each true positive's overlap in precision.
        matcher: "box_only" or "box_and_label" (labels must agree for a pair to count).
        overlap: "iou" (paper) or "giou" (released code), used both to match and to reward.
        precision_over: "predictions" (Eq. 6: divide by M) or "matched" (mean over matched pairs).
        weights: (w_format, w_recall, w_precision), each >= 0.

    Never raises on `completion`; raises ValueError for invalid other arguments.
    """
    for name, xi in (("xi0", xi0), ("xi1", xi1), ("xi2", xi2)):
        if not is_real(xi) or not 0.0 <= xi <= 1.0:
            raise ValueError(f"{name} must be a number in [0, 1], got {xi!r}")
    if xi1 > xi2:
        raise ValueError(f"xi1 must be <= xi2, got xi1={xi1!r}, xi2={xi2!r}")
    if matcher not in MATCHERS:
        raise ValueError(f"matcher must be one of {MATCHERS}, got {matcher!r}")
    if overlap not in OVERLAPS:
        raise ValueError(f"overlap must be one of {OVERLAPS}, got {overlap!r}")
    if precision_over not in PRECISION_OVER:
        raise ValueError(f"precision_over must be one of {PRECISION_OVER}, got {precision_over!r}")
    w_format, w_recall, w_precision = _weights(weights)
    frame = frame_size(image_size)
    allowed = category_set(categories)
    gt = _gt_array(gt_boxes)  # (G, 4)
    n_gt = gt.shape[0]
    if len(gt_labels) != n_gt:
        raise ValueError(f"{n_gt} ground-truth boxes but {len(gt_labels)} labels")

    parsed = parse_in_frame(completion, frame, allowed)
    if not parsed.ok:
        return _ZERO
    entries = parsed.entries
    n_pred = len(entries)
    valid = [e for e in entries if e.valid]
    fmt = 1.0 if parsed.template_ok and len(valid) == n_pred else 0.0

    n_matched = n_tp = 0
    if n_pred == 0:
        # An empty answer is right exactly when there is nothing to find, and earns nothing otherwise.
        recall = precision = 1.0 if n_gt == 0 else 0.0
        fmt = min(fmt, recall)
    elif n_gt == 0 or not valid:
        # Boxes on a negative sample, or nothing usable: no true positive can exist.
        recall = precision = 0.0
    else:
        overlaps = pairwise_overlap(np.array([e.box for e in valid]), gt, overlap)  # (V, G)
        pairs = _assign(overlaps, [e.label for e in valid], gt_labels, matcher == "box_and_label")
        n_matched = len(pairs)
        hits = [value for _, _, value in pairs if value >= xi0]  # true positives' overlaps
        n_tp = len(hits)
        recall = n_tp / n_gt
        if differentiation:
            recall = differentiate(recall, xi1, xi2)
            gained = sum(differentiate(value, xi1, xi2) for value in hits)
        else:
            gained = float(sum(hits))
        denominator = n_pred if precision_over == "predictions" else n_matched
        precision = min(1.0, gained / denominator) if denominator else 0.0

    total = w_format * fmt + w_recall * recall + w_precision * precision
    return LocalizationBreakdown(fmt, recall, precision, total, n_pred, len(valid), n_matched, n_tp)


# --------------------------------------------------------------------------------------------------------------
# Progression


def staged_thresholds(progress: float, step_fraction: float) -> tuple[float, float, float]:
    """(xi0, xi1, xi2) of the training stage at `progress` (fraction of training done, in [0, 1]).

    `BEGINNER_THRESHOLDS` (0.5, 0.5, 0.75) before `step_fraction` of training, `ADVANCED_THRESHOLDS`
    (0.75, 0.75, 0.9) from it on (Sec. 3.3, the paper's STEP). `step_fraction = 1` never switches, even at the
    very end; `step_fraction = 0` starts in the advanced stage.
    """
    if not is_real(progress) or not 0.0 <= progress <= 1.0:
        raise ValueError(f"progress must be a number in [0, 1], got {progress!r}")
    if not is_real(step_fraction) or not 0.0 <= step_fraction <= 1.0:
        raise ValueError(f"step_fraction must be a number in [0, 1], got {step_fraction!r}")
    if step_fraction >= 1.0 or progress < step_fraction:
        return BEGINNER_THRESHOLDS
    return ADVANCED_THRESHOLDS


# --------------------------------------------------------------------------------------------------------------
# Argument checks


def _weights(weights: object) -> tuple[float, float, float]:
    if isinstance(weights, (str, bytes)):
        raise ValueError(f"weights must be three numbers (format, recall, precision), got {weights!r}")
    try:
        w_format, w_recall, w_precision = weights  # type: ignore[misc]
    except (TypeError, ValueError):
        raise ValueError(
            f"weights must be three numbers (format, recall, precision), got {weights!r}"
        ) from None
    if not all(is_real(w) and w >= 0 for w in (w_format, w_recall, w_precision)):
        raise ValueError(f"weights must be finite numbers >= 0, got {weights!r}")
    return float(w_format), float(w_recall), float(w_precision)


def _gt_array(gt_boxes: Sequence[Sequence[float]]) -> np.ndarray:
    """Ground-truth boxes as a (G, 4) float array; raises ValueError unless each is 4 finite numbers with
    x1 < x2, y1 < y2 and a positive area."""
    if len(gt_boxes) == 0:
        return np.zeros((0, 4))
    try:
        gt = np.array(gt_boxes, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"gt_boxes must be a list of [x1, y1, x2, y2], got {gt_boxes!r}") from None
    if gt.ndim != 2 or gt.shape[1] != 4:
        raise ValueError(f"gt_boxes must be a list of [x1, y1, x2, y2], got shape {gt.shape}")
    if not np.isfinite(gt).all():
        raise ValueError("gt_boxes must be finite")
    if not ((gt[:, 0] < gt[:, 2]).all() and (gt[:, 1] < gt[:, 3]).all()):
        raise ValueError("gt_boxes must have x1 < x2 and y1 < y2")
    if not ((gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1]) > 0).all():  # sides so small the area underflows
        raise ValueError("gt_boxes must have a positive area")
    return gt
