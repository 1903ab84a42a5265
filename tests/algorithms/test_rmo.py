"""RMO selection, Eq. 9 re-normalisation under both baselines, and the best-seen helpers.

Hand-worked groups (G = 4) for the advantages:
    stagnant group  [0.2, 0.2, 0.2, 0.2], rows 0 and 1 replaced by answers scoring 1.0 -> [1, 1, 0.2, 0.2]
        "mutated":  mean 0.6, unbiased var 4 * 0.16 / 3, std 0.4 * 2 / sqrt(3)  ->  +-sqrt(3)/2
        "original": mean 0.2, original std 0 < std_eps -> fall back to the mutated std
                    -> (1 - 0.2) / (0.8 / sqrt(3)) = sqrt(3) for the replaced rows, 0 for the others
    untouched group [0, 1, 0.5, 0.5]: mean 0.5, unbiased var 0.5 / 3, std 1/sqrt(6) -> [-sqrt(1.5), sqrt(1.5), 0, 0]
"""

import math

import pytest
import torch

from rarl.algorithms import (
    RMO_BASELINES,
    RMO_TRIGGERS,
    BestSeen,
    best_seen_beats_group,
    best_seen_rewards,
    best_seen_updates,
    group_advantages,
    rmo_advantages,
    select_rmo,
)

# ------------------------------------------------------------------------------------------------ selection


def test_marks_k_lowest_in_each_group():
    rewards = torch.tensor([0.5, 0.1, 0.9, 0.3, 0.4, 0.8, 0.2, 0.6])
    mask = select_rmo(rewards, 4, k=2, trigger="always")
    assert mask.tolist() == [False, True, False, True, True, False, True, False]


def test_ties_lowest_index_first():
    rewards = torch.tensor([0.2, 0.2, 0.2, 0.2, 0.5, 0.1, 0.1, 0.1])
    mask = select_rmo(rewards, 4, k=2, trigger="always")
    assert mask.tolist() == [True, True, False, False, False, True, True, False]


def test_stagnant_trigger_only_fires_on_zero_variance_groups():
    rewards = torch.tensor([0.2, 0.2, 0.2, 0.2, 0.5, 0.1, 0.9, 0.3], dtype=torch.float64)
    mask = select_rmo(rewards, 4, k=2, prob=1.0, trigger="stagnant")
    assert mask.tolist() == [True, True, False, False, False, False, False, False]


def test_stagnant_near_equal_floats_count_as_stagnant():
    # float noise (0.30000001 vs 0.3) is stagnant; within it the k lowest are still picked by value
    rewards = torch.tensor([0.30000001, 0.3, 0.3, 0.3], dtype=torch.float64)
    assert select_rmo(rewards, 4, k=2).tolist() == [False, True, True, False]


def test_prob_zero_never_fires():
    rewards = torch.zeros(4 * 64)
    for seed in range(5):
        gen = torch.Generator().manual_seed(seed)
        assert not select_rmo(rewards, 4, prob=0.0, trigger="always", generator=gen).any()
        assert not select_rmo(rewards, 4, prob=0.0, trigger="stagnant", generator=gen).any()


def test_prob_one_always_fires_on_stagnant():
    rewards = torch.zeros(4 * 64)
    gen = torch.Generator().manual_seed(0)
    mask = select_rmo(rewards, 4, k=2, prob=1.0, generator=gen).view(-1, 4)
    assert mask.tolist() == [[True, True, False, False]] * 64


def test_trigger_always_marks_k_per_group():
    rewards = torch.rand(5 * 6, generator=torch.Generator().manual_seed(1))
    mask = select_rmo(rewards, 6, k=3, trigger="always").view(-1, 6)
    assert mask.sum(dim=1).tolist() == [3] * 5
    grouped = rewards.view(-1, 6)
    for row, marks in zip(grouped, mask, strict=True):
        assert row[marks].max() <= row[~marks].min()


