"""token_logprobs equals log-softmax of a plain full forward pass; micro-batching, select, LoRA reference."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rarl.model import (
    LoraSettings,
    PromptBatch,
    encode_prompts,
    generate,
    load_policy,
    make_reference,
    token_logprobs,
)

from .conftest import conversation

COUNTS = [1, 3, 0, 8, 2]  # images per prompt: mixed, one text-only row


def full_forward_logprobs(model: torch.nn.Module, prompt: PromptBatch, ids: torch.Tensor) -> torch.Tensor:
    """The definition: one unpadded row, the whole-sequence logits, log_softmax, gather. Returns [t]."""
    assert len(prompt) == 1 and bool(prompt.attention_mask.all())
    full = torch.cat([prompt.input_ids, ids[None]], 1)
    mm = torch.cat([prompt.mm_token_type_ids, torch.zeros_like(ids[None]).int()], 1)
    with torch.no_grad():
        logits = model(
            input_ids=full,
            attention_mask=torch.ones_like(full),
            mm_token_type_ids=mm,
            pixel_values=prompt.pixel_values,
            image_grid_thw=prompt.image_grid_thw,
        ).logits[0]
    logp = torch.log_softmax(logits.float(), -1)[prompt.prompt_length - 1 : -1]
    return logp.gather(-1, ids[:, None]).squeeze(-1)


@pytest.fixture(scope="module")
def rollout(policy):
    convs = [conversation(n, seed=20 + i) for i, n in enumerate(COUNTS)]
    return convs, generate(policy, convs, num_generations=2, max_new_tokens=10, seed=0)


@pytest.mark.parametrize("micro_batch_size", [None, 3, 1])
def test_matches_full_forward(policy, rollout, micro_batch_size) -> None:
    convs, batch = rollout
    with torch.no_grad():
        logp = token_logprobs(
            policy.model, batch.prompts, batch.completion_ids, batch.completion_mask, micro_batch_size
        )
    assert logp.shape == batch.completion_ids.shape and logp.dtype == torch.float32
    assert (logp[batch.completion_mask == 0] == 0).all()
    for row in range(len(batch)):
        alone = encode_prompts(policy, [convs[row // 2]])
        length = int(batch.lengths[row])
        expected = full_forward_logprobs(policy.model, alone, batch.completion_ids[row, :length])
        torch.testing.assert_close(logp[row, :length], expected, atol=1e-5, rtol=0)


def test_select_rows_equals_those_rows_alone(policy, rollout) -> None:
    convs, batch = rollout
    rows = [7, 2, 4]  # 8 images, 3 images, 0 images
    with torch.no_grad():
        everything = token_logprobs(policy.model, batch.prompts, batch.completion_ids, batch.completion_mask)
        sub = batch.select(rows)
        picked = token_logprobs(policy.model, sub.prompts, sub.completion_ids, sub.completion_mask)
        alone = encode_prompts(policy, [convs[r // 2] for r in rows])
        separately = token_logprobs(policy.model, alone, sub.completion_ids, sub.completion_mask)
    width = picked.shape[1]
    torch.testing.assert_close(picked, everything[rows, :width], atol=1e-5, rtol=0)
    torch.testing.assert_close(picked, separately, atol=1e-5, rtol=0)


def test_temperature_and_entropy(policy, rollout) -> None:
    convs, batch = rollout
    row = 1
    alone = encode_prompts(policy, [convs[0]])
    ids = batch.completion_ids[row, : int(batch.lengths[row])]
    full = torch.cat([alone.input_ids, ids[None]], 1)
    with torch.no_grad():
        logits = policy.model(
            input_ids=full,
            attention_mask=torch.ones_like(full),
            mm_token_type_ids=torch.cat([alone.mm_token_type_ids, torch.zeros_like(ids[None]).int()], 1),
            pixel_values=alone.pixel_values,
            image_grid_thw=alone.image_grid_thw,
        ).logits[0, alone.prompt_length - 1 : -1]
        scaled = torch.log_softmax(logits / 0.7, -1)
        logp, entropy = token_logprobs(
            policy.model,
            batch.prompts.select([row]),
            ids[None],
            torch.ones_like(ids[None]),
            temperature=0.7,
            return_entropy=True,
        )
    torch.testing.assert_close(logp[0], scaled.gather(-1, ids[:, None]).squeeze(-1), atol=1e-5, rtol=0)
    torch.testing.assert_close(entropy[0], -(scaled.exp() * scaled).sum(-1), atol=1e-5, rtol=0)


def test_gradients_flow_only_through_completion_rows(policy, rollout) -> None:
    _, batch = rollout
    sub = batch.select([0, 1])
    policy.model.zero_grad(set_to_none=True)
    logp = token_logprobs(
        policy.model, sub.prompts, sub.completion_ids, sub.completion_mask, micro_batch_size=1
    )
    logp.sum().backward()
    grad = policy.model.lm_head.weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert all(p.grad is None for p in policy.model.model.visual.parameters())  # frozen vision tower
    policy.model.zero_grad(set_to_none=True)


def test_lora_reference_is_the_base_model(tiny_dir: Path, policy, rollout) -> None:
    _, batch = rollout
    sub = batch.select([0, 3, 6])
    lora = load_policy(tiny_dir, lora=LoraSettings(r=4, alpha=8), gradient_checkpointing=True)
    assert lora.model.get_base_model().is_activation_checkpointing
    trainable = [n for n, p in lora.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n and "language_model" in n for n in trainable)
    with torch.no_grad():
        for name, param in lora.model.named_parameters():
            if "lora_B" in name:  # adapters start as a no-op; make them matter
                param.normal_(0.0, 0.2)
        args = (sub.prompts, sub.completion_ids, sub.completion_mask)
        base = token_logprobs(policy.model, *args)
        adapted = token_logprobs(lora.model, *args)
        with lora.reference() as ref:
            assert ref is lora.model
            reference = token_logprobs(ref, *args, micro_batch_size=2)
        after = token_logprobs(lora, *args)  # a Policy works too; adapters are back on
    torch.testing.assert_close(reference, base, atol=1e-5, rtol=0)
    assert (adapted - base).abs().max() > 1e-3
    torch.testing.assert_close(after, adapted, atol=1e-6, rtol=0)
    # Rollouts run through the peft wrapper too.
    mode = lora.model.training
    sampled = generate(lora, [conversation(2)], num_generations=2, max_new_tokens=4, seed=0)
    assert sampled.completion_ids.shape[0] == 2 and lora.model.training is mode  # mode restored
    # Gradient checkpointing + LoRA trains.
    lora.model.train()
    loss = token_logprobs(lora.model, *args).sum()
    loss.backward()
    assert all(p.grad is not None for p in lora.model.parameters() if p.requires_grad)


def test_reference_copy_without_lora(tiny_dir: Path, rollout) -> None:
    _, batch = rollout
    full = load_policy(tiny_dir)
    with pytest.raises(ValueError, match="make_reference"), full.reference():
        pass
    ref = make_reference(full)
    assert full.ref_model is ref and not any(p.requires_grad for p in ref.parameters())
    sub = batch.select([2])
    with torch.no_grad():
        full.model.lm_head.weight.mul_(1.5)  # the policy moves; the reference does not
        with full.reference() as frozen:
            a = token_logprobs(frozen, sub.prompts, sub.completion_ids, sub.completion_mask)
        b = token_logprobs(full.model, sub.prompts, sub.completion_ids, sub.completion_mask)
    assert (a - b).abs().max() > 1e-3


@pytest.mark.parametrize("micro_batch_size", [None, 3, 1])
def test_shared_prompt_prefill_equals_every_row_running_its_prompt(policy, rollout, micro_batch_size) -> None:
    """One prefill per distinct prompt, its cache copied to the group's rows: same log-probs and entropies,
    also when a micro-batch cuts a group (3) and for the text-only row."""
    _, batch = rollout
    args = (batch.prompts, batch.completion_ids, batch.completion_mask, micro_batch_size)
    with torch.no_grad():
        plain = token_logprobs(policy.model, *args, return_entropy=True)
        shared = token_logprobs(policy.model, *args, return_entropy=True, prompt_groups=batch.group_index)
    for a, b in zip(shared, plain):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_shared_prompt_prefill_gradients_match(tiny_dir: Path, rollout) -> None:
    """Gradients reach every trainable weight, the vision tower through the shared prompt, as without sharing."""
    _, batch = rollout
    policy = load_policy(tiny_dir, freeze_vision=False, share_image_features=False)
    policy.model.train()
    args = (batch.prompts, batch.completion_ids, batch.completion_mask, 4)
    grads = []
    for groups in (None, batch.group_index):
        policy.model.zero_grad(set_to_none=True)
        (token_logprobs(policy.model, *args, prompt_groups=groups) * 0.1).sum().backward()
        grads.append({n: p.grad.clone() for n, p in policy.model.named_parameters() if p.grad is not None})
    plain, shared = grads
    assert set(shared) == set(plain) and any(n.startswith("model.visual.") for n in shared)
    for name, grad in plain.items():
        torch.testing.assert_close(shared[name], grad, atol=1e-5, rtol=1e-4, msg=name)


def test_shared_prompt_prefill_falls_back_under_gradient_checkpointing(tiny_dir: Path, rollout) -> None:
    """Checkpointed layers drop a KV cache in training mode: every row then runs its own prompt."""
    _, batch = rollout
    policy = load_policy(tiny_dir, gradient_checkpointing=True)
    policy.model.train()
    sub = batch.select([0, 1, 6, 7])
    args = (sub.prompts, sub.completion_ids, sub.completion_mask)
    with torch.no_grad():
        plain = token_logprobs(policy.model, *args)
        shared = token_logprobs(policy.model, *args, prompt_groups=sub.group_index)
    torch.testing.assert_close(shared, plain, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match=r"prompt_groups must have shape \[4\]"):
        token_logprobs(policy.model, *args, prompt_groups=sub.group_index[:2])
