"""An offline, tiny, randomly initialised Qwen2.5-VL for tests and the CPU demo.

`build_tiny_qwen2_5_vl(out_dir, seed)` writes a normal model folder (config.json, model.safetensors,
tokenizer.json, chat_template.jinja, processor_config.json, preprocessor_config.json,
generation_config.json) that `load_policy` loads through the same `from_pretrained` calls as the released
checkpoints. Nothing is downloaded.

Pieces:

* Tokenizer: byte-level BPE trained with the `tokenizers` library on a small corpus (the paper's Table 1
  prompts, answers in the `<think>...</think><answer>[{'image_id': 1, 'value': 23}, ...]</answer>` format,
  digits, plus any caller text). The pre-tokenizer is Qwen2's split pattern, which isolates every digit,
  so numbers are spelled digit by digit. Qwen's special tokens are added as special tokens.
  The corpus is the tiny model's stand-in for a pretrained vocabulary, shared by every recipe's tiny model,
  so it keeps its own copy of the Table 1 text rather than reading a recipe (the engine never imports one);
  tests/recipes/ordinal/test_prompts.py checks that the copy says what `rarl.recipes.ordinal.prompts` says.
* Chat template: a Qwen-style Jinja template written here (system turn, user turn whose image parts render
  as `<|vision_start|><|image_pad|><|vision_end|>`, `add_generation_prompt`).
* Image processor: the Qwen2-VL processor (PIL backend) with patch 14, merge 2 and pixel bounds
  [56*56, 56*56], so any image becomes at most 4x4 patches: a 56x56 image is 4 visual tokens.
* Model: `Qwen2_5_VLForConditionalGeneration` from a small `Qwen2_5_VLConfig` (text: hidden 128, 2 layers,
  4 heads, 2 KV heads, MLP 256, tied embeddings; vision: depth 2, hidden 64, 2 heads).

Differences from the released model, on purpose: special tokens get the first ids (0-7) instead of
151643+, the vocabulary equals the tokenizer length (no unused embedding rows), weights are random.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from torch import nn
from transformers import (
    GenerationConfig,
    PreTrainedTokenizerFast,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
)
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from rarl.model.processor import build_processor
from rarl.model.special_tokens import QWEN_SPECIAL_TOKENS

__all__ = [
    "CHAT_TEMPLATE",
    "TINY_IMAGE_SIZE",
    "build_tiny_qwen2_5_vl",
    "build_tiny_tokenizer",
    "default_corpus",
    "tiny_config",
]

TINY_IMAGE_SIZE = 56  # pixels per side; 56x56 -> 4x4 patches of 14 -> 2x2 merged = 4 visual tokens

# Qwen2's pre-tokenizer pattern: contractions, letter runs, single digits (\p{N}), punctuation, whitespace.
QWEN2_SPLIT_PATTERN = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"

# A Qwen-style chat template. Text parts are concatenated as given; each image part becomes one
# `<|vision_start|><|image_pad|><|vision_end|>` run that the processor expands to the image's token count.
CHAT_TEMPLATE = (
    "{%- set image_count = namespace(value=0) -%}"
    "{%- for message in messages -%}"
    "{%- if loop.first and message['role'] != 'system' -%}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string -%}"
    "{{ message['content'] }}"
    "{%- else -%}"
    "{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' or 'image' in part or 'image_url' in part -%}"
    "{%- set image_count.value = image_count.value + 1 -%}"
    "{%- if add_vision_id -%}{{ 'Picture ' + image_count.value|string + ': ' }}{%- endif -%}"
    "{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- elif part['type'] == 'text' -%}"
    "{{ part['text'] }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{ '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{ '<|im_start|>assistant\\n' }}"
    "{%- endif -%}"
)

# Paper Table 1 (kept here so the tokenizer does not depend on the data package).
_SYSTEM_PROMPT = (
    "The user asks a question, and the Assistant solves it. The assistant first thinks about the reasoning "
    "process in the mind and then provides the user with the answer. The reasoning process and answer are "
    "enclosed within <think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning "
    "process here </think> <answer> answer here </answer>."
)
_INSTRUCT_TEMPLATE = (
    "Analyze each image to determine the {rule}, and if there are multiple images, sort them in ascending "
    "order of {rule}. Output the results as a JSON list of dictionaries in this format: "
    "[{{'image_id': number, 'value': value}}, ...], where value is the {rule} ({value_range}). "
    "Ensure the list is sorted correctly with strictly followed syntax."
)
_RULES = (
    ("age of the person", "0-116"),
    ("number of objects", "0-20"),
    ("aesthetic score", "1.0-10.0"),
    ("image quality score", "1-5"),
    ("size of the square", "1-9"),
)
_REASONS = (
    "I compare the images one by one.",
    "The first image looks older than the second.",
    "Counting the objects in each image gives the values.",
    "Sorting the estimates in ascending order.",
    "Let me analyze each image.",
)


def default_corpus(seed: int = 0, num_answers: int = 400) -> Iterator[str]:
    """The built-in tokenizer corpus: Table 1 prompts, image labels, answers, digits (deterministic by seed)."""
    rng = random.Random(seed)
    for _ in range(3):
        yield _SYSTEM_PROMPT
    for rule, value_range in _RULES:
        yield _INSTRUCT_TEMPLATE.format(rule=rule, value_range=value_range)
    for i in range(1, 9):
        yield f"Image {i}: "
    yield " ".join(str(d) for d in range(10))
    yield "0123456789 .,-[]{}:'\" \n"
    for _ in range(num_answers):
        n = rng.randint(1, 8)
        ids = rng.sample(range(1, n + 1), n)
        if rng.random() < 0.3:
            values = [f"{rng.uniform(0, 10):.1f}" for _ in ids]
        else:
            values = [str(rng.randint(0, 116)) for _ in ids]
        body = ", ".join(f"{{'image_id': {i}, 'value': {v}}}" for i, v in zip(ids, values))
        yield f"<think>{rng.choice(_REASONS)}</think><answer>[{body}]</answer>"


def build_tiny_tokenizer(
    corpus: Iterable[str] | None = None, *, seed: int = 0, vocab_size: int = 1024
) -> PreTrainedTokenizerFast:
    """Train the tiny byte-level BPE tokenizer (see module docstring); pad `<|endoftext|>`, eos `<|im_end|>`."""
    specials = list(QWEN_SPECIAL_TOKENS)  # ids 0..7, in QWEN_SPECIAL_TOKENS order
    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    texts = list(default_corpus(seed))
    if corpus is not None:
        texts.extend(corpus)
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    return wrap_tokenizer(tok)


def wrap_tokenizer(tok: Tokenizer) -> PreTrainedTokenizerFast:
    """A `tokenizers` object holding Qwen's special tokens -> the transformers tokenizer of a model folder."""
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=[
            t for t in QWEN_SPECIAL_TOKENS if t not in ("<|im_end|>", "<|endoftext|>")
        ],
        padding_side="left",
        model_max_length=32768,
        clean_up_tokenization_spaces=False,
    )


