"""Fixtures of the refine-iqa tests: a synthetic scoring manifest and a perception manifest at the tiny
model's 56x56 frame."""

from __future__ import annotations

from pathlib import Path

import pytest

from rarl.recipes.quality.perception import prepare_perception
from rarl.recipes.quality.prepare import prepare_quality


@pytest.fixture(scope="session")
def scoring_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("iqa") / "scoring"
    prepare_quality("synthetic-quality", out, num_images=24, image_size=56)
    return out


@pytest.fixture(scope="session")
def perception_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("iqa") / "perception"
    prepare_perception(
        "refine-perception", out, num_images=16, image_size=56, max_objects=3, reference="both"
    )
    return out
