"""Output-folder safety on real tiny runs (issue 14, data loss 1-3): a folder that holds a run is refused
without --resume / --overwrite, --overwrite leaves nothing of the old run, --resume refuses a config that
changes the run, stage names are checked before they become paths, and a resume repairs `final/` and
removes what killed saves left behind."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from rarl.cli import app
from rarl.model import load_policy
from rarl.recipes.runs import grpo_trainer, run_grpo, run_sft, sft_trainer
from rarl.train.checkpoint import latest_checkpoint, list_checkpoints
from rarl.train.config import RESERVED_STAGE_NAMES, StageConfig, TrainConfig
from rarl.train.metrics_log import read_metrics
from rarl.utils.config import ConfigError, load_config

from .conftest import make_sft_config, make_train_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under `folder` -> its bytes (None for folders)."""
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


def _plant_leftovers(run: Path, *stages: str) -> list[Path]:
    """Temporary copies like those a kill during a save leaves (names as rarl.utils.io / checkpoint make them)."""
    planted = [
        run / ".final.k1ll3d.tmp",
        *(run / f".{stage}.k1ll3d.tmp" for stage in stages),
        run / "checkpoints" / ".step-00000009.tmp",
        run / "checkpoints" / "step-00000009",  # a step folder without trainer_state.json
    ]
    for p in planted:
        p.mkdir(parents=True)
        (p / "model.safetensors").write_bytes(b"\0" * 64)
    return planted


def _assert_same_weights(model_dir: Path, checkpoint: Path) -> None:
    saved = load_file(str(checkpoint / "model.safetensors"))
    loaded = load_policy(str(model_dir)).model.state_dict()
    common = [k for k in saved if k in loaded]
    assert len(common) >= len(saved) - 1, sorted(set(saved) - set(loaded))[:5]
    assert all(torch.equal(saved[k], loaded[k]) for k in common)


# ------------------------------------------------------------------------------------------ item 1
def test_a_folder_that_holds_a_run_is_refused_and_left_untouched(tiny_model, manifest, tmp_path):
    run = tmp_path / "run"
    run_grpo(make_train_config(tiny_model, manifest, run))
    stage_folders = {"stage1", "stage2"}
    # every other name the run folder uses is reserved, so no stage can take it
    assert {p.name for p in run.iterdir()} - stage_folders <= RESERVED_STAGE_NAMES
    before = _snapshot(run)

    with pytest.raises(ConfigError, match=rf"output_dir {run} already holds a run .*--resume.*--overwrite"):
        run_grpo(make_train_config(tiny_model, manifest, run))
    with pytest.raises(ConfigError, match="already holds a run"):
        grpo_trainer(make_train_config(tiny_model, manifest, run)).train()
    after = _snapshot(run)
    assert list(after) == list(before)
    assert after["metrics.jsonl"] == before["metrics.jsonl"]
    assert after == before


def test_sft_refuses_a_folder_that_holds_a_run(tiny_model, manifest, tmp_path):
    run = tmp_path / "sft"
    run_sft(make_sft_config(tiny_model, manifest, run, steps=1))
    before = _snapshot(run)
    with pytest.raises(ConfigError, match=rf"output_dir {run} already holds a run"):
        run_sft(make_sft_config(tiny_model, manifest, run, steps=1))
    assert _snapshot(run) == before


def test_overwrite_replaces_the_run_and_leaves_no_old_checkpoint(tiny_model, manifest, tmp_path):
    run = tmp_path / "run"
    old = make_train_config(tiny_model, manifest, run)
    old.stages = [StageConfig(name="old-a", steps=2), StageConfig(name="old-b", steps=1)]
    old.checkpoint.every = 1
    old.checkpoint.keep_last = 5
    grpo_trainer(old).train()
    assert [p.name for p in list_checkpoints(run)] == ["step-00000001", "step-00000002", "step-00000003"]
    (run / "notes.txt").write_text("mine")

    new = make_train_config(tiny_model, manifest, run)
    run_grpo(new, overwrite=True)
    assert [p.name for p in list_checkpoints(run)] == ["step-00000001", "step-00000002"]
    assert not (run / "old-a").exists() and not (run / "old-b").exists()
    assert [(r["step"], r["stage"]) for r in read_metrics(run / "metrics.jsonl")] == [
        (1, "stage1"),
        (2, "stage2"),
    ]
    assert (run / "notes.txt").read_text() == "mine"  # not the run's: kept

    # a later --resume continues the new run (finished), never the old one's step 3
    resumed = grpo_trainer(make_train_config(tiny_model, manifest, run))
    resumed.train(resume=True)
    assert resumed.state.global_step == 2
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == [1, 2]


