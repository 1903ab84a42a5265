"""The ablation command on a toy budget: every variant trains, and one combined table is written."""

from __future__ import annotations

from pathlib import Path

from rarl.ablate import run_ablations, variant_config
from rarl.eval.protocol import EvalSettings
from rarl.recipes.ordinal.ablations import ABLATIONS, TABLE_ROWS, VARIANTS
from rarl.train.config import TrainConfig

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"


def test_variants_transform_the_base_config(tmp_path):
    from rarl.utils.config import load_config

    base = load_config(TrainConfig, CONFIG)
    total = sum(s.steps for s in base.stages)
    reg = variant_config(base, ABLATIONS, "regression", tmp_path)
    assert [s.reward_kwargs["weights"] for s in reg.stages] == [[1.0, 0.0, 1.0]] and reg.stages[
        0
    ].steps == total
    rank = variant_config(base, ABLATIONS, "ranking", tmp_path)
    assert rank.stages[0].reward_kwargs["weights"] == [0.0, 1.0, 1.0] and 1 not in rank.stages[0].sizes
    assert not any(s.rmo for s in variant_config(base, ABLATIONS, "no_rmo", tmp_path).stages)
    dapo = variant_config(base, ABLATIONS, "dapo", tmp_path)
    assert dapo.algorithm.dapo_filter and not any(s.rmo for s in dapo.stages)
    rarl = variant_config(base, ABLATIONS, "rarl", tmp_path)
    assert [s.rmo for s in rarl.stages] == [s.rmo for s in base.stages]
    assert base.algorithm.dapo_filter is False  # the base is not modified


def test_ablation_command_writes_one_table(tiny_model, manifest, tmp_path):
    overrides = [
        f"model.name_or_path={tiny_model}",
        f"data.manifest={manifest}",
        "data.sizes=[1,2]",
        "stages.0.steps=1",
        "stages.1.steps=1",
        "rollout.num_generations=2",
        "rmo.k=1",
        "rollout.max_new_tokens=12",
        "prompts_per_step=2",
        "logging.progress=false",
        "checkpoint.every=0",
    ]
    settings = EvalSettings(sizes=(1, 2), max_samples=2, max_new_tokens=12, n_boot=20, progress=False)
    table_path = run_ablations(CONFIG, tmp_path / "abl", overrides=overrides, eval_settings=settings)
    table = table_path.read_text()
    for _, label, _, _ in TABLE_ROWS:
        assert label in table, label
    assert "Baseline" in table
    # the statistics table says how often RMO fired: never where it is off, per stage where it is on
    stats = {
        tuple(c.strip() for c in line.split("|")[1:3]): line for line in table.splitlines() if "|" in line
    }
    header = next(line for line in table.splitlines() if "groups mutated by RMO" in line)
    column = [c.strip() for c in header.split("|")].index("groups mutated by RMO")
    assert stats["no_rmo", "stage2"].split("|")[column].strip() == "0.000"
    for name in VARIANTS:
        assert (tmp_path / "abl" / name / "final" / "config.json").is_file()
    assert (tmp_path / "abl" / "ablation_curves.png").is_file()


def test_training_statistics_are_step_means_per_stage():
    from rarl.ablate import training_statistics

    curves = {
        "rarl": [
            {
                "stage": "s1",
                "reward/onpolicy_mean": 1.0,
                "zero_var_frac_before": 0.5,
                "rmo_mutated_frac": 0.0,
            },
            {
                "stage": "s2",
                "reward/onpolicy_mean": 2.0,
                "zero_var_frac_before": 0.25,
                "rmo_mutated_frac": 0.5,
                "zero_var_frac_after": 0.5,
            },
            {
                "stage": "s2",
                "reward/onpolicy_mean": 3.0,
                "zero_var_frac_before": 0.75,
                "rmo_mutated_frac": 1.0,
                "zero_var_frac_after": 1.0,
            },
            {"stage": "s2", "step": 7, "eval/srcc": 0.5},  # a validation row is not a step of its own
        ]
    }
    curves["rarl"][1]["step"], curves["rarl"][2]["step"] = 6, 7
    lines = training_statistics(curves).splitlines()
    assert lines[-2] == "| rarl | s1 | 1 | 1.000 | 0.500 | 0.000 | - | - |"
    assert lines[-1] == "| rarl | s2 | 2 | 2.500 | 0.500 | 0.750 | 0.750 | - |"
