"""Tier 3: two CPU processes (gloo) through `accelerate launch`; both ranks must end with identical weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from rarl.train.metrics_log import read_metrics

WORKER = Path(__file__).resolve().parent / "ddp_worker.py"
CPU_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "accelerate" / "cpu-2proc.yaml"


def test_two_process_run_keeps_ranks_identical(tiny_model, manifest, tmp_path):
    out = tmp_path / "ddp"
    out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CPU_CONFIG), "--main_process_port", "0",
        str(WORKER), str(tiny_model), str(manifest), str(out),
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    digests = [json.loads((out / f"params-rank{r}.json").read_text()) for r in (0, 1)]
    assert {d["world"] for d in digests} == {2}
    assert digests[0]["sha256"] == digests[1]["sha256"]
    rows = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2]
    # the run really trained: the saved final model differs from the starting weights
    from safetensors.torch import load_file

    start = load_file(str(tiny_model / "model.safetensors"))
    final = load_file(str(out / "final" / "model.safetensors"))
    assert any(not torch.equal(start[k], final[k]) for k in start if k in final)
