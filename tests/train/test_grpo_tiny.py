"""Tier 2: the GRPO trainer on the real tiny Qwen2.5-VL (a few seconds per test)."""

from __future__ import annotations

import json

import pytest
import torch

from rarl.recipes.ordinal.prompts import answer_text
from rarl.recipes.runs import grpo_trainer
from rarl.train.metrics_log import read_metrics
from rarl.utils.config import ConfigError

from .conftest import make_train_config


def _params(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_two_stage_run_updates_parameters_and_logs_components(tiny_model, manifest, tmp_path):
    trainer = grpo_trainer(make_train_config(tiny_model, manifest, tmp_path / "run"))
    before = _params(trainer.policy.model)
    final = trainer.train()
    after = trainer.policy.model.state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert any("language_model" in k or "lm_head" in k for k in changed), "no language-model weight moved"

    rows = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2]
    assert [r["stage"] for r in rows] == ["stage1", "stage2"]
    for key in (
        "reward/regression",
        "reward/length",
        "reward/consistency",
        "reward/accuracy",
        "reward/ranking",
        "reward/format",
        "reward/total_mean",
        "zero_var_frac_before",
        "zero_var_frac_after",
        "rmo_mutated_frac",
        "kl",
        "clip_frac",
        "entropy",
        "completion_len_mean",
        "time/rollout",
        "time/update",
    ):
        assert key in rows[-1], key
    assert (final / "config.json").is_file()
    assert (tmp_path / "run" / "stage1" / "config.json").is_file()
    samples = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert samples and "completion" in samples[0]


