"""Per-token log-probabilities of completions under a policy, old policy or reference model.

For each row the model sees prompt + completion (images included) in one forward pass; only the hidden
states at the T positions that predict completion tokens go through the LM head (`logits_to_keep`), and
the log-softmax is taken as `logit[token] - logsumexp(logits)` in float32, so no full-vocabulary
log-probability tensor is kept for the prompt. Rows are processed in micro-batches to bound memory.

Gradients follow the caller's grad mode: call it plainly for the policy, under `torch.no_grad()` for the
old policy and the reference (`with policy.reference() as ref:` for LoRA runs). With grad, the graphs of
all micro-batches stay alive until `backward`, so micro-batching here bounds the logits peak, not the
activations: to bound those, call it once per micro-batch (`RolloutBatch.select`) and backward each
(gradient accumulation).

Shared prompt prefill (`prompt_groups`): the G rows of a GRPO group carry the same prompt, images included.
Given each row's group id, every micro-batch runs the prompt (vision tower included) once per distinct group
with a KV cache, copies that cache to the group's rows and runs only the completions on top of it, with the
3-D rope positions continuing where the prompt ended. The logits equal the plain path's up to float rounding
(tests/model/test_logprobs.py); gradients flow through the shared prompt into every row that used it. With 8
images of 224x224 (about 540 prompt tokens) and 32-token completions, a group of G = 8 rows runs about 800
tokens instead of 4,600.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from rarl.model.batch import PromptBatch
from rarl.model.prefill import (
    cache_dropped,
    cache_keyword,
    copy_rows,
    distinct_prompts,
    output_cache,
    prefill,
    prompt_positions,
)

__all__ = ["token_logprobs"]


def _forward_logits(model: nn.Module, prompts: PromptBatch, ids: Tensor, mask: Tensor) -> Tensor:
    """Logits predicting each completion token: [n, t, V] (model dtype)."""
    t = ids.shape[1]
    input_ids = torch.cat([prompts.input_ids, ids], dim=1)  # [n, P+t]
    attention_mask = torch.cat(
        [prompts.attention_mask, mask.to(prompts.attention_mask.dtype)], dim=1
    )  # [n, P+t]
    mm = torch.cat(
        [prompts.mm_token_type_ids, torch.zeros_like(ids, dtype=prompts.mm_token_type_ids.dtype)], 1
    )
    inputs: dict[str, Any] = {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "mm_token_type_ids": mm,
        "use_cache": False,
        "logits_to_keep": t + 1,  # positions P-1 .. P+t-1; the last one predicts past the completion
    }
    if prompts.pixel_values is not None:
        inputs["pixel_values"] = prompts.pixel_values
        inputs["image_grid_thw"] = prompts.image_grid_thw
    else:  # text-only rows: give explicit positions so left padding does not shift them
        inputs["position_ids"] = (attention_mask.cumsum(-1) - 1).clamp(min=0)  # [n, P+t]
    return model(**inputs).logits[:, :-1]  # [n, t, V]


def _shared_prompt_logits(
    model: nn.Module, prompts: PromptBatch, ids: Tensor, mask: Tensor, groups: Tensor
) -> Tensor:
    """`_forward_logits` with one prompt prefill per distinct group id: [n, t, V] (model dtype).

    prompts: n rows where rows with equal `groups` [n] hold the same prompt; ids, mask: [n, t].
    """
    t = ids.shape[1]
    heads, inv = distinct_prompts(prompts, groups)  # [u, P], [n]
    positions = prompt_positions(model, heads)  # [3, u, P]
    # a DDP wrapper prepares its reducer on every call: the prefill goes to the wrapped module, the
    # completion pass (whose graph reaches the prefill) through the wrapper
    inner = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
    out = prefill(inner, heads, positions)
    start = positions.amax(dim=(0, 2)) + 1  # [u] first completion position of each prompt
    pos = (start[inv].unsqueeze(-1) + torch.arange(t, device=ids.device)).unsqueeze(0).expand(3, -1, -1)
    attention_mask = torch.cat(
        [heads.attention_mask.index_select(0, inv), mask.to(heads.attention_mask.dtype)], dim=1
    )  # [n, P+t]
    rest = model(
        input_ids=ids,
        attention_mask=attention_mask,
        position_ids=pos,  # [3, n, t]
        use_cache=True,
        **{cache_keyword(inner): copy_rows(output_cache(out), inv)},  # each row gets its prompt's cache
        logits_to_keep=t,
    ).logits  # [n, t, V]: position j predicts token j+1
    return torch.cat([out.logits.index_select(0, inv), rest[:, :-1]], dim=1)  # [n, t, V]


def token_logprobs(
    model: nn.Module | Any,
    prompts: PromptBatch,
    completion_ids: Tensor,
    completion_mask: Tensor,
    micro_batch_size: int | None = None,
    temperature: float = 1.0,
    return_entropy: bool = False,
    prompt_groups: Tensor | None = None,
) -> Tensor | tuple[Tensor, Tensor]:
    """log p(completion token | prompt, images, previous completion tokens) for every completion position.

    Args:
        model: a Qwen2.5-VL model (plain or peft-wrapped) or a `Policy`.
        prompts: N prompt rows (e.g. `RolloutBatch.prompts`), any device: moved to the model's.
        completion_ids: [N, T] right-padded completion tokens.
        completion_mask: [N, T] 1 on real completion tokens (up to and including EOS).
        micro_batch_size: rows per forward pass (None: all N at once).
        temperature: logits are divided by it first (use the sampling temperature).
        return_entropy: also return the per-token entropy of that distribution.
        prompt_groups: [N] long, equal for rows with the same prompt (`RolloutBatch.group_index`): each
            distinct prompt of a micro-batch is prefilled once and shared (see the module docstring).
            None runs every row's prompt, and so does a model in training mode with gradient checkpointing
            (its layers drop the cache).

    Returns:
        logp [N, T] float32 (0 where the mask is 0), and entropy [N, T] float32 if asked.
    """
    model = getattr(model, "model", model) if not isinstance(model, nn.Module) else model
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    n_rows, width = completion_ids.shape
    if len(prompts) != n_rows or completion_mask.shape != completion_ids.shape:
        raise ValueError(f"{len(prompts)} prompt rows for completions of shape {tuple(completion_ids.shape)}")
    if prompt_groups is not None and prompt_groups.shape != (n_rows,):
        raise ValueError(f"prompt_groups must have shape [{n_rows}], got {tuple(prompt_groups.shape)}")
    if prompt_groups is not None and cache_dropped(model):
        prompt_groups = None  # checkpointed layers run without a cache: every row runs its own prompt
    device = next(model.parameters()).device
    step = micro_batch_size or max(n_rows, 1)
    ids_all = completion_ids.to(device)
    mask_all = completion_mask.to(device)
    pieces_lp: list[Tensor | None] = []
    pieces_ent: list[Tensor | None] = []
    for start in range(0, n_rows, step):
        rows = torch.arange(start, min(start + step, n_rows))
        mask = mask_all[start : start + len(rows)]
        t = int(mask.sum(-1).max()) if mask.numel() else 0  # columns after this are padding in every row
        if t == 0:
            pieces_lp.append(None)
            pieces_ent.append(None)
            continue
        ids = ids_all[start : start + len(rows), :t]  # [n, t]
        mask = mask[:, :t]
        chunk = prompts.select(rows) if step < n_rows else prompts
        if prompt_groups is None:
            logits = _forward_logits(model, chunk.to(device), ids, mask)  # [n, t, V]
        else:
            groups = prompt_groups[start : start + len(rows)]
            logits = _shared_prompt_logits(model, chunk.to(device), ids, mask, groups)
        logits = logits.float() / temperature
        lse = torch.logsumexp(logits, dim=-1)  # [n, t]
        logp = (logits.gather(-1, ids.unsqueeze(-1)).squeeze(-1) - lse) * mask  # [n, t]
        pieces_lp.append(logp)
        if return_entropy:
            probs = torch.softmax(logits, dim=-1)
            pieces_ent.append((lse - (probs * logits).sum(-1)) * mask)  # [n, t]
        del logits
    logp_out = _assemble(pieces_lp, step, n_rows, width, device)
    if not return_entropy:
        return logp_out
    return logp_out, _assemble(pieces_ent, step, n_rows, width, device)


def _assemble(
    pieces: list[Tensor | None], step: int, n_rows: int, width: int, device: torch.device
) -> Tensor:
    """Right-pad each micro-batch piece to `width` and stack the rows back: [N, T]."""
    rows = []
    for k, piece in enumerate(pieces):
        n = min(step, n_rows - k * step)
        if piece is None:
            rows.append(torch.zeros(n, width, dtype=torch.float32, device=device))
        else:
            rows.append(torch.nn.functional.pad(piece, (0, width - piece.shape[1])))
    return torch.cat(rows, dim=0) if rows else torch.zeros(0, width, dtype=torch.float32, device=device)
