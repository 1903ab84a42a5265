"""Suite-wide settings and shared session fixtures.

One torch thread per xdist worker (two workers on two cores must not oversubscribe); the offline tiny
Qwen2.5-VL and a small synthetic manifest, built once per session (per worker).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image


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


# ------------------------------------------------------------------------- figure checks shared by test files
def _training_log(steps: int = 30, stage_at: int = 15, drop: tuple[str, ...] = ()) -> list[dict]:
    rows = []
    for t in range(steps):
        row = {
            "step": t,
            "stage": 1 if t < stage_at else 2,
            "reward/total_mean": 0.5 + t / steps,
            "reward/regression": 0.4 + 0.01 * t,
            "reward/format": 0.9,
            "zero_var_frac_before": 0.5 - 0.01 * t,
            "zero_var_frac_after": 0.2,
            "kl": 0.001 * t,
            "loss": 0.1,
        }
        if t >= stage_at:
            row.update({"reward/ranking": 1.5 + 0.02 * t, "rmo_mutated_frac": 0.1})
        if t % 7 == 3:
            row["kl"] = None  # a null value: skipped
        for k in drop:
            row.pop(k, None)
        rows.append(row)
    return rows


def _png_ok(path):
    assert path.is_file() and path.stat().st_size > 0
    with Image.open(path) as im:
        assert im.format == "PNG"
        im.verify()
    with Image.open(path) as im:
        w, h = im.size
        assert w > 200 and h > 100


@pytest.fixture
def training_log():
    """`training_log(steps=30, stage_at=15, drop=())`: metric rows shaped like a two-stage GRPO run's log."""
    return _training_log


@pytest.fixture
def assert_png():
    """`assert_png(path)`: the file is a valid PNG of a real figure's size."""
    return _png_ok
