"""What a Vision-R1 model folder records about its task (`task_record`): the manifest's categories and
pixel budget, and the question kinds it was trained on."""

from __future__ import annotations

import json

from rarl.recipes import get_recipe


def test_task_record_is_the_manifest_task_and_the_kinds_trained_on(shapes_56):
    recipe = get_recipe("vision-r1")
    samples = recipe.load_samples(str(shapes_56), "train")
    record = recipe.task_record(str(shapes_56), samples)
    assert record.pop("kinds") == sorted({s.kind for s in samples}) and record["recipe"] == "vision-r1"
    manifest_task = json.loads((shapes_56 / "task.json").read_text())
    assert {k: record[k] for k in ("categories", "min_pixels", "max_pixels")} == {
        k: manifest_task[k] for k in ("categories", "min_pixels", "max_pixels")
    }
    assert record["min_pixels"] <= 56 * 56 <= record["max_pixels"]
