"""Splits by image: proportions, stratification, items of one image together, no leakage, determinism."""

from __future__ import annotations

from collections import Counter

import pytest

from rarl.data.errors import DataError
from rarl.data.grouping import check_disjoint, find_leaks, split_items
from rarl.recipes.ordinal.schema import OrdinalItem


def make_items(labels, prefix="img"):
    return [OrdinalItem(f"/data/{prefix}_{i}.png", float(v)) for i, v in enumerate(labels)]


def test_split_proportions_stratified_and_deterministic():
    items = make_items([i % 10 for i in range(1000)])
    s1 = split_items(items, (0.8, 0.1, 0.1), seed=1)
    s2 = split_items(items, (0.8, 0.1, 0.1), seed=1)
    s3 = split_items(items, (0.8, 0.1, 0.1), seed=2)
    assert {k: len(v) for k, v in s1.items()} == {"train": 800, "val": 100, "test": 100}
    assert s1 == s2 and s1 != s3
    assert sum(len(v) for v in s1.values()) == len(items)
    assert not find_leaks(s1)
    for split, n in (("train", 80), ("val", 10), ("test", 10)):  # every label in proportion
        assert set(Counter(it.label for it in s1[split]).values()) == {n}


def test_split_keeps_items_of_one_image_together():
    # Two items per image (e.g. two COCO categories); a split must hold both or neither.
    items = [OrdinalItem(f"/d/{i}.jpg", float(i % 7), {"rule": r}) for i in range(50) for r in ("a", "b")]
    splits = split_items(items, (0.6, 0.2, 0.2), seed=0)
    for split_items_ in splits.values():
        per_image = Counter(it.image for it in split_items_)
        assert set(per_image.values()) <= {2}
    assert not find_leaks(splits)


def test_split_small_and_bad_fractions():
    s = split_items(make_items(range(3)), (0.8, 0.1, 0.1))
    assert {k: len(v) for k, v in s.items()} == {"train": 1, "val": 1, "test": 1}
    s = split_items(make_items(range(10)), (0.9, 0.0, 0.1))
    assert len(s["val"]) == 0
    with pytest.raises(DataError, match="sum to 1"):
        split_items(make_items(range(3)), (0.8, 0.1, 0.2))
    with pytest.raises(DataError, match="need 3 fractions"):
        split_items(make_items(range(3)), (0.8, 0.2))


def test_check_disjoint_reports_leak():
    a = make_items(range(5))
    b = make_items(range(5), prefix="other") + [a[2]]
    assert find_leaks({"train": a, "test": b}) == [(a[2].image, "train", "test")]
    with pytest.raises(DataError, match=r"image in both train and test splits: /data/img_2.png \(1 shared"):
        check_disjoint({"train": a, "test": b})
    # A custom key (e.g. the content hash) catches copies under different names.
    c = [OrdinalItem("/copy/of/img_0.png", 0.0)]
    assert find_leaks({"train": a, "test": c}, key=lambda it: it.image.rsplit("/", 1)[-1])
