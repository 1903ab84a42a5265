"""The reward contract every recipe implements (RARL ordinal rewards now; localization and quality later).

A reward is an object with `score(completion, target)` and `score_batch(completions, targets)`. A score is a
small result object with a `total` (what the policy is optimised for) and `as_dict()` (every named component
plus the total, which the trainer logs as `reward/<name>` with no extra code). The target's type belongs to
the recipe: a list of ordinal labels for RARL, boxes for localization, and so on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar, runtime_checkable

TargetT_contra = TypeVar("TargetT_contra", contravariant=True)


@runtime_checkable
class RewardResult(Protocol):
    """The score of one completion: a total plus named components."""

    @property
    def total(self) -> float:
        """The scalar reward the policy is optimised for."""
        ...

    def as_dict(self) -> dict[str, float]:
        """Every component and the total, keyed by name, for logging as `reward/<name>`."""
        ...


@runtime_checkable
class RewardFunction(Protocol[TargetT_contra]):
    """A reward recipe: pure scoring of completions against a ground-truth target."""

    def score(self, completion: str, labels: TargetT_contra) -> RewardResult:
        """Score one completion; never raises on malformed completion text."""
        ...

    def score_batch(
        self, completions: Sequence[str], labels_list: Sequence[TargetT_contra]
    ) -> Sequence[RewardResult]:
        """Score completions[i] against labels_list[i] for every i."""
        ...
