"""benchmarks/gpu_check.py (`make gpu-check`): its CPU smoke run, the no-GPU exit, and the token count of its MFU."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from typer.testing import CliRunner

from rarl.cli import app
from rarl.model import load_policy

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"
GIB = 1024**3


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The script as `make gpu-check` runs it, seen without a GPU, on one torch thread."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=timeout
    )


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    del sys.modules["gpu_check"]


def test_without_a_gpu_it_exits_2_with_one_line(tmp_path):
    out = tmp_path / "out"
    proc = run("--out", str(out))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == ["error: gpu-check needs a CUDA GPU (none found)"]
    assert not out.exists()  # nothing written


def test_cpu_smoke_runs_the_trainer_and_writes_the_table_and_json(tmp_path, tiny_model):
    out = tmp_path / "out"
    proc = run(
        "--cpu-smoke", "--out", str(out), "--steps", "3", "--prompts", "1", "--images", "1",
        "--max-new-tokens", "4",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    assert [line.split(" | ")[:2] for line in lines[2:]] == [
        ["| hf", "ok"],
        ["| vllm", "skipped"],
        ["| fsdp", "skipped"],
    ]
    assert (out / "gpu-check.md").read_text().splitlines() == lines

    report = json.loads((out / "gpu-check.json").read_text())
    assert report["device"] == "CPU (--cpu-smoke)" and report["dtype"] == "float32"
    assert (report["images_per_prompt"], report["image_side"], report["group_size"]) == (1, 56, 8)
    hf, vllm, fsdp = report["rows"]
    assert (vllm["status"], vllm["note"]) == ("skipped", "not in --cpu-smoke")
    assert (fsdp["status"], fsdp["note"]) == ("skipped", "needs 2+ GPUs (found 0)")
    assert hf["status"] == "ok" and hf["backend"] == "hf" and hf["timed_steps"] == 2
    assert 0 < hf["update_s"] < hf["s_per_step"] and 0 < hf["rollout_s"] < hf["s_per_step"]
    assert (hf["mfu"], hf["mfu_note"]) == (None, "n/a")  # no GPU peak on a CPU
    assert hf["peak_allocated_gib"] is None and hf["logprob_max_abs_diff"] is None
    assert hf["changed"] > 0.5  # float32: the first AdamW step moves every element it has a gradient for
    # N of F = 6 N T: the language model's decoder, final norm and tied LM head (the embedding counted once)
    model = load_policy(tiny_model).model
    lm = sum(p.numel() for n, p in model.named_parameters() if "visual" not in n and "embed_tokens" not in n)
    assert hf["lm_params"] == lm + model.get_input_embeddings().weight.numel()
    # T: 8 rows of prompt + completion (gradient checkpointing on: every row runs its own prompt)
    assert hf["update_tokens"] > 8 * hf["prompt_text_tokens"]
    flops = 6 * hf["lm_params"] * hf["update_tokens"]
    assert hf["update_tflops"] == pytest.approx(flops / hf["update_s"] / 1e12)

    # the plan figure is what `rarl plan` prints for the row's config (written beside the table)
    config = out / "config-hf.yaml"
    result = CliRunner().invoke(
        app,
        ["plan", "--config", str(config), "--gpus", "1", "--gpu-memory", "80", "--json",
         "--prompt-tokens", str(hf["prompt_text_tokens"]), "model.name_or_path=tiny"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert hf["plan_peak_gib"] == plan["peak_bytes"] / GIB and hf["plan_phase"] == plan["peak_phase"]


def test_update_tokens_follow_the_micro_batches_and_the_shared_prefill(gpu_check):
    # 4 rows, G = 2: prompts of 5, 5, 3, 3 real tokens, completions of 2, 4, 1, 3
    mask = lambda lengths, width: (torch.arange(width) < torch.tensor(lengths)[:, None]).long()  # noqa: E731
    rollout = SimpleNamespace(
        prompts=SimpleNamespace(attention_mask=mask([5, 5, 3, 3], 6)),
        completion_mask=mask([2, 4, 1, 3], 4),
        group_index=torch.tensor([0, 0, 1, 1]),
    )
    every = torch.ones(4, dtype=torch.bool)
    assert gpu_check.update_tokens(rollout, every, 4, shared=False) == 10 + 16
    assert gpu_check.update_tokens(rollout, every, 4, shared=True) == 10 + 5 + 3  # one prompt per group
    assert gpu_check.update_tokens(rollout, every, 1, shared=True) == 10 + 16  # each row its own chunk
    assert gpu_check.update_tokens(rollout, every, 3, shared=True) == 10 + (5 + 3) + 3  # group 1 split
    kept = torch.tensor([True, False, True, False])
    assert gpu_check.update_tokens(rollout, kept, 4, shared=True) == (2 + 1) + (5 + 3)


def test_prompt_text_tokens_leave_out_image_pads_and_their_markers(gpu_check):
    prompts = SimpleNamespace(
        attention_mask=torch.tensor([[0, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1]]),
        mm_token_type_ids=torch.tensor([[0, 0, 0, 1, 1, 0, 0, 0], [0, 0, 1, 0, 0, 0, 1, 0]]),
        images_per_row=torch.tensor([1, 2]),
    )
    # row 0: 7 tokens - 2 pads - 2 markers = 3; row 1: 8 - 2 - 4 = 2
    assert gpu_check.prompt_text_tokens(SimpleNamespace(prompts=prompts)) == 3


@pytest.mark.parametrize(
    ("name", "tflops", "why"),
    [
        ("NVIDIA H100 80GB HBM3", 989.0, ""),
        ("NVIDIA H200", 989.0, ""),
        ("NVIDIA A100-SXM4-80GB", 312.0, ""),
        ("NVIDIA A100-PCIE-40GB", 312.0, ""),
        ("NVIDIA H100 PCIe", None, "unknown"),
        ("NVIDIA H100 NVL", None, "unknown"),
        ("Tesla T4", None, "unknown"),
    ],
)
def test_peak_flops_by_device_name(gpu_check, monkeypatch, name, tflops, why):
    monkeypatch.setattr(gpu_check.torch.cuda, "get_device_name", lambda index=0: name)
    args = SimpleNamespace(cpu_smoke=False, peak_tflops=None)
    peak, note = gpu_check.peak_flops(args)
    assert (peak / 1e12 if peak else None, note) == (tflops, why)
    assert gpu_check.peak_flops(SimpleNamespace(cpu_smoke=False, peak_tflops=500.0)) == (500e12, "")
    assert gpu_check.peak_flops(SimpleNamespace(cpu_smoke=True, peak_tflops=None)) == (None, "n/a")
