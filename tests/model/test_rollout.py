"""Rollouts: shapes and grouping, suppressed special tokens, seeds, greedy consistency, completions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch
from transformers import GenerationConfig

from rarl.model import (
    HFGenerateBackend,
    RolloutBackend,
    SamplingSettings,
    available_backends,
    encode_completions,
    encode_prompts,
    generate,
    get_backend,
    register_backend,
)

from .conftest import conversation


@contextmanager
def logit_bias(model: torch.nn.Module, token_ids: list[int], value: float) -> Iterator[None]:
    """Add `value` to the given tokens' logits at every position (a forward hook on the LM head)."""

    def hook(_module, _inputs, output):
        output = output.clone()
        output[..., token_ids] += value
        return output

    handle = model.lm_head.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def test_shapes_groups_and_flags(policy) -> None:
    convs = [conversation(1, seed=0), conversation(3, seed=1), conversation(2, seed=2)]
    batch = generate(policy, convs, num_generations=4, max_new_tokens=12, seed=0)
    n = 3 * 4
    assert len(batch) == n and batch.num_prompts == 3 and batch.num_generations == 4
    assert batch.completion_ids.shape == batch.completion_mask.shape
    assert batch.completion_ids.shape[0] == n and batch.completion_ids.shape[1] <= 12
    assert batch.group_index.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert batch.prompts.images_per_row.tolist() == [1] * 4 + [3] * 4 + [2] * 4
    assert batch.prompts.input_ids.shape[0] == n
    assert len(batch.texts) == n
    assert torch.equal(batch.lengths, batch.completion_mask.sum(-1))
    assert torch.equal(batch.finished, ~batch.truncated)
    # A random tiny model rarely stops: truncated rows fill all max_new_tokens.
    assert torch.all(batch.lengths[batch.truncated] == 12)
    # Mask: ones then zeros; padding is the pad id; finished rows end in EOS.
    for row in range(n):
        length = int(batch.lengths[row])
        assert batch.completion_mask[row, :length].all() and not batch.completion_mask[row, length:].any()
        assert (batch.completion_ids[row, length:] == policy.special.pad_id).all()
        if batch.finished[row]:
            assert batch.completion_ids[row, length - 1] == policy.special.eos_id


def test_eos_ends_completions_and_masks(policy) -> None:
    eos = policy.special.eos_id
    with logit_bias(policy.model, [eos], 8.0):  # make EOS likely, not certain
        batch = generate(policy, [conversation(1)], num_generations=8, max_new_tokens=6, seed=3)
    assert batch.finished.any()
    for row in torch.nonzero(batch.finished).flatten().tolist():
        length = int(batch.lengths[row])
        ids = batch.completion_ids[row, :length].tolist()
        assert ids[-1] == eos and eos not in ids[:-1]
        assert batch.texts[row] == policy.tokenizer.decode(ids[:-1])


def test_vision_and_reserved_tokens_are_never_generated(policy) -> None:
    special = policy.special
    forced = [special.image_id, special.vision_start_id, special.video_id, special.pad_id]
    with logit_bias(policy.model, forced, 1e4):  # these would be the argmax at every step
        batch = generate(
            policy, [conversation(2), conversation(1)], num_generations=3, max_new_tokens=8, seed=0
        )
        greedy = generate(policy, [conversation(1)], num_generations=1, max_new_tokens=8, do_sample=False)
    for b in (batch, greedy):
        ids = b.completion_ids[b.completion_mask.bool()]
        assert not torch.isin(ids, torch.tensor(special.suppressed_ids)).any()
    assert set(special.suppressed_ids) >= {
        special.image_id,
        special.video_id,
        special.vision_start_id,
        special.pad_id,
    }
    assert special.eos_id not in special.suppressed_ids


def test_completions_can_be_fed_back(policy) -> None:
    """A rollout's rows go through a forward pass (no image-feature mismatch)."""
    batch = generate(policy, [conversation(2)], num_generations=2, max_new_tokens=8, seed=1)
    ids = torch.cat([batch.prompts.input_ids, batch.completion_ids], 1)
    mask = torch.cat([batch.prompts.attention_mask, batch.completion_mask], 1)
    mm = torch.cat([batch.prompts.mm_token_type_ids, torch.zeros_like(batch.completion_ids).int()], 1)
    with torch.no_grad():
        out = policy.model(
            input_ids=ids,
            attention_mask=mask,
            mm_token_type_ids=mm,
            pixel_values=batch.prompts.pixel_values,
            image_grid_thw=batch.prompts.image_grid_thw,
        )
    assert torch.isfinite(out.logits).all()