def test_resume_and_overwrite_together_are_refused(tiny_model, manifest, tmp_path):
    with pytest.raises(ConfigError, match="--resume and --overwrite exclude each other"):
        run_grpo(make_train_config(tiny_model, manifest, tmp_path / "run"), resume=True, overwrite=True)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda cfg: setattr(cfg.optim, "lr", 2e-3), "optim.lr 0.001 -> 0.002"),
        (lambda cfg: setattr(cfg, "seed", 1), "seed 0 -> 1"),
        (lambda cfg: setattr(cfg.rollout, "num_generations", 3), "rollout.num_generations 4 -> 3"),
        (lambda cfg: setattr(cfg.stages[1], "steps", 5), "stages.1.steps 1 -> 5"),
    ],
)
def test_resume_refuses_a_config_that_changes_the_run(tiny_model, manifest, tmp_path, change, expected):
    run = tmp_path / "run"
    grpo_trainer(make_train_config(tiny_model, manifest, run)).train(stop_at_step=1)
    before = _snapshot(run)
    cfg = make_train_config(tiny_model, manifest, run)
    change(cfg)
    with pytest.raises(ConfigError, match=r"--resume: the config differs") as err:
        run_grpo(cfg, resume=True)
    assert expected in str(err.value) and str(latest_checkpoint(run)) in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="--resume: the config differs"):
        grpo_trainer(cfg).train(resume=True)
    assert _snapshot(run) == before


def test_resume_allows_a_changed_logging_and_checkpoint_cadence(tiny_model, manifest, tmp_path, caplog):
    run = tmp_path / "run"
    grpo_trainer(make_train_config(tiny_model, manifest, run)).train(stop_at_step=1)
    cfg = make_train_config(tiny_model, manifest, run)
    cfg.logging.sample_every = 2
    cfg.checkpoint.every = 1
    with caplog.at_level(logging.INFO, logger="rarl"):
        run_grpo(cfg, resume=True)
    assert "logging.sample_every 1 -> 2" in caplog.text
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == [1, 2]
    assert (run / "final" / "config.json").is_file()


def test_cli_refusal_is_one_error_line_with_exit_code_2(tiny_model, manifest, tmp_path):
    run = tmp_path / "run"
    args = [
        "train", "--config", str(CONFIGS / "demo.yaml"), f"output_dir={run}",
        f"model.name_or_path={tiny_model}", f"data.manifest={manifest}", "data.sizes=[1,2]",
        "stages.0.steps=1", "stages.1.steps=1", "rollout.num_generations=2", "rollout.max_new_tokens=8",
        "rmo.k=1", "prompts_per_step=2", "micro_batch_size=4", "logging.progress=false",
        "logging.sample_every=0", "checkpoint.every=0",
    ]  # fmt: skip
    first = CliRunner().invoke(app, [*args, "--stop-at-step", "1"])
    assert first.exit_code == 0, first.output
    before = _snapshot(run)

    result = CliRunner().invoke(app, args)
    text = result.output.strip()
    assert result.exit_code == 2, text
    assert text.startswith("error:") and "Traceback" not in text and text.count("error:") == 1, text
    flat = " ".join(text.split())  # the console may wrap the one line at its width
    assert f"output_dir {run} already holds a run" in flat, text
    assert _snapshot(run) == before

    overwritten = CliRunner().invoke(app, [*args, "--overwrite"])
    assert overwritten.exit_code == 0, overwritten.output
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == [1, 2]


def test_ablate_resumes_an_unfinished_variant_and_refuses_a_changed_base(
    tiny_model, manifest, tmp_path, caplog
):
    from rarl.ablate import run_ablations, variant_config
    from rarl.eval.protocol import EvalSettings
    from rarl.recipes.ordinal.ablations import ABLATIONS

    overrides = [
        f"model.name_or_path={tiny_model}", f"data.manifest={manifest}", "data.sizes=[1,2]",
        "stages.0.steps=1", "stages.1.steps=1", "rollout.num_generations=2", "rmo.k=1",
        "rollout.max_new_tokens=8", "prompts_per_step=2", "logging.progress=false", "checkpoint.every=0",
    ]  # fmt: skip
    out = tmp_path / "abl"
    base = load_config(TrainConfig, CONFIGS / "demo.yaml", overrides)
    grpo_trainer(variant_config(base, ABLATIONS, "no_rmo", out)).train(stop_at_step=1)  # interrupted
    settings = EvalSettings(sizes=(1, 2), max_samples=1, max_new_tokens=8, n_boot=10, progress=False)

    with pytest.raises(ConfigError, match=r"--resume: the config differs .* in optim.lr"):
        run_ablations(CONFIGS / "demo.yaml", out, [*overrides, "optim.lr=0.5"], ["no_rmo"], settings)
    with caplog.at_level(logging.INFO, logger="rarl"):
        run_ablations(CONFIGS / "demo.yaml", out, overrides, ["no_rmo"], settings)
    assert f"resumed from {out / 'no_rmo' / 'checkpoints' / 'step-00000001'}" in caplog.text
    assert [r["step"] for r in read_metrics(out / "no_rmo" / "metrics.jsonl")] == [1, 2]
    assert (out / "no_rmo" / "final" / "config.json").is_file()


