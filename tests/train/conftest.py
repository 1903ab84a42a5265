"""Config builders for trainer tests (the tiny model and manifest fixtures live in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

from rarl.train.config import (
    AlgorithmConfig,
    CheckpointConfig,
    DataConfig,
    LoggingConfig,
    ModelConfig,
    OptimConfig,
    RMOConfig,
    RolloutConfig,
    SFTConfig,
    StageConfig,
    TrainConfig,
)


def make_train_config(model: Path, manifest: Path, out: Path, **overrides) -> TrainConfig:
    """A few-second GRPO config: 2 prompts x G=4, 24 new tokens, two 1-step stages."""
    cfg = TrainConfig(
        output_dir=str(out),
        seed=0,
        model=ModelConfig(name_or_path=str(model), freeze_vision=False),
        data=DataConfig(manifest=str(manifest), sizes=[1, 2, 4]),
        rollout=RolloutConfig(num_generations=4, max_new_tokens=24),
        rmo=RMOConfig(k=2, trigger="stagnant", prob=1.0),
        algorithm=AlgorithmConfig(beta=0.01),
        optim=OptimConfig(lr=1e-3),
        prompts_per_step=2,
        micro_batch_size=4,
        stages=[
            StageConfig(name="stage1", steps=1, reward_kwargs={"weights": [1.0, 0.0, 1.0]}, rmo=False),
            StageConfig(name="stage2", steps=1, reward_kwargs={"weights": [1.0, 1.0, 1.0]}, rmo=True),
        ],
        logging=LoggingConfig(progress=False, sample_every=1),
        checkpoint=CheckpointConfig(every=0, keep_last=2),
    )
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return cfg


def make_sft_config(model: Path, manifest: Path, out: Path, steps: int = 2) -> SFTConfig:
    return SFTConfig(
        output_dir=str(out),
        seed=0,
        model=ModelConfig(name_or_path=str(model), freeze_vision=False),
        data=DataConfig(manifest=str(manifest), sizes=[1, 2, 4]),
        optim=OptimConfig(lr=1e-3),
        steps=steps,
        batch_size=4,
        micro_batch_size=2,
        logging=LoggingConfig(progress=False),
        checkpoint=CheckpointConfig(every=0, keep_last=1),
    )
