"""`rarl demo --recipe refine-iqa` at toy size: data, warm-up, SFT, two-stage Refine-IQA, evaluation table."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from rarl.recipes.quality.demo import SCALES, refine_config, run_demo
from rarl.train.config import TrainConfig
from rarl.utils.config import load_config, to_dict

CONFIGS = Path(__file__).resolve().parents[3] / "configs"


@pytest.mark.slow
def test_demo_smoke_runs_end_to_end(tmp_path):
    out = tmp_path / "demo"
    summary = run_demo(out, size="smoke", seed=0)
    results = summary["results"]
    assert set(results) == {"Tiny-VL base", "+ SFT", "+ Refine-IQA"}
    for res in results.values():
        assert set(res["scoring"]) == {"think", "no_think"}
        for per in res["scoring"].values():
            for m in per.values():
                for inference in ("numeric", "prob"):
                    r = m[inference]
                    assert r["n"] > 0 and 0.0 <= r["failure_rate"] <= 1.0
                    lo, hi = r["srcc_ci"]
                    assert math.isnan(r["srcc"]) or math.isnan(lo) or lo - 1e-9 <= r["srcc"] <= hi + 1e-9
    report = (out / "report" / "report.md").read_text()
    assert "+ Refine-IQA (w/o think, Prob.)" in report
    stages = sorted(p.name for p in (out / "refine-iqa").iterdir() if (p / "config.json").is_file())
    assert stages == ["best", "final", "perception", "scoring"]  # best/: the validation the demo runs


def test_the_shipped_cpu_config_is_the_demos_refine_iqa_run(tmp_path):
    """configs/refine-iqa-tiny.yaml (what `rarl train` / `rarl ablate` start from) trains what the default demo
    trains, on the data a default demo writes, so the ablations run at the demo's budget."""
    demo = Path("runs/demo-refine-iqa")
    built = refine_config(
        "demo-base", demo / "data", demo / "perception-data", tmp_path, SCALES["default"], 0
    )
    shipped = load_config(TrainConfig, CONFIGS / "refine-iqa-tiny.yaml", [f"output_dir={tmp_path}"])
    for part in ("model", "data", "rollout", "algorithm", "optim", "eval"):
        assert to_dict(getattr(shipped, part)) == to_dict(getattr(built, part)), part
    assert shipped.prompts_per_step == built.prompts_per_step
    assert [(s.name, s.steps, s.mode, s.manifest) for s in shipped.stages] == [
        (s.name, s.steps, s.mode, s.manifest) for s in built.stages
    ]
    assert shipped.reward.name == built.reward.name
