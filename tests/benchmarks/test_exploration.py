"""benchmarks/exploration.py: what it calls a correct answer, and its run on the shipped base at smoke scale."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "exploration.py"


@pytest.fixture(scope="module")
def exploration():
    spec = importlib.util.spec_from_file_location("exploration", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_correct_means_exact_level_for_one_image_and_true_order_for_several(exploration):
    components = {
        "format": torch.tensor([1.0, 1.0, 0.0, 1.0]),
        "regression": torch.tensor([1.0, 0.9, 1.0, 1.0]),
        "accuracy": torch.tensor([1.0, 1.0, 1.0, 0.5]),
    }
    assert exploration.correct_rows(components, 1).tolist() == [True, False, False, True]
    assert exploration.correct_rows(components, 4).tolist() == [True, True, False, False]


def test_smoke_run_reports_every_size_with_consistent_shares(tmp_path):
    out = tmp_path / "rows.json"
    cmd = [sys.executable, str(SCRIPT), "--scale", "smoke", "--samples", "2", "--sizes", "1", "2"]
    done = subprocess.run(
        [*cmd, "--out", str(tmp_path / "work"), "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| images | entropy (nats/token)" in done.stdout
    rows = {int(k): v for k, v in json.loads(out.read_text())["rows"].items()}
    assert sorted(rows) == [1, 2]
    for row in rows.values():
        assert row["prompts"] == 2
        assert row["entropy"] >= 0.0
        assert 1.0 <= row["distinct"] <= 4.0  # the smoke scale's G = 4
        for key in ("forking", "well_formed", "correct", "mixed", "zero_var_s1", "zero_var_s2", "rmo_fired"):
            assert 0.0 <= row[key] <= 1.0, key
        if row["distinct"] == 1.0:  # every group repeats one completion: no reward variance at all
            assert row["zero_var_s1"] == row["zero_var_s2"] == 1.0
        assert row["mixed"] <= min(row["correct"], 1.0 - row["correct"]) * 4 + 1e-9  # needs both kinds
        assert row["correct"] <= row["well_formed"]
        assert 0.0 <= row["zero_var_after"] <= 1.0


def test_bad_options_fail_in_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--sizes", "3", "--out", str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == ["error: --sizes must be among [1, 2, 4, 8], got [3]"]
