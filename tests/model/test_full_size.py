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
