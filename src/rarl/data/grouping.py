"""Train/val/test splits by image, shared by every recipe's `rarl prepare`.

Splitting happens on items BEFORE grouping, keyed by image (by default its path; a recipe's `prepare` may
key by file content so that byte-identical copies under two names also stay on one side). All items of one
image (e.g. the per-category items of a COCO image) go to the same split, so no split ever shows an image
of another. `find_leaks` / `check_disjoint` verify this after the fact.

An item is anything with an `image` path and a numeric `label` (`SplitItem`), e.g. an ordinal item of the
`rarl` recipe; `allocate` is the integer division used for splits and per-group sample counts.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol, TypeVar

import numpy as np

from rarl.data.errors import DataError

SPLITS: tuple[str, str, str] = ("train", "val", "test")


class SplitItem(Protocol):
    """What splitting needs from an item: its image path and its label."""

    @property
    def image(self) -> str: ...

    @property
    def label(self) -> float: ...


ItemT = TypeVar("ItemT", bound=SplitItem)
KeyFn = Callable[[ItemT], str]


def _image_key(item: SplitItem) -> str:
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
    items: Sequence[ItemT],
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    *,
    seed: int = 0,
    key: KeyFn[ItemT] | None = None,
    names: Sequence[str] = SPLITS,
) -> dict[str, list[ItemT]]:
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
    out: dict[str, list[ItemT]] = {name: [] for name in names}
    for it in items:
        out[assignment[key(it)]].append(it)
    return out


def find_leaks(
    splits: Mapping[str, Iterable[ItemT]], key: KeyFn[ItemT] | None = None
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


def check_disjoint(splits: Mapping[str, Iterable[ItemT]], key: KeyFn[ItemT] | None = None) -> None:
    """Raise `DataError` naming the first image that occurs in two splits (and how many do)."""
    leaks = find_leaks(splits, key)
    if leaks:
        k, a, b = leaks[0]
        raise DataError(f"image in both {a} and {b} splits: {k} ({len(leaks)} shared image(s) in all)")
