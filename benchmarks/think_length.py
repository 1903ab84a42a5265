"""Think length during Refine-IQA stage-2 training with and without the probability-difference reward.

The paper reports a "think collapse" under the plain outcome reward (the think block shrinks as training
goes on) that the PD reward prevents. This script trains the same format-following base twice for `--steps`
stage-2 steps (think mode, `refine_iqa` advantages, same seed and data), once with `pd: true` and once with
`pd: false`, and plots the mean think length in characters per step (`reward/think_chars`, logged by the
reward every step) of both runs into one PNG, with the answer reward beside it. It prints the per-step
numbers too. At demo scale (tiny model, a few dozen steps) the curves are what they are: they show the
measurement works, not the paper's effect at 7B scale.

    python benchmarks/think_length.py --out runs/think_length.png
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--base", default="shipped", help="shipped (the demo's base, default), scratch, or a model folder"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/think_length.png"))
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--generations", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rarl.recipes.quality.demo import SCALES, benchmark_inputs, refine_config
    from rarl.recipes.runs import run_grpo
    from rarl.train.metrics_log import read_metrics

    scale = replace(
        SCALES["default"],
        batch=args.prompts,
        num_generations=args.generations,
        stage1_steps=0,
        stage2_steps=args.steps,
    )
    curves: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        data, base = benchmark_inputs(out, scale, args.seed, args.base)
        for label, pd in (("with PD", True), ("without PD", False)):
            cfg = refine_config(str(base), data, None, out / label.replace(" ", "-"), scale, args.seed, pd=pd)
            cfg.logging.progress = False
            run_grpo(cfg)
            curves[label] = read_metrics(out / label.replace(" ", "-") / "metrics.jsonl")

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for label, rows in curves.items():
        steps = [r["step"] for r in rows]
        axes[0].plot(
            steps, [r.get("reward/think_chars", float("nan")) for r in rows], marker="o", label=label
        )
        axes[1].plot(steps, [r.get("reward/answer", float("nan")) for r in rows], marker="o", label=label)
    axes[0].set(xlabel="step", ylabel="mean think length (chars)", title="Think length")
    axes[1].set(xlabel="step", ylabel="answer reward (Eq. 1)", title="Answer reward")
    for ax in axes:
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    print("| step | " + " | ".join(f"think chars {k} | answer {k}" for k in curves) + " |")
    print("|---:|" + "---:|---:|" * len(curves))
    for i in range(max(len(v) for v in curves.values())):
        cells = []
        for rows in curves.values():
            r = rows[i] if i < len(rows) else {}
            cells += [
                f"{r.get('reward/think_chars', float('nan')):.1f}",
                f"{r.get('reward/answer', float('nan')):.3f}",
            ]
        print(f"| {i + 1} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
