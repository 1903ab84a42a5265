"""Helpers for the CLI smoke tests: run `rarl` in-process or as the real console script, check outcomes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner, Result

from rarl.cli import app

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"
SIZES = "1,2"
SAMPLES = {"train": 8, "val": 2, "test": 2}


def invoke(*args: str | Path) -> Result:
    """Run `rarl ARGS...` in-process and return the result (stdout and stderr mixed in `.output`)."""
    return CliRunner().invoke(app, [str(a) for a in args])


def run_script(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the installed `rarl` console script on one thread; stdout and stderr kept apart."""
    beside = Path(sys.executable).with_name("rarl")  # the script of the interpreter running the tests
    exe = str(beside) if beside.exists() else shutil.which("rarl") or "rarl"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    env.pop("RARL_DEBUG", None)
    return subprocess.run(
        [exe, *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def assert_ok(result: Result) -> None:
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.output}\n{result.exception!r}"


def assert_clean_error(result: Result, *fragments: str) -> None:
    """One `error:` message (before anything else), exit code 2, no traceback; it names `fragments`."""
    detail = f"exit {result.exit_code}, exception {result.exception!r}\n{result.output}"
    assert result.exit_code == 2, detail
    assert isinstance(result.exception, SystemExit), detail
    text = result.output.strip()
    assert "Traceback" not in text, detail
    assert text.startswith("error:"), detail
    assert text.count("error:") == 1, detail
    flat = " ".join(text.split())
    for fragment in fragments:
        assert fragment in flat, detail


def train_overrides(model: Path, data: Path, out: Path) -> list[str]:
    """key=value overrides that shrink configs/demo.yaml to two 1-step stages of a few seconds."""
    return [
        f"output_dir={out}",
        f"model.name_or_path={model}",
        f"data.manifest={data}",
        f"data.sizes=[{SIZES}]",
        "stages.0.steps=1",
        "stages.1.steps=1",
        "rollout.num_generations=2",
        "rollout.max_new_tokens=16",
        "rmo.k=1",
        "prompts_per_step=2",
        "micro_batch_size=4",
        "logging.progress=false",
        "logging.sample_every=0",
        "checkpoint.every=0",
    ]
