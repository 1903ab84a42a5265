"""Train/val/test splits by image, and N-image samples with a unique ground-truth order.

Splitting happens on items BEFORE grouping, keyed by image (by default its path; `prepare` keys by file
content so that byte-identical copies under two names also stay on one side). All items of one image
(e.g. the per-category items of a COCO image) go to the same split, so no split ever shows an image of
another. `find_leaks` / `check_disjoint` verify this after the fact.

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
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

from rarl.data.errors import DataError
from rarl.data.schema import OrdinalItem, OrdinalSample, OrdinalTask

SPLITS: tuple[str, str, str] = ("train", "val", "test")
DEFAULT_SIZES: tuple[int, ...] = (1, 2, 4, 8)

KeyFn = Callable[[OrdinalItem], str]


def _image_key(item: OrdinalItem) -> str:
    return item.image


def allocate(total: int, weights: Sequence[float], minimum_one: Sequence[bool] = ()) -> list[int]:
    """Split `total` into integer parts proportional to `weights` (largest remainder).

    Parts flagged in `minimum_one` get at least 1 when `total` allows, taken from the largest part.
    """
    wsum = float(sum(weights))
    if total <= 0 or wsum <= 0:
        return [0] * len(weights)
    exact = [total * w / wsum for w in weights]
    parts = [math.floor(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    for i, need in enumerate(minimum_one):
        if need and parts[i] == 0:
            donor = max(range(len(parts)), key=lambda j: parts[j])
            if parts[donor] > 1:
                parts[donor] -= 1
                parts[i] += 1
    return parts


def split_items(
    items: Sequence[OrdinalItem],
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    *,
    seed: int = 0,
    key: KeyFn | None = None,
    names: Sequence[str] = SPLITS,
) -> dict[str, list[OrdinalItem]]:
    """Assign images (not items) to splits in the given proportions, stratified by label.

    `key(item)` identifies the image (default: its path); items sharing a key land in the same split.
    Images are sorted by label (the first item's; ties in random order) and dealt out so that along the
    label order every split stays as close as possible to its share: each split sees the whole label
    range in proportion. A split with a positive fraction gets at least one image when there are enough
    images. Item order within each split follows the input order.
    """
    if len(fractions) != len(names):
        raise DataError(f"splits: need {len(names)} fractions ({', '.join(names)}), got {list(fractions)}")
    if any(f < 0 for f in fractions) or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise DataError(f"splits: fractions must be >= 0 and sum to 1, got {list(fractions)}")
    key = key or _image_key
    label_of: dict[str, float] = {}
    for it in items:
        label_of.setdefault(key(it), it.label)
    keys = sorted(label_of)
    rng = np.random.default_rng([seed, zlib.crc32(b"split")])
    tiebreak = rng.permutation(len(keys))
    order = sorted(range(len(keys)), key=lambda i: (label_of[keys[i]], tiebreak[i]))
    counts = allocate(len(keys), fractions, [f > 0 for f in fractions])
    phase = rng.random(len(names))
    assigned = [0] * len(names)
    assignment: dict[str, str] = {}
    n = max(1, len(keys))
    for rank, i in enumerate(order):
        open_splits = [s for s in range(len(names)) if assigned[s] < counts[s]]
        s = max(open_splits, key=lambda s: (rank + phase[s]) * counts[s] / n - assigned[s])
        assigned[s] += 1
        assignment[keys[i]] = names[s]
    out: dict[str, list[OrdinalItem]] = {name: [] for name in names}
    for it in items:
        out[assignment[key(it)]].append(it)
    return out


def find_leaks(
    splits: Mapping[str, Iterable[OrdinalItem]], key: KeyFn | None = None
) -> list[tuple[str, str, str]]:
    """Images present in more than one split, as (image key, first split, other split)."""
    key = key or _image_key
    seen: dict[str, str] = {}
    leaks = []
    for name, items in splits.items():
        for it in items:
            k = key(it)
            first = seen.setdefault(k, name)
            if first != name:
                leaks.append((k, first, name))
    return leaks


def check_disjoint(splits: Mapping[str, Iterable[OrdinalItem]], key: KeyFn | None = None) -> None:
    """Raise `DataError` naming the first image that occurs in two splits (and how many do)."""
    leaks = find_leaks(splits, key)
    if leaks:
        k, a, b = leaks[0]
        raise DataError(f"image in both {a} and {b} splits: {k} ({len(leaks)} shared image(s) in all)")


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
