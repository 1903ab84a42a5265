"""Tier 2: the SFT baseline on the real tiny Qwen2.5-VL."""

from __future__ import annotations

import shutil

import torch

from rarl.model import encode_completions, encode_prompts, load_policy, token_logprobs
from rarl.recipes.ordinal.manifest import load_manifest
from rarl.recipes.ordinal.prompts import answer_text, build_messages
from rarl.recipes.runs import sft_trainer
from rarl.train.metrics_log import read_metrics
from rarl.train.sft import nll_loss

from .conftest import make_sft_config


def _answer_nll(model_dir, manifest) -> float:
    policy = load_policy(model_dir)
    samples = load_manifest(manifest, "train")[:8]
    ids, mask = encode_completions(policy, [answer_text(s) for s in samples])
    with torch.no_grad():
        logp = token_logprobs(
            policy.model, encode_prompts(policy, samples, messages_fn=build_messages), ids, mask
        )
    return float(nll_loss(logp, mask, int(mask.sum())))


def test_sft_lowers_answer_nll_and_saves_a_loadable_model(tiny_model, manifest, tmp_path):
    before = _answer_nll(tiny_model, manifest)
    final = sft_trainer(make_sft_config(tiny_model, manifest, tmp_path / "sft", steps=4)).train()
    after = _answer_nll(final, manifest)
    assert after < before
    rows = read_metrics(tmp_path / "sft" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert all(r["answer_tokens"] > 0 for r in rows)


def test_nll_micro_batches_sum_to_the_full_batch_loss():
    logp = -torch.rand(4, 6)
    mask = torch.tensor([[1] * 6, [1] * 3 + [0] * 3, [1] * 5 + [0], [1, 0, 0, 0, 0, 0]])
    full = nll_loss(logp, mask, int(mask.sum()))
    parts = nll_loss(logp[:2], mask[:2], int(mask.sum())) + nll_loss(logp[2:], mask[2:], int(mask.sum()))
    assert torch.allclose(full, parts)
    assert torch.allclose(full, -(logp * mask).sum() / mask.sum())


def test_sft_exact_resume(tiny_model, manifest, tmp_path):
    straight = sft_trainer(make_sft_config(tiny_model, manifest, tmp_path / "a", steps=2))
    straight.train()
    cfg = make_sft_config(tiny_model, manifest, tmp_path / "b", steps=2)
    cfg.checkpoint.every, cfg.checkpoint.keep_last = 1, 2
    sft_trainer(cfg).train()
    shutil.rmtree(tmp_path / "b" / "checkpoints" / "step-00000002")  # as if killed after step 1's save
    shutil.rmtree(tmp_path / "b" / "final")
    resumed = sft_trainer(make_sft_config(tiny_model, manifest, tmp_path / "b", steps=2))
    resumed.train(resume=True)
    a, b = straight.policy.model.state_dict(), resumed.policy.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
