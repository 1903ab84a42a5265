"""Step metrics averaged over two CPU processes (gloo) whose metric keys differ: RMO fires on one rank only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CPU_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "accelerate" / "cpu-2proc.yaml"
WORKER = """
import json, sys
from accelerate import Accelerator
from rarl.train.update import mean_over_processes

acc = Accelerator(cpu=True)
rank = acc.process_index
# rank 0 mutated a group this step (reward/injected_mean), rank 1 did not; loss is on both
values = {"loss": 1.0, "reward/injected_mean": 0.25} if rank == 0 else {"loss": 3.0}
with open(f"{sys.argv[1]}/rank{rank}.json", "w") as f:
    json.dump(mean_over_processes(acc, values), f)
acc.end_training()  # destroy the process group before exit (an undestroyed gloo group can abort at teardown)
"""


def test_ranks_with_different_metric_keys_agree_on_each_keys_mean(tmp_path):
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CPU_CONFIG), "--main_process_port", "0",
        str(worker), str(tmp_path),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=120
    )  # a mismatch used to hang
    assert proc.returncode == 0, proc.stderr[-4000:]
    for rank in (0, 1):  # each key's mean over the processes that have it, the same on both ranks
        assert json.loads((tmp_path / f"rank{rank}.json").read_text()) == {
            "loss": 2.0,
            "reward/injected_mean": 0.25,
        }
