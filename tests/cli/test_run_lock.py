"""One run per output folder (issue 24): while another process holds a run folder, `rarl train` and `rarl
sft` (fresh, --resume or --overwrite) stop with one `error:` line naming the folder, the holder's pid and host,
and change nothing in it; a holder killed with SIGKILL leaves no stuck lock, and --resume then continues.

The holder is a small subprocess that takes the lock as a trainer does (`rarl.utils.lock`) and waits; killing
it with SIGKILL is, for the kernel's lock, the same as killing a training run mid-step."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rarl.train.metrics_log import read_metrics
from rarl.utils.lock import LOCK_FILE

from .helpers import CONFIGS, assert_clean_error, assert_ok, invoke, train_overrides

DEMO = CONFIGS / "demo.yaml"
SFT = CONFIGS / "sft-demo.yaml"
HOLDER = (
    "import sys\n"
    "from rarl.utils.lock import acquire\n"
    "acquire(sys.argv[1])\n"
    "print('held', flush=True)\n"
    "sys.stdin.read()\n"
)


def _start_holder(folder: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


@contextmanager
def _held(folder: Path) -> Iterator[subprocess.Popen[str]]:
    """`folder` locked by another process for the block (killed with SIGKILL at the end)."""
    proc = _start_holder(folder)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=30)


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


def _sft_overrides(model: Path, data: Path, out: Path) -> list[str]:
    return [
        f"output_dir={out}", f"model.name_or_path={model}", f"data.manifest={data}", "data.sizes=[1,2]",
        "steps=1", "batch_size=2", "micro_batch_size=2", "logging.progress=false", "checkpoint.every=0",
    ]  # fmt: skip


def test_a_second_run_on_a_locked_folder_gets_one_line_and_changes_nothing(
    tiny_model: Path, manifest: Path, tmp_path: Path
):
    run = tmp_path / "run"
    args = train_overrides(tiny_model, manifest, run)
    assert_ok(invoke("train", "--config", DEMO, *args, "--stop-at-step", "1"))  # the first run, stopped at 1
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == [1]
    with _held(run) as holder:
        before = _snapshot(run)
        holder_info = json.loads((run / LOCK_FILE).read_text())
        assert holder_info["pid"] == holder.pid
        for extra in ([], ["--resume"], ["--overwrite"]):
            result = invoke("train", "--config", DEMO, *args, *extra)
            assert_clean_error(
                result,
                f"output_dir {run} is in use by another run",
                f"pid {holder.pid}",
                socket.gethostname(),
            )
        result = invoke("sft", "--config", SFT, *_sft_overrides(tiny_model, manifest, run), "--resume")
        assert_clean_error(result, f"output_dir {run} is in use by another run", f"pid {holder.pid}")
        assert _snapshot(run) == before  # metrics.jsonl, checkpoints, config: byte for byte
    # the holder was killed with SIGKILL: no stuck lock, --resume continues the run to its end
    assert (run / LOCK_FILE).exists()  # its file stays behind, unlocked
    assert_ok(invoke("train", "--config", DEMO, *args, "--resume"))
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == [1, 2]
    assert (run / "final" / "model.safetensors").is_file()
    assert not (run / LOCK_FILE).exists()  # a finished run leaves no lock file


def test_a_killed_holder_is_followed_by_a_fresh_sft_run(tiny_model: Path, manifest: Path, tmp_path: Path):
    run = tmp_path / "sft"
    holder = _start_holder(run)  # the folder is made by the lock: an empty run folder, locked
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    assert_ok(invoke("sft", "--config", SFT, *_sft_overrides(tiny_model, manifest, run)))
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == [1]
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "config.yaml", "final", "metrics.jsonl"]


def test_a_refused_run_leaves_no_folder_and_no_lock(tiny_model: Path, manifest: Path, tmp_path: Path):
    run = tmp_path / "new" / "run"
    args = train_overrides(tiny_model, manifest, run)
    result = invoke("train", "--config", DEMO, *args, "--resume", "--overwrite")
    assert_clean_error(result, "--resume and --overwrite exclude each other")
    assert not (tmp_path / "new").exists()  # the folders the lock made are gone again
