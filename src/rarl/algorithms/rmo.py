"""Response Mutation Operation (RMO, paper Sec. 3.2, Eq. 9): selection and re-normalised advantages.

RMO fights the vanishing gradient of a group whose rollouts all score the same: it replaces `k` low-reward
rollouts of the group with a reference answer (the ground truth, or the best completion seen so far for the
sample) and recomputes the advantages so that the mutated rollouts stand out. The paper trains with `k = 2`
and turns RMO on in stage 2 only (ranking objective active); the trainer owns that schedule.

This module is pure: it picks which rows to replace and computes advantages once the trainer has scored the
replacement texts. The trainer performs the text/token swap and owns any "best seen" memory; the helpers
`best_seen_rewards`, `best_seen_beats_group` and `best_seen_updates` read a mapping passed in and return
new values, never mutating it.

How we read the paper where it is ambiguous:

- **Which groups.** "Probabilistically replaces k low-reward responses" does not say in which groups.
  `trigger="stagnant"` mutates only groups whose reward std is below `std_eps` (the saddle-point case the
  section describes: "homogeneously incorrect, yielding zero advantage"); `trigger="always"` considers every
  group, as the paper words it ("replaces k low-reward responses in each training batch"). Each qualifying
  group then fires independently with probability `prob`. The run config defaults to `always` with
  `prob = 0.5` (`rmo.trigger`, `rmo.prob`); the functions here default to `stagnant` and `prob = 1`.
- **Which rollouts.** The `k` lowest-reward rollouts of the group; ties are broken by the lowest index first
  (a stable sort), so selection is deterministic given the rewards and the random draw. One uniform number
  is drawn per group on every call (whatever `prob`), so RNG consumption does not depend on the rewards.
- **Which statistics normalise the mutated rewards (Eq. 9).** Eq. 9 writes
  `A'_j = (R(q, o'_j) - mean({r_i})) / std({r_i})` without saying whether `{r_i}` is the group before or after
  the replacement. We offer both readings through `baseline`:

  * `"mutated"` (default): `{r_i}` is the group after replacement. This is exactly `group_advantages` of the
    mutated reward vector, every rollout of the group (mutated or not) gets a re-normalised advantage, and
    the group's advantages have zero mean. In a stagnant group with rewards `c` where `k` rollouts get `R`,
    the mutated ones get a positive and the originals an equal-and-opposite-signed share.
  * `"original"`: `{r_i}` is the group before replacement. Every reward in the group (mutated or not) is
    centred on the ORIGINAL group mean and divided by the ORIGINAL group std. Untouched rollouts therefore
    keep their plain GRPO advantage; in a stagnant group they get ~0 and only the mutated ones carry signal.
    **Fallback:** a stagnant group's original std is ~0, which would blow the mutated advantages up to
    `(R - c) / eps`. Where the original std is below `std_eps` we divide by the std of the group AFTER
    replacement instead (plus `eps`), keeping the original mean. With `scale="batch"` the same rule applies
    to the batch std; with `scale="none"` there is no division. Caveat: with `trigger="always"`, a group
    whose original std is just above `std_eps` is divided by that small std; use the same `std_eps` for
    `select_rmo` and `rmo_advantages` so every stagnant group takes the fallback. The trainer passes one
    threshold, `algorithm.std_eps` (default 1e-4), to both; the functions' own default is 1e-6.

  In both readings a group in which nothing was replaced gets the same advantages as `group_advantages` of
  the original rewards (exactly so for `scale="group"` and `"none"`; with `scale="batch"`, `"mutated"`
  recomputes the batch std over the mutated batch).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from rarl.algorithms._groups import as_groups, check_group_size, result_dtype, std_unbiased
from rarl.algorithms.advantages import AdvantageScale, _scale_denominator, group_advantages
from rarl.utils.registry import Registry

RmoTrigger = Literal["stagnant", "always"]
RmoBaseline = Literal["mutated", "original"]


# ---------------------------------------------------------------------------------------------------------
# Selection


def _trigger_stagnant(grouped: torch.Tensor, std_eps: float) -> torch.Tensor:
    """[B, G] float64 rewards -> bool [B]: groups whose unbiased std is below `std_eps`."""
    return std_unbiased(grouped, dim=1) < std_eps


def _trigger_always(grouped: torch.Tensor, std_eps: float) -> torch.Tensor:
    """[B, G] float64 rewards -> bool [B]: every group."""
    return torch.ones(grouped.shape[0], dtype=torch.bool, device=grouped.device)


RMO_TRIGGERS = Registry(
    "RMO trigger",
    {
        "stagnant": _trigger_stagnant,
        "always": _trigger_always,
    },
)


def select_rmo(
    rewards: torch.Tensor,
    group_size: int,
    k: int = 2,
    prob: float = 1.0,
    trigger: RmoTrigger = "stagnant",
    std_eps: float = 1e-6,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Rows to replace with a reference answer.

    rewards: [B*G] group-major -> bool [B*G] (True = replace this rollout).
    For every group that qualifies under `trigger` ("stagnant": unbiased reward std < `std_eps`; "always":
    every group) and whose draw `u ~ U[0, 1)` satisfies `u < prob`, the `k` lowest-reward rollouts are marked
    (ties: lowest index first). `k = 0` marks nothing; `k >= group_size` is an error (the group would have
    no original rollout left to contrast with). `prob = 0` never fires, `prob = 1` always fires.
    `generator` seeds the per-group draws (B numbers, drawn on every call).
    """
    check_group_size(group_size)
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"k must be a non-negative int, got {k!r}")
    if k >= group_size:
        raise ValueError(f"k={k} must be smaller than group_size={group_size}")
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f"prob must be in [0, 1], got {prob}")
    if trigger not in RMO_TRIGGERS:
        raise ValueError(f"unknown RMO trigger {trigger!r}; expected one of {sorted(RMO_TRIGGERS)}")
    if std_eps < 0:
        raise ValueError(f"std_eps must be >= 0, got {std_eps}")

    grouped = as_groups(rewards, group_size)  # [B, G]
    num_groups = grouped.shape[0]
    draw_device = generator.device if generator is not None else rewards.device
    u = torch.rand(num_groups, generator=generator, device=draw_device).to(rewards.device)  # [B]
    fires = RMO_TRIGGERS[trigger](grouped, std_eps) & (u < prob)  # [B]

    order = torch.sort(grouped, dim=1, stable=True).indices  # [B, G], ascending reward, ties by index
    lowest = torch.zeros_like(grouped, dtype=torch.bool)  # [B, G]
    lowest.scatter_(1, order[:, :k], True)
    return (lowest & fires.unsqueeze(1)).reshape(-1)  # [B*G]