# ------------------------------------------------------------------------------------------ item 2
@pytest.mark.parametrize(
    "name", ["", ".", "..", "../../escape", "a/b", ".hidden", "final", "checkpoints", "Checkpoints",
             "tiny-model", "metrics.jsonl", "config.yaml", "tensorboard", "st age", "x" * 101],
)  # fmt: skip
def test_bad_stage_names_are_refused(name):
    with pytest.raises(ConfigError, match=r"^stage '.*': ") as err:
        load_config(TrainConfig, None, [f"stages.0.name={name}"])
    message = str(err.value)
    assert f"stage {name!r}" in message and "\n" not in message
    assert ("reserved" in message) == (name.lower() in RESERVED_STAGE_NAMES)


@pytest.mark.parametrize("name", ["stage1", "Stage-2", "s_3.warm", "a", "9a" * 50])
def test_good_stage_names_are_accepted(name):
    assert load_config(TrainConfig, None, [f"stages.0.name={name}"]).stages[0].name == name


# ------------------------------------------------------------------------------------------ item 3
@pytest.mark.parametrize("damage", ["deleted", "truncated"])
def test_resume_recreates_final_and_removes_leftovers(tiny_model, manifest, tmp_path, damage, caplog):
    run = tmp_path / "run"
    grpo_trainer(make_train_config(tiny_model, manifest, run)).train()
    last = latest_checkpoint(run)
    assert last is not None and last.name == "step-00000002"
    if damage == "deleted":  # killed before the final folder was renamed into place
        shutil.rmtree(run / "final")
    else:  # cut short by something outside rarl's atomic writes (a copy, a full disk)
        weights = run / "final" / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    planted = _plant_leftovers(run, "stage1", "stage2")

    with caplog.at_level(logging.WARNING, logger="rarl"):
        grpo_trainer(make_train_config(tiny_model, manifest, run)).train(resume=True)
    assert "re-creating it from the restored weights" in caplog.text
    for p in planted:
        assert not p.exists(), p
        assert str(p) in caplog.text
    assert [p.name for p in list_checkpoints(run)] == ["step-00000001", "step-00000002"]
    _assert_same_weights(run / "final", last)
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == [1, 2]


def test_resume_puts_back_a_folder_killed_between_two_renames(tiny_model, manifest, tmp_path, caplog):
    """A kill inside a replace leaves the complete old copy aside (`.final.old`, `.step-XXXXXXXX.old`) and
    the target missing: resume moves the copy back instead of deleting it."""
    run = tmp_path / "run"
    grpo_trainer(make_train_config(tiny_model, manifest, run)).train()
    last = latest_checkpoint(run)
    (run / "final").rename(run / ".final.old")
    last.rename(last.with_name(f".{last.name}.old"))
    (run / ".final.k1ll3d.tmp").mkdir()

    with caplog.at_level(logging.WARNING, logger="rarl"):
        resumed = grpo_trainer(make_train_config(tiny_model, manifest, run))
        resumed.train(resume=True)
    assert f"restored {run / 'final'} from .final.old" in caplog.text
    assert f"restored {last} from .{last.name}.old" in caplog.text
    assert resumed.state.global_step == 2
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []
    _assert_same_weights(run / "final", last)


def test_resume_recreates_the_stage_folder_the_checkpoint_stands_for(tiny_model, manifest, tmp_path):
    run = tmp_path / "run"
    grpo_trainer(make_train_config(tiny_model, manifest, run)).train()
    boundary = run / "checkpoints" / "step-00000001"  # saved at the end of stage 1, after its folder
    shutil.rmtree(run / "checkpoints" / "step-00000002")  # resume from the stage boundary
    (run / "stage1" / "config.json").write_text('{"cut sh')

    resumed = grpo_trainer(make_train_config(tiny_model, manifest, run))
    resumed.train(resume=True)
    _assert_same_weights(run / "stage1", boundary)
    assert resumed.state.global_step == 2 and (run / "final" / "config.json").is_file()


def test_sft_resume_recreates_final_and_removes_leftovers(tiny_model, manifest, tmp_path):
    run = tmp_path / "sft"
    sft_trainer(make_sft_config(tiny_model, manifest, run, steps=2)).train()
    last = latest_checkpoint(run)
    shutil.rmtree(run / "final")
    planted = _plant_leftovers(run)

    sft_trainer(make_sft_config(tiny_model, manifest, run, steps=2)).train(resume=True)
    assert not any(p.exists() for p in planted)
    _assert_same_weights(run / "final", last)
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == [1, 2]
