"""GRPO training with vLLM rollouts on the tiny Qwen2.5-VL (the vLLM tier: `make test-vllm`)."""

from __future__ import annotations

import pytest

pytest.importorskip("vllm")

from rarl.model import build_tiny_qwen2_5_vl  # noqa: E402
from rarl.model.vllm_backend import VLLMBackend  # noqa: E402

pytestmark = pytest.mark.vllm


def test_grpo_training_with_vllm_rollouts_pushes_every_step(tmp_path):
    """Three GRPO steps with `rollout.backend: vllm`: one weight push per step (the weights change every step),
    and the rollouts the trainer logs are the engine's."""
    from rarl.recipes.ordinal.prepare import prepare
    from rarl.recipes.runs import grpo_trainer
    from rarl.train.config import (
        CheckpointConfig,
        DataConfig,
        LoggingConfig,
        ModelConfig,
        OptimConfig,
        RolloutConfig,
        StageConfig,
        TrainConfig,
    )
    from rarl.train.metrics_log import read_metrics

    model = build_tiny_qwen2_5_vl(tmp_path / "model", seed=0)
    data = tmp_path / "data"
    samples = {"train": 8, "val": 2, "test": 2}
    prepare("synthetic", data, sizes=(1, 2), seed=0, samples_per_size=samples, num_images=40, quiet=True)
    cfg = TrainConfig(
        output_dir=str(tmp_path / "run"),
        model=ModelConfig(name_or_path=str(model), freeze_vision=False),
        data=DataConfig(manifest=str(data), sizes=[1, 2]),
        rollout=RolloutConfig(
            backend="vllm",
            backend_kwargs={"gpu_memory_utilization": 0.1, "kv_cache_memory_bytes": 256 * 2**20},
            num_generations=4,
            max_new_tokens=16,
        ),
        optim=OptimConfig(lr=1e-3),
        prompts_per_step=2,
        micro_batch_size=8,
        stages=[StageConfig(name="main", steps=3)],
        logging=LoggingConfig(progress=False, sample_every=1),
        checkpoint=CheckpointConfig(every=0),
    )
    trainer = grpo_trainer(cfg)
    try:
        trainer.train()
    finally:
        trainer.backend.close()
    assert isinstance(trainer.backend, VLLMBackend)
    assert (
        trainer.backend.pushes == 3
    )  # the first rollout, then after each of the two optimizer steps before a rollout
    rows = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all(r["completion_len_mean"] > 0 for r in rows)
