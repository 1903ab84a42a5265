"""Group advantages (Eq. 2), group statistics, zero-variance detection and the estimator registry.

Hand-worked example used throughout (G = 4, two groups):
    group 0: [1, 2, 3, 4]  mean 2.5, unbiased var (2.25 + 0.25 + 0.25 + 2.25) / 3 = 5/3, std sqrt(5/3)
    group 1: [0, 0, 0, 2]  mean 0.5, unbiased var (3 * 0.25 + 2.25) / 3 = 1,           std 1
    whole batch: mean 1.5, sum of squared deviations 16, unbiased var 16/7, std 4/sqrt(7)
"""

import math

import pytest
import torch

from rarl.algorithms import (
    ADVANTAGE_ESTIMATORS,
    AdvantageInputs,
    get_advantage_estimator,
    group_advantages,
    group_stats,
    register_advantage_estimator,
    rmo_advantages,
    zero_variance_groups,
)

REWARDS = torch.tensor([1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 2.0])
CENTRED = torch.tensor([-1.5, -0.5, 0.5, 1.5, -0.5, -0.5, -0.5, 1.5])


def test_group_stats_by_hand():
    mean, std = group_stats(REWARDS, 4)
    torch.testing.assert_close(mean, torch.tensor([2.5, 0.5]))
    torch.testing.assert_close(std, torch.tensor([math.sqrt(5 / 3), 1.0]))
    assert mean.dtype == std.dtype == torch.float32


def test_group_scale_by_hand():
    adv = group_advantages(REWARDS, 4, scale="group", eps=0.0)
    s0 = math.sqrt(5 / 3)
    expected = torch.tensor([-1.5 / s0, -0.5 / s0, 0.5 / s0, 1.5 / s0, -0.5, -0.5, -0.5, 1.5])
    torch.testing.assert_close(adv, expected)


def test_group_scale_eps_in_denominator():
    adv = group_advantages(REWARDS, 4, scale="group", eps=0.5)
    s0 = math.sqrt(5 / 3)
    expected = torch.cat([CENTRED[:4] / (s0 + 0.5), CENTRED[4:] / 1.5])
    torch.testing.assert_close(adv, expected)


def test_batch_scale_by_hand():
    adv = group_advantages(REWARDS, 4, scale="batch", eps=0.0)
    torch.testing.assert_close(adv, CENTRED / (4 / math.sqrt(7)))


def test_none_scale_only_centres():
    torch.testing.assert_close(group_advantages(REWARDS, 4, scale="none"), CENTRED)


def test_zero_variance_group_gives_zero_not_nan():
    adv = group_advantages(torch.tensor([0.7, 0.7, 0.7, 0.1, 0.9, 0.5]), 3)
    torch.testing.assert_close(adv[:3], torch.zeros(3))
    assert torch.isfinite(adv).all()


def test_group_of_one_is_zero():
    adv = group_advantages(torch.tensor([0.3, 0.9]), 1)
    torch.testing.assert_close(adv, torch.zeros(2))
    _, std = group_stats(torch.tensor([0.3, 0.9]), 1)
    torch.testing.assert_close(std, torch.zeros(2))


def test_dtype_preserved_and_ints_promoted():
    assert group_advantages(REWARDS.double(), 4).dtype == torch.float64
    assert group_advantages(REWARDS.half(), 4).dtype == torch.float16
    adv = group_advantages(torch.tensor([1, 2, 3, 4, 0, 0, 0, 2]), 4)
    assert adv.dtype == torch.float32
    torch.testing.assert_close(adv, group_advantages(REWARDS, 4))


@pytest.mark.parametrize(
    ("rewards", "group_size"),
    [(torch.zeros(7), 4), (torch.zeros(2, 4), 4), (torch.zeros(4), 0), (torch.zeros(4), 2.0)],
)
def test_bad_layout_raises(rewards, group_size):
    with pytest.raises(ValueError):
        group_advantages(rewards, group_size)


