"""The data of the batch reward contract: what a reward receives (`RewardInputs`) and returns (`RewardOutput`).

`rarl.rewards.batch` describes the contract and adapts per-completion rewards; these types live here so that
the reward checks (`rarl.rewards.checks`) and the adapter can both use them. Import them from either module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch

if TYPE_CHECKING:
    from rarl.model.scorer import PolicyScorer

__all__ = ["BatchReward", "RewardInputs", "RewardOutput"]


@dataclass
class RewardInputs:
    """What a batch reward receives: R completions and everything about them a reward may need."""

    samples: Sequence[Any]
    """[R] the sample each row answers (the recipe's sample type)."""
    targets: Sequence[Any]
    """[R] the ground truth of each row's sample, as the recipe defines it (`recipe.target(sample)`)."""
    texts: Sequence[str]
    """[R] decoded completions."""
    completion_ids: torch.Tensor | None = None
    """[R, T] completion token ids, right-padded (None when only texts exist)."""
    completion_mask: torch.Tensor | None = None
    """[R, T] 1 on real completion tokens."""
    group_size: int = 1
    """G: rows `b*G .. b*G+G-1` are one group (1: rows are independent)."""
    step: int = 0
    """Optimizer steps completed before this batch (0 for the first step)."""
    stage: str = ""
    """Name of the current stage."""
    progress: float = 0.0
    """Fraction of the run's steps completed before this batch, in [0, 1]."""
    scorer: PolicyScorer | None = None
    """Teacher-forced log-probabilities of texts under the current policy (None outside training)."""

    def __post_init__(self) -> None:
        n = len(self.texts)
        if len(self.samples) != n or len(self.targets) != n:
            raise ValueError(f"{n} texts but {len(self.samples)} samples and {len(self.targets)} targets")
        if self.group_size < 1 or n % self.group_size:
            raise ValueError(f"{n} rows do not split into groups of {self.group_size}")


@dataclass
class RewardOutput:
    """Totals and named components of R completions."""

    totals: torch.Tensor
    """[R] float32."""
    components: dict[str, torch.Tensor] = field(default_factory=dict)
    """name -> [R] float32; NaN where the component does not apply to that row (multi-task batches)."""
    errors: int = 0
    """Completions on which the reward raised (each scored 0)."""

    def __post_init__(self) -> None:
        self.totals = torch.as_tensor(self.totals, dtype=torch.float32)
        if self.totals.dim() != 1:
            raise ValueError(f"totals must be 1-D [R], got shape {tuple(self.totals.shape)}")
        n = self.totals.numel()
        for name, values in list(self.components.items()):
            values = torch.as_tensor(
                [math.nan if v is None else v for v in values] if isinstance(values, list) else values,
                dtype=torch.float32,
            )
            if values.shape != (n,):
                raise ValueError(f"component {name!r} has shape {tuple(values.shape)}, expected [{n}]")
            self.components[name] = values


@runtime_checkable
class BatchReward(Protocol):
    """A reward over a whole batch of completions."""

    def __call__(self, inputs: RewardInputs) -> RewardOutput: ...
