"""GRPO's update phase: the configured policy loss (+ KL) over a step's kept rows, through the shared loop.

    loss_fn = policy_loss_fn(cfg.algorithm)       # at trainer start: a bad plug-in fails before any model loads
    metrics, skipped = policy_update(batch, cfg, model=..., optimizer=..., accelerator=..., guard=...)

The loss is `algorithm.loss` (`rarl.algorithms.LOSSES`: grpo, dapo, dr_grpo, gspo, cispo, or a plug-in
`file.py:function`; empty means grpo or dapo by `algorithm.aggregation`), called with the keywords every loss
takes (`rarl.algorithms.losses`) plus `algorithm.loss_kwargs`; `max_completion_length` is
`rollout.max_new_tokens` unless `loss_kwargs` sets it. The update never branches on the name.

`algorithm.num_iterations` passes over the batch, each one optimizer step over micro-batches of
`micro_batch_size` rows (`rarl.train.update.accumulate_and_step`). The loss normalisers (sequences and
tokens entering the update) are those of the global batch, so under data parallelism an update equals the
one-process update on the same global batch. A step whose groups were all filtered (DAPO) still runs one
zero-weight pass, so every process joins the same collective operations.
"""

from __future__ import annotations

from typing import Any

import torch

from rarl import algorithms as algo
from rarl.model.logprobs import token_logprobs
from rarl.train.common import NonFiniteGuard
from rarl.train.config import AlgorithmConfig, TrainConfig
from rarl.train.step_batch import StepBatch
from rarl.train.update import accumulate_and_step, global_counts
from rarl.utils.config import ConfigError

__all__ = ["policy_loss_fn", "policy_update"]


def policy_loss_fn(algorithm: AlgorithmConfig) -> algo.LossFn:
    """The loss `algorithm.loss` names, checked against `algorithm.loss_kwargs`; ConfigError naming the key."""
    name = algorithm.loss_name
    try:
        fn = algo.resolve_loss(name)
    except (ConfigError, TypeError) as e:
        raise ConfigError(f"algorithm.loss: {e}") from None
    problem = algo.loss_call_problem(fn, {})
    if problem:
        raise ConfigError(f"algorithm.loss: {name} cannot take the keywords every loss gets: {problem}")
    problem = algo.loss_call_problem(fn, algorithm.loss_kwargs)
    if problem:
        raise ConfigError(f"algorithm.loss_kwargs of {name}: {problem}")
    return fn


def policy_update(
    batch: StepBatch,
    cfg: TrainConfig,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    accelerator: Any,
    guard: NonFiniteGuard,
) -> tuple[dict[str, float], int]:
    """Update `model` on `batch` -> (this process's loss metrics, optimizer steps the guard skipped)."""
    a = cfg.algorithm
    loss_fn = policy_loss_fn(a)
    loss_kwargs = {"max_completion_length": cfg.rollout.max_new_tokens, **a.loss_kwargs}
    ro = batch.rollout
    device = accelerator.device
    rows = batch.keep.nonzero().flatten().tolist()
    weight = 1.0
    if not rows:  # every group filtered: one zero-weight pass keeps processes in step
        rows, weight = [0], 0.0
    mb = cfg.micro_batch_size
    chunks = [rows[i : i + mb] for i in range(0, len(rows), mb)]
    n_seq_local = len(rows)
    n_tok_local = int(ro.completion_mask[rows].sum())
    n_seq, n_tok = global_counts(accelerator, n_seq_local if weight else 0, n_tok_local if weight else 0)
    world = accelerator.num_processes
    sums: dict[str, float] = {}
    model.train()
    temp = cfg.rollout.temperature
    share = cfg.model.share_prompt_prefill
    entropy_sum = 0.0

    def chunk_loss(chunk: list[int]) -> torch.Tensor:
        nonlocal entropy_sum
        idx = torch.tensor(chunk, dtype=torch.long)
        mask = ro.completion_mask[idx].to(device)  # [m, T]
        logp, entropy = token_logprobs(
            model,
            ro.prompts.select(chunk).to(device),
            ro.completion_ids[idx].to(device),  # [m, T]
            mask,
            temperature=temp,
            return_entropy=True,
            prompt_groups=ro.group_index[idx] if share else None,
        )  # [m, T] each
        entropy_sum += float((entropy.detach() * mask).sum())
        old = batch.old_logp[idx].to(device) if batch.old_logp is not None else logp.detach()
        ref = batch.ref_logp[idx].to(device) if batch.ref_logp is not None else None
        loss, m = loss_fn(
            logp,
            old,
            batch.advantages[idx].to(device),
            mask,
            ref,
            clip_eps=a.clip_eps,
            clip_eps_high=a.clip_eps_high,
            beta=a.beta if ref is not None else 0.0,
            num_sequences_total=max(n_seq, 1),
            num_tokens_total=max(n_tok, 1),
            **loss_kwargs,
        )
        for k, v in m.items():  # shares add up over micro-batches, means are weighted by rows
            w = world if k in algo.SHARE_METRICS else len(chunk) / n_seq_local
            sums[k] = sums.get(k, 0.0) + float(v) * w / a.num_iterations  # mean over iterations
        return loss

    skipped = 0
    for _ in range(a.num_iterations):
        outcome = accumulate_and_step(
            chunks,
            chunk_loss,
            model=model,
            optimizer=optimizer,
            accelerator=accelerator,
            guard=guard,
            max_grad_norm=cfg.optim.max_grad_norm,
            loss_scale=weight * world,
        )
        skipped += not outcome.stepped
    sums["loss"] = outcome.loss * world  # the last iteration's global-batch loss (after the mean over ranks)
    sums["entropy"] = entropy_sum / max(n_tok_local, 1) / a.num_iterations
    sums["grad_norm"] = outcome.grad_norm
    return sums, skipped
