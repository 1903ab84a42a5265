"""One SFT update on a fixed global batch, run as 1 process or by `accelerate launch` as 2 (gloo).

The global batch is 4 training samples (1-, 2- and 4-image samples, so reference answers differ in length):
the first sampler seed whose first batch splits into two halves of different answer-token counts, found the
same way whatever the world size. Each rank takes its share (`rank_slice`, as the trainer does), the trainer's
`step` runs once with one sample per micro-batch, and every rank saves its parameters, the logged metrics and
its local answer-token count.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import make_sft_config  # noqa: E402
from rarl.model import encode_completions  # noqa: E402
from rarl.recipes.runs import sft_trainer  # noqa: E402
from rarl.train.sampler import EpochSampler, rank_slice  # noqa: E402


def main() -> None:
    model, manifest, out = (Path(a) for a in sys.argv[1:4])
    torch.set_num_threads(1)
    cfg = make_sft_config(model, manifest, out / "sft", steps=1)
    cfg.micro_batch_size = 1
    cfg.optim.max_grad_norm = 1e6  # no clipping: compare the raw update
    trainer = sft_trainer(cfg)
    acc = trainer.accelerator
    samples = trainer.sampler.items

    def tokens(batch: list) -> int:
        return int(
            encode_completions(trainer.policy, [trainer.recipe.reference_answer(s) for s in batch])[1].sum()
        )

    for seed in range(100):
        batch = EpochSampler(samples, seed=seed).next_batch(cfg.batch_size)
        if tokens(rank_slice(batch, 0, 2)) != tokens(rank_slice(batch, 1, 2)):
            break
    trainer.sampler = EpochSampler(samples, seed=seed)
    local = rank_slice(batch, acc.process_index, acc.num_processes)
    mask_sum = tokens(local)
    metrics = trainer.step()
    state = {k: v.detach().cpu().clone() for k, v in acc.unwrap_model(trainer.model).state_dict().items()}
    tag = f"world{acc.num_processes}-rank{acc.process_index}"
    torch.save(state, out / f"sft-{tag}.pt")
    record = {k: metrics[k] for k in ("loss", "grad_norm", "answer_tokens")}
    record["local_tokens"] = mask_sum
    (out / f"sft-{tag}.json").write_text(json.dumps(record))
    acc.wait_for_everyone()


if __name__ == "__main__":
    main()
