"""What a Refine-IQA model folder records (`task_record`) and how `rarl score` reads it: the prompt mode the
model was trained in (think when it records none; `--mode` overrides; one note names the mode and why), a
refusal for another recipe's model, and one error line naming every unusable image."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

from typer.testing import CliRunner

from rarl.cli import app
from rarl.model.task_file import TASK_FILE
from rarl.recipes import get_recipe
from rarl.train.checkpoint import stage_tasks


def _score(*args) -> object:
    return CliRunner().invoke(app, ["score", *map(str, args), "--max-new-tokens", "8"])


def _model(tiny_model: Path, folder: Path, record: dict) -> Path:
    shutil.copytree(tiny_model, folder)
    (folder / TASK_FILE).write_text(json.dumps(record))
    return folder


def test_stage_records_of_a_two_stage_run(scoring_manifest, perception_manifest):
    recipe = get_recipe("refine-iqa")
    pools = {
        "perception": recipe.load_samples(str(perception_manifest), "train"),
        "scoring": recipe.load_samples(str(scoring_manifest), "train"),
    }
    stages = [
        SimpleNamespace(name="perception", mode="no_think"),
        SimpleNamespace(name="scoring", mode="think"),
    ]
    manifests = {"perception": str(perception_manifest), "scoring": str(scoring_manifest)}
    records = stage_tasks(recipe, stages, lambda s: manifests[s.name], pools)
    first, final = records["perception"], records["final"]
    assert (first.recipe, first.mode, first.task["kind"]) == ("refine-iqa", "no_think", "perception")
    assert "score" not in first.task["tasks"]
    assert (final.mode, final.stage, final.task["kind"], final.task["source"]) == (
        "think", "scoring", "scoring", "synthetic-quality",
    )  # fmt: skip
    assert final.task["tasks"] == sorted({*first.task["tasks"], "score"})  # what the final model has learnt
    assert set(final.task["scales"]) == set(
        json.loads((scoring_manifest / "task.json").read_text())["scales"]
    )


def _rows(result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_score_defaults_to_think_for_a_folder_without_a_record(tiny_model, scoring_manifest):
    image = next((scoring_manifest / "images").glob("*.png"))
    assert not (tiny_model / TASK_FILE).exists()  # a model from elsewhere: no mode recorded
    result = _score("--model", tiny_model, image, "--json")
    assert [row["mode"] for row in _rows(result)] == ["think"]
    assert result.stderr.splitlines() == [
        f"note: scoring in think mode (default: {tiny_model} records no mode; --mode no_think for the answer "
        "alone)"
    ]
    flagged = _score("--model", tiny_model, image, "--json", "--mode", "no_think")
    assert [row["mode"] for row in _rows(flagged)] == ["no_think"]
    assert flagged.stderr.splitlines() == ["note: scoring in no_think mode (--mode)"]
    # the mode reaches the model: the no_think prompt and its answer prefix give another Eq. 8 score
    assert _rows(flagged)[0]["prob"] != _rows(result)[0]["prob"]


def test_score_uses_the_recorded_mode_and_the_flag_overrides_it(tiny_model, scoring_manifest, tmp_path):
    images = sorted((scoring_manifest / "images").glob("*.png"))[:1]
    model = _model(tiny_model, tmp_path / "final", {"recipe": "refine-iqa", "mode": "no_think", "task": {}})
    result = _score("--model", model, *images, "--json")
    assert [row["mode"] for row in _rows(result)] == ["no_think"]  # the record wins over the default (think)
    assert result.stderr.splitlines() == [
        f"note: scoring in no_think mode, as {model} was trained ({model / TASK_FILE}; --mode overrides)"
    ]
    flagged = _score("--model", model, images[0], "--mode", "think", "--json")
    assert [row["mode"] for row in _rows(flagged)] == ["think"]
    assert flagged.stderr.splitlines() == [
        f"note: scoring in think mode (--mode; {model} was trained in no_think mode)"
    ]


def test_score_notes_a_perception_only_model_and_refuses_another_recipe(
    tiny_model, scoring_manifest, tmp_path
):
    image = next((scoring_manifest / "images").glob("*.png"))
    record = {"recipe": "refine-iqa", "mode": "no_think", "task": {"tasks": ["distortion", "severity"]}}
    perception = _model(tiny_model, tmp_path / "perception", record)
    result = _score("--model", perception, image)
    assert result.exit_code == 0, result.output
    assert (
        f"note: {perception} was trained on perception questions only (distortion, severity), not scoring"
        in (result.output)
    )
    boxes = _model(tiny_model, tmp_path / "boxes", {"recipe": "vision-r1", "task": {}})
    refused = _score("--model", boxes, image)
    assert refused.exit_code == 2 and refused.output.count("error:") == 1
    assert (
        f"{boxes} was trained with recipe 'vision-r1'" in refused.output and "Traceback" not in refused.output
    )


def test_score_names_every_unusable_image_in_one_line(tiny_model, scoring_manifest, tmp_path):
    image = next((scoring_manifest / "images").glob("*.png"))
    (tmp_path / "notes.txt").write_text("hello")
    for args, expected in [
        ([], "error: give at least one image file to score"),
        ([scoring_manifest / "images"], "(a folder: give its image files)"),
        (
            [image, tmp_path / "notes.txt", tmp_path / "gone.png"],
            f"error: cannot score 2 of 3 images: {tmp_path / 'notes.txt'} (not an image file PIL can read); "
            f"{tmp_path / 'gone.png'} (not found)",
        ),
    ]:
        result = CliRunner().invoke(app, ["score", "--model", str(tiny_model), *map(str, args)])
        flat = " ".join(result.output.split())
        assert result.exit_code == 2 and flat.count("error:") == 1 and expected in flat, result.output
