"""Splits by image and N-image grouping: sizes, distinct labels, no leakage, determinism, coverage."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rarl.data import (
    AVA_TASK,
    DataError,
    OrdinalItem,
    OrdinalTask,
    check_disjoint,
    find_leaks,
    group_samples,
    split_items,
)

TASK = OrdinalTask("t", "level", (0, 20), "int", 0, 2.0, "mae")


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


def test_group_sizes_distinct_labels_and_coverage():
    items = make_items([i % 12 for i in range(120)])
    samples, warnings = group_samples(items, TASK, sizes=(1, 2, 4, 8), seed=0, split="train")
    assert not warnings
    by_n = Counter(s.n for s in samples)
    assert by_n == {1: 120, 2: 60, 4: 30, 8: 15}  # default: ceil(items / size)
    for s in samples:
        assert len(set(s.labels)) == s.n  # unique ground-truth order
        assert len({it.image for it in s.items}) == s.n
        assert s.sample_id.startswith(f"train-{s.n}-")
    assert len({s.sample_id for s in samples}) == len(samples)
    # On balanced labels the default count covers every item exactly once per size.
    for n in (1, 2, 4):
        used = Counter(it.image for s in samples if s.n == n for it in s.items)
        assert set(used.values()) == {1} and len(used) == 120


def test_group_deterministic_and_shuffled_presentation():
    items = make_items([i % 9 for i in range(90)])
    a, _ = group_samples(items, TASK, sizes=(4,), seed=5)
    b, _ = group_samples(items, TASK, sizes=(4,), seed=5)
    c, _ = group_samples(items, TASK, sizes=(4,), seed=6)
    assert a == b and a != c
    ascending = sum(s.labels == sorted(s.labels) for s in a)
    assert ascending < len(a) / 2  # presentation order is not the rank order


def test_group_skips_sizes_without_enough_labels():
    items = make_items([1, 2, 3, 1, 2, 3])
    samples, warnings = group_samples(items, TASK, sizes=(1, 2, 4, 8), split="val")
    assert {s.n for s in samples} == {1, 2}
    assert warnings == [
        "val: 4-image samples skipped: at most 3 distinct label(s)",
        "val: 8-image samples skipped: at most 3 distinct label(s)",
    ]


def test_group_distinct_at_display_precision():
    items = make_items([5.001, 5.004, 6.0])  # 5.001 and 5.004 both show as "5.00"
    samples, warnings = group_samples(items, AVA_TASK.with_rule("x"), sizes=(3,))
    assert samples == [] and warnings


def test_group_num_samples_and_rules_never_mixed():
    items = [OrdinalItem(f"/a/{i}.jpg", float(i % 6), {"rule": "number of cat"}) for i in range(60)]
    items += [OrdinalItem(f"/b/{i}.jpg", float(i % 3), {"rule": "number of dog"}) for i in range(30)]
    samples, warnings = group_samples(items, TASK, sizes=(2, 4), num_samples=30, seed=0)
    counts = Counter((s.n, s.task.rule) for s in samples)
    assert counts == {(2, "number of cat"): 20, (2, "number of dog"): 10, (4, "number of cat"): 30}
    assert warnings == ["train: no 4-image samples for rule 'number of dog': only 3 distinct label(s)"]
    for s in samples:
        assert {it.meta["rule"] for it in s.items} == {s.task.rule}


@settings(max_examples=30, deadline=None)
@given(
    labels=st.lists(st.integers(0, 20), min_size=1, max_size=60),
    size=st.sampled_from([1, 2, 4, 8]),
    num=st.one_of(st.none(), st.integers(0, 25)),
    seed=st.integers(0, 3),
)
def test_group_invariants(labels, size, num, seed):
    items = make_items(labels)
    samples, warnings = group_samples(items, TASK, sizes=(size,), num_samples=num, seed=seed)
    if len(set(labels)) < size:
        assert samples == [] and len(warnings) == 1
        return
    expected = -(-len(items) // size) if num is None else num
    assert len(samples) == expected
    for s in samples:
        assert s.n == size and len(set(s.labels)) == size
        assert set(s.items) <= set(items)
