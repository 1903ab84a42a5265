"""Refine-IQA's shipped demo base: the smoke build (record, two phases, disjoint warm-up), the shipped
folder's size and record, `demo-base` resolution through the recipe and `rarl build-base --recipe`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.recipes.shipped import shipped_base_record

from rarl.model import load_policy
from rarl.model.task_file import read_model_task
from rarl.recipes.base import get_recipe
from rarl.recipes.base_build import BASE_INFO, manifest_image_digests, sha256_file
from rarl.recipes.quality.demo import SCALES, resolve_demo_base
from rarl.recipes.quality.demo_base import BASE_SPECS, SHIPPED_BASE, build_base, warmup_data
from rarl.utils.config import ConfigError


@pytest.mark.slow
def test_build_base_smoke_writes_a_loadable_model_with_its_record(tmp_path: Path):
    out = build_base(tmp_path / "base", "smoke", work=tmp_path / "work")
    info = json.loads((out / BASE_INFO).read_text())
    spec = BASE_SPECS["smoke"]
    assert info["recipe"] == "refine-iqa" and info["spec"]["steps"] == spec.steps
    assert info["command"].startswith("rarl build-base --recipe refine-iqa")
    assert {"synthetic-overexposure/think/srcc", "synthetic-underexposure/think/srcc"} <= set(
        info["val_scores"]
    )
    assert any(k.startswith("perception/") for k in info["val_scores"])
    assert sha256_file(out / "model.safetensors") == info["model_sha256"]
    policy = load_policy(out, dtype="float32")
    assert policy.model.config.vision_config.hidden_size == spec.vision_hidden_size
    # both phases ran: perception (no_think) first, then scoring (think) with perception mixed in, from its result
    assert (tmp_path / "work" / "perception" / "final").is_dir() and (tmp_path / "work" / "scoring").is_dir()
    mixed = get_recipe("refine-iqa").load_samples(str(tmp_path / "work" / "warmup-data" / "mixed"), "train")
    assert {"score", "distortion", "grounding"} <= {x.task for x in mixed}
    warm = tmp_path / "work" / "warmup-data" / "quality"
    assert not manifest_image_digests(warm) & manifest_image_digests(tmp_path / "work" / "demo-data")
    # the scoring labels are noisy, and the reported scores are on the same images with exact labels
    assert "noise std 0.5" in info["task"]
    noisy = get_recipe("refine-iqa").load_samples(str(warm), "val")
    exact = get_recipe("refine-iqa").load_samples(str(tmp_path / "work" / "warmup-clean" / "quality"), "val")
    assert [x.sample_id for x in noisy] == [x.sample_id for x in exact]
    assert all(y.mos == x.meta["mos_clean"] for x, y in zip(noisy, exact))


def test_build_base_refuses_data_that_overlaps_the_warmup_split(tmp_path: Path):
    quality, _ = warmup_data(tmp_path / "warm", BASE_SPECS["smoke"])
    with pytest.raises(RuntimeError, match="warm-up image"):
        build_base(tmp_path / "base", "smoke", check_against=quality, work=tmp_path / "work")
    assert not (tmp_path / "base").exists()


def test_shipped_base_is_a_small_model_folder_that_perceives_both_distortions():
    info = shipped_base_record(SHIPPED_BASE)
    record = read_model_task(SHIPPED_BASE)  # think-mode scoring, and no path of the build's temporary folder
    assert record.recipe == "refine-iqa" and record.mode == "think" and record.manifest is None
    scores = info["val_scores"]
    for dataset in ("synthetic-underexposure", "synthetic-overexposure"):
        assert scores[f"{dataset}/think/srcc"] >= 0.5, (dataset, scores)
    # it still answers the stage-1 perception questions (right at least sometimes), and was warmed up on
    # noisy scores (a coarse scorer that samples several answers per image)
    assert scores["perception/severity"] > 0 and scores["perception/object"] > 0, scores
    assert info["spec"]["label_noise"] > 0


def test_demo_base_resolves_through_the_recipe(tmp_path: Path):
    recipe = get_recipe("refine-iqa")
    assert recipe.model_path("demo-base") == str(SHIPPED_BASE)
    assert resolve_demo_base("shipped", tmp_path, SCALES["smoke"], 0) == SHIPPED_BASE
    with pytest.raises(ConfigError, match="not a model folder"):
        resolve_demo_base(tmp_path / "nothing", tmp_path, SCALES["smoke"], 0)
