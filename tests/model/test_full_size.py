"""Full-size Qwen2.5-VL configs: published architecture, parameter counts on the meta device."""

from __future__ import annotations

import pytest
import torch

from rarl.model import (
    FULL_SIZE_PARAMS,
    SpecialTokens,
    build_random_full_size,
    count_parameters,
    full_size_config,
)


@pytest.mark.parametrize(
    ("name", "hidden", "layers", "heads", "kv", "mlp", "vocab", "tied", "expected"),
    [
        ("3b", 2048, 36, 16, 2, 11008, 151936, True, 3.75e9),
        ("7b", 3584, 28, 28, 4, 18944, 152064, False, 8.29e9),
    ],
)
def test_config_and_meta_parameter_count(name, hidden, layers, heads, kv, mlp, vocab, tied, expected) -> None:
    config = full_size_config(name)
    text, vision = config.text_config, config.vision_config
    assert (text.hidden_size, text.num_hidden_layers, text.num_attention_heads) == (hidden, layers, heads)
    assert (text.num_key_value_heads, text.intermediate_size, text.vocab_size) == (kv, mlp, vocab)
    assert config.tie_word_embeddings is tied
    assert text.hidden_size // text.num_attention_heads == 128
    assert text.rope_parameters["mrope_section"] == [16, 24, 24]
    assert (vision.depth, vision.hidden_size, vision.num_heads, vision.intermediate_size) == (
        32,
        1280,
        16,
        3420,
    )
    assert (vision.patch_size, vision.spatial_merge_size, vision.temporal_patch_size) == (14, 2, 2)
    assert vision.window_size == 112 and list(vision.fullatt_block_indexes) == [7, 15, 23, 31]
    assert vision.out_hidden_size == hidden
    assert config.image_token_id == 151655 and config.video_token_id == 151656

    model = build_random_full_size(name, dtype="bfloat16", device="meta")
    params = list(model.parameters())
    assert all(p.device.type == "meta" and p.dtype == torch.bfloat16 for p in params)
    n = count_parameters(model)
    assert n == FULL_SIZE_PARAMS[name]
    assert abs(n - expected) / expected < 0.01
    assert (model.lm_head.weight is model.model.language_model.embed_tokens.weight) is tied


def test_unknown_size() -> None:
    with pytest.raises(ValueError, match="unknown size"):
        full_size_config("72b")  # type: ignore[arg-type]


def test_special_tokens_without_a_tokenizer() -> None:
    special = SpecialTokens.from_config(full_size_config("3b"))
    assert (special.eos_id, special.pad_id, special.image_id) == (151645, 151643, 151655)
    suppressed = set(special.suppressed_ids)
    assert {151643, 151644, 151652, 151653, 151654, 151655, 151656} <= suppressed
    assert set(range(151665, 151936)) <= suppressed  # embedding rows with no token
    assert special.eos_id not in suppressed


SHRUNK = {
    "num_hidden_layers": 1,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [2, 3, 3]},
    "vision.depth": 1,
    "vision.hidden_size": 32,
    "vision.intermediate_size": 64,
    "vision.num_heads": 2,
    "vision.fullatt_block_indexes": [0],
}
"""The 3B folder with the released vocabulary and token ids but one narrow layer each side (a test-sized file)."""


def test_released_layout_tokenizer_keeps_the_tiny_tokenization() -> None:
    from rarl.model.full_size import released_layout_tokenizer
    from rarl.model.special_tokens import QWEN_SPECIAL_TOKENS
    from rarl.model.tiny import build_tiny_tokenizer

    tiny, full = build_tiny_tokenizer(), released_layout_tokenizer()
    assert len(full) == max(QWEN_SPECIAL_TOKENS.values()) + 1  # 151657: regular ids 0..151642, then specials
    assert all(full.convert_tokens_to_ids(t) == i for t, i in QWEN_SPECIAL_TOKENS.items())
    text = (
        "<|im_start|>user\nImage 1: <think>x</think><answer>[{'image_id': 1, 'value': 3}]</answer><|im_end|>"
    )
    tiny_tokens = tiny.convert_ids_to_tokens(tiny(text)["input_ids"])
    assert full.convert_ids_to_tokens(full(text)["input_ids"]) == tiny_tokens
    assert full.decode(full(text)["input_ids"]) == text
    assert (
        full.decode([150_000, 151_900]) == "<|unused_150000|>"
    )  # filler decodes; ids past the table are dropped


def test_random_full_size_folder_loads_generates_and_scores(tmp_path) -> None:
    from rarl.model import generate, load_policy, token_logprobs
    from rarl.model.full_size import write_random_full_size

    from .conftest import conversation

    folder = write_random_full_size("3b", tmp_path / "m", dtype="float32", image_size=56, overrides=SHRUNK)
    policy = load_policy(folder)
    config = policy.model.config
    assert config.text_config.vocab_size == 151936 and config.image_token_id == 151655
    assert policy.special.eos_id == 151645 and policy.special.pad_id == 151643
    rollout = generate(policy, [conversation(2)], num_generations=2, max_new_tokens=6, seed=0)
    assert rollout.completion_ids.shape[0] == 2 and int(rollout.lengths.min()) >= 1
    assert not set(rollout.completion_ids[rollout.completion_mask.bool()].tolist()) & set(
        policy.special.suppressed_ids
    )
    with torch.no_grad():
        logp = token_logprobs(policy, rollout.prompts, rollout.completion_ids, rollout.completion_mask)
    assert torch.isfinite(logp).all() and (logp[rollout.completion_mask.bool()] < 0).all()