def test_reproducible_by_seed_and_global_rng_untouched(policy) -> None:
    convs = [conversation(1), conversation(2, seed=5)]
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = generate(policy, convs, num_generations=3, max_new_tokens=10, seed=7)
    after = torch.rand(1)
    b = generate(policy, convs, num_generations=3, max_new_tokens=10, seed=7)
    c = generate(policy, convs, num_generations=3, max_new_tokens=10, seed=8)
    assert torch.equal(before, after)
    assert torch.equal(a.completion_ids, b.completion_ids) and a.texts == b.texts
    assert not torch.equal(a.completion_ids, c.completion_ids)
    # Rows within a group differ (sampling, not G copies).
    assert len(set(a.texts[:3])) > 1


def test_chunked_generation_same_shapes(policy) -> None:
    convs = [conversation(1), conversation(2)]
    settings = SamplingSettings(num_generations=3, max_new_tokens=6, seed=0)
    chunked = HFGenerateBackend(batch_size=4).generate(policy, encode_prompts(policy, convs), settings)
    assert len(chunked) == 6 and chunked.completion_ids.shape[1] <= 6
    assert chunked.group_index.tolist() == [0, 0, 0, 1, 1, 1]


def test_greedy_tokens_are_argmax_of_a_full_forward(policy) -> None:
    """Generation (KV cache, left padding, 3-D rope) and a plain forward pass agree."""
    convs = [conversation(1, seed=2), conversation(4, seed=3)]
    batch = generate(policy, convs, num_generations=1, max_new_tokens=8, do_sample=False)
    suppressed = torch.tensor(policy.special.suppressed_ids)
    for row, conv in enumerate(convs):
        alone = encode_prompts(policy, [conv])
        comp = batch.completion_ids[row : row + 1, : int(batch.lengths[row])]
        ids = torch.cat([alone.input_ids, comp], 1)
        mm = torch.cat([alone.mm_token_type_ids, torch.zeros_like(comp).int()], 1)
        with torch.no_grad():
            logits = policy.model(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                mm_token_type_ids=mm,
                pixel_values=alone.pixel_values,
                image_grid_thw=alone.image_grid_thw,
            ).logits[0, alone.prompt_length - 1 : -1]
        logits[:, suppressed] = float("-inf")
        assert torch.equal(logits.argmax(-1), comp[0])


@pytest.mark.parametrize("n_images", [1, 8])
def test_one_and_eight_image_prompts(policy, n_images: int) -> None:
    batch = generate(
        policy, [conversation(n_images, seed=n_images)], num_generations=2, max_new_tokens=5, seed=0
    )
    assert batch.prompts.image_grid_thw.shape == (2 * n_images, 3)
    assert batch.prompts.pixel_values.shape[0] == 2 * n_images * 16
    assert int((batch.prompts.input_ids == policy.special.image_id).sum()) == 2 * n_images * 4


def test_sample_objects_use_messages_fn_and_load_images(policy) -> None:
    class Sample:
        def __init__(self, n: int) -> None:
            self.n = n

        def load_images(self):
            conv = conversation(self.n, seed=9)
            return [p["image"] for p in conv[1]["content"] if p["type"] == "image"]

    def messages_fn(sample: Sample) -> list[dict]:
        conv = conversation(sample.n, seed=9)
        for part in conv[1]["content"]:
            if part["type"] == "image":
                part["image"] = None  # images come from load_images()
        return conv

    from_objects = encode_prompts(policy, [Sample(2)], messages_fn=messages_fn)
    from_messages = encode_prompts(policy, [conversation(2, seed=9)])
    assert torch.equal(from_objects.input_ids, from_messages.input_ids)
    assert torch.equal(from_objects.pixel_values, from_messages.pixel_values)


