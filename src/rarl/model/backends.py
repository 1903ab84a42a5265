"""Rollout backends: who samples the G completions per prompt.

`HFGenerateBackend` (the default, and the one the tests cover) calls `model.generate` of transformers on
the encoded `PromptBatch`, on whatever device the model sits. It works for plain and peft-wrapped models
and needs nothing beyond the training process itself.

`VLLMBackend` (`rollout.backend: vllm`, `rarl.model.vllm_backend`, the `vllm` extra) samples with a
colocated vLLM engine into which the policy's weights are pushed after every optimizer step. Any backend
must return the completion token ids together with the *same* `prompts` rows (`prompts.repeat_interleave(G)`),
because the log-prob passes run on those tensors, and must never sample `policy.special.suppressed_ids`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn
from transformers import GenerationConfig

from rarl.model.batch import PromptBatch, RolloutBatch, completion_mask_from_ids, pad_right
from rarl.model.loading import Policy, unwrap_model
from rarl.model.prefill import (
    cache_keyword,
    copy_rows,
    distinct_prompts,
    output_cache,
    prefill,
    prompt_positions,
)
from rarl.utils.registry import Registry

__all__ = [
    "HFGenerateBackend",
    "build_rollout_batch",
    "RolloutBackend",
    "SamplingSettings",
    "available_backends",
    "get_backend",
    "register_backend",
]


@dataclass(frozen=True)
class SamplingSettings:
    """How completions are sampled."""

    num_generations: int = 8  # G completions per prompt
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    do_sample: bool = True  # False: greedy (G identical completions)
    seed: int | None = None  # None: use (and advance) the global torch RNG

    def __post_init__(self) -> None:
        if self.num_generations < 1:
            raise ValueError(f"num_generations must be >= 1, got {self.num_generations}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.do_sample and self.temperature <= 0:
            raise ValueError(f"temperature must be > 0 when sampling, got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")


@runtime_checkable
class RolloutBackend(Protocol):
    """Samples `settings.num_generations` completions for each prompt row."""

    def generate(
        self,
        policy: Policy,
        prompts: PromptBatch,
        settings: SamplingSettings,
        conversations: Sequence[list[dict]] | None = None,
    ) -> RolloutBatch:
        """prompts: B encoded prompts; conversations: the same B prompts as chat messages (optional)."""
        ...


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


@contextmanager
def _plain_generation_config(model: nn.Module, special: Any) -> Iterator[None]:
    """Hide the checkpoint's generation defaults during rollouts.

    Released Instruct folders ship `top_k=1, top_p=0.001, repetition_penalty=1.05`; `generate` fills every
    unset field of the config we pass from the model's, which would silently turn GRPO sampling greedy.
    """
    base = unwrap_model(model)
    saved = base.generation_config
    base.generation_config = GenerationConfig(
        bos_token_id=saved.bos_token_id, eos_token_id=special.eos_id, pad_token_id=special.pad_id
    )
    try:
        yield
    finally:
        base.generation_config = saved


@contextmanager
def _seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """Seed torch inside a forked RNG state, so a seeded rollout leaves the global RNG untouched."""
    if seed is None:
        yield
        return
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


class HFGenerateBackend:
    """Sampling with transformers' `generate` (KV cache, left-padded batches).

    batch_size: rows (prompt x generation) per `generate` call; None puts all B*G rows in one call.
    share_prefill: run each distinct prompt of a call once (all but its last token, with a KV cache), copy
        the cache to its G rows and let `generate` continue from it (`rarl.model.prefill`); False lets
        `generate` prefill every row. The same completions for the same seed either way, up to float
        rounding of the logits.
    """

    name = "hf"

    def __init__(self, batch_size: int | None = None, share_prefill: bool = True) -> None:
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.share_prefill = share_prefill

    def generation_config(self, policy: Policy, settings: SamplingSettings) -> GenerationConfig:
        special = policy.special
        sampling = (
            {"do_sample": True, "temperature": settings.temperature, "top_p": settings.top_p}
            if settings.do_sample
            else {"do_sample": False}
        )
        return GenerationConfig(
            **sampling,
            top_k=0,  # 0 disables top-k (the global default would be 50)
            repetition_penalty=1.0,
            num_beams=1,
            num_return_sequences=1,
            max_new_tokens=settings.max_new_tokens,
            eos_token_id=special.eos_id,
            pad_token_id=special.pad_id,
            suppress_tokens=list(special.suppressed_ids),
            use_cache=True,
        )

    def generate(
        self,
        policy: Policy,
        prompts: PromptBatch,
        settings: SamplingSettings,
        conversations: Sequence[list[dict]] | None = None,
    ) -> RolloutBatch:
        model = policy.model
        device = policy.device
        g = settings.num_generations
        rows = prompts.to(device).repeat_interleave(g)  # [B*G, P]
        gen_config = self.generation_config(policy, settings)
        step = self.batch_size or len(rows)
        pieces: list[torch.Tensor] = []
        with (
            _eval_mode(model),
            _plain_generation_config(model, policy.special),
            _seeded(settings.seed, device),
            torch.no_grad(),
        ):
            groups = torch.arange(len(prompts)).repeat_interleave(g)  # [B*G] prompt of each row
            for start in range(0, len(rows), step):
                chunk = rows.select(range(start, min(start + step, len(rows))))
                if self.share_prefill and chunk.prompt_length > 1:
                    out = _generate_from_shared_prefill(
                        model, chunk, groups[start : start + step], gen_config
                    )
                else:
                    out = model.generate(**chunk.model_inputs(), generation_config=gen_config)
                pieces.extend(out[:, chunk.prompt_length :].cpu())  # [n, T_chunk] each row
        ids = pad_right(pieces, policy.special.pad_id)  # [B*G, T]
        return build_rollout_batch(policy, rows, ids, g)


def _generate_from_shared_prefill(
    model: nn.Module, rows: PromptBatch, groups: torch.Tensor, gen_config: GenerationConfig
) -> torch.Tensor:
    """`model.generate` on `rows` [n, P] whose prompts repeat (equal `groups` [n]), each prompt prefilled once.

    The distinct prompts run over their first P-1 columns with a KV cache (every image placeholder lies there:
    a prompt ends with the assistant header's text); the cache is copied to the rows, and `generate`
    continues from it with the rows' 3-D rope positions passed in, so its first step runs the last prompt
    token only. The images are in the cache, so no pixels go to `generate`. Returns [n, P + T] like
    `generate`.
    """
    heads, inv = distinct_prompts(rows, groups)  # [u, P], [n]
    positions = prompt_positions(model, heads)  # [3, u, P]
    cache = output_cache(prefill(model, heads, positions, upto=heads.prompt_length - 1))
    return model.generate(
        input_ids=heads.input_ids.index_select(0, inv),
        attention_mask=heads.attention_mask.index_select(0, inv),
        position_ids=positions.index_select(1, inv),  # [3, n, P]; generate extends it by one per step
        generation_config=gen_config,
        **{cache_keyword(model): copy_rows(cache, inv)},
    )


def build_rollout_batch(
    policy: Policy, prompts: PromptBatch, ids: torch.Tensor, num_generations: int
) -> RolloutBatch:
    """Raw sampled ids [N, T] (anything after the first EOS is ignored) -> RolloutBatch on prompts' device."""
    special = policy.special
    mask, finished = completion_mask_from_ids(ids, special.eos_id)  # [N, T], [N]
    lengths = mask.sum(-1)  # [N]
    width = int(lengths.max()) if len(lengths) else 0
    ids = ids[:, :width].masked_fill(mask[:, :width] == 0, special.pad_id)
    mask = mask[:, :width]
    if policy.tokenizer is not None:
        texts = policy.tokenizer.batch_decode(
            [row[:n].tolist() for row, n in zip(ids, lengths.tolist())], skip_special_tokens=True
        )
    else:  # random-weight benchmarks run without a tokenizer
        texts = [""] * len(ids)
    device = prompts.device
    n_rows = len(prompts)
    return RolloutBatch(
        prompts=prompts,
        completion_ids=ids.to(device),
        completion_mask=mask.to(device),
        texts=texts,
        lengths=lengths.to(device),
        finished=finished.to(device),
        truncated=(~finished).to(device),
        group_index=torch.arange(n_rows // num_generations, device=device).repeat_interleave(num_generations),
        num_generations=num_generations,
    )


BACKENDS = Registry("rollout backend", {"hf": HFGenerateBackend})
"""Rollout backend factories by name; `rollout.backend` may also name a plug-in `file.py:Factory`. `vllm` is
registered by `rarl.model.vllm_backend` (imported by the `rarl.model` package; vLLM itself is imported only
when an engine is built)."""


def register_backend(name: str, factory: Callable[..., RolloutBackend]) -> None:
    """Make `get_backend(name, **kwargs)` build backends with `factory(**kwargs)`."""
    if name in BACKENDS:
        raise ValueError(f"rollout backend {name!r} is already registered")
    BACKENDS.add(name, factory)


def available_backends() -> list[str]:
    return BACKENDS.names()


def get_backend(name: str = "hf", **kwargs: Any) -> RolloutBackend:
    """A rollout backend by name ("hf", "vllm", any registered one, or a plug-in `file.py:Factory`)."""
    return BACKENDS.resolve(name)(**kwargs)
