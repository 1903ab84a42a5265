"""Refine-IQA advantages (Eq. 6): hand-worked groups, group independence, a plain-Python restatement, dtypes, errors.

Hand-worked groups (G = 4, unbiased std, d = std + 1e-4):
    all fail      [0, 1, 0, 1]        mean 0.5,   sum sq 1,      var 1/3,       A = (r - 0.5 - 2e-5) / d
    all fail, tie [0, 0, 0, 0]        mean 0,     std 0,                        A = -2e-5 / 1e-4 = -0.2
    some pass     [2.3, 0, 1, 2.0]    mean 1.325, sum sq 3.2675, var 3.2675/3,  A = max((r - 1.325) / d, 0)
                  passed [T, F, F, T]
    all pass      [2.5, 2.1, 2.0, 2.4] mean 2.25, sum sq 0.17,   var 0.17/3,    A = max((r - 2.25) / d, 0)
"""

import math

import pytest
import torch

from rarl.algorithms.refine_iqa import refine_iqa_advantages

T, F = True, False
ALL_FAIL = ([0.0, 1.0, 0.0, 1.0], [F, F, F, F])
TIED_FAIL = ([0.0, 0.0, 0.0, 0.0], [F, F, F, F])
SOME_PASS = ([2.3, 0.0, 1.0, 2.0], [T, F, F, T])
ALL_PASS = ([2.5, 2.1, 2.0, 2.4], [T, T, T, T])


def adv(group: tuple[list[float], list[bool]], **kwargs) -> torch.Tensor:
    rewards, passed = group
    return refine_iqa_advantages(torch.tensor(rewards), torch.tensor(passed), 4, **kwargs)


def test_all_fail_by_hand():
    d = math.sqrt(1 / 3) + 1e-4
    expected = torch.tensor([(-0.5 - 2e-5) / d, (0.5 - 2e-5) / d, (-0.5 - 2e-5) / d, (0.5 - 2e-5) / d])
    out = adv(ALL_FAIL)
    torch.testing.assert_close(out, expected)
    # centring sums to 0, so the shift alone moves the group total: -G * fail_eps / d
    assert out.sum().item() == pytest.approx(-4 * 2e-5 / d, rel=1e-3)


def test_all_fail_tied_group_gets_minus_fail_eps_over_std_eps():
    torch.testing.assert_close(adv(TIED_FAIL), torch.full((4,), -0.2))
    torch.testing.assert_close(adv(TIED_FAIL, std_eps=1e-2, fail_eps=0.02), torch.full((4,), -2.0))


def test_some_pass_by_hand():
    d = math.sqrt(3.2675 / 3) + 1e-4
    torch.testing.assert_close(adv(SOME_PASS), torch.tensor([0.975 / d, 0.0, 0.0, 0.675 / d]))


def test_all_pass_by_hand():
    d = math.sqrt(0.17 / 3) + 1e-4
    torch.testing.assert_close(adv(ALL_PASS), torch.tensor([0.25 / d, 0.0, 0.0, 0.15 / d]))
    torch.testing.assert_close(adv(([2.0] * 4, [T] * 4)), torch.zeros(4))


def test_paper_shift():
    d = math.sqrt(1 / 3) + 1e-4
    out = adv(ALL_FAIL, fail_eps=0.02)
    torch.testing.assert_close(out, torch.tensor([-0.52, 0.48, -0.52, 0.48]) / d)


def test_one_passing_rollout_switches_the_group_to_the_clipped_branch():
    # The same rewards, once with no rollout passing and once with one: only the branch changes.
    rewards = [0.0, 1.0, 1.0, 1.0]
    failing = adv((rewards, [F, F, F, F]))
    passing = adv((rewards, [F, T, F, F]))
    assert (failing[1:] > 0).all() and failing[0] < 0
    torch.testing.assert_close(passing, torch.cat([torch.zeros(1), failing[1:] + 2e-5 / (0.5 + 1e-4)]))


def test_groups_are_independent_and_group_major():
    groups = [ALL_FAIL, SOME_PASS, TIED_FAIL, ALL_PASS]
    rewards = torch.tensor([r for g in groups for r in g[0]])  # [B*G] = [16]
    passed = torch.tensor([p for g in groups for p in g[1]])
    out = refine_iqa_advantages(rewards, passed, 4)
    assert out.shape == (16,)
    torch.testing.assert_close(out, torch.cat([adv(g) for g in groups]))


def test_passing_groups_never_get_negative_advantages():
    gen = torch.Generator().manual_seed(0)
    rewards = torch.rand(8 * 6, generator=gen) * 3  # [B*G], B = 8, G = 6
    passed = torch.rand(8 * 6, generator=gen) > 0.7
    out = refine_iqa_advantages(rewards, passed, 6).view(8, 6)
    group_passed = passed.view(8, 6).any(dim=1)
    assert (out[group_passed] >= 0).all()
    assert (out[~group_passed] < 0).any()


