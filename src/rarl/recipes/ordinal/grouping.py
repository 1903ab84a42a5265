"""N-image samples with a unique ground-truth order, built per split (after `rarl.data.grouping.split_items`).

Grouping policy (`group_samples`), per split and per rule (items with different rules never share a
sample):
- the images of one sample have pairwise distinct labels at the task's display precision, so the
  ascending order, and hence the ranking target, is unique;
- a size larger than the number of distinct labels available is skipped with a warning;
- sampling covers the items: labels are drawn without replacement, weighted by how many of their items
  are still unused in the current pass, and each label's items are used in a shuffled order before any
  repeats. With the default count (ceil(items / size) samples per size) every item of a balanced dataset
  appears about once per size; on skewed label distributions the frequent labels are necessarily
  under-covered, since a sample holds at most one item per label;
- the presentation order inside a sample is a random permutation, so the image_id says nothing about
  the rank;
- everything is a function of `seed`, the split name, the rule and the size.
"""

from __future__ import annotations

import math
import zlib
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from rarl.data.errors import DataError
from rarl.data.grouping import allocate
from rarl.recipes.ordinal.schema import OrdinalItem, OrdinalSample, OrdinalTask

DEFAULT_SIZES: tuple[int, ...] = (1, 2, 4, 8)


class _CoverSampler:
    """Draws sets of items with distinct labels, covering each label's items before repeating them."""

    def __init__(self, items: Sequence[OrdinalItem], task: OrdinalTask, rng: np.random.Generator):
        buckets: dict[float, list[OrdinalItem]] = defaultdict(list)
        for it in items:
            buckets[task.quantize(it.label)].append(it)
        self.labels = sorted(buckets)
        self.buckets = [buckets[v] for v in self.labels]
        self.sizes = np.array([len(b) for b in self.buckets], dtype=np.int64)
        self.remaining = np.zeros_like(self.sizes)
        self.order: list[list[OrdinalItem]] = [[] for _ in self.buckets]
        self.rng = rng

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    def _new_pass(self, b: int) -> None:
        bucket = self.buckets[b]
        self.order[b] = [bucket[i] for i in self.rng.permutation(len(bucket))]
        self.remaining[b] = len(bucket)

    def draw(self, k: int) -> list[OrdinalItem]:
        if not 1 <= k <= self.n_labels:
            raise ValueError(f"cannot draw {k} distinct labels from {self.n_labels}")
        avail = np.flatnonzero(self.remaining > 0)
        if avail.size == 0:
            for b in range(self.n_labels):
                self._new_pass(b)
            avail = np.arange(self.n_labels)
        take = min(k, avail.size)
        w = self.remaining[avail].astype(np.float64)
        chosen = list(self.rng.choice(avail, size=take, replace=False, p=w / w.sum()))
        if take < k:
            others = np.setdiff1d(np.arange(self.n_labels), np.array(chosen, dtype=np.int64))
            w = self.sizes[others].astype(np.float64)
            extra = self.rng.choice(others, size=k - take, replace=False, p=w / w.sum())
            for b in extra:
                self._new_pass(int(b))
            chosen.extend(extra)
        picked = []
        for b in chosen:
            b = int(b)
            picked.append(self.order[b][len(self.order[b]) - int(self.remaining[b])])
            self.remaining[b] -= 1
        return [picked[i] for i in self.rng.permutation(k)]


def group_samples(
    items: Sequence[OrdinalItem],
    task: OrdinalTask,
    *,
    sizes: Sequence[int] = DEFAULT_SIZES,
    num_samples: int | None = None,
    seed: int = 0,
    split: str = "train",
) -> tuple[list[OrdinalSample], list[str]]:
    """N-image samples for each size in `sizes` from one split's items, and warnings for skipped sizes.

    `num_samples` is the number of samples per size (None: ceil(items / size), enough to cover them),
    shared among rule groups in proportion to their item counts. Sample ids are `<split>-<n>-<index>`.
    """
    if any(not isinstance(s, int) or s < 1 for s in sizes):
        raise DataError(f"sizes must be positive ints, got {list(sizes)}")
    if num_samples is not None and num_samples < 0:
        raise DataError(f"samples per size must be >= 0, got {num_samples}")
    groups: dict[str, list[OrdinalItem]] = defaultdict(list)
    for it in items:
        groups[it.meta.get("rule") or task.rule].append(it)
    rules = sorted(groups)
    samplers: dict[tuple[str, int], _CoverSampler] = {}
    samples: list[OrdinalSample] = []
    warnings: list[str] = []
    for size in sorted(set(sizes)):
        for rule in rules:
            seq = [seed, zlib.crc32(f"{split}\0{rule}".encode()), size]
            samplers[rule, size] = _CoverSampler(groups[rule], task, np.random.default_rng(seq))
        eligible = [r for r in rules if samplers[r, size].n_labels >= size]
        for r in rules:
            if r not in eligible and len(rules) > 1 and groups[r]:
                warnings.append(
                    f"{split}: no {size}-image samples for rule {r!r}: "
                    f"only {samplers[r, size].n_labels} distinct label(s)"
                )
        if not eligible:
            most = max((samplers[r, size].n_labels for r in rules), default=0)
            if items:
                warnings.append(f"{split}: {size}-image samples skipped: at most {most} distinct label(s)")
            continue
        if num_samples is None:
            counts = [math.ceil(len(groups[r]) / size) for r in eligible]
        else:
            counts = allocate(num_samples, [len(groups[r]) for r in eligible])
        index = 0
        for rule, count in zip(eligible, counts, strict=True):
            sample_task = task.with_rule(rule)
            sampler = samplers[rule, size]
            for _ in range(count):
                chosen = sampler.draw(size)
                samples.append(OrdinalSample(f"{split}-{size}-{index:06d}", sample_task, tuple(chosen)))
                index += 1
    return samples, warnings