def test_rmo_fires_on_a_stagnant_group(tiny_model, manifest, tmp_path):
    """The random tiny model never answers in format, so every reward is 0: each group is stagnant."""
    cfg = make_train_config(tiny_model, manifest, tmp_path / "run")
    trainer = grpo_trainer(cfg)
    stage = cfg.stages[1]
    reward_fn = trainer._reward_fn(stage)
    batch = trainer.rollout(stage)
    trainer.score(batch, reward_fn, stage)
    assert torch.all(batch.onpolicy_rewards == 0)

    trainer.mutate(batch, stage, reward_fn)
    G = cfg.rollout.num_generations
    per_group = batch.rmo_mask.view(-1, G).sum(dim=1)
    assert per_group.tolist() == [cfg.rmo.k] * len(batch.samples)
    for row in batch.rmo_mask.nonzero().flatten().tolist():
        sample = batch.samples[row // G]
        assert batch.rollout.texts[row] == answer_text(sample)
        full_marks = 1.0 + 1.0 + (3.0 if sample.n >= 2 else 0.0)  # regression + format (+ ranking)
        assert float(batch.rewards[row]) == full_marks
    assert bool(batch.rollout.injected[batch.rmo_mask].all())

    trainer.compute_advantages(batch)
    adv = batch.advantages.view(-1, G)
    assert torch.all(adv[batch.rmo_mask.view(-1, G)] > 0)
    assert torch.all(adv[~batch.rmo_mask.view(-1, G)] < 0)
    metrics = trainer.update(batch)
    assert torch.isfinite(torch.tensor(metrics["loss"]))


def test_rmo_is_off_in_stage_one(tiny_model, manifest, tmp_path):
    cfg = make_train_config(tiny_model, manifest, tmp_path / "run")
    trainer = grpo_trainer(cfg)
    stage = cfg.stages[0]
    batch = trainer.rollout(stage)
    trainer.score(batch, trainer._reward_fn(stage), stage)
    trainer.mutate(batch, stage, trainer._reward_fn(stage))
    assert not bool(batch.rmo_mask.any())


def test_exact_resume(tiny_model, manifest, tmp_path):
    """2k straight steps == k steps, stop, resume, k steps: identical parameters."""
    straight = grpo_trainer(make_train_config(tiny_model, manifest, tmp_path / "a"))
    straight.train()

    first = grpo_trainer(make_train_config(tiny_model, manifest, tmp_path / "b"))
    first.train(stop_at_step=1)
    second = grpo_trainer(make_train_config(tiny_model, manifest, tmp_path / "b"))
    second.train(resume=True)

    a = straight.policy.model.state_dict()
    b = second.policy.model.state_dict()
    mismatched = [k for k in a if not torch.equal(a[k], b[k])]
    assert not mismatched, mismatched[:5]
    rows = read_metrics(tmp_path / "b" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2]


def test_reward_exceptions_are_counted_not_fatal():
    from rarl.rewards.batch import PerCompletionReward, RewardInputs

    class Exploding:
        def score(self, completion, labels):
            raise RuntimeError("boom")

    inputs = RewardInputs(
        samples=[0, 0, 1, 1], targets=[[1.0]] * 2 + [[2.0]] * 2, texts=list("abcd"), group_size=2
    )
    out = PerCompletionReward(Exploding())(inputs)
    assert out.errors == 4
    assert out.totals.tolist() == [0.0, 0.0, 0.0, 0.0]
    assert out.components == {}


def _update_stage2(cfg) -> tuple[object, dict[str, float]]:
    """One stage-2 step's phases by hand (rollout, score, RMO, advantages, reference pass, update)."""
    trainer = grpo_trainer(cfg)
    stage = cfg.stages[1]
    batch = trainer.rollout(stage)
    trainer.score(batch, trainer._reward_fn(stage), stage)
    trainer.mutate(batch, stage, trainer._reward_fn(stage))  # RMO: non-zero advantages
    trainer.compute_advantages(batch)
    trainer.reference_logprobs(batch)
    return batch, trainer.update(batch)


def test_metrics_are_per_iteration_means_with_several_iterations(tiny_model, manifest, tmp_path):
    """With lr = 0 both inner iterations see the same policy, so num_iterations=2 must report the same
    pg_loss / kl / clip_frac / entropy as num_iterations=1 (they used to be summed over iterations)."""
    reports = []
    for iterations in (1, 2):
        cfg = make_train_config(tiny_model, manifest, tmp_path / f"it{iterations}")
        cfg.optim.lr = 0.0
        cfg.algorithm.num_iterations = iterations
        cfg.algorithm.beta = 0.05
        reports.append(_update_stage2(cfg)[1])
    one, two = reports
    assert one["pg_loss"] != 0.0
    for key in ("pg_loss", "kl_loss", "kl", "clip_frac", "ratio_mean", "entropy", "loss"):
        assert abs(two[key] - one[key]) <= 1e-6 * max(1.0, abs(one[key])), (key, one[key], two[key])


def test_pg_loss_adds_up_over_micro_batches(tiny_model, manifest, tmp_path):
    """The logged pg_loss / kl_loss are the full-batch values whatever the micro-batch size."""
    reports = []
    for micro in (8, 3):
        cfg = make_train_config(tiny_model, manifest, tmp_path / f"mb{micro}")
        cfg.optim.lr = 0.0
        cfg.micro_batch_size = micro
        reports.append(_update_stage2(cfg)[1])
    full, chunked = reports
    for key in ("pg_loss", "kl_loss", "loss", "kl"):
        assert abs(chunked[key] - full[key]) <= 1e-5 * max(1e-3, abs(full[key])), (
            key,
            full[key],
            chunked[key],
        )


def test_shared_prompt_prefill_leaves_the_update_unchanged(tiny_model, manifest, tmp_path):
    """`model.share_prompt_prefill` on and off: the same old / reference log-probs and the same update
    (RMO-injected rows included, micro-batches of 3 cutting the groups of 4)."""
    results = []
    for share in (False, True):
        cfg = make_train_config(tiny_model, manifest, tmp_path / f"share{share}")
        cfg.model.share_prompt_prefill = share
        cfg.micro_batch_size = 3
        cfg.algorithm.num_iterations = 2
        cfg.algorithm.beta = 0.05
        results.append(_update_stage2(cfg))
    (plain, plain_report), (shared, shared_report) = results
    assert bool(shared.rollout.injected.any()), "RMO should have injected an answer"
    torch.testing.assert_close(shared.old_logp, plain.old_logp, atol=1e-5, rtol=0)
    torch.testing.assert_close(shared.ref_logp, plain.ref_logp, atol=1e-5, rtol=0)
    assert plain_report["pg_loss"] != 0.0
    for key in ("pg_loss", "kl_loss", "kl", "entropy", "loss", "grad_norm"):
        assert abs(shared_report[key] - plain_report[key]) <= 1e-5 * max(1.0, abs(plain_report[key])), key


def test_balance_sizes_draws_every_size_equally_each_step(tiny_model, manifest, tmp_path):
    cfg = make_train_config(tiny_model, manifest, tmp_path / "run", prompts_per_step=3)
    cfg.data.balance_sizes = True
    trainer = grpo_trainer(cfg)
    stage = cfg.stages[0]
    drawn = []
    for _ in range(2):
        batch = trainer.rollout(stage)
        assert sorted(s.n for s in batch.samples) == [1, 2, 4]
        assert batch.rollout.completion_ids.shape[0] == 3 * cfg.rollout.num_generations
        drawn += [s.sample_id for s in batch.samples]
    assert len(set(drawn)) == 6  # no sample drawn twice within a size's epoch


def test_balance_sizes_refuses_a_batch_the_sizes_do_not_divide(tiny_model, manifest, tmp_path):
    cfg = make_train_config(tiny_model, manifest, tmp_path / "run", prompts_per_step=2)
    cfg.data.balance_sizes = True
    with pytest.raises(ConfigError, match=r"prompts_per_step \(2\) must divide by the number of sizes"):
        grpo_trainer(cfg)
