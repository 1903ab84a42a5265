"""Probe one GRPO batch: repeat the update on it and watch the format rate of fresh samples of its prompts.

    python benchmarks/learning_probe.py --base BASE --data MANIFEST [--lr 1e-4] [--advantages full|positive|negative]
                                        [--negative-scale 1.0] [--optimizer adamw|sgd] [--updates 4 4]

From the base, one rollout batch (8 prompts of 1 and 2 images x G=8, format reward alone, beta 0) is sampled
and scored once. The trainer's own `update` is then applied to that same batch again and again; after each
block of updates the probe samples fresh completions (2 seeds x G=8) for the same 8 prompts and prints their
format rate. `--advantages positive` keeps only the positive advantages (negative ones set to 0), `negative`
only the negative ones; `--negative-scale` multiplies the negative ones (the `grpo` estimator's option).

It isolates what one batch's gradient does to the policy, with no prompt-to-prompt noise: GRPO on a fixed
batch must raise the format rate of those prompts' fresh samples. docs/learning.md gives what it printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> list[float]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--out", default="/tmp/rarl-learning-probe")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--optimizer", choices=("adamw", "sgd"), default="adamw")
    p.add_argument("--advantages", choices=("full", "positive", "negative"), default="full")
    p.add_argument("--negative-scale", type=float, default=1.0)
    p.add_argument("--aggregation", choices=("sequence", "token"), default="sequence")
    p.add_argument("--updates", nargs="+", type=int, default=[4, 4], help="updates per block")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    import torch

    from rarl.model import generate
    from rarl.recipes.runs import grpo_trainer
    from rarl.train.config import (
        AlgorithmConfig,
        DataConfig,
        LoggingConfig,
        ModelConfig,
        OptimConfig,
        RolloutConfig,
        StageConfig,
        TrainConfig,
    )

    torch.set_num_threads(1)
    cfg = TrainConfig(
        output_dir=str(Path(args.out)),
        seed=args.seed,
        model=ModelConfig(name_or_path=args.base, freeze_vision=False),
        data=DataConfig(manifest=args.data, sizes=[1, 2]),
        rollout=RolloutConfig(num_generations=8, max_new_tokens=96),
        algorithm=AlgorithmConfig(
            beta=0.0,
            aggregation=args.aggregation,
            advantage_kwargs={"negative_scale": args.negative_scale},
        ),
        optim=OptimConfig(lr=args.lr),
        prompts_per_step=8,
        micro_batch_size=32,
        stages=[StageConfig(name="main", steps=1, reward_kwargs={"weights": [0.0, 0.0, 1.0]})],
        logging=LoggingConfig(progress=False, sample_every=0),
    )
    trainer = grpo_trainer(cfg)
    if args.optimizer == "sgd":
        trainer.optimizer.optimizer = torch.optim.SGD(trainer.model.parameters(), lr=args.lr)
    stage = cfg.stages[0]
    reward_fn = trainer._reward_fn(stage)
    batch = trainer.rollout(stage)
    trainer.score(batch, reward_fn, stage)
    trainer.mutate(batch, stage, reward_fn)
    trainer.compute_advantages(batch)
    if args.advantages == "positive":
        batch.advantages = batch.advantages.clamp(min=0)
    elif args.advantages == "negative":
        batch.advantages = batch.advantages.clamp(max=0)

    def fresh_format() -> float:
        hits = total = 0.0
        for s in range(2):
            ro = generate(
                trainer.policy, batch.samples, num_generations=8, temperature=1.0, max_new_tokens=96,
                seed=100 + s, messages_fn=trainer.recipe.messages,
            )  # fmt: skip
            inputs = trainer.reward_inputs(
                stage, batch.samples, ro.texts, ro.completion_ids, ro.completion_mask, 8
            )
            hits += float(reward_fn(inputs).components["format"].sum())
            total += len(ro.texts)
        return hits / total

    rates = [fresh_format()]
    done = 0
    for block in args.updates:
        for _ in range(block):
            trainer.update(batch)
        done += block
        rates.append(fresh_format())
    marks = [0]
    for block in args.updates:
        marks.append(marks[-1] + block)
    print(
        f"{args.optimizer} lr {args.lr:g}, advantages {args.advantages}, negative_scale {args.negative_scale:g}, "
        f"{args.aggregation}: fresh format rate after "
        + ", ".join(f"{m} updates {r:.2f}" for m, r in zip(marks, rates))
    )
    return rates


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
