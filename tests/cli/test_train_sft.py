"""`rarl train` and `rarl sft` on the shipped demo recipes, shrunk by key=value overrides to seconds."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from .helpers import CONFIGS, assert_ok, invoke, train_overrides


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def test_train_demo_recipe_with_overrides(tiny_model: Path, manifest: Path, tmp_path: Path):
    run = tmp_path / "rarl"
    result = invoke("train", "--config", CONFIGS / "demo.yaml", *train_overrides(tiny_model, manifest, run))
    assert_ok(result)
    rows = _metrics(run)
    assert [(r["step"], r["stage"]) for r in rows] == [(1, "stage1"), (2, "stage2")]
    for r in rows:
        assert {"loss", "reward/total_mean", "kl", "grad_norm", "lr"} <= set(r)
    assert rows[0]["completion_len_mean"] <= 16  # stage 1 has no RMO injections: max_new_tokens holds
    for folder in ("stage1", "stage2", "final"):
        assert (run / folder / "config.json").is_file(), folder
        assert (run / folder / "model.safetensors").is_file(), folder
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["rollout"]["num_generations"] == 2
    assert saved["rollout"]["max_new_tokens"] == 16
    assert saved["prompts_per_step"] == 2
    assert [s["steps"] for s in saved["stages"]] == [1, 1]
    assert [s["rmo"] for s in saved["stages"]] == [False, True]  # untouched keys come from demo.yaml
    assert saved["optim"]["lr"] == 5.0e-5
    assert saved["algorithm"]["advantage_kwargs"] == {"negative_scale": 0.25}
    assert saved["model"]["name_or_path"] == str(tiny_model)


def test_train_stop_then_resume(tiny_model: Path, manifest: Path, tmp_path: Path):
    run = tmp_path / "resume"
    args = ["train", "--config", CONFIGS / "demo.yaml", *train_overrides(tiny_model, manifest, run)]

    assert_ok(invoke(*args, "--stop-at-step", "1"))
    assert [r["step"] for r in _metrics(run)] == [1]
    assert (run / "checkpoints" / "step-00000001").is_dir()
    assert not (run / "final").exists()

    result = invoke(*args, "--resume")
    assert_ok(result)
    assert "resumed from" in result.output
    assert [(r["step"], r["stage"]) for r in _metrics(run)] == [(1, "stage1"), (2, "stage2")]
    assert (run / "final" / "config.json").is_file()
    state = json.loads((run / "checkpoints" / "step-00000002" / "trainer_state.json").read_text())
    assert state["global_step"] == 2


def test_sft_demo_recipe_with_overrides(tiny_model: Path, manifest: Path, tmp_path: Path):
    run = tmp_path / "sft"
    result = invoke(
        "sft", "--config", CONFIGS / "sft-demo.yaml",
        f"output_dir={run}", f"model.name_or_path={tiny_model}", f"data.manifest={manifest}",
        "data.sizes=[1,2]", "steps=2", "batch_size=2", "micro_batch_size=2",
        "logging.progress=false", "checkpoint.every=0",
    )  # fmt: skip
    assert_ok(result)
    rows = _metrics(run)
    assert [r["step"] for r in rows] == [1, 2]
    assert all(r["stage"] == "sft" and r["loss"] > 0 and r["answer_tokens"] > 0 for r in rows)
    assert (run / "final" / "config.json").is_file()
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["steps"] == 2 and saved["batch_size"] == 2