def test_seeded_generator_is_deterministic():
    rewards = torch.zeros(4 * 200)

    def draw(seed):
        return select_rmo(rewards, 4, prob=0.5, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(draw(7), draw(7))
    assert not torch.equal(draw(7), draw(8))
    fired = draw(7).view(-1, 4).any(dim=1).float().mean().item()
    assert 0.35 < fired < 0.65


def test_draws_do_not_depend_on_rewards():
    gen_a = torch.Generator().manual_seed(3)
    gen_b = torch.Generator().manual_seed(3)
    select_rmo(torch.rand(8), 4, prob=0.5, generator=gen_a)
    select_rmo(torch.zeros(8), 4, prob=0.5, generator=gen_b)
    assert torch.equal(torch.rand(3, generator=gen_a), torch.rand(3, generator=gen_b))


def test_k_zero_marks_nothing():
    assert not select_rmo(torch.zeros(8), 4, k=0, trigger="always").any()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"k": 4},
        {"k": 5},
        {"k": -1},
        {"prob": 1.5},
        {"prob": -0.1},
        {"trigger": "sometimes"},
        {"std_eps": -1.0},
    ],
)
def test_select_rmo_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        select_rmo(torch.zeros(8), 4, **kwargs)


def test_registries_named():
    assert set(RMO_TRIGGERS) == {"stagnant", "always"}
    assert set(RMO_BASELINES) == {"mutated", "original"}


# ----------------------------------------------------------------------------------------------- advantages

ORIGINAL = torch.tensor([0.2, 0.2, 0.2, 0.2, 0.0, 1.0, 0.5, 0.5])
MASK = torch.tensor([True, True, False, False, False, False, False, False])
MUTATED = torch.where(MASK, torch.tensor(1.0), ORIGINAL)
UNTOUCHED = [-math.sqrt(1.5), math.sqrt(1.5), 0.0, 0.0]


def test_mutated_baseline_by_hand():
    adv = rmo_advantages(ORIGINAL, MUTATED, MASK, 4, baseline="mutated", eps=0.0)
    h = math.sqrt(3) / 2
    torch.testing.assert_close(adv, torch.tensor([h, h, -h, -h, *UNTOUCHED]))


def test_mutated_baseline_is_group_advantages_of_mutated_rewards():
    for scale in ("group", "batch", "none"):
        torch.testing.assert_close(
            rmo_advantages(ORIGINAL, MUTATED, MASK, 4, baseline="mutated", scale=scale),
            group_advantages(MUTATED, 4, scale=scale),
        )


def test_original_baseline_stagnant_group_falls_back_to_mutated_std():
    adv = rmo_advantages(ORIGINAL, MUTATED, MASK, 4, baseline="original", eps=0.0)
    s3 = math.sqrt(3)
    torch.testing.assert_close(adv, torch.tensor([s3, s3, 0.0, 0.0, *UNTOUCHED]))


def test_original_baseline_non_stagnant_group_by_hand():
    # original [0, .5, .5, 1]: mean .5, std 1/sqrt(6); row 0 replaced by an answer scoring 1.0
    original = torch.tensor([0.0, 0.5, 0.5, 1.0])
    mask = torch.tensor([True, False, False, False])
    mutated = torch.tensor([1.0, 0.5, 0.5, 1.0])
    s = math.sqrt(1.5)
    adv = rmo_advantages(original, mutated, mask, 4, baseline="original", eps=0.0)
    torch.testing.assert_close(adv, torch.tensor([s, 0.0, 0.0, s]))
    # the "mutated" reading: [1, .5, .5, 1], mean .75, std .5/sqrt(3) -> +-sqrt(3)/2
    h = math.sqrt(3) / 2
    adv = rmo_advantages(original, mutated, mask, 4, baseline="mutated", eps=0.0)
    torch.testing.assert_close(adv, torch.tensor([h, -h, -h, h]))


def test_original_baseline_scale_none():
    adv = rmo_advantages(ORIGINAL, MUTATED, MASK, 4, baseline="original", scale="none")
    torch.testing.assert_close(adv, torch.tensor([0.8, 0.8, 0.0, 0.0, -0.5, 0.5, 0.0, 0.0]))


def test_original_baseline_scale_batch_uses_original_batch_std():
    adv = rmo_advantages(ORIGINAL, MUTATED, MASK, 4, baseline="original", scale="batch", eps=0.0)
    batch_std = ORIGINAL.double().std().item()
    expected = (MUTATED.double() - torch.tensor([0.2] * 4 + [0.5] * 4, dtype=torch.float64)) / batch_std
    torch.testing.assert_close(adv, expected.float())


