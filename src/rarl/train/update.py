"""The one accumulate-and-step loop the GRPO and SFT trainers share, and its cross-process reductions.

    counts = global_counts(accelerator, n_seq_local, n_tok_local)        # summed over processes
    outcome = accumulate_and_step(micro_batches, loss_fn, model=..., optimizer=..., accelerator=...,
                                  guard=..., max_grad_norm=..., loss_scale=accelerator.num_processes)

A step accumulates the gradients of every micro-batch (`loss_fn(chunk)` returns that chunk's share of the
loss), synchronises them once (DDP's all-reduce is skipped on all but the last micro-batch), clips, and takes
one optimizer step unless the non-finite guard refuses it.

Normalisers are global. Each trainer divides its summed loss terms by counts of the whole global batch
(`global_counts`, all-reduced), and the loop multiplies each rank's loss by `loss_scale` (the world size)
because DDP's gradient all-reduce averages over ranks. So the gradient is that of the one-process loss on
the same global batch, whatever each rank's share of sequences and tokens; the two-process tests of both
trainers check this (tests/train/test_distributed.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from accelerate.utils import gather_object

from rarl.train.common import NonFiniteGuard

Chunk = TypeVar("Chunk")

__all__ = ["StepOutcome", "accumulate_and_step", "global_counts", "mean_over_processes"]


@dataclass(frozen=True)
class StepOutcome:
    loss: float
    """Sum of the micro-batches' losses on this process (before `loss_scale`)."""
    grad_norm: float
    """Gradient norm before clipping (NaN or inf when the guard refused the step)."""
    stepped: bool
    """Whether the optimizer stepped (False: the guard skipped a non-finite loss or gradient)."""


def accumulate_and_step(
    micro_batches: Sequence[Chunk],
    loss_fn: Callable[[Chunk], torch.Tensor],
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    accelerator: Any,
    guard: NonFiniteGuard,
    max_grad_norm: float,
    loss_scale: float = 1.0,
) -> StepOutcome:
    """Backward every micro-batch's `loss_fn(chunk) * loss_scale`, then clip and take one optimizer step."""
    optimizer.zero_grad(set_to_none=True)
    loss_total = 0.0
    last = len(micro_batches) - 1
    for i, chunk in enumerate(micro_batches):
        sync = accelerator.no_sync(model) if i < last else contextlib.nullcontext()
        with sync:
            loss = loss_fn(chunk)
            accelerator.backward(loss * loss_scale)
        loss_total += float(loss.detach())
    grad_norm = float(accelerator.clip_grad_norm_(model.parameters(), max_grad_norm))
    stepped = guard.check(loss_total, grad_norm)
    if stepped:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return StepOutcome(loss=loss_total, grad_norm=grad_norm, stepped=stepped)


def global_counts(accelerator: Any, *counts: int) -> tuple[int, ...]:
    """`counts` summed over processes (as is with one process)."""
    if accelerator.num_processes == 1:
        return tuple(counts)
    t = torch.tensor(counts, dtype=torch.long, device=accelerator.device)
    t = accelerator.reduce(t, reduction="sum")
    return tuple(int(v) for v in t.tolist())


def mean_over_processes(accelerator: Any, values: dict[str, float]) -> dict[str, float]:
    """Each value averaged over the processes that have it (as is with one process).

    Processes may hold different keys (`reward/injected_mean` exists only where RMO fired this step), so
    the key sets are gathered first and every process reduces the same [K, 2] tensor of (value, present):
    a collective over tensors of different sizes would hang or fail.
    """
    if accelerator.num_processes == 1:
        return dict(values)
    keys = sorted(set().union(*gather_object([sorted(values)])))
    rows = [[values.get(k, 0.0), float(k in values)] for k in keys]
    t = torch.tensor(rows, dtype=torch.float64, device=accelerator.device)  # [K, 2]
    t = accelerator.reduce(t, reduction="sum")  # [K, 2] value sums, processes that have the key
    return {k: total / count for k, (total, count) in zip(keys, t.tolist())}
