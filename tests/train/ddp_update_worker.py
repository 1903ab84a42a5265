"""One GRPO update on a fixed global batch, run as 1 process or by `accelerate launch` as 2 (gloo).

The global batch is the same whatever the world size: 4 prompts x G = 2 completions of different lengths
(so the ranks hold different numbers of tokens) with fixed advantages. Each rank takes its share of prompts
(`rank_slice`, as the trainer does), the trainer's `update` phase runs once, and every rank saves its
parameters and the logged metrics. Two cases:

- `token`: DAPO token-mean aggregation, every row kept;
- `sequence_filtered`: GRPO sequence-mean aggregation with the last group dropped (DAPO filter), so the
  ranks keep different numbers of sequences.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import make_train_config  # noqa: E402
from rarl.model import encode_completions, encode_prompts  # noqa: E402
from rarl.model.batch import RolloutBatch  # noqa: E402
from rarl.recipes.runs import grpo_trainer  # noqa: E402
from rarl.train.grpo import GRPOTrainer  # noqa: E402
from rarl.train.sampler import rank_slice  # noqa: E402
from rarl.train.step_batch import StepBatch  # noqa: E402
from rarl.train.update import mean_over_processes  # noqa: E402

G = 2
CASES = {"token": ("token", [1] * 8), "sequence_filtered": ("sequence", [1] * 6 + [0] * 2)}
ADVANTAGES = [1.0, -1.0, 0.5, -0.5, -1.2, 1.2, 0.8, -0.8]  # [B*G] global


def fixed_batch(trainer: GRPOTrainer, keep_global: list[int]) -> StepBatch:
    acc = trainer.accelerator
    pool = trainer.pools[trainer.cfg.stages[0].name]
    prompts_global = list(range(4))
    local = rank_slice(prompts_global, acc.process_index, acc.num_processes)  # prompt indices of this rank
    samples = [pool[b] for b in local]
    rows = [b * G + g for b in local for g in range(G)]
    texts = []
    for b in local:
        answer = trainer.recipe.reference_answer(pool[b])
        texts.extend(answer[: 12 + 9 * (b * G + g)] for g in range(G))  # lengths differ row by row
    ids, mask = encode_completions(trainer.policy, texts)
    prompts = encode_prompts(trainer.policy, samples, messages_fn=trainer.recipe.messages).repeat_interleave(
        G
    )
    n = len(texts)
    rollout = RolloutBatch(
        prompts=prompts,
        completion_ids=ids,
        completion_mask=mask,
        texts=texts,
        lengths=mask.sum(-1),
        finished=torch.ones(n, dtype=torch.bool),
        truncated=torch.zeros(n, dtype=torch.bool),
        group_index=torch.arange(len(local)).repeat_interleave(G),
        num_generations=G,
    )
    return StepBatch(
        samples=samples,
        rollout=rollout,
        group_size=G,
        advantages=torch.tensor([ADVANTAGES[r] for r in rows]),
        keep=torch.tensor([bool(keep_global[r]) for r in rows]),
    )


def main() -> None:
    model, manifest, out = (Path(a) for a in sys.argv[1:4])
    torch.set_num_threads(1)
    for case, (aggregation, keep) in CASES.items():
        cfg = make_train_config(model, manifest, out / case)
        cfg.prompts_per_step = 4
        cfg.algorithm.aggregation = aggregation
        cfg.algorithm.beta = 0.0
        cfg.optim.max_grad_norm = 1e6  # no clipping: compare the raw update
        trainer = grpo_trainer(cfg)
        metrics = trainer.update(fixed_batch(trainer, keep))
        acc = trainer.accelerator
        state = {k: v.detach().cpu().clone() for k, v in acc.unwrap_model(trainer.model).state_dict().items()}
        tag = f"world{acc.num_processes}-rank{acc.process_index}"
        torch.save(state, out / f"{case}-{tag}.pt")
        reduced = mean_over_processes(acc, metrics)
        (out / f"{case}-{tag}.json").write_text(json.dumps(reduced))
        acc.wait_for_everyone()


if __name__ == "__main__":
    main()
