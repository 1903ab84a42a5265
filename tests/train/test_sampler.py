import pytest

from rarl.train.sampler import EpochSampler, rank_slice


def test_epoch_covers_every_item_once_then_reshuffles():
    s = EpochSampler(list(range(10)), seed=3)
    first = s.next_batch(4) + s.next_batch(4) + s.next_batch(2)
    assert sorted(first) == list(range(10))
    second = s.next_batch(10)
    assert sorted(second) == list(range(10))
    assert second != first  # a new permutation per epoch
    assert s.state_dict() == {"epoch": 1, "cursor": 10}


def test_resume_replays_the_same_stream():
    a = EpochSampler(list(range(7)), seed=1)
    a.next_batch(5)
    state = a.state_dict()
    rest = a.next_batch(9)
    b = EpochSampler(list(range(7)), seed=1)
    b.load_state_dict(state)
    assert b.next_batch(9) == rest


def test_rank_slice():
    assert rank_slice([0, 1, 2, 3], 1, 2) == [2, 3]
    with pytest.raises(ValueError, match="does not divide"):
        rank_slice([0, 1, 2], 0, 2)
    with pytest.raises(ValueError, match="no items"):
        EpochSampler([], seed=0)
