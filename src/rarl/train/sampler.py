"""Deterministic, resumable prompt sampling.

Every process runs the same sampler (same seed), draws the same global batch and keeps its own contiguous
slice, so whole groups stay on one rank and group statistics never depend on the number of processes.
The state (`epoch`, `cursor`) is the data position saved in checkpoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

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


def rank_slice(batch: Sequence[T], rank: int, world_size: int) -> list[T]:
    """The contiguous share of a global batch for `rank` (the global batch divides evenly)."""
    if len(batch) % world_size:
        raise ValueError(f"batch of {len(batch)} does not divide across {world_size} processes")
    per = len(batch) // world_size
    return list(batch[rank * per : (rank + 1) * per])
