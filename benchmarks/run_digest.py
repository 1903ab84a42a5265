"""Digests of a short fixed-seed tiny RARL run: a refactor of the engine must leave them unchanged.

    python benchmarks/run_digest.py [--out runs/digest]

Builds the offline tiny Qwen2.5-VL and a small synthetic manifest, then runs `rarl train` (through the CLI,
one torch thread, so the floating-point order is fixed) for two stages: stage 1 with lambda = (1, 0, 1),
stage 2 with lambda = (1, 1, 1) and RMO firing on every group. It prints

- `metrics`: sha256 of `metrics.jsonl` with every `time/*` field removed (keys sorted);
- `weights`: sha256 over the final model's tensors (names sorted, raw bytes);
- `rmo_mutated_frac`: how often RMO fired, so a digest is known to cover the mutation path.

The config below uses the long-standing `reward_weights` stage key on purpose: the same file must keep
running unchanged.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

CONFIG = """\
output_dir: {out}/run
seed: 3
model:
  name_or_path: {out}/tiny-model
  freeze_vision: false
data:
  manifest: {out}/data
  sizes: [1, 2, 4]
rollout:
  num_generations: 4
  max_new_tokens: 32
rmo:
  k: 2
  trigger: always
  prob: 1.0
algorithm:
  beta: 0.01
optim:
  lr: 1.0e-3
prompts_per_step: 4
micro_batch_size: 16
stages:
  - name: stage1
    steps: 2
    reward_weights: [1.0, 0.0, 1.0]
    rmo: false
  - name: stage2
    steps: 2
    reward_weights: [1.0, 1.0, 1.0]
    rmo: true
logging:
  progress: false
  sample_every: 1
checkpoint:
  every: 0
"""


def _rarl(*args: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "rarl", *args], check=True, env=env)


def metrics_digest(path: Path) -> str:
    digest = hashlib.sha256()
    for line in path.read_text(encoding="utf-8").splitlines():
        row = {k: v for k, v in json.loads(line).items() if not k.startswith("time/")}
        digest.update(json.dumps(row, sort_keys=True).encode())
    return digest.hexdigest()


def weights_digest(folder: Path) -> str:
    import torch
    from safetensors.torch import load_file

    state = load_file(str(folder / "model.safetensors"))
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("runs/digest"))
    args = parser.parse_args()
    out: Path = args.out.resolve()
    if out.exists():  # only a folder this script wrote (its run's config) is replaced
        if any(out.iterdir()) and not (out / "digest.yaml").is_file():
            sys.exit(
                f"error: --out {out} is not empty and not a digest folder (no digest.yaml); choose another"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True)
    _rarl("build-tiny", "--out", str(out / "tiny-model"), "--seed", "0")
    _rarl(
        "prepare", "synthetic", "--out", str(out / "data"), "--sizes", "1,2,4", "--seed", "0",
        "-o", "property=count", "-o", "num_images=90",
    )  # fmt: skip
    config = out / "digest.yaml"
    config.write_text(CONFIG.format(out=out), encoding="utf-8")
    _rarl("train", "--config", str(config))
    rows = [json.loads(line) for line in (out / "run" / "metrics.jsonl").read_text().splitlines()]
    print(
        json.dumps(
            {
                "metrics": metrics_digest(out / "run" / "metrics.jsonl"),
                "weights": weights_digest(out / "run" / "final"),
                "steps": len(rows),
                "rmo_mutated_frac": [r.get("rmo_mutated_frac") for r in rows],
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
