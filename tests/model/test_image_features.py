"""Shared image features: each distinct image through the vision tower once, outputs unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rarl.model import encode_prompts, generate, load_policy, make_reference, token_logprobs
from rarl.model.image_features import shared_image_features

from .conftest import conversation

COUNTS = [1, 3, 0, 8]  # images per prompt, one text-only row
G = 3


@pytest.fixture(scope="module")
def pair(tiny_dir: Path):
    """The same tiny model loaded with and without shared features."""
    return load_policy(tiny_dir), load_policy(tiny_dir, share_image_features=False)


@pytest.fixture(scope="module")
def convs():
    return [conversation(n, seed=40 + i) for i, n in enumerate(COUNTS)]


def test_generation_is_unchanged_and_encodes_each_image_once(pair, convs):
    shared, plain = pair
    features = shared_image_features(shared.model)
    assert features is not None and shared_image_features(plain.model) is None
    features.clear()
    before = features.counts.encoded
    a = generate(shared, convs, num_generations=G, max_new_tokens=8, seed=3)
    b = generate(plain, convs, num_generations=G, max_new_tokens=8, seed=3)
    assert torch.equal(a.completion_ids, b.completion_ids)
    assert a.texts == b.texts
    # B*G rows hold G copies of each prompt's images: the tower ran once per distinct image
    assert features.counts.encoded - before == sum(COUNTS)


def test_logprob_passes_match_and_reuse_the_frozen_towers_features(pair, convs):
    shared, plain = pair
    rollout = generate(plain, convs, num_generations=G, max_new_tokens=8, seed=5)
    features = shared_image_features(shared.model)
    features.clear()
    before = features.counts.encoded
    got = token_logprobs(shared, rollout.prompts, rollout.completion_ids, rollout.completion_mask, 4)
    want = token_logprobs(plain, rollout.prompts, rollout.completion_ids, rollout.completion_mask, 4)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    encoded = features.counts.encoded
    assert encoded - before == sum(COUNTS)  # micro-batches of 4 rows split the copies: still once per image
    again = token_logprobs(shared, rollout.prompts, rollout.completion_ids, rollout.completion_mask)
    assert torch.equal(
        again, token_logprobs(shared, rollout.prompts, rollout.completion_ids, rollout.completion_mask)
    )
    assert features.counts.encoded == encoded  # a second pass: every image's features were kept


def test_trainable_tower_shares_within_a_pass_only_and_gradients_match(tiny_dir, convs):
    shared = load_policy(tiny_dir, freeze_vision=False)
    plain = load_policy(tiny_dir, freeze_vision=False, share_image_features=False)
    rollout = generate(plain, convs[:2], num_generations=G, max_new_tokens=6, seed=1)
    features = shared_image_features(shared.model)
    grads = []
    for policy in (shared, plain):
        policy.model.zero_grad()
        logp = token_logprobs(policy, rollout.prompts, rollout.completion_ids, rollout.completion_mask)
        logp.sum().backward()
        grads.append(policy.model.model.visual.patch_embed.proj.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1], atol=1e-5, rtol=1e-4)
    assert len(features.cache) == 0  # nothing kept while the tower trains
    assert features.counts.encoded == sum(COUNTS[:2])


def test_reference_copy_gets_its_own_cache(tiny_dir, convs):
    policy = load_policy(tiny_dir)
    ref = make_reference(policy)
    mine, theirs = shared_image_features(policy.model), shared_image_features(ref)
    assert mine is not None and theirs is not None and mine is not theirs
    assert theirs.inner is not mine.inner and theirs.inner.visual is ref.model.visual
    prompts = encode_prompts(policy, convs[:1])
    with torch.no_grad():
        ref(**prompts.model_inputs())
    assert len(theirs.cache) == 1 and len(mine.cache) == 0
