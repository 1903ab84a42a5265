"""The vision-r1 recipe on the engine with the offline tiny Qwen2.5-VL: 2 GRPO steps (threshold switch between
them, RMO injecting the reference answers) and the report's figure of that run, 2 SFT steps on the reference
answers, and `evaluate_models` writing the paper-style table with verdict lines and pictures."""

from __future__ import annotations

import json

import pytest
import torch

from rarl.eval.curves import recipe_curves
from rarl.eval.plots import training_curves_figure
from rarl.eval.protocol import EvalSettings
from rarl.recipes import get_recipe
from rarl.recipes.localization.evaluation import CURVE_PANELS, threshold_lines
from rarl.recipes.runs import evaluate as evaluate_models
from rarl.recipes.runs import grpo_trainer, sft_trainer
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


def _grpo_config(model, manifest, out, **model_kw) -> TrainConfig:
    return TrainConfig(
        output_dir=str(out),
        recipe="vision-r1",
        model=ModelConfig(name_or_path=str(model), freeze_vision=False, **model_kw),
        data=DataConfig(manifest=str(manifest)),
        rollout=RolloutConfig(num_generations=2, max_new_tokens=12),
        reward=RewardConfig(name="vision-r1", kwargs={"matcher": "box_only"}),
        rmo=RMOConfig(k=1, trigger="always", prob=1.0),  # the reference answer gives a random model a signal
        optim=OptimConfig(lr=1e-3),
        prompts_per_step=2,
        micro_batch_size=4,
        stages=[StageConfig(name="main", steps=2, reward_kwargs={"step_fraction": 0.5}, rmo=True)],
        logging=LoggingConfig(progress=False, sample_every=1),
        checkpoint=CheckpointConfig(every=0),
    )


def test_grpo_two_steps_switch_thresholds(tiny_model, shapes_56, tmp_path):
    trainer = grpo_trainer(_grpo_config(tiny_model, shapes_56, tmp_path / "grpo"))
    before = {k: v.clone() for k, v in trainer.policy.model.state_dict().items()}
    final = trainer.train()
    rows = read_metrics(tmp_path / "grpo" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2]
    assert [r["reward/xi0"] for r in rows] == [0.5, 0.75]  # STEP = 1/2 of a 2-step run
    # RMO injected the recipe's reference answers, which score full marks under both threshold sets
    assert all(r["rmo_mutated_frac"] == 1.0 and r["reward/injected_mean"] == 3.0 for r in rows)
    for r in rows:
        for name in ("format", "recall", "precision", "num_predictions", "num_matched"):
            assert f"reward/{name}" in r
        assert 0.0 <= r["reward/format"] <= 1.0
    logged = [json.loads(line) for line in (tmp_path / "grpo" / "samples.jsonl").read_text().splitlines()]
    assert logged and all(s["target"]["frame"] == [56, 56] for s in logged)
    after = trainer.policy.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert (final / "config.json").is_file()
    # the report's figure of this run: the recipe's reward components, the boxes per answer, and the step
    # where the thresholds rise marked with their values
    figure = training_curves_figure(tmp_path / "grpo", **recipe_curves(get_recipe("vision-r1")))
    assert recipe_curves(get_recipe("vision-r1"))["panels"] == CURVE_PANELS
    panels = {ax.get_title(): ax for ax in figure.axes}
    components = panels["Reward components"]
    assert [t.get_text() for t in components.get_legend().get_texts()] == [
        "format",
        "recall",
        "precision",
        "count",
    ]
    assert [t.get_text() for t in panels["Boxes per answer (mean)"].get_legend().get_texts()] == [
        "num_predictions",
        "true_positives",
    ]
    assert [t.get_text() for t in components.texts] == ["within stage main: reward changes\nxi0: 0.5 → 0.75"]
    assert threshold_lines({"Vision-R1": tmp_path / "grpo"}) == [
        "Vision-R1: xi0 0.5 from step 1, 0.75 from step 2"
    ]


def test_grpo_stops_when_the_model_sees_another_frame(tiny_model, shapes_112, tmp_path):
    cfg = _grpo_config(tiny_model, shapes_112, tmp_path / "bad")  # tiny model: 56x56, task: 112x112
    with pytest.raises(ConfigError, match="shows a 112x112 frame as 56x56"):
        grpo_trainer(cfg).train()


def test_sft_and_evaluation_table(tiny_model, shapes_56, tmp_path):
    cfg = SFTConfig(
        output_dir=str(tmp_path / "sft"),
        recipe="vision-r1",
        model=ModelConfig(name_or_path=str(tiny_model), freeze_vision=False),
        data=DataConfig(manifest=str(shapes_56)),
        optim=OptimConfig(lr=1e-3),
        steps=2,
        batch_size=2,
        micro_batch_size=2,
        logging=LoggingConfig(progress=False),
        checkpoint=CheckpointConfig(every=0),
    )
    final = sft_trainer(cfg).train()
    rows = read_metrics(tmp_path / "sft" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2] and all(r["answer_tokens"] > 0 for r in rows)

    settings = EvalSettings(
        split="train", max_samples=6, max_new_tokens=8, batch_size=6, n_boot=5, progress=False
    )
    results = evaluate_models(
        {"base": str(tiny_model), "sft": str(final)},
        shapes_56,
        tmp_path / "eval",
        settings,
        recipe="vision-r1",
    )
    for name in ("base", "sft"):
        r = results[name]
        assert r["failure_rate"] is not None and 0.0 <= r["failure_rate"] <= 1.0
        assert r["n_detection"] + r["n_grounding"] == 6
    report = (tmp_path / "eval" / "report.md").read_text()
    assert "| Model | mAP | AP50 | AP75 | AR@100 | Fail." in report
    assert "| base |" in report and "| sft |" in report
    predictions = (tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()
    assert len(predictions) == 12 and "pred_boxes" in json.loads(predictions[0])
    # one verdict line per table column: sft against base on the same 6 images
    header = report.split("\n")[2]
    columns = [c.strip() for c in header.strip("|").split("|")][1:]
    verdicts = report.split("Verdicts of sft (paired bootstrap over the same test images, 95 %")[1]
    lines = [line for line in verdicts.splitlines() if line.startswith("- ")]
    assert [line.split(":")[0] for line in lines] == [f"- {c}" for c in columns]
    assert all(" vs base (" in line or "not comparable with base (" in line for line in lines)
    # the same images for both models, those with more objects first
    pictures = {
        m: sorted(p.name for p in (tmp_path / "eval" / "examples" / m).glob("*.png")) for m in ("base", "sft")
    }
    assert pictures["base"] == pictures["sft"] and pictures["base"]
    rows = [json.loads(line) for line in predictions if json.loads(line)["model"] == "sft"]
    shown = [r for r in rows if f"{r['sample_id']}.png" in pictures["sft"]]
    multi = [r for r in rows if len(r["gt_boxes"]) >= 2]
    negatives = [r for r in shown if not r["gt_boxes"]]
    assert len(negatives) <= 1 and len([r for r in shown if r in multi]) == min(
        len(multi), 4 - len(negatives)
    )