# ---------------------------------------------------------------------------------------------------------
# Advantages after mutation (Eq. 9)


def _baseline_mutated(
    original: torch.Tensor, mutated: torch.Tensor, scale: str, eps: float, std_eps: float
) -> torch.Tensor:
    """[B, G] float64 original/mutated rewards -> [B, G] advantages; statistics of the mutated group."""
    group_size = mutated.shape[1]
    return group_advantages(mutated.reshape(-1), group_size, scale=scale, eps=eps).view(-1, group_size)


def _baseline_original(
    original: torch.Tensor, mutated: torch.Tensor, scale: str, eps: float, std_eps: float
) -> torch.Tensor:
    """[B, G] float64 original/mutated rewards -> [B, G] advantages; statistics of the original group,
    falling back to the mutated std where the original std is below `std_eps`."""
    mean = original.mean(dim=1, keepdim=True)  # [B, 1]
    std_override = None
    if scale == "group":
        std_orig = std_unbiased(original, dim=1)  # [B]
        std_new = std_unbiased(mutated, dim=1)  # [B]
        std_override = torch.where(std_orig < std_eps, std_new, std_orig)  # [B]
    elif scale == "batch":
        std_orig = std_unbiased(original)  # []
        std_new = std_unbiased(mutated)  # []
        std_override = torch.where(std_orig < std_eps, std_new, std_orig).expand(original.shape[0])  # [B]
    return (mutated - mean) / _scale_denominator(original, scale, eps, std_override)  # [B, G]


RMO_BASELINES = Registry(
    "RMO baseline",
    {
        "mutated": _baseline_mutated,
        "original": _baseline_original,
    },
)