def test_encode_completions_appends_eos_and_pads(policy) -> None:
    texts = ["<think>a</think><answer>[{'image_id': 1, 'value': 23}]</answer>", "<answer>[]</answer>"]
    ids, mask = encode_completions(policy, texts)
    assert ids.shape == mask.shape and ids.shape[0] == 2
    for row, text in enumerate(texts):
        length = int(mask[row].sum())
        assert ids[row, length - 1] == policy.special.eos_id
        assert (ids[row, length:] == policy.special.pad_id).all()
        assert policy.tokenizer.decode(ids[row, : length - 1]) == text
    with pytest.raises(ValueError, match="reserved"):
        encode_completions(policy, ["bad <|image_pad|> token"])


def test_backend_registry() -> None:
    assert "hf" in available_backends()
    backend = get_backend("hf", batch_size=2)
    assert isinstance(backend, HFGenerateBackend) and isinstance(backend, RolloutBackend)
    with pytest.raises(ValueError, match="unknown rollout backend"):
        get_backend("nope")
    with pytest.raises(ValueError, match="already registered"):
        register_backend("hf", HFGenerateBackend)
    with pytest.raises(ValueError, match="top_p"):
        SamplingSettings(top_p=0.0)


def test_backend_plugin_file(tmp_path) -> None:
    """`rollout.backend: file.py:Factory` builds a backend the package does not register."""
    plugin = tmp_path / "my_backend.py"
    plugin.write_text(
        "from rarl.model.backends import HFGenerateBackend\n\nclass Mine(HFGenerateBackend):\n    pass\n"
    )
    backend = get_backend(f"{plugin}:Mine", batch_size=3)
    assert isinstance(backend, HFGenerateBackend) and type(backend).__name__ == "Mine"
    assert f"{plugin}:Mine" not in available_backends()


def test_checkpoint_generation_defaults_do_not_leak(policy) -> None:
    """Released Instruct folders ship near-greedy defaults; rollouts must not inherit them."""
    convs = [conversation(1)]
    clean = generate(policy, convs, num_generations=4, max_new_tokens=8, seed=0)
    saved = policy.model.generation_config
    policy.model.generation_config = GenerationConfig(
        do_sample=True,
        top_k=1,
        top_p=0.001,
        temperature=0.1,
        repetition_penalty=1.05,
        eos_token_id=policy.special.eos_id,
        pad_token_id=policy.special.pad_id,
    )
    try:
        shipped = generate(policy, convs, num_generations=4, max_new_tokens=8, seed=0)
        assert policy.model.generation_config.top_k == 1  # put back after the rollout
    finally:
        policy.model.generation_config = saved
    assert torch.equal(shipped.completion_ids, clean.completion_ids)
    assert len(set(shipped.texts)) > 1


@pytest.mark.parametrize("batch_size", [None, 7])
def test_shared_prefill_gives_the_same_completions_and_runs_each_prompt_once(policy, batch_size) -> None:
    """Each distinct prompt is prefilled once and its cache copied to the G rows; sampling is unchanged
    (0-8 images per prompt, a text-only one, and chunks of 7 rows that cut the groups of 3)."""
    convs = [conversation(n, seed=40 + i) for i, n in enumerate([1, 3, 0, 8, 2])]
    prompts = encode_prompts(policy, convs)
    settings = SamplingSettings(num_generations=3, max_new_tokens=16, seed=5)
    seen: list[int] = []  # tokens entering the language model per forward call
    hook = policy.model.model.language_model.register_forward_pre_hook(
        lambda _m, _a, kw: seen.append(kw["inputs_embeds"].shape[0] * kw["inputs_embeds"].shape[1]),
        with_kwargs=True,
    )
    try:
        runs = {}
        for share in (False, True):
            seen.clear()
            backend = HFGenerateBackend(batch_size=batch_size, share_prefill=share)
            runs[share] = (backend.generate(policy, prompts, settings), sum(seen))
    finally:
        hook.remove()
    (plain, plain_tokens), (shared, shared_tokens) = runs[False], runs[True]
    assert torch.equal(shared.completion_ids, plain.completion_ids)
    assert shared.texts == plain.texts
    prompt_tokens = int(prompts.attention_mask.shape[1]) * len(prompts)
    assert (
        plain_tokens - shared_tokens >= prompt_tokens
    )  # at least one of the 3 copies of every prompt is gone
