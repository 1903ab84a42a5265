"""The demo's pretrained base: the build command, its disjointness check, the shipped folder, and the demo's
test split (no image repeated within a size)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.recipes.shipped import shipped_base_record

from rarl.recipes.ordinal.demo import resolve_base
from rarl.recipes.ordinal.demo_base import (
    BASE_INFO,
    BASE_SPECS,
    SHIPPED_BASE,
    build_base,
    manifest_image_digests,
    warmup_data,
)
from rarl.recipes.ordinal.demo_task import SCALES, demo_data, repeated_images
from rarl.utils.config import ConfigError


def test_build_base_smoke_writes_a_loadable_model_with_its_record(tmp_path: Path):
    from rarl.model import load_policy

    out = build_base(tmp_path / "base", "smoke", work=tmp_path / "work")
    info = json.loads((out / BASE_INFO).read_text())
    assert info["spec"]["steps"] == BASE_SPECS["smoke"].steps
    assert info["command"].startswith("rarl build-base")
    assert {"1-img mae", "4-imgs tau", "4-imgs fail"} <= set(info["val_scores"])
    assert len(info["model_sha256"]) == 64
    policy = load_policy(out, dtype="float32")
    assert policy.model.config.text_config.num_hidden_layers == BASE_SPECS["smoke"].num_layers
    # the warm-up images and the demo's own images share nothing
    assert not manifest_image_digests(tmp_path / "work" / "warmup-data") & manifest_image_digests(
        tmp_path / "work" / "demo-data"
    )


def test_build_base_refuses_data_that_overlaps_the_warmup_split(tmp_path: Path):
    warm = warmup_data(tmp_path / "warm", BASE_SPECS["smoke"])
    with pytest.raises(RuntimeError, match="warm-up image"):
        build_base(tmp_path / "base", "smoke", check_against=warm, work=tmp_path / "work")
    assert not (tmp_path / "base").exists()


def test_shipped_base_is_a_complete_small_model_folder():
    info = shipped_base_record(SHIPPED_BASE)
    # the record says it follows the format on 4 images and ranks them better than chance
    assert info["val_scores"]["4-imgs fail"] < 0.5 and info["val_scores"]["4-imgs tau"] > 0.1


def test_resolve_base_names_a_bad_folder(tmp_path: Path):
    assert resolve_base("shipped", tmp_path, SCALES["smoke"], 0) == SHIPPED_BASE
    with pytest.raises(ConfigError, match="not a model folder"):
        resolve_base(tmp_path / "nothing", tmp_path, SCALES["smoke"], 0)


def test_demo_test_split_repeats_no_image_within_a_size(tmp_path: Path):
    data = demo_data(tmp_path / "data", SCALES["smoke"], seed=0, quiet=True)
    assert repeated_images(data, "test", limit=SCALES["smoke"].eval_samples) == {1: 0, 2: 0, 4: 0, 8: 0}
    # a split drawn from too few images does repeat them, and the count says so
    assert repeated_images(data, "train")[8] > 0


def test_warmup_labels_carry_the_specs_noise_and_the_clean_copy_has_the_same_images(tmp_path: Path):
    from dataclasses import replace

    from rarl.recipes.ordinal.manifest import load_manifest

    spec = replace(BASE_SPECS["smoke"], label_noise=0.5)
    noisy = load_manifest(warmup_data(tmp_path / "noisy", spec), "train")
    clean = load_manifest(warmup_data(tmp_path / "clean", spec, clean=True), "train")
    noisy_items = {Path(it.image).name: it for s in noisy for it in s.items}
    clean_items = {Path(it.image).name: it for s in clean for it in s.items}
    # the clean copy is labelled with the levels; the noisy one moves about a third of them by one level
    assert all(it.label == it.meta["level"] for it in clean_items.values())
    off = [abs(it.label - it.meta["level"]) for it in noisy_items.values()]
    assert 0.15 < sum(d > 0 for d in off) / len(off) < 0.5 and max(off) <= 2
    # same images and levels in both (the noise is on the labels only)
    shared = noisy_items.keys() & clean_items.keys()
    assert shared and all(noisy_items[k].meta["level"] == clean_items[k].meta["level"] for k in shared)
    assert BASE_SPECS["default"].label_noise > 0 and BASE_SPECS["smoke"].label_noise == 0