def reference_per_group(rewards: list[float]) -> list[float]:
    """Eq. 6 in plain Python floats, one group, with the released trainer's constants (d = 1e-4, e = 2e-5)
    and its pass test (some reward >= 2, i.e. r_ans = r_fmt = 1 with lambda = 1)."""
    n = len(rewards)
    mean = sum(rewards) / n
    std = math.sqrt(sum((r - mean) ** 2 for r in rewards) / (n - 1))
    if any(r >= 2 for r in rewards):
        return [max((r - mean) / (std + 1e-4), 0.0) for r in rewards]
    return [(r - mean - 2e-5) / (std + 1e-4) for r in rewards]


def test_matches_the_released_code():
    # Eq. 5 rewards with lambda = 1: r_ans + r_fmt, plus r_pd in [0, 1] when both are 1.
    gen = torch.Generator().manual_seed(1)
    for _ in range(50):
        r_ans = torch.randint(0, 2, (8,), generator=gen).float()
        r_fmt = torch.randint(0, 2, (8,), generator=gen).float()
        if torch.rand(1, generator=gen).item() < 0.3:
            r_ans.zero_()
        r_pd = torch.rand(8, generator=gen)
        passed = (r_ans == 1) & (r_fmt == 1)
        rewards = r_ans + r_fmt + r_pd * passed
        ours = refine_iqa_advantages(rewards, passed, 8)
        expected = torch.tensor(reference_per_group(rewards.tolist()))
        torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)


def test_group_of_one():
    out = refine_iqa_advantages(torch.tensor([2.4, 0.0]), torch.tensor([T, F]), 1)
    torch.testing.assert_close(out, torch.tensor([0.0, -0.2]))


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (torch.float32, torch.float32),
        (torch.float64, torch.float64),
        (torch.bfloat16, torch.bfloat16),
        (torch.int64, torch.float32),
        (torch.bool, torch.float32),
    ],
)
def test_dtype(dtype, expected):
    rewards = torch.tensor([1, 0, 1, 1, 0, 0, 0, 0]).to(dtype)
    passed = torch.tensor([T, F, F, F, F, F, F, F])
    out = refine_iqa_advantages(rewards, passed, 4)
    assert out.dtype == expected and out.shape == (8,)


def test_statistics_in_float64():
    # Nearly equal float32 rewards: float64 statistics keep the ordering and the exact centring.
    rewards = torch.tensor([1.0, 1.0 + 2**-20, 1.0, 1.0], dtype=torch.float32)
    out = refine_iqa_advantages(rewards, torch.tensor([F, T, F, F]), 4)
    assert out[1] > 0 and (out[[0, 2, 3]] == 0).all()


@pytest.mark.parametrize(
    ("rewards", "passed", "group_size", "kwargs"),
    [
        (torch.zeros(8), torch.zeros(7, dtype=torch.bool), 4, {}),  # shape mismatch
        (torch.zeros(8), torch.zeros(8), 4, {}),  # float passed
        (torch.zeros(8), [False] * 8, 4, {}),  # not a tensor
        (torch.zeros(2, 4), torch.zeros(2, 4, dtype=torch.bool), 4, {}),  # 2-D
        (torch.zeros(8), torch.zeros(8, dtype=torch.bool), 3, {}),  # not a multiple
        (torch.zeros(8), torch.zeros(8, dtype=torch.bool), 0, {}),
        (torch.zeros(8), torch.zeros(8, dtype=torch.bool), 4, {"std_eps": 0.0}),
        (torch.zeros(8), torch.zeros(8, dtype=torch.bool), 4, {"std_eps": float("nan")}),
        (torch.zeros(8), torch.zeros(8, dtype=torch.bool), 4, {"fail_eps": -1e-3}),
    ],
)
def test_bad_arguments(rewards, passed, group_size, kwargs):
    with pytest.raises(ValueError):
        refine_iqa_advantages(rewards, passed, group_size, **kwargs)


def test_registered_estimator_reads_the_passed_component():
    from rarl.algorithms import AdvantageInputs, get_advantage_estimator

    rewards = torch.tensor([2.3, 0.0, 1.0, 2.0, 0.0, 1.0, 0.0, 1.0])
    passed = torch.tensor([T, F, F, T, F, F, F, F])
    inputs = AdvantageInputs(rewards=rewards, group_size=4, components={"passed": passed.float()})
    estimator = get_advantage_estimator("refine_iqa")
    torch.testing.assert_close(estimator(inputs, eps=1e-4), refine_iqa_advantages(rewards, passed, 4))
    with pytest.raises(ValueError, match="needs a reward component 'passed'"):
        estimator(AdvantageInputs(rewards=rewards, group_size=4))
    with pytest.raises(ValueError, match="per group"):
        estimator(inputs, scale="batch")