def test_original_baseline_batch_fallback_when_whole_batch_is_flat():
    original = torch.full((8,), 0.2)
    mask = torch.tensor([True, False, False, False] * 2)
    mutated = torch.where(mask, torch.tensor(1.0), original)
    adv = rmo_advantages(original, mutated, mask, 4, baseline="original", scale="batch", eps=0.0)
    torch.testing.assert_close(adv, (mutated - 0.2) / mutated.double().std().float())


@pytest.mark.parametrize("baseline", ["mutated", "original"])
def test_no_mutation_equals_plain_grpo(baseline):
    none = torch.zeros(8, dtype=torch.bool)
    adv = rmo_advantages(ORIGINAL, torch.full((8,), 9.0), none, 4, baseline=baseline)
    torch.testing.assert_close(adv, group_advantages(ORIGINAL, 4))


@pytest.mark.parametrize("baseline", ["mutated", "original"])
def test_rows_outside_mask_ignore_mutated_values(baseline):
    mutated = torch.where(MASK, torch.tensor(1.0), torch.tensor(float("nan")))
    adv = rmo_advantages(ORIGINAL, mutated, MASK, 4, baseline=baseline)
    torch.testing.assert_close(adv, rmo_advantages(ORIGINAL, MUTATED, MASK, 4, baseline=baseline))


def test_rmo_advantages_rejects_bad_arguments():
    with pytest.raises(ValueError, match="baseline"):
        rmo_advantages(ORIGINAL, MUTATED, MASK, 4, baseline="both")
    with pytest.raises(ValueError, match="shape"):
        rmo_advantages(ORIGINAL, MUTATED[:4], MASK, 4)


def test_select_then_renormalise_reactivates_a_stagnant_group():
    rewards = torch.full((4,), 0.1)
    mask = select_rmo(rewards, 4, k=2)
    assert group_advantages(rewards, 4).abs().max() == 0
    adv = rmo_advantages(rewards, torch.where(mask, torch.tensor(0.9), rewards), mask, 4)
    assert (adv[mask] > 0).all() and (adv[~mask] < 0).all()


# ----------------------------------------------------------------------------------------------- best seen


def test_best_seen_updates():
    store = {"a": BestSeen("old a", 0.8), "b": BestSeen("old b", 0.1)}
    rewards = torch.tensor([0.5, 0.7, 0.7, 0.2, 0.0, 0.6, float("nan"), float("nan")])
    texts = [f"t{i}" for i in range(8)]
    updates = best_seen_updates(store, ["a", "b", "c", "d"], texts, rewards, 2)
    # a: batch best 0.7 < stored 0.8; b: 0.7 (first of the tie, t2) beats 0.1; c: new (t5); d: all NaN
    assert updates == {"b": BestSeen("t2", pytest.approx(0.7)), "c": BestSeen("t5", pytest.approx(0.6))}
    assert store == {"a": BestSeen("old a", 0.8), "b": BestSeen("old b", 0.1)}  # not mutated


def test_best_seen_updates_repeated_sample_id_keeps_the_best():
    updates = best_seen_updates({}, ["a", "a"], ["x", "y", "z", "w"], torch.tensor([0.1, 0.3, 0.9, 0.2]), 2)
    assert updates == {"a": BestSeen("z", pytest.approx(0.9))}


def test_best_seen_updates_rejects_bad_lengths():
    with pytest.raises(ValueError):
        best_seen_updates({}, ["a"], ["x"], torch.zeros(2), 2)
    with pytest.raises(ValueError):
        best_seen_updates({}, ["a", "b"], ["x", "y"], torch.zeros(2), 2)


def test_best_seen_rewards_and_beats_group():
    store = {"a": BestSeen("x", 0.9), "b": BestSeen("y", 0.5)}
    best = best_seen_rewards(store, ["a", "b", "c"])
    assert best[:2].tolist() == pytest.approx([0.9, 0.5]) and math.isnan(best[2])
    rewards = torch.tensor([0.2, 0.4, 0.5, 0.5, 0.1, 0.2])
    assert best_seen_beats_group(best, rewards, 2).tolist() == [True, False, False]
    assert best_seen_beats_group(best, rewards, 2, margin=0.6).tolist() == [False, False, False]
    with pytest.raises(ValueError):
        best_seen_beats_group(best[:2], rewards, 2)
