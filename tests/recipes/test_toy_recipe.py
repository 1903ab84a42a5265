"""A recipe defined entirely in this file (sample type, prompt, reward, reference answer, metric) runs on the
engine without any change under src/: 2 GRPO steps (one with RMO), 2 SFT steps, and an evaluation.

The recipe and its reward are named in config as plug-ins of this file (`path/to/test_toy_recipe.py:Name`),
which is how a user adds a task without editing the package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from rarl.eval.protocol import EvalSettings, generate_answers
from rarl.recipes.base import RecipeBase
from rarl.recipes.runs import evaluate as evaluate_models
from rarl.recipes.runs import grpo_trainer, sft_trainer
from rarl.rewards.batch import RewardInputs, RewardOutput
from rarl.train.config import (
    CheckpointConfig,
    DataConfig,
    LoggingConfig,
    ModelConfig,
    OptimConfig,
    RewardConfig,
    RMOConfig,
    RolloutConfig,
    SFTConfig,
    StageConfig,
    TrainConfig,
)
from rarl.train.metrics_log import read_metrics
from rarl.utils.config import ConfigError

HERE = Path(__file__).resolve()


@dataclass(frozen=True)
class ToySample:
    """One grey image; the answer is the word "bright" or "dark"."""

    sample_id: str
    level: int  # 0..255

    @property
    def target(self) -> str:
        return "bright" if self.level >= 128 else "dark"

    def image(self) -> Image.Image:
        return Image.new("RGB", (56, 56), (self.level,) * 3)


class ToyRecipe(RecipeBase):
    name = "toy"
    modes = ("short", "polite")

    def load_samples(self, manifest: str, split: str, sizes: Any = None) -> list[ToySample]:
        levels = range(10, 250, 30) if split == "train" else range(25, 250, 60)
        return [ToySample(f"{split}-{lv}", lv) for lv in levels]

    def messages(self, sample: ToySample, mode: str | None = None) -> list[dict[str, Any]]:
        question = "Bright or dark?" if self.resolve_mode(mode) == "short" else "Please say: bright or dark?"
        return [
            {
                "role": "user",
                "content": [{"type": "image", "image": sample.image()}, {"type": "text", "text": question}],
            }
        ]

    def reference_answer(self, sample: ToySample, mode: str | None = None) -> str:
        return sample.target

    def evaluate(self, policy: Any, manifest: str, settings: Any, name: str = "model") -> tuple[dict, list]:
        samples = self.load_samples(manifest, settings.split)
        texts = generate_answers(policy, samples, settings, self.messages)
        hits = [t.strip().startswith(s.target) for s, t in zip(samples, texts)]
        rows = [{"model": name, "sample_id": s.sample_id, "completion": t} for s, t in zip(samples, texts)]
        return {"accuracy": sum(hits) / len(hits)}, rows


class KeywordReward:
    """A batch reward: 1 (+ bonus) when the completion starts with the target word.

    Components: `hit`; `dark_hit`, which applies to dark images only (NaN elsewhere); and `step`/`progress`
    echoing the context, so the test can see what the reward was told.
    """

    def __init__(self, bonus: float = 0.0) -> None:
        self.bonus = bonus

    def __call__(self, inputs: RewardInputs) -> RewardOutput:
        hits = [1.0 if t.strip().startswith(y) else 0.0 for t, y in zip(inputs.texts, inputs.targets)]
        n = len(hits)
        return RewardOutput(
            totals=torch.tensor(hits) * (1.0 + self.bonus),
            components={
                "hit": torch.tensor(hits),
                "dark_hit": [h if y == "dark" else None for h, y in zip(hits, inputs.targets)],
                "step": torch.full((n,), float(inputs.step)),
                "progress": torch.full((n,), inputs.progress),
                "has_scorer": torch.full((n,), float(inputs.scorer is not None)),
            },
        )


def _train_config(model: Path, out: Path) -> TrainConfig:
    return TrainConfig(
        output_dir=str(out),
        recipe=f"{HERE}:ToyRecipe",
        model=ModelConfig(name_or_path=str(model), freeze_vision=False),
        data=DataConfig(manifest="in-memory"),
        rollout=RolloutConfig(num_generations=4, max_new_tokens=6),
        reward=RewardConfig(name=f"{HERE}:KeywordReward"),
        rmo=RMOConfig(k=1, trigger="always", prob=1.0),
        optim=OptimConfig(lr=1e-3),
        prompts_per_step=2,
        micro_batch_size=8,
        stages=[
            StageConfig(name="plain", steps=1, mode="short"),
            StageConfig(name="mutated", steps=1, mode="polite", rmo=True, reward_kwargs={"bonus": 1.0}),
        ],
        logging=LoggingConfig(progress=False, sample_every=1),
        checkpoint=CheckpointConfig(every=0),
    )


def test_toy_recipe_trains_with_grpo_and_rmo(tiny_model, tmp_path):
    trainer = grpo_trainer(_train_config(tiny_model, tmp_path / "grpo"))
    before = {k: v.clone() for k, v in trainer.policy.model.state_dict().items()}
    final = trainer.train()
    rows = read_metrics(tmp_path / "grpo" / "metrics.jsonl")
    assert [r["stage"] for r in rows] == ["plain", "mutated"]
    assert [r["reward/step"] for r in rows] == [0.0, 1.0]  # the reward saw the global step ...
    assert [r["reward/progress"] for r in rows] == [0.0, 0.5]  # ... and the progress through the run
    assert all(r["reward/has_scorer"] == 1.0 for r in rows)
    assert all(0.0 <= r["reward/hit"] <= 1.0 for r in rows)
    # RMO injected the recipe's reference answer (k = 1 per group), scored by the stage's reward (bonus 1)
    assert rows[1]["rmo_mutated_frac"] == 1.0 and rows[1]["reward/injected_mean"] == 2.0
    samples = [json.loads(line) for line in (tmp_path / "grpo" / "samples.jsonl").read_text().splitlines()]
    assert {s["target"] for s in samples} <= {"bright", "dark"}
    after = trainer.policy.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert (final / "config.json").is_file()


def test_toy_recipe_sft_and_evaluation(tiny_model, tmp_path):
    cfg = SFTConfig(
        output_dir=str(tmp_path / "sft"),
        recipe=f"{HERE}:ToyRecipe",
        mode="polite",
        model=ModelConfig(name_or_path=str(tiny_model), freeze_vision=False),
        data=DataConfig(manifest="in-memory"),
        optim=OptimConfig(lr=1e-3),
        steps=2,
        batch_size=4,
        micro_batch_size=2,
        logging=LoggingConfig(progress=False),
        checkpoint=CheckpointConfig(every=0),
    )
    trainer = sft_trainer(cfg)
    final = trainer.train()
    rows = read_metrics(tmp_path / "sft" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2]
    # the targets are the recipe's reference answers: one word ("bright"/"dark", at most 6 byte tokens) and EOS
    assert all(4 * 2 <= r["answer_tokens"] <= 4 * 7 for r in rows)

    settings = EvalSettings(split="test", max_new_tokens=4, batch_size=4, progress=False)
    results = evaluate_models(
        {"sft": str(final)}, "in-memory", tmp_path / "eval", settings, recipe=ToyRecipe()
    )
    assert 0.0 <= results["sft"]["accuracy"] <= 1.0
    report = (tmp_path / "eval" / "report.md").read_text()
    assert "accuracy" in report and "| sft |" in report
    assert len((tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()) == 4


def test_a_recipe_without_a_demo_base_says_so(tmp_path):
    recipe = ToyRecipe()
    with pytest.raises(ConfigError, match="'toy' ships no 'demo-base'"):
        recipe.model_path("demo-base")
    with pytest.raises(ConfigError, match="'toy' has no demo base to build"):
        recipe.build_base(tmp_path / "base")
    assert not (tmp_path / "base").exists()
