"""Run by `accelerate launch --num_processes 2` from test_distributed.py: a short GRPO run, then every rank
writes a digest of its parameters so the test can check the ranks agree."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import make_train_config  # noqa: E402
from rarl.recipes.runs import grpo_trainer  # noqa: E402


def main() -> None:
    model, manifest, out = (Path(a) for a in sys.argv[1:4])
    torch.set_num_threads(1)
    cfg = make_train_config(model, manifest, out)
    cfg.prompts_per_step = 4  # two prompts per rank
    trainer = grpo_trainer(cfg)
    trainer.train()
    digest = hashlib.sha256()
    state = trainer.accelerator.unwrap_model(trainer.model).state_dict()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].detach().cpu().float().numpy().tobytes())
    rank = trainer.accelerator.process_index
    (out / f"params-rank{rank}.json").write_text(
        json.dumps({"rank": rank, "world": trainer.accelerator.num_processes, "sha256": digest.hexdigest()})
    )


if __name__ == "__main__":
    main()
