"""A model folder's task record (`rarl_task.json`) and the one-line message for a folder that is no model."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from rarl.model.loading import ModelLoadError, check_model_source
from rarl.model.task_file import TASK_FILE, ModelTask, TaskFileError, model_task, read_model_task
from rarl.train.checkpoint import stage_tasks


class _Recipe:
    """What the trainers ask of a recipe for the record: its name, modes and `task_record`."""

    name = "toy"

    def resolve_mode(self, mode):
        return mode or "think"

    def task_record(self, manifest, samples):
        return {"manifest_seen": manifest, "sizes": sorted({s.n for s in samples})}


def test_record_round_trips_and_absent_file_is_none(tmp_path: Path):
    assert read_model_task(tmp_path) is None
    record = model_task(_Recipe(), None, "data/m", [SimpleNamespace(n=2), SimpleNamespace(n=1)], stage="s1")
    assert record == ModelTask("toy", "think", "s1", "data/m", {"manifest_seen": "data/m", "sizes": [1, 2]})
    (tmp_path / TASK_FILE).write_text(json.dumps(record.to_dict()))
    back = read_model_task(tmp_path)
    assert back is not None and back.path == tmp_path / TASK_FILE
    assert (back.recipe, back.mode, back.stage, back.manifest, back.task) == (
        "toy",
        "think",
        "s1",
        "data/m",
        {"manifest_seen": "data/m", "sizes": [1, 2]},
    )


def test_stage_records_accumulate_samples_and_final_is_the_last_stage():
    stages = [SimpleNamespace(name="a", mode="no_think"), SimpleNamespace(name="b", mode=None)]
    pools = {"a": [SimpleNamespace(n=1)], "b": [SimpleNamespace(n=4), SimpleNamespace(n=2)]}
    records = stage_tasks(_Recipe(), stages, lambda s: f"data/{s.name}", pools)
    assert list(records) == ["a", "b", "final"]
    assert (records["a"].mode, records["a"].task["sizes"], records["a"].manifest) == (
        "no_think",
        [1],
        "data/a",
    )
    assert (records["b"].mode, records["b"].task["sizes"], records["b"].stage) == ("think", [1, 2, 4], "b")
    assert records["final"] == records["b"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"recipe": "rarl", "task": {', "not a valid task file (not JSON: Expecting"),
        (b"[1, 2]", "not a valid task file (a JSON list, not an object)"),
        (b'{"recipe": 5}', "'recipe' must be a non-empty string, got 5"),
        (b'{"task": {}}', "'recipe' must be a non-empty string, got None"),
        (b'{"recipe": "rarl", "mode": ""}', "'mode' must be a non-empty string, got ''"),
        (b'{"format": 2, "recipe": "rarl"}', "task file format 2; this rarl reads format 1"),
        (b'{"recipe": "rarl", "task": [1]}', "'task' must be a JSON object, got [1]"),
        (b'{"recipe": "rarl", "task": {"lo": NaN}}', "not JSON: NaN is not a JSON number"),
        (b"\xff\xfe{}", "not a valid task file (not UTF-8 text)"),
        (b"[" * 100_000, "not a valid task file (JSON nested too deeply)"),
    ],
)
def test_a_malformed_record_is_one_error_naming_the_file(tmp_path: Path, content: bytes, expected: str):
    (tmp_path / TASK_FILE).write_bytes(content)
    with pytest.raises(TaskFileError) as err:
        read_model_task(tmp_path)
    message = str(err.value)
    assert message.startswith(f"{tmp_path / TASK_FILE}: ") and expected in message
    assert "\n" not in message


def _model(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "qwen2_5_vl"}')
    return folder


def _message(path: Path) -> str:
    with pytest.raises(ModelLoadError) as err:
        check_model_source(path)
    return str(err.value)


def test_a_run_folder_points_at_its_model(tmp_path: Path):
    run = tmp_path / "run"
    for name in ("final", "best", "stage1", "tiny-model"):
        _model(run / name)
    (run / "checkpoints" / "step-00000004").mkdir(parents=True)
    (run / "config.yaml").write_text("seed: 0\n")
    assert _message(run) == f"{run} is a run folder; its model is {run / 'final'} (or best/, stage1/)"
    step = run / "checkpoints" / "step-00000004"
    assert (
        _message(step)
        == f"{step} is a training checkpoint, not a model folder; the run's model is {run / 'final'}"
    )
    assert _message(run / "checkpoints").startswith(
        f"{run / 'checkpoints'} is the checkpoints folder of a run"
    )
    assert _message(run / "final" / "config.json") == (
        f"{run / 'final' / 'config.json'} is a file of the model folder {run / 'final'}; give the folder"
    )


def test_an_unfinished_run_and_a_folder_of_runs_are_named_too(tmp_path: Path):
    run = tmp_path / "unfinished"
    _model(run / "stage1")
    (run / "metrics.jsonl").write_text("{}\n")
    assert _message(run) == (
        f"{run} is a run folder without final/ (the run has not finished); its models: {run / 'stage1'}"
    )
    fresh = tmp_path / "fresh"
    _model(fresh / "tiny-model")  # the untrained start of `model.name_or_path: tiny` is not offered
    (fresh / "checkpoints").mkdir()
    assert _message(fresh) == (
        f"{fresh} is a run folder with no model saved yet (no final/); resume the run (`--resume`) to finish it"
    )
    demo = tmp_path / "demo"
    _model(demo / "rarl" / "final")
    _model(demo / "sft" / "final")
    (demo / "data").mkdir()
    assert _message(demo) == (
        f"{demo} is not a model folder (no config.json); models in it: {demo / 'rarl/final'}, {demo / 'sft/final'}"
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _message(empty) == f"{empty} is not a model folder (no config.json)"
