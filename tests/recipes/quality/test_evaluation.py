"""SFT on the refine-iqa reference answers with the tiny Qwen2.5-VL, then `evaluate_models` writing the Table 3
layout (numeric and probability inference, both prompt modes), the verdict lines of the SFT model against the
base, and the perception tables."""

from __future__ import annotations

import json
import math

from rarl.eval.protocol import EvalSettings
from rarl.recipes.runs import evaluate as evaluate_models
from rarl.recipes.runs import sft_trainer
from rarl.train.config import CheckpointConfig, DataConfig, LoggingConfig, ModelConfig, OptimConfig, SFTConfig


def test_sft_then_evaluation_table(tiny_model, scoring_manifest, perception_manifest, tmp_path, capsys):
    cfg = SFTConfig(
        output_dir=str(tmp_path / "sft"),
        recipe="refine-iqa",
        mode="think",
        model=ModelConfig(name_or_path=str(tiny_model), freeze_vision=False),
        data=DataConfig(manifest=str(scoring_manifest)),
        optim=OptimConfig(lr=1e-3),
        steps=2,
        batch_size=2,
        micro_batch_size=2,
        logging=LoggingConfig(progress=False, sample_every=0),
        checkpoint=CheckpointConfig(every=0),
    )
    final = sft_trainer(cfg).train()
    settings = EvalSettings(split="test", max_new_tokens=8, n_boot=50, max_samples=3)
    results = evaluate_models(
        {"base": str(tiny_model), "sft": str(final)},
        scoring_manifest,
        tmp_path / "ev",
        settings,
        recipe="refine-iqa",
    )
    for model in ("base", "sft"):
        for mode in ("think", "no_think"):
            per = results[model]["scoring"][mode]
            assert set(per) == {"synthetic-underexposure", "synthetic-overexposure"}
            for m in per.values():
                assert m["numeric"]["n"] == 3 and 0.0 <= m["numeric"]["failure_rate"] <= 1.0
                assert m["prob"]["failure_rate"] == 0.0
                assert math.isnan(m["prob"]["srcc"]) or -1.0 <= m["prob"]["srcc"] <= 1.0
                assert len(m["ids"]) == 3 and len(m["prob"]["per_sample"]) == 3  # (prediction, MOS) per image
    report = (tmp_path / "ev" / "report.md").read_text()
    assert "| sft (w/o think, Prob.) |" in report and "synthetic-overexposure SRCC" in report
    # under the table: one verdict line per mode, dataset and inference, think first, sft against the base
    verdicts = [line for line in report.splitlines() if line.startswith("- synthetic-")]
    heads = [line[2:].split(": ")[0] for line in verdicts]
    assert heads == [
        f"{d} SRCC ({mode}, {inference})"
        for mode in ("think", "no_think")
        for d in ("synthetic-overexposure", "synthetic-underexposure")
        for inference in ("numeric", "probability")
    ]
    words = ("better vs base (", "worse vs base (", "no difference vs base (", "not comparable with base (")
    assert all(
        line.split(": ", 1)[1].startswith("sft ") and any(w in line for w in words) for line in verdicts
    )
    assert (
        report.index("Verdicts of sft") < report.index(verdicts[0]) and "| base (w think, Num.) |" in report
    )
    assert verdicts[0][2:] in capsys.readouterr().out  # the console table of `rarl eval` shows them too
    saved = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert len(saved["sft"]["scoring"]["think"]["synthetic-overexposure"]["numeric"]["per_sample"]) == 3
    rows = [json.loads(line) for line in (tmp_path / "ev" / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 2 * 6 and all(0.5 <= r["prob"] <= 4.5 for r in rows)

    settings.max_samples = 2
    perception = evaluate_models(
        {"base": str(tiny_model)}, perception_manifest, tmp_path / "evp", settings, recipe="refine-iqa"
    )
    tasks = perception["base"]["perception"]
    assert "grounding" in tasks and all(0.0 <= t["overall"]["value"] <= 1.0 for t in tasks.values())


def test_description_needs_all_three_answers_right(perception_manifest):
    from rarl.recipes import get_recipe
    from rarl.recipes.quality.evaluation import description_outcomes
    from rarl.recipes.quality.reward import choice_reward

    recipe = get_recipe("refine-iqa")
    samples = [s for s in recipe.load_samples(str(perception_manifest), "train") if s.task != "grounding"]
    complete = sorted({s.sample_id.rsplit("/", 2)[0] for s in samples if s.task == "object"})
    first = complete[0]
    # right everywhere except the severity question of the first complete image (both variants)
    texts = [
        "<answer>Z</answer>"
        if s.task == "severity" and s.sample_id.startswith(first + "/")
        else recipe.reference_answer(s)
        for s in samples
    ]
    rewards = [choice_reward(t, list(s.options), s.answer) for s, t in zip(samples, texts)]
    outcomes = description_outcomes(samples, rewards)
    assert len(outcomes) == 2 * len(complete)  # reference=both: a full- and a no-reference group per image
    assert sum(v for _, v in outcomes) == len(outcomes) - 2
    kinds = {s.sample_id.rsplit("/", 2)[0]: s.distortion for s in samples}
    assert sorted(d for d, v in outcomes if v == 0.0) == [kinds[first]] * 2
