"""Group-relative advantages (paper Eq. 2) and group statistics.

Eq. 2 normalises each reward by its group: `A_i = (r_i - mean(r_1..G)) / std(r_1..G)`. Where the paper is
silent we chose:

- **Unbiased std.** `std` is the Bessel-corrected sample standard deviation (divisor `G - 1`), torch's
  default `Tensor.std()` and what TRL's GRPOTrainer uses. A group of one rollout has std 0 (not NaN).
- **eps in the denominator.** `A = (r - mean) / (std + eps)`, so a zero-variance group gives `A = 0` rather
  than NaN. Rewards here are continuous, so a "stagnant" group can have a tiny non-zero std; its advantages
  are then small but not exactly 0. Use `zero_variance_groups` (a threshold on std, never `== 0`) to find
  such groups, and `rarl.algorithms.filters` / `rarl.algorithms.rmo` to act on them. The default
  `eps = 1e-6` (kept deliberately: closest to Eq. 2 as written, and what existing runs used) differs from
  TRL's 1e-4; the two give the same advantages to within `1e-4 / std` relative, which matters only for groups
  whose std is near 1e-4 (set `algorithm.eps: 1e-4` to match TRL).
- **Scale modes.** `"group"` is Eq. 2 as written; `"batch"` keeps the per-group mean but divides by the std of
  all `B*G` rewards in the batch (as TRL's `scale_rewards="batch"`); `"none"` only centres (Dr. GRPO).
- **Precision.** Statistics are computed in float64 and the result is cast back to the reward dtype
  (float32 for integer or bool rewards).

Layout is group-major throughout: row `b*G + g` is rollout `g` of prompt `b`.
"""

from __future__ import annotations

from typing import Literal

import torch

from rarl.algorithms._groups import as_groups, result_dtype, std_unbiased

AdvantageScale = Literal["group", "batch", "none"]
ADVANTAGE_SCALES: tuple[str, ...] = ("group", "batch", "none")


def group_stats(rewards: torch.Tensor, group_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-group mean and unbiased std of the rewards.

    rewards: [B*G] -> (mean [B], std [B]), in the reward dtype (float32 for integer rewards).
    std uses divisor `G - 1`; it is 0 when `group_size == 1`.
    """
    grouped = as_groups(rewards, group_size)  # [B, G]
    dtype = result_dtype(rewards)
    return grouped.mean(dim=1).to(dtype), std_unbiased(grouped, dim=1).to(dtype)


def _scale_denominator(
    grouped: torch.Tensor, scale: str, eps: float, std_override: torch.Tensor | None = None
) -> torch.Tensor:
    """The divisor applied to centred rewards for a scale mode.

    grouped: [B, G] float64 rewards -> [B, 1] divisor (`std + eps`, or 1 for `"none"`).
    std_override: optional [B] std to use instead of the one computed from `grouped` (RMO "original").
    """
    if scale not in ADVANTAGE_SCALES:
        raise ValueError(f"unknown advantage scale {scale!r}; expected one of {ADVANTAGE_SCALES}")
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    num_groups = grouped.shape[0]
    if scale == "none":
        return torch.ones(num_groups, 1, dtype=grouped.dtype, device=grouped.device)  # [B, 1]
    if std_override is not None:
        std = std_override  # [B]
    elif scale == "group":
        std = std_unbiased(grouped, dim=1)  # [B]
    else:  # "batch"
        std = std_unbiased(grouped).expand(num_groups)  # [B]
    return (std + eps).unsqueeze(1)  # [B, 1]


def group_advantages(
    rewards: torch.Tensor,
    group_size: int,
    scale: AdvantageScale = "group",
    eps: float = 1e-6,
) -> torch.Tensor:
    """GRPO advantages, Eq. 2: `(r - mean_group) / (std + eps)`.

    rewards: [B*G] group-major -> advantages [B*G], reward dtype (float32 for integer rewards).
    scale: "group" (each group's unbiased std), "batch" (unbiased std of all B*G rewards; mean stays per
    group), "none" (mean-centring only).
    """
    grouped = as_groups(rewards, group_size)  # [B, G]
    centred = grouped - grouped.mean(dim=1, keepdim=True)  # [B, G]
    adv = centred / _scale_denominator(grouped, scale, eps)  # [B, G]
    return adv.reshape(-1).to(result_dtype(rewards))  # [B*G]


def zero_variance_groups(rewards: torch.Tensor, group_size: int, std_eps: float = 1e-6) -> torch.Tensor:
    """Groups whose rewards are (numerically) all equal: unbiased std below `std_eps`.

    rewards: [B*G] -> bool [B]. A threshold, never `== 0`: rewards are continuous and float noise
    (0.3 vs 0.30000001) must count as stagnant. A group of one rollout is always zero-variance.
    """
    if std_eps < 0:
        raise ValueError(f"std_eps must be >= 0, got {std_eps}")
    grouped = as_groups(rewards, group_size)  # [B, G]
    return std_unbiased(grouped, dim=1) < std_eps  # [B]


__all__ = [
    "ADVANTAGE_SCALES",
    "AdvantageScale",
    "group_advantages",
    "group_stats",
    "zero_variance_groups",
]
