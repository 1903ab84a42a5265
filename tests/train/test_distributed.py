"""Tier 3: two CPU processes (gloo) through `accelerate launch`; both ranks must end with identical weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

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

    start = load_file(str(tiny_model / "model.safetensors"))
    final = load_file(str(out / "final" / "model.safetensors"))
    assert any(not torch.equal(start[k], final[k]) for k in start if k in final)


UPDATE_WORKER = Path(__file__).resolve().parent / "ddp_update_worker.py"


def _run_alone_and_on_two_processes(worker: Path, tiny_model: Path, manifest: Path, out: Path) -> None:
    """`worker MODEL MANIFEST OUT` as one process, then by `accelerate launch` on two CPU processes (gloo)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [str(worker), str(tiny_model), str(manifest), str(out)]
    single = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-4000:]
    launch = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CPU_CONFIG), "--main_process_port", "0",
    ]  # fmt: skip
    double = subprocess.run([*launch, *args], env=env, capture_output=True, text=True, timeout=600)
    assert double.returncode == 0, double.stderr[-4000:]


def test_two_process_update_equals_one_process_update_on_the_same_global_batch(
    tiny_model, manifest, tmp_path
):
    """Token aggregation and the DAPO filter normalise by global counts: ranks holding different numbers of
    tokens or kept sequences still make exactly the 1-process update (to float rounding)."""
    out = tmp_path / "upd"
    out.mkdir()
    _run_alone_and_on_two_processes(UPDATE_WORKER, tiny_model, manifest, out)
    for case in ("token", "sequence_filtered"):
        ref = torch.load(out / f"{case}-world1-rank0.pt")
        for rank in (0, 1):
            got = torch.load(out / f"{case}-world2-rank{rank}.pt")
            worst = max(float((got[k] - ref[k]).abs().max()) for k in ref)
            assert worst < 1e-6, f"{case}: rank {rank} differs from the 1-process update by {worst:.2e}"
        m1 = json.loads((out / f"{case}-world1-rank0.json").read_text())
        m2 = json.loads((out / f"{case}-world2-rank0.json").read_text())
        assert abs(m1["grad_norm"] - m2["grad_norm"]) <= 1e-5 * m1["grad_norm"], (case, m1, m2)
        assert abs(m1["loss"] - m2["loss"]) <= 1e-5 * abs(m1["loss"]) + 1e-7, (case, m1["loss"], m2["loss"])
        assert m1["grad_norm"] > 0.1  # a real update, not a vacuous equality


FSDP2_WORKER = Path(__file__).resolve().parent / "fsdp2_worker.py"


def test_fsdp2_on_two_cpu_processes_equals_one_process(tiny_model, manifest, tmp_path):
    """torch FSDP2 (`fully_shard`, per decoder layer and root) runs on CPU with gloo: two SGD updates of the tiny
    Qwen2.5-VL on a sharded 2-rank mesh give the 1-process parameters (to float rounding)."""
    out = tmp_path / "fsdp2"
    out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [str(FSDP2_WORKER), str(tiny_model), str(manifest), str(out), "sgd"]
    single = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-4000:]
    run = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    double = subprocess.run([*run, *args], env=env, capture_output=True, text=True, timeout=600)
    assert double.returncode == 0, double.stderr[-4000:]
    ref = torch.load(out / "fsdp2-sgd-world1.pt")
    got = torch.load(out / "fsdp2-sgd-world2.pt")
    assert set(got["state"]) == set(ref["state"])
    worst = max(float((got["state"][k] - ref["state"][k]).abs().max()) for k in ref["state"])
    assert worst < 1e-6, f"FSDP2 parameters differ from the 1-process run by {worst:.2e}"
    assert got["losses"] == pytest.approx(ref["losses"], rel=1e-5)
    assert ref["losses"][1] < ref["losses"][0]  # a real update, not a vacuous equality


SFT_WORKER = Path(__file__).resolve().parent / "ddp_sft_worker.py"


def test_two_process_sft_update_equals_one_process_update_on_the_same_global_batch(
    tiny_model, manifest, tmp_path
):
    """SFT shares GRPO's update loop and its global normaliser: ranks holding different numbers of answer
    tokens make exactly the 1-process update on the same global batch (to float rounding)."""
    out = tmp_path / "sft"
    out.mkdir()
    _run_alone_and_on_two_processes(SFT_WORKER, tiny_model, manifest, out)
    m1 = json.loads((out / "sft-world1-rank0.json").read_text())
    ranks = [json.loads((out / f"sft-world2-rank{r}.json").read_text()) for r in (0, 1)]
    # not vacuous: the ranks' shares of answer tokens differ, and together they are the global batch
    assert ranks[0]["local_tokens"] != ranks[1]["local_tokens"]
    assert ranks[0]["local_tokens"] + ranks[1]["local_tokens"] == m1["local_tokens"] == m1["answer_tokens"]
    assert all(r["answer_tokens"] == m1["answer_tokens"] for r in ranks)
    ref = torch.load(out / "sft-world1-rank0.pt")
    for rank in (0, 1):
        got = torch.load(out / f"sft-world2-rank{rank}.pt")
        worst = max(float((got[k] - ref[k]).abs().max()) for k in ref)
        assert worst < 1e-6, f"rank {rank} differs from the 1-process SFT update by {worst:.2e}"
    for r in ranks:
        assert abs(r["grad_norm"] - m1["grad_norm"]) <= 1e-5 * m1["grad_norm"], (r, m1)
    assert m1["grad_norm"] > 0.1  # a real update, not a vacuous equality
