"""The batch reward contract: a reward is called once per step on every completion of the batch.

    out: RewardOutput = reward(RewardInputs(samples, targets, texts, completion_ids, ..., scorer=scorer))
    out.totals        # [R] float32, what the policy is optimised for
    out.components    # {name: [R] float32}, each logged as `reward/<name>`; NaN = not applicable to that row

Row `r` is one completion of `samples[r]`; in a training step rows come group-major (`R = B*G`, rows
`b*G .. b*G+G-1` are the G rollouts of one prompt, and `group_size = G`). When the trainer re-scores the
answers RMO injected, rows are independent and `group_size = 1`.

A reward sees, besides the texts: each row's target (of whatever type the recipe uses), the completion
token ids, the global step, the stage and the progress through the run (for schedules such as Vision-R1's
threshold switch), and a `scorer` giving teacher-forced log-probabilities of any text under the current
policy (`rarl.model.scorer.PolicyScorer`, for rewards such as Refine-IQA's probability difference).

A pure per-completion reward (`score(completion, target) -> result with .total and .as_dict()`, such as
`RankingAwareReward`) is adapted by `PerCompletionReward`: a completion on which `score` raises gets 0 in
every component, and the failure is counted (`errors`) and logged with the text, so a reward bug cannot end a
long run.

`build_reward(spec, kwargs, defaults)` turns a config's `reward.name` into a batch reward: a name registered
with `register_reward`, or a plug-in `path/to/file.py:Name` / `package.module:Name`. Either names a factory
(usually a class) called with the keyword arguments; the result is used as a batch reward when it is
callable and has no `score` method, and adapted otherwise. `defaults` (task-derived values a recipe offers,
e.g. RARL's `delta`) are passed only where the factory accepts them; explicit `kwargs` always are.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Mapping
from typing import Any

import torch

from rarl.rewards.checks import CheckedReward, check_settings, check_shape, placeholder_inputs, probe_reward
from rarl.rewards.contract import BatchReward, RewardInputs, RewardOutput
from rarl.rewards.registry import REWARDS
from rarl.utils.config import ConfigError
from rarl.utils.plugins import is_plugin_spec

log = logging.getLogger("rarl")

__all__ = [
    "BatchReward",
    "PerCompletionReward",
    "RewardInputs",
    "RewardOutput",
    "build_reward",
    "component_means",
]


class PerCompletionReward:
    """A per-completion reward (`score(text, target)`) as a batch reward; see the module docstring."""

    def __init__(self, reward: Any) -> None:
        if not callable(getattr(reward, "score", None)):
            raise TypeError(f"{reward!r} has no score(completion, target) method")
        self.reward = reward

    def __repr__(self) -> str:
        return f"PerCompletionReward({self.reward!r})"

    def __call__(self, inputs: RewardInputs) -> RewardOutput:
        totals: list[float] = []
        rows: list[dict[str, float]] = []
        errors = 0
        for text, target in zip(inputs.texts, inputs.targets, strict=True):
            try:
                breakdown = self.reward.score(text, target)
                parts = breakdown.as_dict()
                total = float(breakdown.total)
            except Exception as e:  # a reward bug must not kill a long run
                errors += 1
                log.warning("reward raised %s on completion %r; scored 0", type(e).__name__, text[:200])
                parts, total = {}, 0.0
            totals.append(total)
            rows.append(parts)
        names = sorted({k for p in rows for k in p if k != "total"})
        components = {
            n: torch.tensor([_value(p.get(n, 0.0)) for p in rows], dtype=torch.float32) for n in names
        }
        return RewardOutput(torch.tensor(totals, dtype=torch.float32), components, errors)


def _value(v: float | None) -> float:
    """A component value, NaN for None ("not applicable")."""
    return math.nan if v is None else v


def component_means(components: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """Mean of each component over the rows it applies to (NaN rows skipped; NaN if it applies to none)."""
    out = {}
    for name, values in components.items():
        nan = torch.isnan(values)
        out[name] = float(values.nanmean()) if bool(nan.any()) else float(values.mean())
    return out


def build_reward(
    spec: str, kwargs: Mapping[str, Any] | None = None, defaults: Mapping[str, Any] | None = None
) -> BatchReward:
    """The batch reward named by `spec` (registered name or plug-in), built with `kwargs` (+ accepted defaults).

    Before it is returned, a reward is checked (`rarl.rewards.checks`): the explicit settings against the
    factory's annotations (`differentiation: 'false'` is refused, not read as true), and the built object's
    shape (`__call__(batch)` or `score(completion, target)`). A plug-in is also called once on a placeholder
    batch and must return a `RewardOutput` with one total per row; a batch plug-in that raised there (it may
    need real targets) is wrapped so that every later output is checked the same way (`CheckedReward`).
    Errors are one-line `ConfigError`s naming the reward and what is wrong.
    """
    factory = REWARDS.resolve(spec)
    if not callable(factory):
        raise ConfigError(f"reward {spec!r} is not a class or function")
    explicit = dict(kwargs or {})
    check_settings(factory, explicit, spec)
    merged = {k: v for k, v in (defaults or {}).items() if _accepts(factory, k) and k not in explicit}
    merged.update(explicit)
    plugin = is_plugin_spec(spec)
    try:
        built = factory(**merged)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"reward {spec!r} with {merged}: {e}") from None
    except Exception as e:
        if not plugin:
            raise
        raise ConfigError(f"reward {spec!r} with {merged}: {type(e).__name__}: {e}") from None
    if not callable(getattr(built, "score", None)) and not callable(built):
        raise ConfigError(f"reward {spec!r} built {built!r}, which has neither score() nor __call__")
    check_shape(built, spec)
    judged = probe_reward(built, spec, placeholder_inputs(), strict=False) if plugin else True
    if callable(getattr(built, "score", None)):
        return PerCompletionReward(built)
    return built if judged else CheckedReward(built, spec)


def _accepts(factory: Any, name: str) -> bool:
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