def test_unknown_scale_raises():
    with pytest.raises(ValueError, match="scale"):
        group_advantages(REWARDS, 4, scale="global")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_zero_variance_with_near_equal_floats(dtype):
    rewards = torch.tensor(
        [0.3, 0.30000001, 0.3, 0.3] + [0.3, 0.31, 0.3, 0.3] + [0.0, 0.0, 0.0, 0.0] + [1.0, 0.0, 1.0, 0.0],
        dtype=dtype,
    )
    assert zero_variance_groups(rewards, 4).tolist() == [True, False, True, False]
    # the threshold, not equality, decides: a coarse threshold also swallows the 0.01 spread
    assert zero_variance_groups(rewards, 4, std_eps=0.1).tolist() == [True, True, True, False]


def test_zero_variance_std_eps_zero_never_fires():
    assert zero_variance_groups(torch.zeros(8), 4, std_eps=0.0).tolist() == [False, False]


def test_registry():
    assert get_advantage_estimator("grpo") is ADVANTAGE_ESTIMATORS["grpo"]
    with pytest.raises(KeyError, match="grpo"):
        get_advantage_estimator("nope")


def test_grpo_estimator_is_eq2_without_rmo_and_eq9_with_it():
    grpo = get_advantage_estimator("grpo")
    plain = grpo(AdvantageInputs(rewards=REWARDS, group_size=4), scale="group", eps=1e-6)
    assert torch.equal(plain, group_advantages(REWARDS, 4, scale="group", eps=1e-6))
    assert torch.equal(
        grpo(AdvantageInputs(rewards=REWARDS, group_size=4), scale="none"),
        group_advantages(REWARDS, 4, scale="none"),
    )
    # RMO replaced row 0 of a stagnant group: Eq. 9 under each baseline
    original = torch.zeros(4)
    mutated = torch.tensor([5.0, 0.0, 0.0, 0.0])
    mask = torch.tensor([True, False, False, False])
    for baseline in ("mutated", "original"):
        inputs = AdvantageInputs(
            rewards=mutated, group_size=4, onpolicy_rewards=original, rmo_mask=mask, rmo_baseline=baseline
        )
        expected = rmo_advantages(original, mutated, mask, 4, baseline=baseline, std_eps=1e-4)
        assert torch.equal(grpo(inputs), expected)


def test_grpo_negative_scale_shrinks_only_negative_advantages():
    grpo = get_advantage_estimator("grpo")
    inputs = AdvantageInputs(rewards=REWARDS, group_size=4)
    plain = grpo(inputs)
    assert torch.equal(grpo(inputs, negative_scale=1.0), plain)
    half = grpo(inputs, negative_scale=0.5)
    assert torch.equal(half[plain >= 0], plain[plain >= 0])
    assert torch.allclose(half[plain < 0], 0.5 * plain[plain < 0])
    assert bool((grpo(inputs, negative_scale=0.0) >= 0).all())
    with pytest.raises(ValueError, match="negative_scale"):
        grpo(inputs, negative_scale=1.5)


def test_register_advantage_estimator():
    @register_advantage_estimator("_test_centred")
    def centred(inputs, **_):
        return group_advantages(inputs.rewards, inputs.group_size, scale="none")

    try:
        inputs = AdvantageInputs(rewards=REWARDS, group_size=4)
        assert get_advantage_estimator("_test_centred")(inputs).tolist() == CENTRED.tolist()
        register_advantage_estimator("_test_centred")(centred)  # the same function again is harmless
        with pytest.raises(ValueError, match="already"):
            register_advantage_estimator("_test_centred")(lambda inputs: inputs.rewards)
    finally:
        ADVANTAGE_ESTIMATORS.pop("_test_centred")


def test_advantage_estimator_plugin_file(tmp_path):
    """`algorithm.advantage: file.py:name` reaches a function the package does not know."""
    plugin = tmp_path / "my_estimators.py"
    plugin.write_text(
        "def centred(inputs, scale='group', eps=1e-6, **kwargs):\n"
        "    r = inputs.rewards.view(-1, inputs.group_size)\n"
        "    return (r - r.mean(dim=1, keepdim=True)).flatten()\n"
    )
    estimator = get_advantage_estimator(f"{plugin}:centred")
    inputs = AdvantageInputs(rewards=torch.tensor([1.0, 3.0, 2.0, 2.0]), group_size=2)
    assert estimator(inputs).tolist() == [-1.0, 1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="defines no 'missing'"):
        get_advantage_estimator(f"{plugin}:missing")
    assert "centred" not in ADVANTAGE_ESTIMATORS  # a plug-in is not registered by being used
