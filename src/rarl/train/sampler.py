"""Deterministic, resumable prompt sampling.

Every process runs the same sampler (same seed), draws the same global batch and keeps its own contiguous
slice, so whole groups stay on one rank and group statistics never depend on the number of processes.
The state (`epoch`, `cursor`; per stratum for `StratifiedSampler`) is the data position saved in checkpoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from rarl.train.errors import TrainingAborted
from rarl.utils.config import ConfigError

T = TypeVar("T")


@dataclass
class SamplerState:
    epoch: int = 0
    cursor: int = 0


class EpochSampler(Generic[T]):
    """Shuffles `items` once per epoch (seeded by `seed` and the epoch) and hands out batches in order."""

    def __init__(self, items: Sequence[T], seed: int) -> None:
        if not items:
            raise ValueError("EpochSampler: no items to sample from")
        self.items = list(items)
        self.seed = seed
        self.state = SamplerState()
        self._order = self._permutation(0)

    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.items))

    def next_batch(self, batch_size: int) -> list[T]:
        """The next `batch_size` items, crossing epoch boundaries (each epoch reshuffled)."""
        out: list[T] = []
        while len(out) < batch_size:
            if self.state.cursor >= len(self._order):
                self.state = SamplerState(epoch=self.state.epoch + 1, cursor=0)
                self._order = self._permutation(self.state.epoch)
            take = min(batch_size - len(out), len(self._order) - self.state.cursor)
            idx = self._order[self.state.cursor : self.state.cursor + take]
            out.extend(self.items[i] for i in idx)
            self.state.cursor += take
        return out

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.state.epoch, "cursor": self.state.cursor}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.state = SamplerState(epoch=int(state["epoch"]), cursor=int(state["cursor"]))
        self._order = self._permutation(self.state.epoch)


class StratifiedSampler(Generic[T]):
    """Equal shares of every stratum in every batch (e.g. one stratum per image count).

    Each stratum has its own `EpochSampler` (seeded by `seed` and the stratum's index); a batch of B items
    takes B / k from each of the k strata and interleaves them (item i of every stratum, then item i + 1), so
    a contiguous rank slice holds a mix too. A batch's composition is then fixed, and a per-step mean (of a
    reward that differs by stratum) does not swing with the mix.
    """

    def __init__(self, strata: Sequence[Sequence[T]], seed: int) -> None:
        if not strata:
            raise ValueError("StratifiedSampler: no strata")
        self.samplers = [EpochSampler(items, seed=seed + 7919 * (i + 1)) for i, items in enumerate(strata)]

    def next_batch(self, batch_size: int) -> list[T]:
        k = len(self.samplers)
        if batch_size % k:
            raise ValueError(f"a batch of {batch_size} does not divide into {k} equal strata")
        parts = [s.next_batch(batch_size // k) for s in self.samplers]  # [k][B/k]
        return [part[i] for i in range(batch_size // k) for part in parts]

    def state_dict(self) -> dict[str, list[dict[str, int]]]:
        return {"strata": [s.state_dict() for s in self.samplers]}

    def load_state_dict(self, state: dict[str, list[dict[str, int]]]) -> None:
        strata = state.get("strata") if isinstance(state, dict) else None
        if not isinstance(strata, list) or len(strata) != len(self.samplers):
            raise ValueError(
                f"sampler state holds {len(strata) if isinstance(strata, list) else 'no'} strata, "
                f"this run has {len(self.samplers)} (was data.balance_sizes or data.sizes changed?)"
            )
        for sampler, sub in zip(self.samplers, strata, strict=True):
            sampler.load_state_dict(sub)


def size_strata(recipe: Any, manifest: str, cfg: Any, stage: Any) -> list[list[Any]]:
    """`data.balance_sizes`: a stage's training samples of each of its sizes (read through the recipe), for a
    `StratifiedSampler` drawing `cfg.prompts_per_step` per batch.

    Fails when the batch does not divide by the number of sizes or a size has no sample.
    """
    sizes = sorted(set(stage.sizes or cfg.data.sizes))
    batch_size, where = cfg.prompts_per_step, f"stage '{stage.name}' ({manifest})"
    if batch_size % len(sizes):
        raise ConfigError(
            f"data.balance_sizes: prompts_per_step ({batch_size}) must divide by the number of sizes of "
            f"{where}: {len(sizes)} ({sizes})"
        )
    strata = [recipe.load_samples(manifest, cfg.data.train_split, [size]) for size in sizes]
    for size, samples in zip(sizes, strata, strict=True):
        if not samples:
            raise TrainingAborted(f"data.balance_sizes: {where} has no training sample of size {size}")
    return strata


def rank_slice(batch: Sequence[T], rank: int, world_size: int) -> list[T]:
    """The contiguous share of a global batch for `rank` (the global batch divides evenly)."""
    if len(batch) % world_size:
        raise ValueError(f"batch of {len(batch)} does not divide across {world_size} processes")
    per = len(batch) // world_size
    return list(batch[rank * per : (rank + 1) * per])
