"""Qwen2.5-VL special tokens: names, ids, and which ones a rollout must never emit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["QWEN_SPECIAL_TOKENS", "SpecialTokens"]

# Name -> id in the released Qwen2.5-VL tokenizer (151643 onwards). The tiny tokenizer uses the same names.
QWEN_SPECIAL_TOKENS: dict[str, int] = {
    "<|endoftext|>": 151643,
    "<|im_start|>": 151644,
    "<|im_end|>": 151645,
    "<|vision_start|>": 151652,
    "<|vision_end|>": 151653,
    "<|vision_pad|>": 151654,
    "<|image_pad|>": 151655,
    "<|video_pad|>": 151656,
}

# Tokens that must never appear in a completion. A completion holding `<|image_pad|>` or `<|video_pad|>`
# makes the next forward pass fail (more placeholder tokens than image features); the vision delimiters and
# `<|im_start|>` would corrupt the chat structure; `<|endoftext|>` is only ever padding.
NEVER_GENERATE = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)


@dataclass(frozen=True)
class SpecialTokens:
    """Ids of the special tokens the rollout and log-prob code needs (never hard-coded elsewhere)."""

    eos_id: int  # <|im_end|>: ends an assistant turn
    pad_id: int  # <|endoftext|>: right-padding of completions, left-padding of prompts
    image_id: int  # <|image_pad|>
    video_id: int  # <|video_pad|>
    vision_start_id: int
    vision_end_id: int
    suppressed_ids: tuple[int, ...]  # never sampled (NEVER_GENERATE plus unused embedding rows)

    @classmethod
    def from_tokenizer(cls, tokenizer: Any, vocab_size: int | None = None) -> SpecialTokens:
        """Read the ids from a tokenizer; rows of a larger embedding (`vocab_size`) are suppressed too."""
        ids = {}
        for name in QWEN_SPECIAL_TOKENS:
            tid = tokenizer.convert_tokens_to_ids(name)
            if tid is None or tid == tokenizer.unk_token_id:
                raise ValueError(f"tokenizer has no {name} token; is this a Qwen2.5-VL tokenizer?")
            ids[name] = int(tid)
        return cls._build(ids, len(tokenizer), vocab_size)

    @classmethod
    def from_config(cls, config: Any) -> SpecialTokens:
        """Qwen's released ids, with the vision ids taken from a `Qwen2_5_VLConfig` (no tokenizer needed)."""
        ids = dict(QWEN_SPECIAL_TOKENS)
        ids["<|image_pad|>"] = int(config.image_token_id)
        ids["<|video_pad|>"] = int(config.video_token_id)
        ids["<|vision_start|>"] = int(config.vision_start_token_id)
        ids["<|vision_end|>"] = int(config.vision_end_token_id)
        vocab = int(config.text_config.vocab_size)
        return cls._build(ids, min(vocab, 151665), vocab)  # 151665 = released tokenizer length

    @classmethod
    def _build(cls, ids: dict[str, int], tokenizer_len: int, vocab_size: int | None) -> SpecialTokens:
        suppressed = {ids[name] for name in NEVER_GENERATE}
        if vocab_size is not None and vocab_size > tokenizer_len:
            suppressed.update(range(tokenizer_len, vocab_size))  # embedding rows with no token behind them
        return cls(
            eos_id=ids["<|im_end|>"],
            pad_id=ids["<|endoftext|>"],
            image_id=ids["<|image_pad|>"],
            video_id=ids["<|video_pad|>"],
            vision_start_id=ids["<|vision_start|>"],
            vision_end_id=ids["<|vision_end|>"],
            suppressed_ids=tuple(sorted(suppressed)),
        )
