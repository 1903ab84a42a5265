"""Vision-R1's shipped demo base: the smoke build (record, rope base, disjoint warm-up), the shipped folder's
size, record and answers on fresh images, and `demo-base` resolution through the recipe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.recipes.shipped import shipped_base_record

from rarl.eval.settings import EvalSettings
from rarl.model import load_policy
from rarl.model.task_file import read_model_task
from rarl.recipes.base import get_recipe
from rarl.recipes.base_build import BASE_INFO, manifest_image_digests, sha256_file
from rarl.recipes.localization.demo import SCALES, resolve_demo_base, run_demo
from rarl.recipes.localization.demo_base import BASE_SPECS, SHIPPED_BASE, build_base, warmup_data
from rarl.recipes.localization.prepare import prepare_localization
from rarl.recipes.runs import evaluate
from rarl.train.common import resolve_model_path
from rarl.train.config import ModelConfig
from rarl.utils.config import ConfigError


@pytest.mark.slow
def test_build_base_smoke_writes_a_loadable_model_with_its_record(tmp_path: Path):
    out = build_base(tmp_path / "base", "smoke", work=tmp_path / "work")
    info = json.loads((out / BASE_INFO).read_text())
    spec = BASE_SPECS["smoke"]
    assert info["recipe"] == "vision-r1" and info["spec"]["steps"] == spec.steps
    assert info["command"].startswith("rarl build-base --recipe vision-r1")
    assert {"mAP", "AP50", "failure_rate"} <= set(info["val_scores"])
    assert sha256_file(out / "model.safetensors") == info["model_sha256"]
    policy = load_policy(out, dtype="float32")
    assert policy.model.config.vision_config.hidden_size == spec.vision_hidden_size
    assert policy.model.config.text_config.rope_parameters["rope_theta"] == spec.rope_theta
    warm = tmp_path / "work" / "warmup-data"
    assert not manifest_image_digests(warm) & manifest_image_digests(tmp_path / "work" / "demo-data")


def test_build_base_refuses_data_that_overlaps_the_warmup_split(tmp_path: Path):
    warm = warmup_data(tmp_path / "warm", BASE_SPECS["smoke"])
    with pytest.raises(RuntimeError, match="warm-up image"):
        build_base(tmp_path / "base", "smoke", check_against=warm, work=tmp_path / "work")
    assert not (tmp_path / "base").exists()


def test_shipped_base_is_a_small_model_folder_that_localizes_on_its_validation_images():
    info = shipped_base_record(SHIPPED_BASE)
    record = read_model_task(SHIPPED_BASE)  # no path of the build's temporary folder
    assert record.recipe == "vision-r1" and record.manifest is None
    assert info["val_scores"]["AP50"] >= 0.3 and info["val_scores"]["failure_rate"] <= 0.1


def test_shipped_base_answers_depend_on_the_image(tmp_path: Path):
    """On fresh images (another seed than the warm-up's and the demo's), most answers differ, and most
    images with shapes get a box of IoU >= 0.5 (AP50 over them well above 0)."""
    data = tmp_path / "fresh"
    prepare_localization("synthetic-shapes", data, seed=7, num_images=16, splits=(0.0, 0.0, 1.0))
    settings = EvalSettings(split="test", max_new_tokens=96, n_boot=1, seed=0, progress=False)
    results = evaluate({"base": str(SHIPPED_BASE)}, data, tmp_path / "eval", settings, recipe="vision-r1")
    rows = [json.loads(line) for line in (tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 16
    assert len({r["completion"] for r in rows}) >= 10
    assert results["base"]["failure_rate"] == 0.0 and results["base"]["AP50"] >= 0.2


def test_demo_base_resolves_through_the_recipe(tmp_path: Path):
    recipe = get_recipe("vision-r1")
    assert recipe.model_path("demo-base") == str(SHIPPED_BASE)
    # `model.name_or_path: demo-base` in a vision-r1 config reaches it too
    named = resolve_model_path(ModelConfig(name_or_path="demo-base"), tmp_path, None, recipe.model_path)
    assert named == str(SHIPPED_BASE)
    assert resolve_demo_base("shipped", tmp_path, SCALES["smoke"], 0) == SHIPPED_BASE
    with pytest.raises(ConfigError, match="not a model folder"):
        resolve_demo_base(tmp_path / "nothing", tmp_path, SCALES["smoke"], 0)
    with pytest.raises(ConfigError, match="warm-up data seed"):
        run_demo(tmp_path / "demo", size="smoke", seed=1000)
    assert not (tmp_path / "demo").exists()