@dataclass(frozen=True)
class TinyArchitecture:
    """Sizes of the tiny model (the defaults give 0.63 M parameters; `num_layers=4` gives 0.92 M)."""

    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 256
    vision_depth: int = 2
    vision_hidden_size: int = 64
    vision_heads: int = 2
    rope_theta: float = 1_000_000.0  # the language model's (m)rope base, as the released models'

    @property
    def vision_intermediate_size(self) -> int:
        return 2 * self.vision_hidden_size


def tiny_config(tokenizer: PreTrainedTokenizerFast, arch: TinyArchitecture | None = None) -> Qwen2_5_VLConfig:
    """A small `Qwen2_5_VLConfig` whose token ids match `tokenizer`."""
    a = arch or TinyArchitecture()
    hidden_size, num_layers = a.hidden_size, a.num_layers
    head_dim = hidden_size // a.num_heads
    if head_dim % 8 != 0:
        raise ValueError(f"text head dim {head_dim} must be a multiple of 8 for the 3-way mrope split")
    half = head_dim // 2  # mrope splits the rotary half-dimension into temporal / height / width sections
    mrope_section = [
        half // 4,
        (half - half // 4) // 2,
        half - half // 4 - (half - half // 4) // 2,
    ]  # 32 -> [4, 6, 6]
    ids = {name: tokenizer.convert_tokens_to_ids(name) for name in QWEN_SPECIAL_TOKENS}
    text_config = {
        "vocab_size": len(tokenizer),
        "hidden_size": hidden_size,
        "intermediate_size": a.intermediate_size,
        "num_hidden_layers": num_layers,
        "num_attention_heads": a.num_heads,
        "num_key_value_heads": a.num_kv_heads,
        "hidden_act": "silu",
        "max_position_embeddings": 8192,
        "rms_norm_eps": 1e-6,
        "use_sliding_window": False,
        "max_window_layers": num_layers,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": float(a.rope_theta),
            "mrope_section": mrope_section,
        },
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
        "tie_word_embeddings": True,
    }
    vision_config = {
        "depth": a.vision_depth,
        "hidden_size": a.vision_hidden_size,
        "intermediate_size": a.vision_intermediate_size,
        "num_heads": a.vision_heads,
        "in_channels": 3,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "window_size": 112,
        "out_hidden_size": hidden_size,
        "fullatt_block_indexes": [a.vision_depth - 1],  # last block full attention, the others windowed
        "tokens_per_second": 2,
    }
    return Qwen2_5_VLConfig(
        text_config=text_config,
        vision_config=vision_config,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )


def build_tiny_qwen2_5_vl(
    out_dir: str | Path,
    seed: int = 0,
    corpus: Iterable[str] | None = None,
    *,
    vocab_size: int = 1024,
    image_size: int = TINY_IMAGE_SIZE,
    **architecture: float,
) -> Path:
    """Build and save the tiny Qwen2.5-VL folder; same `seed` (and arguments) -> identical files.

    `vocab_size` is the BPE target (the final vocabulary may be smaller when the corpus runs out of merges);
    `image_size` sets both pixel bounds to `image_size**2`, so every image is resized to about that area;
    `architecture` overrides fields of `TinyArchitecture` (e.g. `num_layers=4`). Returns `out_dir` as a `Path`.
    """
    out = Path(out_dir)
    tokenizer = build_tiny_tokenizer(corpus, seed=seed, vocab_size=vocab_size)
    config = tiny_config(tokenizer, TinyArchitecture(**architecture))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2_5_VLForConditionalGeneration(config).float().eval()
    save_model_folder(out, model, tokenizer, image_size)
    (out / "rarl_tiny.json").write_text(
        json.dumps({"seed": seed, "vocab_size": len(tokenizer)}, indent=2) + "\n"
    )
    return out


def save_model_folder(
    out: Path, model: nn.Module, tokenizer: PreTrainedTokenizerFast, image_size: int
) -> None:
    """Save `model` as a standard Qwen2.5-VL folder: weights, Qwen's generation defaults, and a processor
    around `tokenizer` with this project's chat template whose image processor resizes every image to about
    `image_size**2` pixels (both pixel bounds). `from_pretrained`, `load_policy` and vLLM load it."""
    factor = 14 * 2
    if image_size % factor != 0:
        raise ValueError(f"image_size must be a multiple of {factor} (patch 14 x merge 2), got {image_size}")
    image_processor = Qwen2VLImageProcessorPil(
        patch_size=14,
        merge_size=2,
        temporal_patch_size=2,
        min_pixels=image_size * image_size,
        max_pixels=image_size * image_size,
    )
    text = model.config.text_config
    model.generation_config = GenerationConfig(
        bos_token_id=text.bos_token_id, eos_token_id=text.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    build_processor(image_processor, tokenizer, CHAT_TEMPLATE).save_pretrained(out)
    image_processor.save_pretrained(out)  # preprocessor_config.json, as in released folders
