"""The RARL ranking-aware verifiable reward (paper Sec. 3.1, Eq. 3-8).

    total = l1 * regression + l2 * ranking + l3 * format,    ranking = length + consistency + accuracy

How we read the paper
---------------------
Where the paper is silent or ambiguous, these are the readings this module implements:

- Images. `labels[i]` is the ground truth of `image_id` i+1: images are numbered from 1 in prompt order.
- Answer. The content of the single `<answer>...</answer>` block, a list of `{image_id, value}` dicts in JSON
  or Python-literal syntax (the prompt of Table 1 shows single quotes). Zero or several answer blocks: nothing
  parses. Validity of entries (ids in 1..N, finite numeric values, numeric strings allowed, bools rejected,
  first entry per repeated id) is defined once in `rarl.rewards.parsing`.
- Regression (Eq. 3). Per image, `(1 - |pred - y| / (2*delta))**2` when `|pred - y| <= delta`, else 0. An
  image without a valid prediction scores 0. `regression` is the mean over all N images, so missing images
  pull it down. (The reward drops from 0.25 to 0 just past `delta`, as Eq. 3 writes it.)
- Length (Eq. 4). Read as a penalty on missing entries: with n the number of entries in the answer list
  (valid or not) and N the number of images, `1 - (N - n)/N` when `n <= N`, else 0. Eq. 4 as printed,
  `1 - (n - N)/N`, would reward omissions with values above 1.
- Accuracy (Eq. 6) and consistency (Eq. 5). Over the valid entries in answer order,
  `(tau_b(position, y_true) + 1)/2` and `(tau_b(position, y_pred) + 1)/2`, with Kendall's tau-b (ties
  handled). Accuracy compares the emitted order with the ground-truth order; consistency compares it with the
  order implied by the emitted values. Both are 0 with fewer than two valid entries or when tau is undefined
  (all labels, or all predicted values, tied).
- Single image. Ranking needs at least two images: for N = 1, length, consistency and accuracy are all 0, so
  only regression and format count (pure ordinal regression).
- Format. 1 only if the completion is exactly one `<think>...</think>` block followed by exactly one
  `<answer>...</answer>` block (whitespace around them allowed, nothing else), the answer parses, every list
  item is a valid entry, ids are distinct and, when `value_range=(lo, hi)` is given, every value lies in
  `[lo, hi]`; otherwise 0. This is the "dual format" of Vision-R1: template and content. The answer need not
  cover every image: missing images are charged by regression and length instead.
- Unparsable answer. Every term is 0, format included.
- Robustness. `score` never raises on any completion string; malformed output is data, not an error.
  Invalid constructor arguments (delta <= 0, wrong number of weights, ...) raise ValueError.

Bounds: regression, length, consistency, accuracy and format lie in [0, 1], ranking in [0, 3], and total in
[0, l1 + 3*l2 + l3] (weights are non-negative).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rarl.rewards.parsing import parse_answer
from rarl.rewards.registry import register_reward
from rarl.utils.numbers import finite_float
from rarl.utils.ranking import kendall_tau_b


@dataclass(frozen=True, slots=True)
class RewardBreakdown:
    """The components of one RARL score (each a float), and their weighted total."""

    regression: float
    """R_reg, Eq. 3: mean per-image regression reward, in [0, 1]."""
    length: float
    """r_len, Eq. 4: length compliance, in [0, 1]."""
    consistency: float
    """r_consis, Eq. 5: agreement of the emitted order with the emitted values, in [0, 1]."""
    accuracy: float
    """r_acc, Eq. 6: agreement of the emitted order with the ground truth, in [0, 1]."""
    ranking: float
    """R_rank, Eq. 7: length + consistency + accuracy, in [0, 3]."""
    format: float
    """R_format: 1 for a well-formed completion with a fully valid answer, else 0."""
    total: float
    """R_final, Eq. 8: l1 * regression + l2 * ranking + l3 * format."""

    def as_dict(self) -> dict[str, float]:
        """All components and the total, keyed by name (logged as `reward/<name>`)."""
        return {
            "regression": self.regression,
            "length": self.length,
            "consistency": self.consistency,
            "accuracy": self.accuracy,
            "ranking": self.ranking,
            "format": self.format,
            "total": self.total,
        }


_ZERO = RewardBreakdown(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


@register_reward("rarl")
class RankingAwareReward:
    """RARL's ranking-aware reward for N-image ordinal regression and ranking answers.

    Args:
        delta: regression tolerance of Eq. 3, in label units (> 0).
        weights: `(lambda1, lambda2, lambda3)` of Eq. 8, for regression, ranking and format (each >= 0).
            The paper's stage 1 uses `(1, 0, 1)`, stage 2 `(1, 1, 1)`.
        value_range: optional `(lo, hi)`; when given, an answer with a value outside it gets format 0.
    """

    def __init__(
        self,
        delta: float = 5.0,
        weights: Sequence[float] = (1.0, 1.0, 1.0),
        value_range: Sequence[float] | None = None,
    ) -> None:
        delta = finite_float(delta, "delta")
        if delta <= 0:
            raise ValueError(f"delta must be > 0, got {delta}")
        if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence) or len(weights) != 3:
            raise ValueError(f"weights must be three numbers (lambda1, lambda2, lambda3), got {weights!r}")
        w_reg, w_rank, w_fmt = (finite_float(w, "weights") for w in weights)
        if min(w_reg, w_rank, w_fmt) < 0:
            raise ValueError(f"weights must be >= 0, got {(w_reg, w_rank, w_fmt)}")
        lo_hi: tuple[float, float] | None = None
        if value_range is not None:
            if (
                isinstance(value_range, (str, bytes))
                or not isinstance(value_range, Sequence)
                or len(value_range) != 2
            ):
                raise ValueError(f"value_range must be (lo, hi) or None, got {value_range!r}")
            lo, hi = (finite_float(v, "value_range") for v in value_range)
            if lo > hi:
                raise ValueError(f"value_range must have lo <= hi, got {(lo, hi)}")
            lo_hi = (lo, hi)
        self.delta: float = delta
        self.weights: tuple[float, float, float] = (w_reg, w_rank, w_fmt)
        self.value_range: tuple[float, float] | None = lo_hi

    def __repr__(self) -> str:
        return (
            f"RankingAwareReward(delta={self.delta}, weights={self.weights}, value_range={self.value_range})"
        )

    def score(self, completion: str, labels: Sequence[float]) -> RewardBreakdown:
        """Score one completion against the labels of its N images (`labels[i]` is image_id i+1).

        Never raises on the completion; raises ValueError only when `labels` is empty.
        """
        n_images = len(labels)
        if n_images == 0:
            raise ValueError("labels must hold at least one ground-truth value")
        parsed = parse_answer(completion, n_images)
        if not parsed.ok:
            return _ZERO
        entries = parsed.entries

        # Eq. 3: mean over all N images; images without a valid prediction contribute 0.
        delta = self.delta
        two_delta = 2.0 * delta
        predicted = dict(entries)
        total_reg = 0.0
        for image_id, label in enumerate(labels, 1):
            pred = predicted.get(image_id)
            if pred is not None:
                err = abs(pred - label)
                if err <= delta:
                    closeness = 1.0 - err / two_delta
                    total_reg += closeness * closeness
        regression = total_reg / n_images

        length = consistency = accuracy = 0.0
        if n_images >= 2:
            # Eq. 4, read as a penalty on missing entries; more entries than images score 0.
            n_entries = parsed.n_entries
            length = 1.0 - (n_images - n_entries) / n_images if n_entries <= n_images else 0.0
            if len(entries) >= 2:
                positions = range(len(entries))
                # Eq. 5: emitted order vs the order implied by the emitted values.
                tau = kendall_tau_b(positions, [value for _, value in entries])
                consistency = 0.0 if tau is None else (tau + 1.0) / 2.0
                # Eq. 6: emitted order vs the ground-truth order.
                tau = kendall_tau_b(positions, [labels[image_id - 1] for image_id, _ in entries])
                accuracy = 0.0 if tau is None else (tau + 1.0) / 2.0
        ranking = length + consistency + accuracy

        fmt = 0.0
        if parsed.template_ok and parsed.all_valid:
            value_range = self.value_range
            if value_range is None:
                fmt = 1.0
            else:
                lo, hi = value_range
                if all(lo <= value <= hi for _, value in entries):
                    fmt = 1.0

        w_reg, w_rank, w_fmt = self.weights
        total = w_reg * regression + w_rank * ranking + w_fmt * fmt
        return RewardBreakdown(regression, length, consistency, accuracy, ranking, fmt, total)

    def score_batch(
        self, completions: Sequence[str], labels_list: Sequence[Sequence[float]]
    ) -> list[RewardBreakdown]:
        """Score `completions[i]` against `labels_list[i]`; the two must be equally long."""
        if len(completions) != len(labels_list):
            raise ValueError(
                f"score_batch: {len(completions)} completions but {len(labels_list)} label lists"
            )
        score = self.score
        return [score(c, labels) for c, labels in zip(completions, labels_list, strict=True)]
