from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rarl.model import build_tiny_qwen2_5_vl

    return build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture(scope="session")
def small_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rarl.data.prepare import prepare

    out = tmp_path_factory.mktemp("data") / "synthetic"
    prepare(
        "synthetic",
        out,
        sizes=(1, 2),
        seed=0,
        samples_per_size={"train": 6, "val": 2, "test": 2},
        property="brightness",
        num_images=40,
        quiet=True,
    )
    return out
