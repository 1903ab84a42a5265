"""What a Refine-IQA model folder records (`task_record`) and how `rarl score` reads it: the prompt mode the
model was trained in, a refusal for another recipe's model, and one error line naming every unusable image."""

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


def test_score_uses_the_recorded_mode_and_the_flag_overrides_it(tiny_model, scoring_manifest, tmp_path):
    images = sorted((scoring_manifest / "images").glob("*.png"))[:1]
    model = _model(tiny_model, tmp_path / "final", {"recipe": "refine-iqa", "mode": "think", "task": {}})
    result = _score("--model", model, *images)
    assert result.exit_code == 0, result.output
    assert f"note: scoring in think mode, as {model} was trained" in result.output
    assert len([line for line in result.output.splitlines() if "\tprob " in line]) == 1
    flagged = _score("--model", model, images[0], "--mode", "no_think")
    assert flagged.exit_code == 0 and "note:" not in flagged.output


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
