"""The released Qwen2.5-VL 3B / 7B architectures as configs, and random-weight instances of them.

Values are those of the public `config.json` files of Qwen2.5-VL-3B-Instruct and -7B-Instruct. Where the
technical report's Table 1 differs (it lists an LLM intermediate size of 4864 for 3B, a ViT MLP width of
3456 and a vocabulary of 151646), the config files win, since they are what the checkpoints load with
(3B: 11008, ViT 3420, vocabulary 151936; 7B: vocabulary 152064).

`build_random_full_size(name, device="meta")` builds the model without allocating memory (parameter counts,
memory planning); on a GPU it gives random bf16 weights for speed and memory measurements.

`write_random_full_size(name, out_dir)` writes a complete model folder of that architecture, loadable by
`load_policy`, `rarl train` and vLLM like a downloaded one, with nothing downloaded: random weights, the
published config (token ids included), and a tokenizer of the released layout, the tiny byte-level BPE
(`rarl.model.tiny`) with its vocabulary filled up to 151,643 regular tokens (`<|unused_i|>` entries no merge
produces) and Qwen's special tokens at their released ids (151643 onwards). The step benchmark and the vLLM
rollout benchmark run the real 3B/7B shapes from it on a GPU.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch
from tokenizers import Tokenizer
from torch import nn
from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

from rarl.model.loading import DTypeName, resolve_dtype
from rarl.model.special_tokens import QWEN_SPECIAL_TOKENS
from rarl.model.tiny import build_tiny_tokenizer, save_model_folder, wrap_tokenizer

__all__ = [
    "FULL_SIZE_PARAMS",
    "build_random_full_size",
    "count_parameters",
    "full_size_config",
    "released_layout_tokenizer",
    "write_random_full_size",
]

SizeName = Literal["3b", "7b"]

_TEXT = {
    "3b": {
        "hidden_size": 2048,
        "intermediate_size": 11008,
        "num_hidden_layers": 36,
        "num_attention_heads": 16,
        "num_key_value_heads": 2,
        "vocab_size": 151936,
        "max_window_layers": 70,
        "tie_word_embeddings": True,
    },
    "7b": {
        "hidden_size": 3584,
        "intermediate_size": 18944,
        "num_hidden_layers": 28,
        "num_attention_heads": 28,
        "num_key_value_heads": 4,
        "vocab_size": 152064,
        "max_window_layers": 28,
        "tie_word_embeddings": False,
    },
}

# Parameter counts of the released checkpoints (tied embeddings counted once).
FULL_SIZE_PARAMS = {"3b": 3_754_622_976, "7b": 8_292_166_656}


def full_size_config(name: SizeName, overrides: Mapping[str, Any] | None = None) -> Qwen2_5_VLConfig:
    """`Qwen2_5_VLConfig` of Qwen2.5-VL-3B ("3b") or -7B ("7b"), as published.

    `overrides` replace config fields, `vision.<field>` ones in the vision tower's config and the others in
    the language model's (tests shrink the model this way; the vocabulary stays the released one).
    """
    key = name.lower()
    if key not in _TEXT:
        raise ValueError(f"unknown size {name!r}; choose from {sorted(_TEXT)}")
    overrides = dict(overrides or {})
    vision_overrides = {k.removeprefix("vision."): v for k, v in overrides.items() if k.startswith("vision.")}
    text_overrides = {k: v for k, v in overrides.items() if not k.startswith("vision.")}
    spec = {**_TEXT[key], **text_overrides}
    text_config = {
        **{k: v for k, v in spec.items() if k != "tie_word_embeddings"},
        "hidden_act": "silu",
        "max_position_embeddings": 128000,
        "rms_norm_eps": 1e-6,
        "use_sliding_window": False,
        "sliding_window": 32768,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [16, 24, 24]},
        "bos_token_id": QWEN_SPECIAL_TOKENS["<|endoftext|>"],
        "eos_token_id": QWEN_SPECIAL_TOKENS["<|im_end|>"],
        "tie_word_embeddings": spec["tie_word_embeddings"],
        **text_overrides,
    }
    vision_config = {
        "depth": 32,
        "hidden_size": 1280,
        "intermediate_size": 3420,
        "num_heads": 16,
        "in_channels": 3,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "window_size": 112,
        "out_hidden_size": spec["hidden_size"],
        "fullatt_block_indexes": [7, 15, 23, 31],
        "tokens_per_second": 2,
        "hidden_act": "silu",
        **vision_overrides,
    }
    return Qwen2_5_VLConfig(
        text_config=text_config,
        vision_config=vision_config,
        image_token_id=QWEN_SPECIAL_TOKENS["<|image_pad|>"],
        video_token_id=QWEN_SPECIAL_TOKENS["<|video_pad|>"],
        vision_start_token_id=QWEN_SPECIAL_TOKENS["<|vision_start|>"],
        vision_end_token_id=QWEN_SPECIAL_TOKENS["<|vision_end|>"],
        tie_word_embeddings=spec["tie_word_embeddings"],
    )


def build_random_full_size(
    name: SizeName,
    dtype: DTypeName | torch.dtype = "bfloat16",
    device: str | torch.device = "meta",
    attn_implementation: str = "sdpa",
    seed: int = 0,
    overrides: Mapping[str, Any] | None = None,
) -> Qwen2_5_VLForConditionalGeneration:
    """Instantiate the full-size architecture with random weights directly on `device`.

    On "meta" nothing is allocated (shapes only). On a GPU the weights are initialised there, in `dtype`.
    """
    config = full_size_config(name, overrides)
    config._attn_implementation = attn_implementation
    torch_dtype = resolve_dtype(dtype)
    if torch_dtype == "auto":
        torch_dtype = torch.bfloat16
    dev = torch.device(device)
    previous = torch.get_default_dtype()
    try:
        torch.set_default_dtype(torch_dtype)
        with torch.device(dev), torch.random.fork_rng(devices=[dev.index or 0] if dev.type == "cuda" else []):
            torch.manual_seed(seed)
            model = Qwen2_5_VLForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(previous)
    return model.eval()


def count_parameters(model: nn.Module) -> int:
    """Number of parameters, shared (tied) tensors counted once; works on the meta device."""
    return sum(p.numel() for p in model.parameters())


FIRST_SPECIAL_ID = min(QWEN_SPECIAL_TOKENS.values())
"""151643: the released tokenizer's regular tokens take ids 0..151642, its special tokens start here."""


