"""Cost of Refine-IQA's probability-difference (PD) forward passes as a share of a GRPO step.

The PD reward (Eq. 2-4) adds teacher-forced forward passes to the score phase: one for every rollout that
passed (r_ans = r_fmt = 1), with its score replaced by the ground truth, under the think prompt, and one per
prompt for the no-think reference. This script runs `--steps` stage-2 GRPO steps (think mode, PD on,
`refine_iqa` advantages) from a format-following base, times every `PolicyScorer.score` call inside the
reward, and reports per step: the step time, the score-phase time, the PD passes' time and their share of
the step, and the share of rollouts that passed (only those cost a think pass).

Default (CPU, offline): the demo's synthetic quality task and its shipped base (`--base scratch` rebuilds
it, `--base DIR` takes another model folder).

    python benchmarks/pd_cost.py --threads 2
    python benchmarks/pd_cost.py --steps 6
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--base", default="shipped", help="shipped (the demo's base, default), scratch, or a model folder"
    )
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--generations", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from rarl.recipes.quality.demo import SCALES, benchmark_inputs, refine_config
    from rarl.recipes.runs import grpo_trainer
    from rarl.train.metrics_log import read_metrics

    scale = SCALES["default"]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        data, base = benchmark_inputs(out, scale, args.seed, args.base)
        from dataclasses import replace

        bench = replace(
            scale,
            batch=args.prompts,
            num_generations=args.generations,
            stage1_steps=0,
            stage2_steps=args.steps,
            max_new_tokens=args.max_new_tokens,
        )
        cfg = refine_config(str(base), data, None, out / "run", bench, args.seed)
        cfg.logging.progress = False
        trainer = grpo_trainer(cfg)
        pd_seconds: list[float] = []
        calls: list[int] = []
        original = trainer.scorer.score

        def timed(samples, texts, mode=None):
            t0 = time.perf_counter()
            result = original(samples, texts, mode=mode)
            pd_seconds.append(time.perf_counter() - t0)
            calls.append(len(texts))
            return result

        trainer.scorer.score = timed  # type: ignore[method-assign]
        trainer.train()
        rows = read_metrics(out / "run" / "metrics.jsonl")
        total_pd = sum(pd_seconds)
        steps = [float(r["time/step"]) for r in rows]
        score_phase = [float(r.get("time/score", 0.0)) for r in rows]
        passed = [float(r.get("reward/passed", 0.0)) for r in rows]
    step_total = sum(steps)
    print(
        f"device: cpu, threads {args.threads}; {args.steps} steps of {args.prompts} prompts x G={args.generations}"
    )
    print("| step | time/step (s) | time/score (s) | passed rollouts |")
    print("|---:|---:|---:|---:|")
    for i, (s, sc, p) in enumerate(zip(steps, score_phase, passed), 1):
        print(f"| {i} | {s:.2f} | {sc:.2f} | {100 * p:.0f}% |")
    print(
        f"PD forward passes: {len(pd_seconds)} scorer calls over {sum(calls)} texts, {total_pd:.2f} s in all; "
        f"{100 * total_pd / step_total:.1f}% of the {step_total:.1f} s of training steps "
        f"(mean step {statistics.mean(steps):.2f} s)"
    )


if __name__ == "__main__":
    main()
