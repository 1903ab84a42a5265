"""N-image grouping: sizes, distinct labels, determinism, coverage, rules never mixed."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from rarl.recipes.ordinal.grouping import group_samples
from rarl.recipes.ordinal.readers.ava import AVA_TASK
from rarl.recipes.ordinal.schema import OrdinalItem, OrdinalTask

TASK = OrdinalTask("t", "level", (0, 20), "int", 0, 2.0, "mae")


def make_items(labels, prefix="img"):
    return [OrdinalItem(f"/data/{prefix}_{i}.png", float(v)) for i, v in enumerate(labels)]


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