def rmo_advantages(
    original_rewards: torch.Tensor,
    mutated_rewards: torch.Tensor,
    rmo_mask: torch.Tensor,
    group_size: int,
    baseline: RmoBaseline = "mutated",
    scale: AdvantageScale = "group",
    eps: float = 1e-6,
    std_eps: float = 1e-6,
) -> torch.Tensor:
    """Advantages after RMO, Eq. 9, under either reading of its baseline (see the module docstring).

    original_rewards: [B*G] rewards of the sampled rollouts.
    mutated_rewards: [B*G] rewards of the replacement answers; only rows where `rmo_mask` is True are read,
        the other rows take `original_rewards` (so the trainer may pass a vector with anything elsewhere).
    rmo_mask: bool [B*G], the rows replaced (from `select_rmo`).
    -> advantages [B*G], dtype of `original_rewards` (float32 for integer rewards).
    baseline: "mutated" (group statistics after replacement) or "original" (statistics of the original group;
        the std falls back to the post-replacement std where the original std is below `std_eps`).
    scale, eps: as in `group_advantages`.
    """
    if baseline not in RMO_BASELINES:
        raise ValueError(f"unknown RMO baseline {baseline!r}; expected one of {sorted(RMO_BASELINES)}")
    if std_eps < 0:
        raise ValueError(f"std_eps must be >= 0, got {std_eps}")
    original = as_groups(original_rewards, group_size)  # [B, G]
    if mutated_rewards.shape != original_rewards.shape or rmo_mask.shape != original_rewards.shape:
        raise ValueError(
            "original_rewards, mutated_rewards and rmo_mask must share shape [B*G]; got "
            f"{tuple(original_rewards.shape)}, {tuple(mutated_rewards.shape)}, {tuple(rmo_mask.shape)}"
        )
    replaced = rmo_mask.to(torch.bool).view(-1, group_size)  # [B, G]
    mutated = torch.where(replaced, as_groups(mutated_rewards, group_size), original)  # [B, G]
    adv = RMO_BASELINES[baseline](original, mutated, scale, eps, std_eps)  # [B, G]
    return adv.reshape(-1).to(result_dtype(original_rewards))  # [B*G]


# ---------------------------------------------------------------------------------------------------------
# "Best seen" reference answers (source: best_seen). The trainer owns the memory; these read it.


@dataclass(frozen=True)
class BestSeen:
    """The best completion seen so far for one sample, and its reward."""

    text: str
    reward: float


def best_seen_rewards(
    store: Mapping[str, BestSeen],
    sample_ids: Sequence[str],
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Rewards of the stored best completions for a batch of samples.

    sample_ids: length B -> float32 [B]; NaN where nothing is stored for the sample.
    """
    values = [store[s].reward if s in store else math.nan for s in sample_ids]
    return torch.tensor(values, dtype=torch.float32, device=device)  # [B]


def best_seen_beats_group(
    best_rewards: torch.Tensor, rewards: torch.Tensor, group_size: int, margin: float = 0.0
) -> torch.Tensor:
    """Whether the stored best completion should be the RMO reference for each group.

    best_rewards: [B] (NaN = nothing stored), rewards: [B*G] -> bool [B].
    True where `best_rewards > max(group rewards) + margin`: the stored answer is strictly better than
    every rollout of the current group. NaN never beats anything.
    """
    grouped = as_groups(rewards, group_size)  # [B, G]
    if best_rewards.shape != (grouped.shape[0],):
        raise ValueError(
            f"best_rewards must have shape [B]={grouped.shape[0]}, got {tuple(best_rewards.shape)}"
        )
    group_max = grouped.max(dim=1).values  # [B]
    return best_rewards.to(torch.float64).to(group_max.device) > group_max + margin  # [B]; NaN > x is False


def best_seen_updates(
    store: Mapping[str, BestSeen],
    sample_ids: Sequence[str],
    texts: Sequence[str],
    rewards: torch.Tensor,
    group_size: int,
) -> dict[str, BestSeen]:
    """New "best seen" entries implied by one batch of rollouts; `store` is not modified.

    sample_ids: length B; texts: length B*G (group-major); rewards: [B*G].
    -> {sample_id: BestSeen} for each sample whose best rollout in this batch (first index on ties, NaN
    rewards ignored) strictly beats the stored entry, or has no stored entry. Apply with
    `store.update(updates)`. A sample id repeated within the batch keeps its best rollout overall.
    """
    grouped = as_groups(rewards, group_size)  # [B, G]
    num_groups = grouped.shape[0]
    if len(sample_ids) != num_groups:
        raise ValueError(f"expected {num_groups} sample_ids, got {len(sample_ids)}")
    if len(texts) != grouped.numel():
        raise ValueError(f"expected {grouped.numel()} texts, got {len(texts)}")
    finite = torch.where(torch.isnan(grouped), torch.full_like(grouped, -math.inf), grouped)  # [B, G]
    best_idx = finite.argmax(dim=1).tolist()  # [B]; first maximal index
    best_val = finite.max(dim=1).values.tolist()  # [B]

    updates: dict[str, BestSeen] = {}
    for b, sample_id in enumerate(sample_ids):
        value = best_val[b]
        if value == -math.inf:
            continue
        current = updates.get(sample_id) or store.get(sample_id)
        if current is None or value > current.reward:
            updates[sample_id] = BestSeen(text=texts[b * group_size + best_idx[b]], reward=float(value))
    return updates


__all__ = [
    "RMO_BASELINES",
    "RMO_TRIGGERS",
    "BestSeen",
    "RmoBaseline",
    "RmoTrigger",
    "best_seen_beats_group",
    "best_seen_rewards",
    "best_seen_updates",
    "rmo_advantages",
    "select_rmo",
]
