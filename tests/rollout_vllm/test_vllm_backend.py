"""The vLLM rollout backend on the tiny Qwen2.5-VL (CPU build of vLLM, in-process engine, float32).

Its own tier and environment: `make test-vllm` (builds `.venv-vllm`). Skipped where vLLM cannot be imported,
so the default suite stays vLLM-free.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("vllm")

from rarl.model import build_tiny_qwen2_5_vl, encode_prompts, generate, load_policy, token_logprobs  # noqa: E402
from rarl.model.vllm_backend import VLLMBackend  # noqa: E402

pytestmark = pytest.mark.vllm
G = 8
MEMORY = 0.08
KV_CACHE = (
    256 * 2**20
)  # a fixed KV cache: the tiny model needs little, whatever the machine's NUMA node holds
"""Share of memory an engine reserves (on CPU, of RAM): the tiny model needs little; two engines must fit."""


def conversation(n_images: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    parts: list[dict] = []
    for k in range(n_images):
        pixels = rng.integers(0, 255, (56, 56, 3), dtype=np.uint8)
        parts += [
            {"type": "text", "text": f"Image {k + 1}:"},
            {"type": "image", "image": Image.fromarray(pixels)},
        ]
    return [{"role": "user", "content": [*parts, {"type": "text", "text": "Rank the images."}]}]


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    # a trainable vision tower: the tests change its weights by hand, which a frozen tower's kept image
    # features (rarl.model.image_features) would rightly not expect
    return load_policy(
        build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("tiny") / "model", seed=0), freeze_vision=False
    )


@pytest.fixture(scope="module")
def backend():
    backend = VLLMBackend(logprobs=True, gpu_memory_utilization=MEMORY, kv_cache_memory_bytes=KV_CACHE)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def convs():
    return [conversation(1, 0), conversation(8, 1), conversation(0, 2)]


def test_rollouts_over_the_trainers_prompt_rows_with_matching_logprobs(policy, backend, convs):
    out = generate(policy, convs, num_generations=G, max_new_tokens=12, seed=0, backend=backend)
    assert out.completion_ids.shape[0] == len(convs) * G
    assert torch.equal(out.prompts.input_ids, encode_prompts(policy, convs).repeat_interleave(G).input_ids)
    assert torch.equal(out.group_index, torch.arange(len(convs)).repeat_interleave(G))
    # the engine's log-prob of each sampled token equals a transformers forward pass over the same rows
    mine = token_logprobs(policy, out.prompts, out.completion_ids, out.completion_mask).detach()
    theirs = backend.last_logprobs * out.completion_mask
    assert (mine - theirs).abs().max() < 1e-5, (mine - theirs).abs().max()
    # G samples per prompt differ (sampling, not G copies of one)
    assert len({tuple(r.tolist()) for r in out.completion_ids[:G]}) > 1


def test_same_seed_same_completions(policy, backend, convs):
    a = generate(policy, convs, num_generations=G, max_new_tokens=8, seed=7, backend=backend)
    b = generate(policy, convs, num_generations=G, max_new_tokens=8, seed=7, backend=backend)
    c = generate(policy, convs, num_generations=G, max_new_tokens=8, seed=8, backend=backend)
    assert torch.equal(a.completion_ids, b.completion_ids)
    assert not torch.equal(a.completion_ids, c.completion_ids)


def test_weights_are_pushed_after_an_update_and_no_stale_features_remain(policy, backend, convs):
    generate(policy, convs[:2], num_generations=2, max_new_tokens=4, seed=0, backend=backend)
    pushes = backend.pushes
    generate(policy, convs[:2], num_generations=2, max_new_tokens=4, seed=0, backend=backend)
    assert backend.pushes == pushes  # unchanged weights: nothing to push
    saved = {k: v.clone() for k, v in policy.model.state_dict().items()}
    try:
        with torch.no_grad():  # an "optimizer step" that touches the vision tower and the language model
            for name, p in policy.model.named_parameters():
                if name.endswith("weight") and p.dim() == 2:
                    p.add_(0.05 * torch.randn_like(p))
        out = generate(policy, convs[:2], num_generations=4, max_new_tokens=8, seed=1, backend=backend)
        assert backend.pushes == pushes + 1
        mine = token_logprobs(policy, out.prompts, out.completion_ids, out.completion_mask).detach()
        assert (mine - backend.last_logprobs * out.completion_mask).abs().max() < 1e-5
    finally:
        policy.model.load_state_dict(saved)


def test_banned_tokens_are_never_sampled(policy, backend, convs):
    special = policy.special
    head = policy.model.lm_head.weight
    saved = head.detach().clone()
    try:
        with torch.no_grad():  # make the image placeholder by far the likeliest next token everywhere
            head[special.image_id] = 50.0 * policy.model.model.language_model.norm.weight
        out = generate(policy, convs[:2], num_generations=4, max_new_tokens=6, seed=2, backend=backend)
    finally:
        with torch.no_grad():
            head.copy_(saved)
    sampled = set(out.completion_ids[out.completion_mask.bool()].tolist())
    assert not sampled & set(special.suppressed_ids)
