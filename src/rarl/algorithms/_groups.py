"""Group-major layout helpers shared by the algorithm modules (private).

Rollouts are laid out group-major: row `b * G + g` is rollout `g` of prompt `b`, so a per-rollout tensor of
shape `[B*G]` reshapes to `[B, G]` with `view(-1, G)`.

Group statistics are computed in float64: a reward vector is a few hundred numbers, and float64 keeps
`r - mean` accurate when a group's rewards are nearly equal (the case RMO and DAPO filtering care about).
Callers cast results back to the reward dtype.
"""

from __future__ import annotations

import torch


def check_group_size(group_size: int) -> None:
    """Raise ValueError unless `group_size` is a positive int."""
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
        raise ValueError(f"group_size must be a positive int, got {group_size!r}")


def result_dtype(rewards: torch.Tensor) -> torch.dtype:
    """The dtype of per-rollout outputs: the reward dtype if floating, else float32."""
    return rewards.dtype if rewards.is_floating_point() else torch.float32


def as_groups(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """View a group-major reward vector as a float64 matrix.

    rewards: [B*G] -> returns [B, G] (float64 copy).
    Raises ValueError if `rewards` is not 1-D or its length is not a multiple of `group_size`.
    """
    check_group_size(group_size)
    if rewards.dim() != 1:
        raise ValueError(f"rewards must be 1-D [B*G], got shape {tuple(rewards.shape)}")
    if rewards.numel() % group_size != 0:
        raise ValueError(f"rewards length {rewards.numel()} is not a multiple of group_size={group_size}")
    return rewards.to(torch.float64).view(-1, group_size)  # [B, G]


def std_unbiased(x: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Unbiased (Bessel-corrected, divisor n - 1) standard deviation; 0 where only one value is present.

    x: [B, G] with dim=1 -> [B]; dim=None -> scalar over all entries.
    """
    n = x.numel() if dim is None else x.shape[dim]
    if n < 2:
        return torch.zeros_like(x.sum() if dim is None else x.sum(dim=dim))
    return x.std() if dim is None else x.std(dim=dim)
