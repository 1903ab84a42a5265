"""Rewards registered by name, so that a trainer picks one from config (`reward.name: rarl`).

A recipe registers a factory (usually its class) with `@register_reward("name")`; `get_reward(name, **kwargs)`
builds it. The trainer never branches on the reward's name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from rarl.rewards.base import RewardFunction
from rarl.utils.registry import Registry

RewardFactory = Callable[..., RewardFunction[Any]]
FactoryT = TypeVar("FactoryT", bound=RewardFactory)

REWARDS = Registry("reward")
"""Reward factories by name. Filled by `register_reward`; read it, do not write to it directly."""


def register_reward(name: str) -> Callable[[FactoryT], FactoryT]:
    """Class or function decorator registering a reward factory under `name`.

    Raises ValueError when `name` is empty or already taken by another factory.
    """
    return REWARDS.register(name)


def get_reward(name: str, **kwargs: Any) -> RewardFunction[Any]:
    """Build the reward registered as `name` with `kwargs`; unknown names raise ValueError listing the known."""
    try:
        factory = REWARDS[name]
    except KeyError:
        known = ", ".join(sorted(REWARDS)) or "(none)"
        raise ValueError(f"unknown reward {name!r}; known rewards: {known}") from None
    return factory(**kwargs)
