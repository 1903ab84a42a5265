"""Refine-IQA's ablation plan (Tables 5-6) as config transformations and its combined table; `rarl score`."""

from __future__ import annotations

import copy
import json

import pytest
from typer.testing import CliRunner

from rarl.ablate import variant_config
from rarl.cli import app
from rarl.recipes import get_recipe
from rarl.recipes.quality.evaluation import correlation_result
from rarl.train.config import TrainConfig
from rarl.utils.config import load_config

CONFIG = "configs/refine-iqa-qwen2.5-vl-7b.yaml"


def test_variants_change_only_their_attribute(tmp_path):
    plan = get_recipe("refine-iqa").ablations()
    base = load_config(TrainConfig, CONFIG, [])
    full = variant_config(base, plan, "full", tmp_path)
    no_stage1 = variant_config(base, plan, "no_stage1", tmp_path)
    no_pd = variant_config(base, plan, "no_pd", tmp_path)
    no_pm = variant_config(base, plan, "no_pm", tmp_path)
    assert [s.name for s in full.stages] == ["perception", "scoring"]
    assert [s.name for s in no_stage1.stages] == ["scoring"] and no_stage1.stages[0].steps == base.stages[
        1
    ].steps
    assert no_pd.reward.kwargs["pd"] is False and full.reward.kwargs["pd"] is True
    assert no_pm.algorithm.advantage == "grpo" and full.algorithm.advantage == "refine_iqa"
    for cfg in (no_stage1, no_pd, no_pm):  # nothing else moves
        other = copy.deepcopy(cfg)
        other.stages, other.reward, other.algorithm, other.output_dir = (
            full.stages,
            full.reward,
            full.algorithm,
            full.output_dir,
        )
        assert other == full


def test_combined_table_reads_numeric_and_probability_rows():
    plan = get_recipe("refine-iqa").ablations()

    def results(num: float, prob: float):
        def block(v):
            r = correlation_result([1, 2, 3, 4], [1, 2, 3, 4 + v], [False] * 4, n_boot=10)
            r["srcc"], r["plcc"] = v, v
            return r

        return {"scoring": {"no_think": {"KonIQ": {"numeric": block(num), "prob": block(prob)}}}}

    full = results(0.5, 0.9)  # with think-mode answers of 30 characters of thinking on average
    full["scoring"]["think"] = {"KonIQ": {"think_chars": 30.0}}
    sections = {
        "": {"t": {"Baseline": results(0.1, 0.2)}},
        "Stage-2 attributes (Table 6)": {"t": {"PD v, PM v, Num.": full, "PD v, PM v, Prob.": full}},
    }
    table = plan.render(sections, "Ablations", None)
    assert "| Section | Model | KonIQ | think length (chars) |" in table
    assert "| Stage-2 attributes (Table 6) | PD v, PM v, Num. | 0.500 | 30.0 |" in table
    assert "| Stage-2 attributes (Table 6) | PD v, PM v, Prob. | 0.900 | 30.0 |" in table
    assert "| Base | Baseline | 0.200 | - |" in table  # no think-mode answers
    assert table.index("w/o think)**") < table.index("w think)**")  # the paper's table, then think mode


def test_score_command(tiny_model, scoring_manifest):
    images = sorted((scoring_manifest / "images").glob("*.png"))[:2]
    result = CliRunner().invoke(
        app, ["score", "--model", str(tiny_model), *map(str, images), "--max-new-tokens", "8", "--json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [row["image"] for row in rows] == [str(p.resolve()) for p in images]
    for row in rows:
        assert 0.5 <= row["prob"] <= 4.5
    bad = CliRunner().invoke(app, ["score", "--model", str(tiny_model), "missing.png"])
    assert bad.exit_code == 2 and "missing.png (not found)" in bad.output


@pytest.mark.parametrize("mode", ["reasoning"])
def test_score_command_rejects_an_unknown_mode(tiny_model, scoring_manifest, mode):
    image = next((scoring_manifest / "images").glob("*.png"))
    bad = CliRunner().invoke(app, ["score", "--model", str(tiny_model), str(image), "--mode", mode])
    assert bad.exit_code == 2 and "no prompt mode 'reasoning'" in bad.output


@pytest.mark.slow
def test_ablate_command_on_the_tiny_config(tiny_model, scoring_manifest, perception_manifest, tmp_path):
    from rarl.ablate import run_ablations
    from rarl.eval.protocol import EvalSettings
    from rarl.recipes.quality.ablations import TABLE_ROWS

    overrides = [
        f"model.name_or_path={tiny_model}",
        f"data.manifest={scoring_manifest}",
        f"stages.0.manifest={perception_manifest}",
        "stages.0.steps=1",
        "stages.1.steps=1",
        "rollout.num_generations=2",
        "rollout.max_new_tokens=10",
        "prompts_per_step=2",
        "logging.progress=false",
    ]
    settings = EvalSettings(max_samples=2, max_new_tokens=8, n_boot=20, progress=False)
    table = run_ablations(
        "configs/refine-iqa-tiny.yaml", tmp_path / "abl", overrides=overrides, eval_settings=settings
    )
    text = table.read_text()
    for _, label, _, _ in TABLE_ROWS:
        assert label in text, label
    for name in ("full", "no_stage1", "no_pd", "no_pm"):
        assert (tmp_path / "abl" / name / "final" / "config.json").is_file()
