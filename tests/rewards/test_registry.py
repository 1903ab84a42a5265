"""Reward registry and the reward protocol."""

from dataclasses import dataclass

import pytest

from rarl.rewards import (
    REWARDS,
    RankingAwareReward,
    RewardFunction,
    RewardResult,
    get_reward,
    register_reward,
)


def test_rarl_is_registered():
    assert REWARDS["rarl"] is RankingAwareReward
    reward = get_reward("rarl", delta=2.0, weights=(1, 0, 1), value_range=(0, 10))
    assert isinstance(reward, RankingAwareReward)
    assert (reward.delta, reward.weights, reward.value_range) == (2.0, (1.0, 0.0, 1.0), (0.0, 10.0))


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown reward 'no-such-reward'.*rarl.*vision-r1"):
        get_reward("no-such-reward")


def test_vision_r1_is_registered_as_a_batch_reward():
    from rarl.rewards import LocalizationBatchReward
    from rarl.rewards.batch import build_reward

    assert REWARDS["vision-r1"] is LocalizationBatchReward
    reward = build_reward("vision-r1", {"step_fraction": 0.5})
    assert isinstance(reward, LocalizationBatchReward)
    assert reward.thresholds(0.6) == {"xi0": 0.75, "xi1": 0.75, "xi2": 0.9}


def test_bad_kwargs_surface_from_the_factory():
    with pytest.raises(ValueError, match="delta"):
        get_reward("rarl", delta=0)
    with pytest.raises(TypeError):
        get_reward("rarl", lambda_1=1.0)


def test_rewards_follow_the_protocol():
    reward = get_reward("rarl")
    assert isinstance(reward, RewardFunction)
    result = reward.score("<think>t</think><answer>[{'image_id': 1, 'value': 3}]</answer>", [3])
    assert isinstance(result, RewardResult)
    assert result.as_dict()["total"] == result.total == 2.0


@dataclass(frozen=True)
class _LengthScore:
    total: float

    def as_dict(self) -> dict[str, float]:
        return {"total": self.total}


class _LengthReward:
    """A stand-in recipe: the reward is the completion length times `scale`."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    def score(self, completion, labels):
        return _LengthScore(self.scale * len(completion))

    def score_batch(self, completions, labels_list):
        return [self.score(c, y) for c, y in zip(completions, labels_list, strict=True)]


def test_new_recipes_register_by_name():
    try:
        assert register_reward("test-length")(_LengthReward) is _LengthReward
        reward = get_reward("test-length", scale=2.0)
        assert isinstance(reward, RewardFunction)
        assert reward.score("abc", None).total == 6.0
        assert [r.total for r in reward.score_batch(["a", "ab"], [None, None])] == [2.0, 4.0]
        register_reward("test-length")(_LengthReward)  # registering the same factory again is harmless
        with pytest.raises(ValueError, match="already registered"):
            register_reward("test-length")(RankingAwareReward)
        with pytest.raises(ValueError, match="already registered"):
            register_reward("rarl")(_LengthReward)
    finally:
        REWARDS.pop("test-length", None)
    assert "test-length" not in REWARDS and REWARDS["rarl"] is RankingAwareReward


def test_empty_name_is_rejected():
    with pytest.raises(ValueError):
        register_reward("")
