"""The run folder's lock (`rarl.utils.lock`, `rarl.train.run_folder.hold_run_folder`): another process is
refused while it is held, the kernel frees it when the holder dies, a process may take it again (a command
that then starts a trainer), a release leaves no lock file and no folder the lock alone made, and under
`accelerate launch` only the main process locks while every rank stops on a refusal (none waits forever)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rarl.train.run_folder import hold_run_folder
from rarl.utils.config import ConfigError
from rarl.utils.lock import LOCK_FILE, FolderInUse, FolderLock, holds

CPU_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "accelerate" / "cpu-2proc.yaml"
DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"
HOLDER = "import sys\nfrom rarl.utils.lock import acquire\nacquire(sys.argv[1])\nprint('held', flush=True)\nsys.stdin.read()\n"


def _holder(folder: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_another_process_is_refused_until_the_holder_is_killed(tmp_path: Path):
    folder = tmp_path / "run"
    holder = _holder(folder)
    try:
        refused = rf"output_dir {folder} is in use by another run \(pid {holder.pid} "
        with pytest.raises(FolderInUse, match=refused), hold_run_folder(folder):
            pass
        assert not holds(folder)
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
    with hold_run_folder(folder):  # the kernel released the dead holder's lock
        assert holds(folder)
        assert f'"pid": {os.getpid()}' in (folder / LOCK_FILE).read_text()
    assert not (folder / LOCK_FILE).exists()


def test_the_lock_is_reentrant_in_one_process_and_cleans_up_after_itself(tmp_path: Path):
    folder = tmp_path / "a" / "b"
    with FolderLock(folder):
        with hold_run_folder(folder):  # a command holds it, then its trainer takes it again
            assert holds(folder)
        assert holds(folder) and (folder / LOCK_FILE).is_file()  # the outer hold is still there
    assert not holds(folder)
    assert not (tmp_path / "a").exists()  # nothing was written: the folders the lock made are gone
    kept = tmp_path / "kept"
    with FolderLock(kept):
        (kept / "metrics.jsonl").write_text("{}\n")
    assert sorted(p.name for p in kept.iterdir()) == ["metrics.jsonl"]  # no lock file left in a used folder


def test_a_file_where_the_folder_should_be_is_named(tmp_path: Path):
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    with (
        pytest.raises(ConfigError, match=f"output_dir {afile} is a file, not a folder"),
        hold_run_folder(afile),
    ):
        pass
    assert afile.read_text() == "keep me"


@pytest.mark.slow
def test_two_processes_under_accelerate_launch_both_stop_with_the_line(tiny_model, manifest, tmp_path: Path):
    run = tmp_path / "run"
    holder = _holder(run)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "300"}
    overrides = [
        f"output_dir={run}", f"model.name_or_path={tiny_model}", f"data.manifest={manifest}", "data.sizes=[1,2]",
        "stages.0.steps=1", "stages.1.steps=1", "rollout.num_generations=2", "rollout.max_new_tokens=8", "rmo.k=1",
        "prompts_per_step=2", "micro_batch_size=4", "logging.progress=false",
    ]  # fmt: skip
    rarl = Path(sys.executable).with_name("rarl")
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CPU_CONFIG), "--main_process_port", "0",
        str(rarl), "train", "--config", str(DEMO), *overrides,
    ]  # fmt: skip
    try:
        proc = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=300
        )  # no rank waits forever
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert lines and all(f"is in use by another run (pid {holder.pid} " in line for line in lines), (
        proc.stderr
    )
    assert sorted(p.name for p in run.iterdir()) == [LOCK_FILE]  # nothing of a run was written
