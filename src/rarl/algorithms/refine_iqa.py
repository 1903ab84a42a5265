"""Refine-IQA's modified group-relative advantage (paper Eq. 6, "Modifying the Gradient Policy").

For a group of G rollouts with rewards r (Eq. 5) and unbiased std s:

    some rollout passed (r_ans = r_fmt = 1):  A = max((r - mean) / (s + std_eps), 0)
    no rollout passed:                        A = (r - mean - fail_eps) / (s + std_eps)

A group with a correct rollout only reinforces its above-average rollouts (nothing is pushed down, which the
paper likens to a cross-entropy target with dynamic weights); a group with no correct rollout pushes every
rollout down a little, so that the sample is not wasted and other predictions get explored.

How we read the paper
---------------------
- **The condition.** Eq. 6 prints `0 <= |l1*r_ans + l2*r_fmt - l1 - l2| < G` for the first branch, and the
  text says the second applies "if no rollout in a group is correct (`|...| = G`)". We read it as the text
  does: the first branch applies to a group in which at least one rollout has r_ans = r_fmt = 1. The caller
  passes that as `passed` ([B*G] bool); the released code tests the same thing as `reward >= 2` with
  lambda = 1 (it trains one prompt per step, so its batch is one group).
- **std and its eps.** Eq. 6 divides by `std` with no eps. We divide by `std + std_eps` with the unbiased
  (divisor G - 1) group std, as `rarl.algorithms.group_advantages` and the released code
  (`rewards.view(-1, G).std(dim=1)`, `+ 1e-4`) do. A group of one rollout has std 0.
- **fail_eps.** The paper's text sets the shift to e = 0.02; the released code subtracts `0.2 * 1e-4` =
  2e-5. The defaults (`std_eps=1e-4`, `fail_eps=2e-5`) reproduce the released code: an all-equal failing
  group gets `A = -fail_eps / std_eps = -0.2` for every rollout. With the paper's `fail_eps=0.02` and the
  same std_eps that group would get -200, so pair the paper's value with a larger std_eps (or clip the
  advantages downstream).
- **Ties at zero.** In a passing group, a rollout exactly at the mean gets 0, as does one below it (the
  released code sets `A <= 0` to 0).
- **Precision.** Statistics are computed in float64 and the result is cast back to the reward dtype
  (float32 for integer or bool rewards), as everywhere in `rarl.algorithms`.

Layout is group-major: row `b*G + g` is rollout `g` of prompt `b`.
"""

from __future__ import annotations

import math

import torch

from rarl.algorithms._groups import as_groups, result_dtype, std_unbiased


def refine_iqa_advantages(
    rewards: torch.Tensor,
    passed: torch.Tensor,
    group_size: int,
    std_eps: float = 1e-4,
    fail_eps: float = 2e-5,
) -> torch.Tensor:
    """Refine-IQA advantages, Eq. 6 (see the module docstring).

    rewards: [B*G] float, group-major (the Eq. 5 rewards); passed: [B*G] bool, True where the rollout has
    r_ans = r_fmt = 1 -> advantages [B*G], reward dtype (float32 for integer or bool rewards).
    Raises ValueError for mismatched shapes, a non-bool `passed`, `std_eps <= 0` or `fail_eps < 0`.
    """
    grouped = as_groups(rewards, group_size)  # [B, G] float64
    if not isinstance(passed, torch.Tensor) or passed.dtype != torch.bool:
        raise ValueError(f"passed must be a bool tensor, got {getattr(passed, 'dtype', type(passed))}")
    if passed.shape != rewards.shape:
        raise ValueError(
            f"passed must have the shape of rewards {tuple(rewards.shape)}, got {tuple(passed.shape)}"
        )
    if not (math.isfinite(std_eps) and std_eps > 0):
        raise ValueError(f"std_eps must be finite and > 0, got {std_eps}")
    if not (math.isfinite(fail_eps) and fail_eps >= 0):
        raise ValueError(f"fail_eps must be finite and >= 0, got {fail_eps}")

    group_passed = passed.to(grouped.device).view(-1, group_size).any(dim=1, keepdim=True)  # [B, 1]
    centred = grouped - grouped.mean(dim=1, keepdim=True)  # [B, G]
    denom = (std_unbiased(grouped, dim=1) + std_eps).unsqueeze(1)  # [B, 1]
    adv_pass = (centred / denom).clamp_min(0.0)  # [B, G]
    adv_fail = (centred - fail_eps) / denom  # [B, G]
    adv = torch.where(group_passed, adv_pass, adv_fail)  # [B, G]
    return adv.reshape(-1).to(result_dtype(rewards))  # [B*G]


__all__ = ["refine_iqa_advantages"]
