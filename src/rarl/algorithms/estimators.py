"""Advantage estimators registered by name; `algorithm.advantage` in the run config picks one.

An estimator is a pure function `(inputs: AdvantageInputs, **options) -> advantages [B*G]`. The trainer
builds `AdvantageInputs` after the score and mutate phases and calls the estimator named in config with
`scale`, `eps` and `algorithm.advantage_kwargs`; it never branches on the name.

RMO is a mutation phase upstream of every estimator: `inputs.rewards` are the rewards after mutation,
`inputs.onpolicy_rewards` those of the sampled rollouts, `inputs.rmo_mask` the replaced rows. The `grpo`
estimator applies Eq. 2 to groups nothing was injected into and Eq. 9 (under `inputs.rmo_baseline`) when
RMO replaced rows; an estimator that ignores RMO may read `inputs.rewards` only.

Registered here: `grpo` (Eq. 2 / Eq. 9 with group, batch or no scaling) and `refine_iqa` (Refine-IQA's
Eq. 6, conditioned on a reward component that says which rollouts passed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from rarl.algorithms.advantages import AdvantageScale, group_advantages
from rarl.algorithms.refine_iqa import refine_iqa_advantages
from rarl.algorithms.rmo import RmoBaseline, rmo_advantages
from rarl.utils.registry import Registry


@dataclass
class AdvantageInputs:
    """Rewards of one step's B*G rollouts (group-major) and what happened to them upstream."""

    rewards: torch.Tensor
    """[B*G] rewards after mutation (what advantages are computed from)."""
    group_size: int
    onpolicy_rewards: torch.Tensor | None = None
    """[B*G] rewards of the sampled rollouts before mutation (None: equal to `rewards`)."""
    rmo_mask: torch.Tensor | None = None
    """[B*G] bool, rows RMO replaced (None: none)."""
    rmo_baseline: RmoBaseline = "mutated"
    """Eq. 9 reading for mutated groups (see rarl.algorithms.rmo)."""
    std_eps: float = 1e-4
    """Std below which a group counts as zero-variance."""
    components: dict[str, torch.Tensor] = field(default_factory=dict)
    """Reward components [B*G] by name, for estimators that condition on them."""


AdvantageEstimator = Callable[..., torch.Tensor]

ADVANTAGE_ESTIMATORS = Registry("advantage estimator")
"""Estimators by name. Filled by `register_advantage_estimator`; `algorithm.advantage` may also name a
plug-in `file.py:function`."""


def register_advantage_estimator(name: str) -> Callable[[AdvantageEstimator], AdvantageEstimator]:
    """Decorator adding an estimator to `ADVANTAGE_ESTIMATORS` under `name` (duplicate names are errors)."""
    return ADVANTAGE_ESTIMATORS.register(name)


def get_advantage_estimator(name: str) -> AdvantageEstimator:
    """An advantage estimator by registered name or plug-in `file.py:function`.

    An unknown name raises `UnknownName` (a ConfigError and a KeyError) listing the known names.
    """
    return ADVANTAGE_ESTIMATORS.resolve(name)


@register_advantage_estimator("grpo")
def grpo_advantages(
    inputs: AdvantageInputs,
    scale: AdvantageScale = "group",
    eps: float = 1e-6,
    negative_scale: float = 1.0,
) -> torch.Tensor:
    """GRPO: Eq. 2 per group; Eq. 9 where RMO replaced rows. -> [B*G].

    `negative_scale` (`algorithm.advantage_kwargs.negative_scale`) multiplies the negative advantages after
    normalisation: 1 is Eq. 2 as written; below 1 weakens the push-down of below-average rollouts, which on a
    small, weak policy drifts it off its answer format faster than the push-up of good rollouts teaches it
    (docs/learning.md). It must lie in [0, 1].
    """
    if not 0.0 <= negative_scale <= 1.0:
        raise ValueError(f"negative_scale must be in [0, 1], got {negative_scale}")
    adv = _grpo_advantages(inputs, scale, eps)  # [B*G]
    if negative_scale == 1.0:
        return adv
    return torch.where(adv < 0, adv * negative_scale, adv)


def _grpo_advantages(inputs: AdvantageInputs, scale: AdvantageScale, eps: float) -> torch.Tensor:
    mask = inputs.rmo_mask
    if mask is not None and bool(mask.any()):
        original = inputs.onpolicy_rewards if inputs.onpolicy_rewards is not None else inputs.rewards
        return rmo_advantages(
            original,
            inputs.rewards,
            mask,
            inputs.group_size,
            baseline=inputs.rmo_baseline,
            scale=scale,
            eps=eps,
            std_eps=inputs.std_eps,
        )
    return group_advantages(inputs.rewards, inputs.group_size, scale=scale, eps=eps)


@register_advantage_estimator("refine_iqa")
def refine_iqa_estimator(
    inputs: AdvantageInputs,
    scale: AdvantageScale = "group",
    eps: float = 1e-4,
    fail_eps: float = 2e-5,
    passed_component: str = "passed",
) -> torch.Tensor:
    """Refine-IQA Eq. 6 -> [B*G]. `eps` is the std offset d (set `algorithm.eps: 1e-4` for the authors'
    value); a rollout passed where the reward component `passed_component` is 1 (r_ans = r_fmt = 1).

    A group whose `passed_component` is NaN on every row (the component does not apply: stage-1 perception
    questions in a Refine-IQA run, which the paper trains with standard GRPO) gets the plain GRPO advantages
    `(r - mean) / (std + eps)`, so one `algorithm` block serves both stages."""
    if scale != "group":
        raise ValueError(
            f"the refine_iqa estimator normalises per group; algorithm.scale={scale!r} is not used"
        )
    if passed_component not in inputs.components:
        raise ValueError(
            f"the refine_iqa estimator needs a reward component {passed_component!r} (1 where r_ans = r_fmt = 1); "
            f"the reward gave {sorted(inputs.components)}"
        )
    component = inputs.components[passed_component]  # [B*G], NaN where not applicable
    passed = component.nan_to_num(0.0) >= 0.5  # [B*G] bool
    adv = refine_iqa_advantages(inputs.rewards, passed, inputs.group_size, std_eps=eps, fail_eps=fail_eps)
    not_scored = (
        component.isnan().view(-1, inputs.group_size).all(dim=1)
    )  # [B] e.g. stage-1 perception groups
    if bool(not_scored.any()):
        plain = group_advantages(inputs.rewards, inputs.group_size, scale="group", eps=eps)  # [B*G]
        rows = not_scored.repeat_interleave(inputs.group_size)  # [B*G]
        adv = torch.where(rows.to(adv.device), plain.to(adv.dtype), adv)
    return adv


__all__ = [
    "ADVANTAGE_ESTIMATORS",
    "AdvantageEstimator",
    "AdvantageInputs",
    "get_advantage_estimator",
    "grpo_advantages",
    "refine_iqa_estimator",
    "register_advantage_estimator",
]
