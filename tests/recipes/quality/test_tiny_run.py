"""The refine-iqa recipe on the engine with the offline tiny Qwen2.5-VL: stage 1 (perception, no_think, mixed
tasks, plain GRPO advantages) then stage 2 (scoring, think, PD reward, Eq. 6 advantages) in one run; SFT on
the reference answers; `evaluate_models` writing the Table 3 layout with numeric and probability inference."""

from __future__ import annotations

import torch

from rarl.recipes.runs import grpo_trainer
from rarl.train.config import (
    AlgorithmConfig,
    CheckpointConfig,
    DataConfig,
    LoggingConfig,
    ModelConfig,
    OptimConfig,
    RewardConfig,
    RolloutConfig,
    StageConfig,
    TrainConfig,
)
from rarl.train.metrics_log import read_metrics


def test_two_stage_grpo(tiny_model, scoring_manifest, perception_manifest, tmp_path):
    cfg = TrainConfig(
        output_dir=str(tmp_path / "grpo"),
        recipe="refine-iqa",
        model=ModelConfig(name_or_path=str(tiny_model), freeze_vision=False),
        data=DataConfig(manifest=str(scoring_manifest)),
        rollout=RolloutConfig(num_generations=2, max_new_tokens=10),
        reward=RewardConfig(name="refine-iqa"),
        algorithm=AlgorithmConfig(advantage="refine_iqa", eps=1e-4, beta=0.0, aggregation="token"),
        optim=OptimConfig(lr=1e-3),
        prompts_per_step=2,
        micro_batch_size=4,
        stages=[
            StageConfig(name="perception", steps=1, mode="no_think", manifest=str(perception_manifest)),
            StageConfig(name="scoring", steps=1, mode="think"),
        ],
        logging=LoggingConfig(progress=False, sample_every=1),
        checkpoint=CheckpointConfig(every=0),
    )
    trainer = grpo_trainer(cfg)
    before = {k: v.clone() for k, v in trainer.policy.model.state_dict().items()}
    final = trainer.train()
    rows = read_metrics(tmp_path / "grpo" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2]
    assert "reward/think_chars" in rows[1]
    after = trainer.policy.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert (final / "config.json").is_file()
