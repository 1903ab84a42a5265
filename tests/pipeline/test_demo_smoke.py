"""Tier 4: the whole pipeline at toy size (what `rarl demo --size smoke` runs), and the ablation command."""

from __future__ import annotations

import json
import math

from PIL import Image

from rarl.recipes.ordinal.demo import run_demo


def test_demo_smoke_runs_end_to_end(tmp_path):
    out = tmp_path / "demo"
    summary = run_demo(out, size="smoke", seed=0)
    results = summary["results"]
    assert set(results) == {"Tiny-VL base", "+ SFT", "+ RARL"}
    for per_size in results.values():
        assert sorted(per_size) == [1, 2, 4, 8]
        for r in per_size.values():
            assert r.n > 0
            assert 0.0 <= r.failure_rate <= 1.0
            assert math.isnan(r.value) or r.ci_low <= r.value <= r.ci_high
    report = out / "report"
    for name in ("results.json", "table.md", "report.md", "index.html", "predictions.jsonl"):
        assert (report / name).is_file(), name
    for png in ("size_bars.png", "training_curves.png"):
        with Image.open(report / png) as im:
            assert im.size[0] > 100 and im.size[1] > 100
    table = (report / "table.md").read_text()
    assert "+ RARL" in table and "8-imgs" in table
    # budgets are equal: SFT steps x batch == RARL steps x prompts per step
    sft_cfg = (out / "sft" / "config.yaml").read_text()
    rarl_rows = [json.loads(line) for line in (out / "rarl" / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rarl_rows if "loss" in r]  # the validation rows are the eval/* ones
    assert f"steps: {len(train_rows)}" in sft_cfg
    # the RL run validated itself after every step (the smoke scale's eval.every 1) and kept best/
    assert [r["step"] for r in rarl_rows if "eval/tau" in r] == [r["step"] for r in train_rows]
    assert (out / "rarl" / "best" / "config.json").is_file()