def released_layout_tokenizer(seed: int = 0) -> Any:
    """The tiny BPE tokenizer re-laid to the released id layout (see the module docstring).

    Merges refer to token strings, not ids, so re-numbering keeps the tokenization; the filler entries are
    reachable by no merge, so they never appear in encoded text, only when a random model samples them.
    """
    tiny = build_tiny_tokenizer(seed=seed)
    data = json.loads(tiny.backend_tokenizer.to_str())
    regular = [
        t
        for t, _ in sorted(data["model"]["vocab"].items(), key=lambda kv: kv[1])
        if t not in QWEN_SPECIAL_TOKENS
    ]
    top = max(QWEN_SPECIAL_TOKENS.values())
    vocab: dict[str, int] = {t: i for i, t in enumerate(regular)}
    free = (i for i in range(len(regular), top + 1) if i not in QWEN_SPECIAL_TOKENS.values())
    for i in free:
        vocab[f"<|unused_{i}|>"] = i
    vocab.update(QWEN_SPECIAL_TOKENS)
    data["model"]["vocab"] = vocab
    for added in data["added_tokens"]:
        added["id"] = QWEN_SPECIAL_TOKENS[added["content"]]
    return wrap_tokenizer(Tokenizer.from_str(json.dumps(data)))


def write_random_full_size(
    name: SizeName,
    out_dir: str | Path,
    dtype: DTypeName | torch.dtype = "bfloat16",
    device: str | torch.device = "cpu",
    seed: int = 0,
    image_size: int = 448,
    overrides: Mapping[str, Any] | None = None,
) -> Path:
    """Write a loadable folder of the full-size architecture with random weights; returns `out_dir`.

    The weights are initialised on `device` (a GPU is much faster for 3B/7B) and saved as safetensors
    (about 7.5 GB for 3B, 16.6 GB for 7B in bf16). `image_size` sets both pixel bounds of the image processor
    to `image_size**2` (448: 256 visual tokens per image). `overrides`: see `full_size_config` (tests).
    """
    out = Path(out_dir)
    tokenizer = released_layout_tokenizer(seed)
    model = build_random_full_size(name, dtype=dtype, device=device, seed=seed, overrides=overrides)
    save_model_folder(out, model, tokenizer, image_size)
    del model
    (out / "rarl_random_full_size.json").write_text(
        json.dumps({"size": name, "seed": seed, "dtype": str(dtype), "overrides": dict(overrides or {})})
        + "\n"
    )
    return out
