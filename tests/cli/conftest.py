"""CLI smoke fixtures: a tiny model and a small synthetic manifest, both made through the CLI itself.

Everything runs on one torch thread (these tests share the machine with longer jobs) and in-process through
`typer.testing.CliRunner`, except the few tests that start the real `rarl` console script.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .helpers import SAMPLES, SIZES, assert_ok, invoke


@pytest.fixture(scope="session", autouse=True)
def _one_thread(_torch_threads: None) -> None:
    """After the suite-wide thread setting: one torch thread for every test here."""
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The offline tiny Qwen2.5-VL, written by `rarl build-tiny`."""
    out = tmp_path_factory.mktemp("cli-tiny") / "model"
    result = invoke("build-tiny", "--out", out, "--seed", "0")
    assert_ok(result)
    assert "tiny Qwen2.5-VL written to" in result.output
    assert (out / "config.json").is_file()
    return out


@pytest.fixture(scope="session")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 60-image synthetic counting manifest with 1- and 2-image samples, written by `rarl prepare`."""
    out = tmp_path_factory.mktemp("cli-data") / "synthetic"
    per_split = "{" + ", ".join(f"{k}: {v}" for k, v in SAMPLES.items()) + "}"
    result = invoke(
        "prepare", "synthetic", "--out", out, "--sizes", SIZES,
        "-o", "property=count", "-o", "num_images=60", "-o", f"samples_per_size={per_split}",
    )  # fmt: skip
    assert_ok(result)
    return out


@pytest.fixture(scope="session")
def images(manifest: Path) -> list[Path]:
    """Real PNG files from the manifest, for `rarl rank`."""
    files = sorted((manifest / "images").glob("*.png"))
    assert len(files) >= 9
    return files
