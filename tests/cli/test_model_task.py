"""A trained model folder records its task, and the inference commands read it.

One piped `rarl train` (its progress as plain lines) makes the model folders; `rank`, `score` and `eval` then
take what their flags leave out from `final/rarl_task.json`, name every image an answer leaves out, and point
a run folder at its model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rarl.model.task_file import TASK_FILE, read_model_task

from .helpers import CONFIGS, assert_clean_error, assert_ok, invoke, run_script, train_overrides

RUN_FOLDER_HINT = "{run} is a run folder; its model is {run}/final (or stage1/, stage2/)"


@pytest.fixture(scope="module")
def trained(tiny_model: Path, manifest: Path, tmp_path_factory: pytest.TempPathFactory):
    """A two-stage run of 1 step each through the real console script, its output piped (not a terminal)."""
    run = tmp_path_factory.mktemp("model-task") / "run"
    args = [*train_overrides(tiny_model, manifest, run), "logging.progress=true"]
    result = run_script("train", "--config", CONFIGS / "demo.yaml", *args, timeout=300)
    assert result.returncode == 0, result.stderr
    return run, result


def _copy(model: Path, folder: Path, record: dict | None) -> Path:
    shutil.copytree(model, folder, symlinks=True)
    (folder / TASK_FILE).unlink(missing_ok=True)
    if record is not None:
        (folder / TASK_FILE).write_text(json.dumps(record))
    return folder


def test_piped_training_prints_progress_lines_and_records_the_task(trained):
    run, result = trained
    lines = [line for line in result.stderr.splitlines() if line.startswith("train step")]
    assert [line.split(" | ")[0] for line in lines] == [
        "train step 1/2 (50%) stage1: R=0 len=16 kl=0 rmo=0",
        lines[1].split(" | ")[0],
    ]
    assert lines[1].startswith("train step 2/2 (100%) stage2: R=") and lines[1].endswith("ETA 0:00:00")
    assert "━" not in result.stdout + result.stderr  # no bar drawn into the log
    final = json.loads((run / "final" / TASK_FILE).read_text())
    assert final == {
        "format": 1,
        "recipe": "rarl",
        "mode": "think",
        "stage": "stage2",
        "manifest": final["manifest"],
        "task": {
            "name": "synthetic-count",
            "rule": "number of squares",
            "value_range": [1.0, 9.0],
            "value_type": "int",
            "precision": 0,
            "delta": 2.0,
            "metric": "accuracy",
            "sizes": [1, 2],
        },
    }
    assert read_model_task(run / "stage1").stage == "stage1"
    assert not (
        run / "checkpoints" / "step-00000002" / TASK_FILE
    ).exists()  # checkpoints are no model folders


class _Generation:
    """Stands in for the model: records the prompt's task and answers with `text`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
        import rarl.recipes.ordinal.rank as rank

        self.text, self.tasks = text, []
        monkeypatch.setattr(rank, "load_for_inference", lambda *a, **k: None)
        monkeypatch.setattr(rank, "generate_answers", self)

    def __call__(self, policy, samples, settings, messages_fn):
        self.tasks.append(samples[0].task)
        messages_fn(samples[0])
        return [self.text]


ONE_OF_TWO = "<think>x</think><answer>[{'image_id': 2, 'value': 5}]</answer>"


def test_rank_reads_rule_and_range_from_the_model_and_names_the_left_out_image(trained, images, monkeypatch):
    run, _ = trained
    model = _Generation(monkeypatch, ONE_OF_TWO)
    result = invoke("rank", "--model", run / "final", images[0], images[1])
    assert_ok(result)
    assert (model.tasks[0].rule, model.tasks[0].value_range) == ("number of squares", (1.0, 9.0))
    lines = result.output.splitlines()
    assert f"  1. image 2 ({images[1]}): 5" in lines
    assert f"the answer ranks 1 of 2 images; left out: image 1 ({images[0]})" in lines
    # flags still override what the folder records, each on its own
    assert_ok(invoke("rank", "--model", run / "final", images[0], "--rule", "number of circles"))
    assert (model.tasks[1].rule, model.tasks[1].value_range) == ("number of circles", (1.0, 9.0))
    assert_ok(invoke("rank", "--model", run / "final", images[0], "--value-range=-10--2"))
    assert (model.tasks[2].rule, model.tasks[2].value_range) == ("number of squares", (-10.0, -2.0))


def test_rank_names_ignored_entries_and_sizes_beyond_training(trained, images, monkeypatch):
    run, _ = trained
    text = "<answer>[{'image_id': 3, 'value': 4}, {'image_id': 7, 'value': 1}, {'image_id': 3, 'value': 2}]</answer>"
    _Generation(monkeypatch, text)
    result = invoke("rank", "--model", run / "final", *images[:4])
    assert_ok(result)
    lines = result.output.splitlines()
    assert lines[0] == "note: the model was trained on 1, 2 image(s) per prompt; 4 is more than it has seen"
    left_out = ", ".join(f"image {i} ({images[i - 1]})" for i in (1, 2, 4))
    assert lines[-1] == (
        f"the answer ranks 1 of 4 images; left out: {left_out}; "
        "ignored 2 entries naming no given image, repeating one, or without a number"
    )
    _Generation(monkeypatch, "<answer>[{'image_id': 1, 'value': 4}]</answer>")
    same = invoke("rank", "--model", run / "final", images[0], images[0])
    assert f"note: image 2 ({images[0]}) is the same file as image 1" in same.output.splitlines()


