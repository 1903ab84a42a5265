"""`rarl demo --recipe vision-r1` at toy size: every phase runs and the COCO-style table holds three rows."""

from __future__ import annotations

import json

from PIL import Image

from rarl.recipes.localization.demo import run_demo
from rarl.recipes.localization.demo_base import IMAGE_SIZE
from rarl.train.metrics_log import read_metrics


def test_demo_smoke_runs_end_to_end(tmp_path):
    out = tmp_path / "demo"
    summary = run_demo(out, size="smoke", seed=0)
    results = summary["results"]
    assert list(results) == ["Tiny-VL base", "+ SFT", "+ Vision-R1"]
    for r in results.values():
        assert r["n_detection"] + r["n_grounding"] > 0
        assert 0.0 <= r["failure_rate"] <= 1.0
        for metric in ("mAP", "AP50", "AP75", "AR100"):
            value = r[metric]
            assert value is None or 0.0 <= value <= 1.0, (metric, value)
    report = out / "report"
    table = (report / "report.md").read_text()
    assert "+ Vision-R1" in table and "AP50" in table
    assert json.loads((report / "results.json").read_text()).keys() == results.keys()
    with Image.open(report / "training_curves.png") as im:
        assert im.size[0] > 100
    # the trained models see the task's frame: their processor's budget is the synthetic image's area
    pre = json.loads((out / "sft" / "final" / "processor_config.json").read_text())["image_processor"]
    assert pre["size"] == {"shortest_edge": IMAGE_SIZE * IMAGE_SIZE, "longest_edge": IMAGE_SIZE * IMAGE_SIZE}
    # equal budgets: SFT steps x batch == GRPO steps x prompts per step
    rows = read_metrics(out / "vision-r1" / "metrics.jsonl")
    train_rows = [r for r in rows if "loss" in r]  # the validation rows are the eval/* ones
    assert f"steps: {len(train_rows)}" in (out / "sft" / "config.yaml").read_text()
    assert [r["step"] for r in rows if "eval/mAP" in r] == [r["step"] for r in train_rows]
