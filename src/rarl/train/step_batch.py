"""What one GRPO step carries between its phases (`StepBatch`), what a checkpoint restores besides weights
(`TrainerState`), and the step's on-policy statistics.

Rows are group-major: row `b*G + g` is rollout `g` of prompt `b`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from rarl.algorithms.advantages import zero_variance_groups
from rarl.rewards.batch import component_means

__all__ = ["StepBatch", "TrainerState", "batch_metrics"]


@dataclass
class StepBatch:
    """Everything one step knows about its B local prompts and their B*G rollouts (row b*G + g)."""

    samples: list[Any]  # [B] the recipe's samples
    rollout: Any  # RolloutBatch with B*G rows
    group_size: int
    rewards: torch.Tensor | None = None  # [B*G] reward used for advantages (after RMO)
    onpolicy_rewards: torch.Tensor | None = None  # [B*G] reward of the sampled rollouts (before RMO)
    components: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> [B*G], on-policy
    rmo_mask: torch.Tensor | None = None  # [B*G] bool, rows replaced by RMO
    advantages: torch.Tensor | None = None  # [B*G]
    keep: torch.Tensor | None = None  # [B*G] bool, rows that enter the update
    old_logp: torch.Tensor | None = None  # [B*G, T]
    ref_logp: torch.Tensor | None = None  # [B*G, T]
    reward_errors: int = 0

    @property
    def num_prompts(self) -> int:
        return len(self.samples)


@dataclass
class TrainerState:
    """What a checkpoint must restore besides weights and optimizer."""

    global_step: int = 0
    stage_index: int = 0
    step_in_stage: int = 0
    sampler: dict[str, dict[str, Any]] = field(default_factory=dict)  # stage name -> sampler state
    skipped_steps: int = 0
    reward_errors: int = 0


def batch_metrics(batch: StepBatch, std_eps: float) -> dict[str, float]:
    """This process's reward, RMO, filter and length statistics of a scored, mutated, filtered batch.

    `reward/*` are means over on-policy rollouts (before RMO); a component that does not apply to some rows
    (NaN) is averaged over the rows it applies to; injected rows are reported apart (`reward/injected_mean`).
    """
    G = batch.group_size
    onp = batch.onpolicy_rewards
    local: dict[str, float] = {f"reward/{k}": v for k, v in component_means(batch.components).items()}
    local["reward/total_mean"] = float(onp.mean())
    local["reward/total_std"] = float(onp.std()) if onp.numel() > 1 else 0.0
    local["zero_var_frac_before"] = float(zero_variance_groups(onp, G, std_eps=std_eps).float().mean())
    local["zero_var_frac_after"] = float(
        zero_variance_groups(batch.rewards, G, std_eps=std_eps).float().mean()
    )
    mutated_groups = batch.rmo_mask.view(-1, G).any(dim=1)
    local["rmo_mutated_frac"] = float(mutated_groups.float().mean())
    if bool(batch.rmo_mask.any()):
        local["reward/injected_mean"] = float(batch.rewards[batch.rmo_mask].mean())
    local["reward/onpolicy_mean"] = float(onp.mean())
    local["kept_frac"] = float(batch.keep.float().mean())
    local["completion_len_mean"] = float(batch.rollout.lengths.float().mean())
    local["truncated_frac"] = float(batch.rollout.truncated.float().mean())
    local["reward_errors"] = float(batch.reward_errors)
    return local
