"""Sample schema of the `rarl` recipe: an ordinal task, one labelled image, and an N-image sample.

An `OrdinalTask` carries what the prompt and the reward need to know about a dataset: the rule text that
fills `[Rule]` of the paper's instruct prompt (Table 1), the value range that fills `[Value_Range]`, how
values are written in answers (int, or float with `precision` decimals), the regression tolerance `delta`
of Eq. 3, and the metric reported for 1-image evaluation (Sec. 4.1: MAE for age, accuracy for counting,
SRCC for aesthetics; PLCC is also offered).

Rounding is half-up in decimal (5.635 -> "5.64"), not Python's binary/banker's `round`, so that a label
and its rendered answer agree the way a reader expects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rarl.data.errors import DataError
from rarl.data.images import load_rgb

if TYPE_CHECKING:
    from PIL import Image

ValueType = Literal["int", "float"]
Metric = Literal["mae", "accuracy", "srcc", "plcc"]
VALUE_TYPES: tuple[str, ...] = ("int", "float")
METRICS: tuple[str, ...] = ("mae", "accuracy", "srcc", "plcc")
_RANGE_EPS = 1e-9


def _round_half_up(v: float, precision: int) -> Decimal:
    return Decimal(repr(float(v))).quantize(Decimal(1).scaleb(-precision), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class OrdinalTask:
    """An ordinal regression / ranking task: what to estimate, in which range, and how it is scored."""

    name: str
    """Short identifier, e.g. "utkface", "ava", "coco-count", "synthetic-count"."""
    rule: str
    """Fills `[Rule]` in the instruct prompt, e.g. "age of the person"."""
    value_range: tuple[float, float]
    """(lo, hi), inclusive; fills `[Value_Range]` rendered as "lo-hi", e.g. "0-116"."""
    value_type: ValueType = "int"
    """"int" values are written without decimals; "float" values with `precision` decimals."""
    precision: int = 0
    """Decimals shown in answers (0 for int tasks)."""
    delta: float = 5.0
    """Regression tolerance of Eq. 3: predictions further than delta from the label earn 0."""
    metric: Metric = "mae"
    """The 1-image metric reported for this task: "mae", "accuracy", "srcc" or "plcc"."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise DataError("OrdinalTask: name must be a non-empty string")
        if not isinstance(self.rule, str) or not self.rule.strip():
            raise DataError(f"OrdinalTask {self.name!r}: rule must be a non-empty string")
        try:
            lo, hi = (float(x) for x in self.value_range)
        except (TypeError, ValueError):
            raise DataError(
                f"OrdinalTask {self.name!r}: value_range must be two numbers (lo, hi), got {self.value_range!r}"
            ) from None
        if not (math.isfinite(lo) and math.isfinite(hi)) or not lo < hi:
            raise DataError(f"OrdinalTask {self.name!r}: value_range needs finite lo < hi, got ({lo}, {hi})")
        object.__setattr__(self, "value_range", (lo, hi))
        if self.value_type not in VALUE_TYPES:
            raise DataError(
                f"OrdinalTask {self.name!r}: value_type must be one of {VALUE_TYPES}, got {self.value_type!r}"
            )
        if isinstance(self.precision, bool) or not isinstance(self.precision, int) or self.precision < 0:
            raise DataError(
                f"OrdinalTask {self.name!r}: precision must be an int >= 0, got {self.precision!r}"
            )
        if self.value_type == "int" and self.precision != 0:
            raise DataError(f"OrdinalTask {self.name!r}: an int task has precision 0, got {self.precision}")
        try:
            delta = float(self.delta)
        except (TypeError, ValueError):
            raise DataError(
                f"OrdinalTask {self.name!r}: delta must be a number, got {self.delta!r}"
            ) from None
        if not (math.isfinite(delta) and delta > 0):
            raise DataError(f"OrdinalTask {self.name!r}: delta must be > 0, got {self.delta!r}")
        object.__setattr__(self, "delta", delta)
        if self.metric not in METRICS:
            raise DataError(
                f"OrdinalTask {self.name!r}: metric must be one of {METRICS}, got {self.metric!r}"
            )

    @property
    def lo(self) -> float:
        """Lower end of the value range."""
        return self.value_range[0]

    @property
    def hi(self) -> float:
        """Upper end of the value range."""
        return self.value_range[1]

    def quantize(self, v: float) -> float:
        """`v` rounded half-up to the task's precision (what an exact answer would write)."""
        return float(_round_half_up(v, self.precision))

    def format_value(self, v: float) -> str:
        """`v` as written in an answer: "23" for int tasks, "5.64" for a float task with precision 2."""
        q = _round_half_up(v, self.precision)
        if q == 0:
            q = abs(q)  # no "-0"
        return f"{q:.{self.precision}f}"

    def range_text(self) -> str:
        """The value range as it fills `[Value_Range]`: "0-116", "1-10" (integral ends lose decimals)."""
        return "-".join(
            str(int(x)) if float(x).is_integer() else self.format_value(x) for x in self.value_range
        )

    def contains(self, v: float) -> bool:
        """Whether `v` lies in the (inclusive) value range."""
        return self.lo - _RANGE_EPS <= v <= self.hi + _RANGE_EPS

    def with_rule(self, rule: str | None) -> OrdinalTask:
        """This task with another rule text (per-sample rules, e.g. one per COCO category)."""
        if rule is None or rule == self.rule:
            return self
        return OrdinalTask(
            self.name, rule, self.value_range, self.value_type, self.precision, self.delta, self.metric
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the manifest's task.json)."""
        return {
            "name": self.name,
            "rule": self.rule,
            "value_range": list(self.value_range),
            "value_type": self.value_type,
            "precision": self.precision,
            "delta": self.delta,
            "metric": self.metric,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OrdinalTask:
        """Inverse of `to_dict`; unknown or missing keys raise `DataError`."""
        if not isinstance(d, dict):
            raise DataError(f"OrdinalTask: expected a JSON object, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise DataError(f"OrdinalTask: unknown keys {unknown} (known: {sorted(known)})")
        missing = [k for k in ("name", "rule", "value_range") if k not in d]
        if missing:
            raise DataError(f"OrdinalTask: missing keys {missing}")
        kwargs = dict(d)
        vr = kwargs["value_range"]
        if not isinstance(vr, (list, tuple)) or len(vr) != 2:
            raise DataError(f"OrdinalTask: value_range must be [lo, hi], got {vr!r}")
        kwargs["value_range"] = tuple(vr)
        return cls(**kwargs)


@dataclass(frozen=True)
class OrdinalItem:
    """One labelled image.

    `image` is an absolute path once loaded (relative to the manifest folder on disk). `meta` is free-form
    (gender, category, vote count, ...); the key "rule" (if present) overrides the task's rule for this
    item, which keeps items with different rules out of the same sample.
    """

    image: str
    label: float
    meta: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if isinstance(self.image, Path):
            object.__setattr__(self, "image", str(self.image))
        if not isinstance(self.image, str) or not self.image:
            raise DataError(f"OrdinalItem: image must be a non-empty path, got {self.image!r}")
        try:
            label = float(self.label)
        except (TypeError, ValueError):
            raise DataError(f"OrdinalItem {self.image}: label must be a number, got {self.label!r}") from None
        if not math.isfinite(label):
            raise DataError(f"OrdinalItem {self.image}: label must be finite, got {self.label!r}")
        object.__setattr__(self, "label", label)
        if not isinstance(self.meta, dict):
            raise DataError(f"OrdinalItem {self.image}: meta must be a dict, got {type(self.meta).__name__}")


@dataclass(frozen=True)
class OrdinalSample:
    """N images with labels under one task; `items[i]` is shown as image_id i+1 (presentation order)."""

    sample_id: str
    task: OrdinalTask
    items: tuple[OrdinalItem, ...]

    def __post_init__(self) -> None:
        items = tuple(self.items)
        object.__setattr__(self, "items", items)
        if not items:
            raise DataError(f"OrdinalSample {self.sample_id!r}: has no items")
        for item in items:
            if not self.task.contains(item.label):
                raise DataError(
                    f"OrdinalSample {self.sample_id!r}: label {item.label:g} of {item.image} is outside "
                    f"the task's range {self.task.range_text()}"
                )

    @property
    def labels(self) -> list[float]:
        """Labels in presentation order."""
        return [item.label for item in self.items]

    @property
    def n(self) -> int:
        """Number of images."""
        return len(self.items)

    @property
    def image_paths(self) -> list[str]:
        """Image paths in presentation order."""
        return [item.image for item in self.items]

    def load_images(self) -> list[Image.Image]:
        """The images in presentation order, upright RGB (`rarl.data.images.load_rgb`; a bad file raises
        `DataError` naming it)."""
        return [load_rgb(item.image) for item in self.items]
