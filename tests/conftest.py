"""Suite-wide settings and shared session fixtures.

One torch thread per xdist worker (two workers on two cores must not oversubscribe); the offline tiny
Qwen2.5-VL and a small synthetic manifest, built once per session (per worker).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _torch_threads() -> None:
    try:
        import torch
    except ImportError:
        return
    if os.environ.get("PYTEST_XDIST_WORKER"):
        torch.set_num_threads(1)
    else:
        torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rarl.model import build_tiny_qwen2_5_vl

    return build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture(scope="session")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rarl.recipes.ordinal.prepare import prepare

    out = tmp_path_factory.mktemp("data") / "synthetic"
    prepare(
        "synthetic",
        out,
        sizes=(1, 2, 4),
        seed=0,
        samples_per_size={"train": 12, "val": 2, "test": 4},
        property="count",
        num_images=90,
        quiet=True,
    )
    return out
