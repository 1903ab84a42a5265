"""`rarl demo --recipe refine-iqa` at toy size: data, warm-up, SFT, two-stage Refine-IQA, evaluation table."""

from __future__ import annotations

import math

import pytest

from rarl.recipes.quality.demo import run_demo


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
