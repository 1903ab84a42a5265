"""Use the RARL reward as a verl custom reward function (verl itself is not a dependency).

verl's reward managers call `compute_score(data_source=..., solution_str=..., ground_truth=...,
extra_info=...)` once per response; a dict result must hold `score` (the scalar reward) and every other key
is collected as an extra metric. Point verl at this module:

    custom_reward_function.path=<site-packages>/rarl/integrations/verl.py
    custom_reward_function.name=compute_score

Settings come, by priority, from the row's `extra_info` (`delta`, `weights`, `value_range`), then from
keyword arguments (verl's `custom_reward_function.reward_kwargs`), then from the defaults below.

Vision-R1's localization reward is `custom_reward_function.name=compute_localization_score`: the row's
`ground_truth` is the `vision-r1` recipe's `target(sample)` (a dict or its JSON string), the reward settings
(`xi0`, `step_fraction`, `matcher`, `overlap`, `weights`, ...) come from `reward_kwargs`, and
`extra_info["progress"]` (the fraction of the run done, when the row carries it) drives `step_fraction`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from rarl.integrations._labels import coerce_box_target, coerce_labels
from rarl.rewards.localization_batch import LocalizationBatchReward, build_localization_reward
from rarl.rewards.ranking_aware import RankingAwareReward

DEFAULT_DELTA = 5.0
DEFAULT_WEIGHTS = (1.0, 1.0, 1.0)
VERL_BOOKKEEPING_ARGUMENTS = frozenset({"sandbox_fusion_url", "concurrent_semaphore", "memory_limit_mb"})
"""Keyword arguments some verl versions pass to every custom reward function, whatever its settings."""


def compute_score(
    data_source: str | None,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None = None,
    *,
    delta: float = DEFAULT_DELTA,
    weights: Sequence[float] = DEFAULT_WEIGHTS,
    value_range: Sequence[float] | None = None,
    **_: Any,
) -> dict[str, float]:
    """RARL reward of one response, as `{"score": total, "regression": ..., ..., "format": ...}`.

    `ground_truth` is the labels (`ground_truth[i]` is image_id i+1): a list of numbers or a JSON string.
    `data_source` is not used. Other keyword arguments that verl versions pass are ignored.
    """
    info = extra_info if isinstance(extra_info, Mapping) else {}
    reward = _reward(
        _as_float(_setting(info, "delta", delta), "delta"),
        _as_tuple(_setting(info, "weights", weights), "weights"),
        _as_tuple(_setting(info, "value_range", value_range), "value_range"),
    )
    result = reward.score(solution_str, coerce_labels(ground_truth)).as_dict()
    total = result.pop("total")
    return {"score": total, **result}


def _setting(info: Mapping[str, Any], key: str, default: Any) -> Any:
    value = info.get(key)
    return default if value is None else value


def _as_float(value: Any, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None


def _as_tuple(values: Any, name: str) -> tuple[float, ...] | None:
    """A hashable tuple of floats (parquet rows carry lists as numpy arrays), or None."""
    if values is None:
        return None
    if isinstance(values, (str, bytes)):
        raise ValueError(f"{name} must be a list of numbers, got {values!r}")
    try:
        return tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a list of numbers, got {values!r}") from None


@functools.lru_cache(maxsize=64)
def _reward(
    delta: float, weights: tuple[float, ...] | None, value_range: tuple[float, ...] | None
) -> RankingAwareReward:
    if weights is None:
        raise ValueError("weights must be three numbers, got None")
    return RankingAwareReward(delta=delta, weights=weights, value_range=value_range)


def compute_localization_score(
    data_source: str | None,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None = None,
    **settings: Any,
) -> dict[str, float]:
    """Vision-R1 reward of one response, as `{"score": total, "format": ..., "recall": ..., "precision": ...}`.

    `settings` are the `vision-r1` reward's (a bad one raises a one-line ConfigError naming it); the
    keyword arguments verl adds for its own sandbox reward (`VERL_BOOKKEEPING_ARGUMENTS`) are ignored.
    """
    settings = {k: v for k, v in settings.items() if k not in VERL_BOOKKEEPING_ARGUMENTS}
    info = extra_info if isinstance(extra_info, Mapping) else {}
    progress = _as_float(info.get("progress", 0.0), "extra_info['progress']")
    reward = _localization_reward(json.dumps(settings, sort_keys=True))
    result = reward.score_one(solution_str, coerce_box_target(ground_truth), progress).as_dict()
    total = result.pop("total")
    return {"score": total, **result}


@functools.lru_cache(maxsize=64)
def _localization_reward(settings_json: str) -> LocalizationBatchReward:
    return build_localization_reward(json.loads(settings_json))