def test_rank_on_the_real_model_without_flags(trained, images):
    run, _ = trained
    result = invoke("rank", "--model", run / "final", images[0], images[1], "--max-new-tokens", "8")
    assert_ok(result)
    assert "answer:" in result.output and "could not be parsed" in result.output


def test_rank_input_errors_are_one_line(trained, tiny_model, images, tmp_path):
    run, _ = trained
    final = run / "final"
    (tmp_path / "notes.txt").write_text("hello")
    cases = [
        ([final], "give 1 to 8 image files to rank"),
        (
            [final, images[0].parent],
            f"cannot rank the image: {images[0].parent} (a folder: give its image files)",
        ),
        (
            [final, tmp_path / "notes.txt", images[0], tmp_path / "gone.png"],
            f"cannot rank 2 of 3 images: {tmp_path / 'notes.txt'} (not an image file PIL can read); "
            f"{tmp_path / 'gone.png'} (not found)",
        ),
        ([final, *images[:9]], "rank takes 1 to 8 images, got 9"),
        (
            [tiny_model, images[0]],
            f"give --rule and --value-range: {tiny_model} records no task (no {TASK_FILE}",
        ),
        ([tiny_model, images[0], "--rule", "age"], f"give --value-range: {tiny_model} records no task"),
        (
            [final, images[0], "--value-range", "9-1"],
            "--value-range '9-1': the low end must be below the high end",
        ),
        ([final, images[0], "--value-range", "a-b"], "--value-range must look like 0-116 (lo-hi), got 'a-b'"),
        ([final, images[0], "--rule", " "], "--rule is empty"),
        ([run, images[0]], RUN_FOLDER_HINT.format(run=run)),
    ]
    for args, expected in cases:
        assert_clean_error(invoke("rank", "--model", *args), expected)


def test_a_bad_task_file_is_one_line_and_another_recipe_needs_the_flags(trained, images, tmp_path):
    final = trained[0] / "final"
    broken = _copy(final, tmp_path / "broken", None)
    (broken / TASK_FILE).write_text('{"recipe": "rarl", "task": ')
    assert_clean_error(
        invoke("rank", "--model", broken, images[0]), f"{broken / TASK_FILE}: not a valid task file"
    )
    wrong = _copy(final, tmp_path / "wrong", {"recipe": "rarl", "task": {"rule": "x"}})
    assert_clean_error(
        invoke("rank", "--model", wrong, images[0]),
        f"{wrong / TASK_FILE}: OrdinalTask: missing keys ['name', 'value_range']",
    )
    boxes = _copy(final, tmp_path / "boxes", {"recipe": "vision-r1", "mode": "default", "task": {}})
    assert_clean_error(
        invoke("rank", "--model", boxes, images[0]),
        f"{boxes} was trained with recipe 'vision-r1'",
        "give --rule and --value-range",
    )


def test_every_command_taking_a_model_points_a_run_folder_at_its_model(trained, manifest, images, tmp_path):
    run, _ = trained
    hint = RUN_FOLDER_HINT.format(run=run)
    assert_clean_error(invoke("score", "--model", run, images[0]), hint)
    assert_clean_error(invoke("eval", "--model", run, "--data", manifest, "--out", tmp_path / "ev"), hint)
    for command, config in (("train", "demo.yaml"), ("sft", "sft-demo.yaml")):
        out = tmp_path / command
        args = [*train_overrides(run, manifest, out)] if command == "train" else [
            f"output_dir={out}", f"model.name_or_path={run}", f"data.manifest={manifest}", "steps=1",
        ]  # fmt: skip
        assert_clean_error(invoke(command, "--config", CONFIGS / config, *args), hint)
        assert not out.exists()


def test_score_refuses_a_model_trained_for_ranking(trained, images):
    final = trained[0] / "final"
    assert_clean_error(
        invoke("score", "--model", final, images[0]),
        f"{final} was trained with recipe 'rarl' ({final / TASK_FILE}), not 'refine-iqa'",
        "rank its images with `rarl rank`",
    )


def test_eval_takes_the_recipe_the_models_record(trained, manifest, tmp_path):
    final = trained[0] / "final"
    quality = _copy(final, tmp_path / "iqa", {"recipe": "refine-iqa", "mode": "think", "task": {}})
    result = invoke("eval", "--model", f"a={final}", "--model", f"b={quality}", "--data", manifest)
    assert_clean_error(
        result, "--recipe: the models were trained with different recipes (a: rarl, b: refine-iqa)"
    )
    # one refine-iqa model alone is evaluated by that recipe, which refuses the ordinal manifest
    result = invoke(
        "eval", "--model", quality, "--data", manifest, "--out", tmp_path / "ev", "--max-samples", "1"
    )
    assert_clean_error(result, "not 'refine-iqa'")


def test_shipped_base_records_the_demo_task(tmp_path):
    from rarl.recipes.ordinal.demo_base import SHIPPED_BASE
    from rarl.recipes.ordinal.demo_task import brightness_data

    record = read_model_task(SHIPPED_BASE)
    assert (record.recipe, record.mode, record.task.pop("sizes")) == ("rarl", "think", [1, 2, 4, 8])
    data = brightness_data(
        tmp_path / "data", seed=0, num_images=40, samples_per_size={"train": 2}, quiet=True
    )
    assert record.task == json.loads((data / "task.json").read_text())
