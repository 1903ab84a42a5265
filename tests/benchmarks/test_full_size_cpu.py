"""benchmarks/full_size_cpu.py at smoke scale (the tiny model): the real commands, a kill after step 1 and a
resume that ends on the same adapters and optimizer state as the run that was never stopped."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "full_size_cpu.py"


@pytest.mark.slow
def test_kill_and_resume_reach_the_same_adapters_and_every_phase_is_measured(tmp_path):
    out = tmp_path / "fs"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--out", str(out), "--json", str(tmp_path / "r.json")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "r.json").read_text())
    phases = {r["phase"]: r for r in report["rows"]}
    assert list(phases) == ["write", "prepare", "train", "train, killed", "resume", "eval"]
    assert phases["train, killed"]["exit"] == "killed" and phases["resume"]["exit"] == 0
    assert all(r["seconds"] > 0 and r["peak_rss_gib"] > 0 for r in report["rows"])
    assert [r["step"] for r in report["step_phases"]] == [1, 2]
    assert all(r["total"] > 0 and r["rollout"] > 0 and r["update"] > 0 for r in report["step_phases"])
    resume = report["resume"]
    assert resume["lora_b_nonzero"] > 0.5  # the adapters moved, so equality is not that of untouched zeros
    assert resume["lora_equal"] and resume["optimizer_equal"] and resume["lora_max_abs_diff"] == 0.0
    assert resume["lora_tensors"] > 0 and resume["optimizer_tensors"] > 0
    assert (
        resume["checkpoint_tensors"] == resume["lora_tensors"]
    )  # under LoRA a checkpoint holds the adapters
    assert (out / "eval").is_dir() and not (out / "run-a").exists()  # its own run folders removed
    refused = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode != 0 and "exists" in refused.stderr  # a second run never overwrites the first
