"""Each loss variant trains the real tiny Qwen2.5-VL for one step: a finite loss, and the weights move."""

import math

import pytest
import torch

from rarl.algorithms import resolve_loss
from rarl.recipes.runs import grpo_trainer
from rarl.train.config import AlgorithmConfig, StageConfig
from rarl.train.metrics_log import read_metrics
from train.conftest import make_train_config  # tests/ is on sys.path (rootdir of the test packages)

SETTINGS = {
    "grpo": {},
    "dapo": {"clip_eps_high": 0.28},
    "dr_grpo": {"loss_kwargs": {"max_completion_length": 32}},
    "gspo": {"clip_eps": 3e-4, "clip_eps_high": 4e-4},
    "cispo": {"clip_eps_high": 4.0},
}


@pytest.mark.parametrize("name", list(SETTINGS))
def test_one_step_with_each_loss(name, tiny_model, manifest, tmp_path):
    """RMO injects the reference answer into every (stagnant) group, so advantages are non-zero."""
    cfg = make_train_config(
        tiny_model,
        manifest,
        tmp_path / "run",
        algorithm=AlgorithmConfig(beta=0.01, loss=name, **SETTINGS[name]),
        stages=[StageConfig(name="stage", steps=1, reward_kwargs={"weights": [1.0, 1.0, 1.0]}, rmo=True)],
    )
    cfg.rollout.max_new_tokens = 12
    trainer = grpo_trainer(cfg)
    before = {k: v.detach().clone() for k, v in trainer.policy.model.state_dict().items()}
    trainer.train()
    after = trainer.policy.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before), f"{name}: no weight moved"
    (row,) = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert row["rmo_mutated_frac"] > 0
    for key in ("loss", "pg_loss", "kl_loss", "grad_norm"):
        assert math.isfinite(row[key]), (name, key, row[key])
    assert row["grad_norm"] > 0


PLUGIN = """
from rarl.algorithms import grpo_loss

CALLS = []


def recorded_grpo(*args, **kwargs):
    CALLS.append(kwargs)
    return grpo_loss(*args, **{k: v for k, v in kwargs.items() if k != "tag"})
"""


def test_a_plugin_loss_gets_the_update_keywords(tiny_model, manifest, tmp_path):
    path = tmp_path / "my_loss.py"
    path.write_text(PLUGIN)
    spec = f"{path}:recorded_grpo"
    cfg = make_train_config(
        tiny_model,
        manifest,
        tmp_path / "run",
        algorithm=AlgorithmConfig(beta=0.01, loss=spec, loss_kwargs={"tag": "x"}),
        stages=[StageConfig(name="stage", steps=1, reward_kwargs={"weights": [1.0, 1.0, 1.0]}, rmo=True)],
    )
    cfg.rollout.max_new_tokens = 12
    grpo_trainer(cfg).train()
    calls = resolve_loss(spec).__globals__["CALLS"]
    assert len(calls) == 2  # 2 prompts x G=4 rows in micro-batches of 4
    for kw in calls:
        assert kw["max_completion_length"] == 12 and kw["tag"] == "x" and kw["beta"] == 0.01
        assert kw["num_sequences_total"] == 8
