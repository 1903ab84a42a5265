"""Teacher-forced scoring of given texts under the current policy, for rewards that need probabilities.

    scored = scorer.score(samples, texts, mode="no_think")     # one forward pass per micro-batch, no grad
    scored.logprobs      # [R, T] log p(token_t | prompt, images, tokens_<t), 0 at padding
    scored.token_ids     # [R, T] the tokens of each text followed by EOS, right-padded
    scored.offsets       # [R] list of (start, end) character spans of each token in its text
    scored.probs         # [R, T] exp(logprobs) (0 at padding)

The prompt of row r is the recipe's prompt for `samples[r]` in `mode`; the completion is `texts[r]` tokenized
as an assistant reply (the same tokenization as RMO injections and SFT targets). Log-probabilities are at
temperature 1 (the policy's own distribution), in evaluation mode, without gradients. `offsets` let a
reward find the tokens that spell a given part of the text (e.g. the digits of a score).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from rarl.model.loading import Policy
from rarl.model.logprobs import token_logprobs
from rarl.model.rollout import encode_completions, encode_prompts

MessagesFn = Callable[[Any, "str | None"], list[dict[str, Any]]]


@dataclass
class ScoredTexts:
    """Teacher-forced scores of R texts."""

    token_ids: Tensor  # [R, T] long
    mask: Tensor  # [R, T] long, 1 on the text's tokens and the final EOS
    logprobs: Tensor  # [R, T] float32
    offsets: list[list[tuple[int, int]]]  # [R][n_r] character span of each text token (EOS excluded)

    @property
    def probs(self) -> Tensor:
        """[R, T] token probabilities (0 at padding)."""
        return self.logprobs.exp() * self.mask


class PolicyScorer:
    """Scores texts under `model` (the live, possibly wrapped, training module) with `policy`'s processor."""

    def __init__(
        self,
        policy: Policy,
        messages_fn: MessagesFn,
        model: nn.Module | None = None,
        micro_batch_size: int | None = None,
    ) -> None:
        self.policy = policy
        self.messages_fn = messages_fn
        self.model = model if model is not None else policy.model
        self.micro_batch_size = micro_batch_size

    @torch.no_grad()
    def score(self, samples: Sequence[Any], texts: Sequence[str], mode: str | None = None) -> ScoredTexts:
        """Teacher-forced log-probs of `texts[r]` as the answer to `samples[r]` (prompt built in `mode`)."""
        if len(samples) != len(texts):
            raise ValueError(f"{len(samples)} samples but {len(texts)} texts")
        if not texts:
            empty = torch.zeros(0, 0, dtype=torch.long)
            return ScoredTexts(empty, empty, empty.float(), [])
        prompts = encode_prompts(self.policy, [self.messages_fn(s, mode) for s in samples])
        ids, mask = encode_completions(self.policy, texts)  # [R, T] each
        was_training = self.model.training
        self.model.eval()
        try:
            logp = token_logprobs(self.model, prompts, ids, mask, micro_batch_size=self.micro_batch_size)
        finally:
            self.model.train(was_training)
        return ScoredTexts(ids, mask, logp.float().cpu(), [self._offsets(t) for t in texts])

    def _offsets(self, text: str) -> list[tuple[int, int]]:
        enc = self.policy.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return [tuple(span) for span in enc["offset_mapping"]]
