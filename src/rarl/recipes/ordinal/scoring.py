"""Per-size scoring policy of the `rarl` recipe's 1/2/4/8-image protocol (paper Sec. 4.1, Tables 2-6).

The same rules apply to every model, base, SFT or RL; docs/evaluation.md states them for readers.

Input per test sample: the ground-truth labels (`labels[i]` belongs to image_id `i + 1`) and the parsed
answer, any object with `ok` (the answer could be parsed) and `entries` (the valid `(image_id, value)` pairs
in answer order), as returned by `rarl.rewards.parse_answer`. `None` stands for a missing answer.

1-image samples (metric `mae`, `accuracy`, `srcc` or `plcc`; the task decides which):
  * The prediction is the value of the first valid entry with image_id 1. The sample is a *failure* when the
    answer did not parse (`ok` false), has no such entry, or the value is not finite.
  * A failure is replaced by a fixed, model-independent fallback: the midpoint of the task's value range.
    MAE, SRCC and PLCC use the fallback value; accuracy counts a failure as wrong whatever the fallback.
    Failing therefore never helps a model relative to answering.
  * Accuracy rounds the prediction (and the label) to the task precision, halves away from zero, and
    compares exactly. Values are not clipped to the value range for any metric.
  * Reported: the metric over all samples, its failure rate, n, and as a secondary number the metric over
    the parsed samples only (`extras["<metric>_parsed"]`).

N-image samples (N >= 2, metric `tau`):
  * The answer must name every image exactly once as a valid entry: the valid entries' ids are exactly
    1..N and, when the parsed object reports `n_entries` (the list length including invalid items, as
    `ParsedAnswer` does), the list has exactly N items. Otherwise the sample is a failure and scores
    tau = 0, chance level. Missing, duplicated, invalid or extra items are not repaired.
  * Otherwise the predicted ranking is the order of the image ids in the answer (the prompt asks for the
    list sorted by ascending value), and tau = Kendall tau-b(position in the answer, true label).
    An answer listed in descending order therefore scores negative tau.
  * Secondary number (`extras["tau_values"]`): tau-b(predicted values, true labels) on the same complete
    answers, failures again 0; an answer whose values are all equal scores 0.
  * A sample whose true labels are all equal has no order to recover; it is excluded from every number
    and counted in `extras["n_excluded"]`.

Confidence intervals: percentile bootstrap (default 1000 resamples, seeded, 95%). MAE, accuracy and mean
tau resample samples; SRCC/PLCC resample (prediction, label) pairs. The failure rate and the secondary tau
get intervals too (`extras[...+"_ci_low"/"_ci_high"]`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from rarl.eval import metrics as M
from rarl.eval.bootstrap import bootstrap_ci, mean_rows
from rarl.utils.ranking import kendall_tau_b

__all__ = [
    "ONE_IMAGE_METRICS",
    "RANKING_METRIC",
    "OneImageOutcome",
    "ParsedLike",
    "RankingOutcome",
    "SizeResult",
    "higher_is_better",
    "score_one_image",
    "score_ranking",
    "score_size",
]

ONE_IMAGE_METRICS: tuple[str, ...] = ("mae", "accuracy", "srcc", "plcc")
RANKING_METRIC = "tau"
_HIGHER_IS_BETTER = {"mae": False, "accuracy": True, "srcc": True, "plcc": True, "tau": True}


class ParsedLike(Protocol):
    """What scoring needs from a parsed answer (satisfied by `rarl.rewards.ParsedAnswer`)."""

    @property
    def ok(self) -> bool: ...

    @property
    def entries(self) -> Sequence[tuple[int, float]]: ...


def higher_is_better(metric: str) -> bool:
    """True for accuracy, SRCC, PLCC and tau; False for MAE. Unknown names raise ValueError."""
    try:
        return _HIGHER_IS_BETTER[metric]
    except KeyError:
        raise ValueError(f"unknown metric {metric!r}; expected one of {sorted(_HIGHER_IS_BETTER)}") from None


@dataclass(frozen=True)
class SizeResult:
    """One cell of a results table: a model's score on the test set of one size (images per sample)."""

    size: int
    """Images per sample: 1, 2, 4 or 8."""
    metric: str
    """`mae`, `accuracy` (percent), `srcc`, `plcc` for size 1; `tau` for size >= 2."""
    value: float
    """The metric over all counted samples, failures scored by the policy; nan when undefined."""
    ci_low: float
    """Lower end of the bootstrap confidence interval."""
    ci_high: float
    """Upper end of the bootstrap confidence interval."""
    failure_rate: float
    """Fraction (0-1) of counted samples whose answer was a failure under the policy."""
    n: int
    """Number of counted samples."""
    extras: dict[str, float] = field(default_factory=dict)
    """Secondary numbers (see the module docstring), e.g. `tau_values`, `mae_parsed`, `n_excluded`."""
    per_sample: tuple[float, ...] = ()
    """Each counted sample's contribution, whose mean is `value` (absolute error, 0/100 hit, tau), in sample
    order; empty for correlation metrics. Two models scored on the same samples can be compared pairwise
    (`rarl.recipes.ordinal.verdict`)."""

    @property
    def higher_is_better(self) -> bool:
        return higher_is_better(self.metric)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict; nan becomes None so that the result is strict JSON."""
        d = asdict(self)
        d["per_sample"] = [round(float(v), 6) for v in self.per_sample]
        d["extras"] = {k: _nan_to_none(v) for k, v in self.extras.items()}
        for k in ("value", "ci_low", "ci_high", "failure_rate"):
            d[k] = _nan_to_none(d[k])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SizeResult:
        """Inverse of `as_dict` (None back to nan)."""
        return cls(
            size=int(d["size"]),
            metric=str(d["metric"]),
            value=_none_to_nan(d["value"]),
            ci_low=_none_to_nan(d["ci_low"]),
            ci_high=_none_to_nan(d["ci_high"]),
            failure_rate=_none_to_nan(d["failure_rate"]),
            n=int(d["n"]),
            extras={str(k): _none_to_nan(v) for k, v in (d.get("extras") or {}).items()},
            per_sample=tuple(float(v) for v in d.get("per_sample") or ()),
        )


def _nan_to_none(v: float) -> float | None:
    return None if isinstance(v, float) and math.isnan(v) else v


def _none_to_nan(v: Any) -> float:
    return math.nan if v is None else float(v)


@dataclass(frozen=True)
class OneImageOutcome:
    """Scoring of one 1-image sample."""

    label: float
    value: float | None
    """The parsed value, None on failure."""
    prediction: float
    """The value scored: the parsed value, or the fallback on failure."""
    failed: bool


@dataclass(frozen=True)
class RankingOutcome:
    """Scoring of one N-image sample."""

    tau: float
    """Tau-b of the answer order vs the true labels; 0 on failure; nan when excluded."""
    tau_values: float
    """Tau-b of the predicted values vs the true labels; 0 on failure or constant values; nan when excluded."""
    failed: bool
    excluded: bool
    """True when the true labels are all equal (no order to recover)."""


def _finite(v: Any) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def score_one_image(
    labels: Sequence[float], parsed: ParsedLike | None, value_range: tuple[float, float]
) -> OneImageOutcome:
    """Apply the 1-image policy to one sample; the fallback is the midpoint of `value_range`."""
    if len(labels) != 1:
        raise ValueError(f"score_one_image: expected 1 label, got {len(labels)}")
    fallback = (float(value_range[0]) + float(value_range[1])) / 2.0
    value: float | None = None
    if parsed is not None and parsed.ok:
        for image_id, v in parsed.entries:
            if image_id == 1:
                value = float(v) if _finite(v) else None
                break
    failed = value is None
    return OneImageOutcome(
        label=float(labels[0]), value=value, prediction=fallback if value is None else value, failed=failed
    )


def score_ranking(labels: Sequence[float], parsed: ParsedLike | None) -> RankingOutcome:
    """Apply the N-image policy to one sample (N = len(labels) >= 2)."""
    n = len(labels)
    if n < 2:
        raise ValueError(f"score_ranking: expected at least 2 labels, got {n}")
    if max(labels) == min(labels):
        return RankingOutcome(tau=math.nan, tau_values=math.nan, failed=False, excluded=True)
    entries = list(parsed.entries) if parsed is not None and parsed.ok else []
    ids = [e[0] for e in entries]
    n_listed = getattr(parsed, "n_entries", None)  # list length incl. invalid items, when the parser says
    complete = (
        len(entries) == n
        and (n_listed is None or n_listed == n)
        and sorted(ids) == list(range(1, n + 1))
        and all(_finite(v) for _, v in entries)
    )
    if not complete:
        return RankingOutcome(tau=0.0, tau_values=0.0, failed=True, excluded=False)
    true = [float(labels[int(i) - 1]) for i in ids]
    tau = kendall_tau_b(list(range(n)), true)
    tau_v = kendall_tau_b([float(v) for _, v in entries], true)
    return RankingOutcome(
        tau=0.0 if tau is None else tau,
        tau_values=0.0 if tau_v is None else tau_v,
        failed=False,
        excluded=False,
    )


def _empty(size: int, metric: str) -> SizeResult:
    nan = math.nan
    return SizeResult(size, metric, nan, nan, nan, nan, 0, {})


def score_size(
    size: int,
    labels_list: Sequence[Sequence[float]],
    parsed_list: Sequence[ParsedLike | None],
    metric: str,
    value_range: tuple[float, float],
    precision: int = 0,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> SizeResult:
    """Score one model on the test set of one size.

    Args:
        size: images per sample; every `labels_list[j]` must have this length.
        labels_list: ground-truth labels per sample.
        parsed_list: parsed answer per sample (same length; None for a missing answer).
        metric: the task's 1-image metric (`mae`, `accuracy`, `srcc`, `plcc`); sizes >= 2 always use `tau`.
        value_range: the task's value range; its midpoint is the 1-image fallback.
        precision: decimals for accuracy's rounding.
        n_boot, seed, alpha: bootstrap resamples, seed and level (0.05 -> 95%).
    """
    if len(labels_list) != len(parsed_list):
        raise ValueError(f"{len(labels_list)} label lists but {len(parsed_list)} parsed answers")
    for j, labels in enumerate(labels_list):
        if len(labels) != size:
            raise ValueError(f"sample {j} has {len(labels)} labels, expected {size}")
    if size == 1:
        if metric not in ONE_IMAGE_METRICS:
            raise ValueError(f"1-image metric must be one of {ONE_IMAGE_METRICS}, got {metric!r}")
        return _score_one_image_set(
            labels_list, parsed_list, metric, value_range, precision, n_boot, seed, alpha
        )
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    return _score_ranking_set(size, labels_list, parsed_list, n_boot, seed, alpha)


def _score_one_image_set(labels_list, parsed_list, metric, value_range, precision, n_boot, seed, alpha):
    if not labels_list:
        return _empty(1, metric)
    outcomes = [score_one_image(lab, p, value_range) for lab, p in zip(labels_list, parsed_list, strict=True)]
    pred = np.array([o.prediction for o in outcomes])  # [n]
    label = np.array([o.label for o in outcomes])  # [n]
    failed = np.array([o.failed for o in outcomes], dtype=np.float64)  # [n]
    ok = failed == 0

    if metric in ("mae", "accuracy"):
        if metric == "mae":
            per_sample = np.abs(pred - label)
        else:
            hit = np.isclose(
                M.round_half_away(pred, precision), M.round_half_away(label, precision), rtol=0.0, atol=1e-9
            )
            per_sample = 100.0 * (hit & ok)
        value = float(per_sample.mean())
        ci = bootstrap_ci(per_sample, mean_rows, n_boot, seed, alpha)
        parsed_only = float(per_sample[ok].mean()) if ok.any() else math.nan
    else:
        counts_fn = M.srcc_counts if metric == "srcc" else M.plcc_counts
        one_fn = M.srcc if metric == "srcc" else M.plcc
        value = one_fn(pred, label)
        pairs = np.stack([pred, label], axis=1)  # [n, 2]
        ci = bootstrap_ci(pairs, counts_fn, n_boot, seed, alpha, mode="counts")
        parsed_only = one_fn(pred[ok], label[ok])

    fail_ci = bootstrap_ci(failed, mean_rows, n_boot, seed, alpha)
    extras = {
        f"{metric}_parsed": parsed_only,
        "failure_rate_ci_low": fail_ci[0],
        "failure_rate_ci_high": fail_ci[1],
    }
    if metric == "srcc":
        extras["plcc"] = M.plcc(pred, label)
    samples = tuple(float(v) for v in per_sample) if metric in ("mae", "accuracy") else ()
    return SizeResult(1, metric, value, ci[0], ci[1], float(failed.mean()), len(outcomes), extras, samples)


def _score_ranking_set(size, labels_list, parsed_list, n_boot, seed, alpha):
    outcomes = [score_ranking(lab, p) for lab, p in zip(labels_list, parsed_list, strict=True)]
    kept = [o for o in outcomes if not o.excluded]
    n_excluded = float(len(outcomes) - len(kept))
    if not kept:
        res = _empty(size, RANKING_METRIC)
        return SizeResult(**{**asdict(res), "extras": {"n_excluded": n_excluded}})
    tau = np.array([o.tau for o in kept])  # [n]
    tau_v = np.array([o.tau_values for o in kept])  # [n]
    failed = np.array([o.failed for o in kept], dtype=np.float64)  # [n]
    ci = bootstrap_ci(tau, mean_rows, n_boot, seed, alpha)
    ci_v = bootstrap_ci(tau_v, mean_rows, n_boot, seed, alpha)
    fail_ci = bootstrap_ci(failed, mean_rows, n_boot, seed, alpha)
    extras = {
        "tau_values": float(tau_v.mean()),
        "tau_values_ci_low": ci_v[0],
        "tau_values_ci_high": ci_v[1],
        "failure_rate_ci_low": fail_ci[0],
        "failure_rate_ci_high": fail_ci[1],
        "n_excluded": n_excluded,
    }
    return SizeResult(
        size,
        RANKING_METRIC,
        float(tau.mean()),
        ci[0],
        ci[1],
        float(failed.mean()),
        len(kept),
        extras,
        tuple(float(v) for v in tau),
    )
