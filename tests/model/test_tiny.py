"""The offline tiny Qwen2.5-VL: determinism, save/load, tokenizer, chat template, image tokens, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rarl.model import ModelLoadError, build_tiny_qwen2_5_vl, encode_prompts, load_policy
from rarl.model.image_features import shared_image_features
from rarl.model.loading import load_for_inference
from rarl.model.processor import ImageOnlyQwen2_5_VLProcessor

from .conftest import conversation, noise_image

VISION_RUN = "<|vision_start|><|image_pad|><|vision_end|>"


def test_same_seed_same_files_other_seed_other_weights(tmp_path: Path, tiny_dir: Path) -> None:
    again = build_tiny_qwen2_5_vl(tmp_path / "again", seed=0)
    other = build_tiny_qwen2_5_vl(tmp_path / "other", seed=1)
    for name in ("tokenizer.json", "config.json", "chat_template.jinja"):
        assert (again / name).read_text() == (tiny_dir / name).read_text()
    a, b, c = (load_file(d / "model.safetensors") for d in (tiny_dir, again, other))
    assert a.keys() == b.keys() == c.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_folder_is_a_standard_qwen2_5_vl_folder(tiny_dir: Path, policy) -> None:
    config = json.loads((tiny_dir / "config.json").read_text())
    assert config["model_type"] == "qwen2_5_vl"
    assert config["architectures"] == ["Qwen2_5_VLForConditionalGeneration"]
    assert (
        json.loads((tiny_dir / "processor_config.json").read_text())["processor_class"]
        == "Qwen2_5_VLProcessor"
    )
    assert (
        json.loads((tiny_dir / "tokenizer_config.json").read_text())["processor_class"]
        == "Qwen2_5_VLProcessor"
    )
    tok, cfg = policy.tokenizer, policy.config
    assert cfg.text_config.vocab_size == len(tok)
    assert 256 < len(tok) <= 2048
    assert cfg.image_token_id == tok.convert_tokens_to_ids("<|image_pad|>")
    assert cfg.video_token_id == tok.convert_tokens_to_ids("<|video_pad|>")
    assert cfg.vision_start_token_id == tok.convert_tokens_to_ids("<|vision_start|>")
    assert cfg.vision_end_token_id == tok.convert_tokens_to_ids("<|vision_end|>")
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    head_dim = cfg.text_config.hidden_size // cfg.text_config.num_attention_heads
    assert sum(cfg.text_config.rope_parameters["mrope_section"]) == head_dim // 2
    assert isinstance(policy.processor, ImageOnlyQwen2_5_VLProcessor)
    n_params = sum(p.numel() for p in policy.model.parameters())
    assert n_params < 1_000_000


def test_save_load_round_trip_same_logits(tmp_path: Path, policy) -> None:
    prompts = encode_prompts(policy, [conversation(2, seed=3)])
    policy.model.save_pretrained(tmp_path / "copy")
    policy.processor.save_pretrained(tmp_path / "copy")
    reloaded = load_policy(tmp_path / "copy")
    shared_image_features(
        policy.model
    ).clear()  # features kept from other tests' batches differ in the last ulp
    with torch.no_grad():
        a = policy.model(**prompts.model_inputs()).logits
        b = reloaded.model(**prompts.model_inputs()).logits
    assert torch.equal(a, b)
    assert reloaded.tokenizer("Image 1:")["input_ids"] == policy.tokenizer("Image 1:")["input_ids"]


def test_inference_loads_keep_the_stored_dtype(tmp_path: Path, tiny_dir: Path) -> None:
    """`rarl eval` / `score` / `rank` load a folder in the dtype it was saved in: a bf16 folder (a released
    3B's) is not doubled into float32, and a float32 folder (the tiny demo models) stays float32."""
    assert {p.dtype for p in load_for_inference(tiny_dir).model.parameters()} == {torch.float32}
    half = load_policy(tiny_dir, dtype="bfloat16")
    half.model.save_pretrained(tmp_path / "bf16")
    half.processor.save_pretrained(tmp_path / "bf16")
    loaded = load_for_inference(tmp_path / "bf16")
    assert {p.dtype for p in loaded.model.parameters()} == {torch.bfloat16}
    first = next(iter(half.model.state_dict()))
    assert torch.equal(loaded.model.state_dict()[first], half.model.state_dict()[first])


@pytest.mark.parametrize(
    "text",
    [
        "<think>The first image looks older.</think><answer>[{'image_id': 2, 'value': 23}, "
        "{'image_id': 1, 'value': 41}]</answer>",
        "[{'image_id': 8, 'value': 3.75}, {'image_id': 10, 'value': -0.5}]",
        "0123456789 116 2024 ünïcödé ✓",
    ],
)
def test_tokenizer_round_trip(policy, text: str) -> None:
    ids = policy.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert policy.tokenizer.decode(ids) == text


def test_digits_are_single_tokens(policy) -> None:
    tok = policy.tokenizer
    tokens = tok.convert_ids_to_tokens(tok("value 1160 and 23.75", add_special_tokens=False)["input_ids"])
    assert [t for t in tokens if any(ch.isdigit() for ch in t)] == list("11602375")
    for d in "0123456789":
        assert len(tok(d, add_special_tokens=False)["input_ids"]) == 1


def test_special_tokens_are_atomic(policy) -> None:
    tok = policy.tokenizer
    for name in ("<|im_start|>", "<|im_end|>", "<|image_pad|>", "<|vision_start|>", "<|endoftext|>"):
        ids = tok(name, add_special_tokens=False)["input_ids"]
        assert ids == [tok.convert_tokens_to_ids(name)]
    assert (
        tok("hello", add_special_tokens=True)["input_ids"]
        == tok("hello", add_special_tokens=False)["input_ids"]
    )


def test_chat_template_renders_qwen_layout(policy) -> None:
    conv = conversation(3)
    text = policy.processor.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
    assert text.startswith("<|im_start|>system\nYou rank images.<|im_end|>\n<|im_start|>user\nImage 1:")
    assert text.endswith("<|im_end|>\n<|im_start|>assistant\n")
    assert text.count(VISION_RUN) == 3
    assert "Image 2:" + VISION_RUN + "Image 3:" in text
    no_gen = policy.processor.apply_chat_template(conv, tokenize=False, add_generation_prompt=False)
    assert no_gen.endswith("<|im_end|>\n") and "assistant" not in no_gen
    user_only = [conv[1]]
    assert policy.processor.apply_chat_template(user_only, tokenize=False).startswith(
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    )


def test_one_image_pad_run_per_image_with_four_tokens(policy) -> None:
    prompts = encode_prompts(policy, [conversation(1), conversation(8)])
    image_id, start_id = policy.special.image_id, policy.special.vision_start_id
    for row, n in zip(range(2), (1, 8)):
        ids = prompts.input_ids[row][prompts.attention_mask[row].bool()].tolist()
        assert ids.count(start_id) == n
        assert ids.count(image_id) == 4 * n
        starts = [i for i, t in enumerate(ids) if t == start_id]
        for s in starts:  # each run: vision_start, 4 x image_pad, vision_end
            assert ids[s + 1 : s + 5] == [image_id] * 4 and ids[s + 5] == policy.special.vision_end_id
    assert prompts.image_grid_thw.tolist() == [[1, 4, 4]] * 9
    assert torch.equal(prompts.mm_token_type_ids.bool(), prompts.input_ids == image_id)


def test_larger_images_stay_within_budget_unless_raised(tiny_dir: Path, policy) -> None:
    big = [
        {
            "role": "user",
            "content": [{"type": "image", "image": noise_image(0, 112, 112)}, {"type": "text", "text": "x"}],
        }
    ]
    assert encode_prompts(policy, [big]).image_grid_thw.tolist() == [[1, 4, 4]]
    roomy = load_policy(tiny_dir, max_pixels=112 * 112)
    assert encode_prompts(roomy, [big]).image_grid_thw.tolist() == [[1, 8, 8]]
    with pytest.raises(ValueError, match="exceeds"):
        load_policy(tiny_dir, min_pixels=200 * 200, max_pixels=100 * 100)


def test_clear_errors_for_bad_sources(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="model folder not found: no such folder"):
        load_policy(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no config.json"):
        load_policy(tmp_path / "empty")
    (tmp_path / "llama").mkdir()
    (tmp_path / "llama" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ValueError, match="not Qwen2.5-VL") as err:
        load_policy(tmp_path / "llama")
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="dtype"):
        load_policy(tmp_path / "llama", dtype="float64")  # type: ignore[arg-type]
