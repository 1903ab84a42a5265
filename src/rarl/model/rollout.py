"""Rollouts: encode prompts (chat messages + images), sample G completions each, encode target texts.

Inputs are either chat messages or sample objects:

* a conversation is a list of HF chat messages whose user turn holds the images as parts
  `{"type": "image", "image": <PIL image | path>}` between text parts, e.g.
  `[{"role": "system", "content": [{"type": "text", "text": SYS}]},
    {"role": "user", "content": [{"type": "text", "text": "Image 1:"}, {"type": "image", "image": img}, ...,
                                 {"type": "text", "text": INSTRUCT}]}]`;
* any other object (a recipe's sample) is turned into messages by `messages_fn` (the recipe's prompt,
  e.g. `lambda s: recipe.messages(s, mode)`); image parts without a PIL image or readable path are filled,
  in order, from the object's `load_images()`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor

from rarl.data.images import load_rgb
from rarl.model.backends import RolloutBackend, SamplingSettings, get_backend
from rarl.model.batch import PromptBatch, RolloutBatch, pad_right
from rarl.model.loading import Policy
from rarl.model.processor import prompt_text

__all__ = ["encode_completions", "encode_prompts", "generate", "prompt_text", "to_conversation"]

Conversation = list[dict[str, Any]]
MessagesFn = Callable[[Any], Conversation]


def _is_image_part(part: Any) -> bool:
    return isinstance(part, dict) and (part.get("type") == "image" or "image" in part or "image_url" in part)


def to_conversation(
    item: Any, messages_fn: MessagesFn | None = None
) -> tuple[Conversation, list[Image.Image]]:
    """A conversation (or sample object) -> (messages, its RGB images in prompt order)."""
    if isinstance(item, list):
        messages = item
    elif messages_fn is None:
        raise ValueError(
            f"{type(item).__name__} is not a chat conversation; pass messages_fn (the recipe's prompt builder)"
        )
    else:
        messages = messages_fn(item)
    parts = [
        p for m in messages if isinstance(m.get("content"), list) for p in m["content"] if _is_image_part(p)
    ]
    fallback: list[Image.Image] | None = None  # item.load_images(), read only if a part needs it
    images: list[Image.Image] = []
    for k, part in enumerate(parts):
        value = part.get("image", part.get("image_url"))
        if isinstance(value, Image.Image):
            image = value
        elif isinstance(value, (str, Path)) and Path(value).is_file():
            image = load_rgb(value)
        elif hasattr(item, "load_images"):
            if fallback is None:
                fallback = list(item.load_images())
                if len(fallback) != len(parts):
                    raise ValueError(
                        f"{len(parts)} image parts but load_images() returned {len(fallback)} images"
                    )
            image = fallback[k]
        else:
            raise ValueError(
                f"image part {k + 1} holds no PIL image or readable path, and there is no load_images()"
            )
        images.append(image if image.mode == "RGB" else image.convert("RGB"))
    return messages, images


def encode_prompts(
    policy: Policy, conversations: Sequence[Any], messages_fn: MessagesFn | None = None
) -> PromptBatch:
    """Chat-template, tokenize and preprocess prompts into one left-padded `PromptBatch` (on CPU).

    conversations: B conversations or sample objects (see module docstring); rows may hold different
    numbers of images (0 included).
    """
    return _encode(policy, [to_conversation(item, messages_fn) for item in conversations])


def _encode(policy: Policy, resolved: Sequence[tuple[Conversation, list[Image.Image]]]) -> PromptBatch:
    if policy.processor is None:
        raise ValueError("this policy has no processor; encode_prompts needs one")
    if len(resolved) == 0:
        raise ValueError("no prompts to encode")
    processor = policy.processor
    texts = [prompt_text(policy, m) for m, _ in resolved]
    images = [image for _, row_images in resolved for image in row_images]
    enc = processor(text=texts, images=images or None, padding=True, padding_side="left", return_tensors="pt")
    input_ids = enc["input_ids"]  # [B, P]
    mm = enc.get("mm_token_type_ids")
    if mm is None:  # processors that do not return it: derive it from the placeholder token
        mm = (input_ids == policy.special.image_id).int()
    return PromptBatch(
        input_ids=input_ids,
        attention_mask=enc["attention_mask"].long(),
        mm_token_type_ids=mm.int(),
        pixel_values=enc.get("pixel_values") if images else None,
        image_grid_thw=enc.get("image_grid_thw") if images else None,
        images_per_row=torch.tensor([len(row_images) for _, row_images in resolved], dtype=torch.long),
    )


def encode_completions(policy: Policy, texts: Sequence[str]) -> tuple[Tensor, Tensor]:
    """Tokenize assistant replies as completions: text tokens + EOS (`<|im_end|>`), right-padded.

    Used to inject ground-truth answers (RMO) and as SFT targets. Returns (ids [N, T] long,
    mask [N, T] long) on CPU; T is the longest reply + 1.
    """
    if policy.tokenizer is None:
        raise ValueError("this policy has no tokenizer; encode_completions needs one")
    special = policy.special
    rows = []
    for text in texts:
        ids = policy.tokenizer(text, add_special_tokens=False)["input_ids"]
        bad = sorted(set(ids) & set(special.suppressed_ids))
        if bad:
            raise ValueError(f"completion text contains reserved special tokens {bad}: {text[:60]!r}")
        rows.append(torch.tensor([*ids, special.eos_id], dtype=torch.long))
    ids = pad_right(rows, special.pad_id)  # [N, T]
    mask = pad_right([torch.ones_like(r) for r in rows], 0, width=ids.shape[1])  # [N, T]
    return ids, mask


def generate(
    policy: Policy,
    conversations: Sequence[Any],
    num_generations: int = 8,
    temperature: float = 1.0,
    top_p: float = 1.0,
    max_new_tokens: int = 256,
    seed: int | None = None,
    do_sample: bool = True,
    *,
    backend: str | RolloutBackend = "hf",
    messages_fn: MessagesFn | None = None,
) -> RolloutBatch:
    """Sample `num_generations` completions for each of the B prompts -> RolloutBatch with B*G rows.

    Rows b*G .. b*G+G-1 belong to prompt b (`group_index`). Same seed, same inputs -> same completions;
    a seeded call leaves the global torch RNG as it was.
    """
    settings = SamplingSettings(
        num_generations=num_generations,
        temperature=temperature,
        top_p=top_p,
        max_new_tokens=max_new_tokens,
        do_sample=do_sample,
        seed=seed,
    )
    resolved = [to_conversation(item, messages_fn) for item in conversations]
    prompts = _encode(policy, resolved)
    runner = get_backend(backend) if isinstance(backend, str) else backend
    return runner.generate(
        policy, prompts, settings, conversations=[_with_images(m, im) for m, im in resolved]
    )


def _with_images(messages: Conversation, images: list[Image.Image]) -> Conversation:
    """The messages with every image part holding its resolved PIL image (so a backend needs nothing else)."""
    queue = iter(images)
    out = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = [{"type": "image", "image": next(queue)} if _is_image_part(p) else p for p in content]
        out.append({**message, "content": content})
    return out
