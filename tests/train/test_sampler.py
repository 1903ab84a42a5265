from types import SimpleNamespace

import pytest

from rarl.train.errors import TrainingAborted
from rarl.train.sampler import EpochSampler, StratifiedSampler, rank_slice, size_strata
from rarl.utils.config import ConfigError


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


def test_stratified_batches_hold_equal_shares_interleaved_and_cover_each_stratum():
    strata = [[f"a{i}" for i in range(3)], [f"b{i}" for i in range(5)]]
    s = StratifiedSampler(strata, seed=0)
    batches = [s.next_batch(4) for _ in range(3)]
    for batch in batches:
        assert [item[0] for item in batch] == ["a", "b", "a", "b"]  # interleaved: a rank slice holds both
    drawn_a = [x for batch in batches for x in batch if x[0] == "a"]
    assert sorted(drawn_a[:3]) == ["a0", "a1", "a2"]  # each stratum is its own epoch sampler
    with pytest.raises(ValueError, match="does not divide into 2 equal strata"):
        s.next_batch(3)


def test_stratified_resume_replays_the_same_stream_and_refuses_another_layout():
    strata = [list(range(4)), list(range(10, 17))]
    a = StratifiedSampler(strata, seed=5)
    a.next_batch(6)
    state = a.state_dict()
    rest = [a.next_batch(4) for _ in range(3)]
    b = StratifiedSampler(strata, seed=5)
    b.load_state_dict(state)
    assert [b.next_batch(4) for _ in range(3)] == rest
    with pytest.raises(ValueError, match="holds 2 strata, this run has 3"):
        StratifiedSampler([*strata, [99]], seed=5).load_state_dict(state)
    with pytest.raises(ValueError, match="holds no strata"):
        StratifiedSampler(strata, seed=5).load_state_dict({"epoch": 0, "cursor": 2})


def test_size_strata_reads_each_size_and_names_an_indivisible_batch_and_a_missing_size():
    pools = {1: ["x1"], 2: ["x2", "y2"], 4: []}
    recipe = SimpleNamespace(load_samples=lambda manifest, split, sizes: pools[sizes[0]])

    def strata(batch: int, stage_sizes: list[int] | None):
        cfg = SimpleNamespace(prompts_per_step=batch, data=SimpleNamespace(sizes=[1, 2], train_split="train"))
        return size_strata(recipe, "M", cfg, SimpleNamespace(name="s1", sizes=stage_sizes))

    assert strata(4, None) == [["x1"], ["x2", "y2"]]
    assert strata(2, [2, 1, 2]) == [["x1"], ["x2", "y2"]]
    with pytest.raises(
        ConfigError, match=r"prompts_per_step \(4\) must divide by the number of sizes of stage 's1'"
    ):
        strata(4, [1, 2, 4])
    with pytest.raises(TrainingAborted, match=r"stage 's1' \(M\) has no training sample of size 4"):
        strata(6, [1, 2, 4])
