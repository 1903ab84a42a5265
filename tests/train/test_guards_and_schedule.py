import math

import pytest
import torch

from rarl.train.common import NonFiniteGuard, make_scheduler, step_seed
from rarl.train.config import GuardConfig, OptimConfig
from rarl.train.errors import TrainingAborted


def test_guard_counts_and_aborts_after_the_limit():
    guard = NonFiniteGuard(GuardConfig(max_consecutive_nonfinite=3))
    assert guard.check(1.0, 0.5)
    assert not guard.check(float("nan"), 0.5)
    assert not guard.check(1.0, float("inf"))
    assert guard.check(0.2, 0.1)  # a finite step resets the streak
    assert guard.in_a_row == 0 and guard.total == 2
    assert not guard.check(float("nan"), 1.0)
    assert not guard.check(float("nan"), 1.0)
    with pytest.raises(TrainingAborted, match="3 optimizer steps in a row"):
        guard.check(float("nan"), 1.0)


def _lrs(cfg: OptimConfig, total: int, stages=()) -> list[float]:
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    sched = make_scheduler(opt, cfg, total, stages)
    out = []
    for _ in range(total):
        out.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    return out


def test_schedule_warmup_cosine_and_stage_multiplier():
    lrs = _lrs(OptimConfig(lr=1.0, warmup_steps=2, scheduler="cosine"), 6)
    assert lrs[:2] == [0.5, 1.0]
    assert lrs[2] == pytest.approx(1.0)
    assert lrs[-1] == pytest.approx(0.5 * (1 + math.cos(math.pi * 3 / 4)))
    staged = _lrs(OptimConfig(lr=1.0), 4, stages=[(0, 1.0), (2, 0.1)])
    assert staged == pytest.approx([1.0, 1.0, 0.1, 0.1])


def test_step_seed_depends_on_step_and_rank_only():
    assert step_seed(0, 5, 0) == step_seed(0, 5, 0)
    assert len({step_seed(0, s, r) for s in range(50) for r in range(4)}) == 200
