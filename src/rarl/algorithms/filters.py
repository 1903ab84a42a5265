"""Group filters: DAPO-style dynamic sampling.

DAPO drops prompt groups whose rollouts all receive the same reward, since their GRPO advantages are zero and
they only dilute the batch. Our rewards are continuous, so "the same" means a reward std below `std_eps`
(unbiased std, as everywhere in `rarl.algorithms`). RMO is the paper's alternative for such groups: it keeps
them and injects a reference answer instead. Filters return per-group masks; `expand_group_mask` turns them
into per-rollout masks for indexing `[B*G]` / `[B*G, T]` tensors.
"""

from __future__ import annotations

import torch

from rarl.algorithms._groups import check_group_size
from rarl.algorithms.advantages import zero_variance_groups


def dapo_keep_mask(rewards: torch.Tensor, group_size: int, std_eps: float = 1e-6) -> torch.Tensor:
    """Groups to keep under dynamic sampling: those with reward std >= `std_eps`.

    rewards: [B*G] group-major -> bool [B] (True = keep).
    """
    return ~zero_variance_groups(rewards, group_size, std_eps=std_eps)  # [B]


def expand_group_mask(mask: torch.Tensor, group_size: int) -> torch.Tensor:
    """Repeat a per-group mask for each rollout of the group.

    mask: [B] -> [B*G] (same dtype), row `b*G + g` equal to `mask[b]`.
    """
    check_group_size(group_size)
    if mask.dim() != 1:
        raise ValueError(f"mask must be 1-D [B], got shape {tuple(mask.shape)}")
    return mask.repeat_interleave(group_size)  # [B*G]


__all__ = ["dapo_keep_mask", "expand_group_mask"]
