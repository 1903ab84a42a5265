"""Choose the demo's SFT and RARL learning rates on the validation split (never the test split).

From the demo's base and on the demo's data (same scale and seed as `rarl demo`), this runs the SFT baseline
and the two-stage RARL run once per candidate learning rate, with the demo's budgets, and scores every model
on the validation split with the recipe's protocol. The validation score of a model is the mean over the four
columns of the paper's table, each mapped to "higher is better" on a comparable scale:
`1 - MAE / 4` for one image (4 is the error of always answering the midpoint of levels 1..9 on the worst
label) and Kendall's tau for 2, 4 and 8 images. Per method, the candidate with the highest score is the one
the demo uses (`rarl.recipes.ordinal.demo_task.SCALES`); the table it prints is in docs/learning.md.

    python benchmarks/demo_selection.py --sft-lrs 1e-4 2e-4 5e-4 --rl-lrs 3e-4 6e-4 1.2e-3 --json sel.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from selection import finish, reward_slopes, slope_cell, train_candidates


def val_score(per_size: dict[int, Any]) -> float:
    """Mean over sizes of the column's value on a higher-is-better scale (see the module docstring)."""
    parts = [1.0 - r.value / 4.0 if r.metric == "mae" else r.value for _, r in sorted(per_size.items())]
    return sum(parts) / len(parts)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from rarl.eval.protocol import EvalSettings
    from rarl.recipes.ordinal.demo import _rarl_config, _sft_config, resolve_base
    from rarl.recipes.ordinal.demo_task import SCALES, demo_data
    from rarl.recipes.runs import evaluate as evaluate_models
    from rarl.recipes.runs import run_grpo, run_sft

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="/tmp/rarl-selection", help="work folder (data, runs, evaluations)")
    p.add_argument("--scale", default="default", choices=sorted(SCALES))
    p.add_argument("--seed", type=int, default=0, help="the demo's seed (data and runs)")
    p.add_argument(
        "--base", default="shipped", help="shipped, scratch or a model folder, as `rarl demo --base`"
    )
    p.add_argument("--sft-lrs", nargs="+", type=float, default=[1e-4, 2e-4, 5e-4])
    p.add_argument("--rl-lrs", nargs="+", type=float, default=[3e-4, 6e-4, 1.2e-3])
    p.add_argument(
        "--batch", type=int, help="override the scale's prompts per RL step (= SFT samples per step)"
    )
    p.add_argument(
        "--stage-steps", type=int, nargs=2, metavar=("STAGE1", "STAGE2"), help="override the scale's RL steps"
    )
    p.add_argument("--temperature", type=float, help="override the demo's rollout temperature")
    p.add_argument(
        "--balance-sizes",
        action="store_true",
        help="RL steps draw every image count equally (data.balance_sizes)",
    )
    p.add_argument("--eval-samples", type=int, default=None, help="val samples per size (default: all)")
    p.add_argument("--json", help="write every candidate's scores here")
    p.add_argument("--merge", nargs="+", help="only combine the --json files of earlier runs (one table)")
    args = p.parse_args(argv)
    if args.merge:
        merged: dict[tuple[str, float], dict[str, Any]] = {}
        for f in args.merge:
            for row in json.loads(Path(f).read_text())["rows"]:
                merged.setdefault((row["method"], row["lr"]), row)
        return report(args, sorted(merged.values(), key=lambda r: (r["method"], r["lr"])), base=None)

    scale = SCALES[args.scale]
    if args.batch:
        scale = dataclasses.replace(scale, batch=args.batch)
    if args.stage_steps:
        scale = dataclasses.replace(scale, stage1_steps=args.stage_steps[0], stage2_steps=args.stage_steps[1])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = out / "data"
    if not (data / "task.json").exists():
        demo_data(data, scale, args.seed, quiet=True)
    base = resolve_base(args.base, out, scale, args.seed)
    steps = scale.stage1_steps + scale.stage2_steps
    settings = EvalSettings(
        split="val",
        max_samples=args.eval_samples,
        max_new_tokens=scale.max_new_tokens,
        n_boot=200,
        seed=args.seed,
        progress=False,
    )
    rows: list[dict[str, Any]] = []

    def rarl_config(run: Path, lr: float) -> Any:
        cfg = _rarl_config(str(base), data, run, dataclasses.replace(scale, rl_lr=lr), args.seed)
        if args.temperature:
            cfg.rollout.temperature = args.temperature
        cfg.data.balance_sizes = args.balance_sizes
        return cfg

    def score(method: str, lr: float, model: Path, seconds: float, run: Path | None = None) -> None:
        results = evaluate_models({"m": str(model)}, data, out / "eval" / f"{method}-{lr:g}", settings)["m"]
        row = {
            "method": method,
            "lr": lr,
            "val_score": round(val_score(results), 4),
            **{f"{n}-img {r.metric}": round(r.value, 4) for n, r in sorted(results.items())},
            **{f"{n}-img fail": round(r.failure_rate, 4) for n, r in sorted(results.items())},
            "train_seconds": round(seconds, 1),
        }
        if run is not None:
            row["reward_slopes"] = reward_slopes(run)
        rows.append(row)
        print(json.dumps(row), flush=True)

    score("base", 0.0, base, 0.0)
    train_candidates(
        out, "sft", args.sft_lrs,
        lambda run, lr: run_sft(_sft_config(str(base), data, run, steps, lr, scale.batch, args.seed)), score,
    )  # fmt: skip
    train_candidates(
        out, "rarl", args.rl_lrs,
        lambda run, lr: run_grpo(rarl_config(run, lr)),
        score, on_policy=True,
    )  # fmt: skip

    return report(args, rows, base)


def report(args: argparse.Namespace, rows: list[dict[str, Any]], base: Path | None) -> dict[str, Any]:
    """Print the candidates as a markdown table and the chosen learning rates; write the JSON summary."""
    sizes = ("1-img mae", "2-img tau", "4-img tau", "8-img tau")
    print(
        "| method | lr | val score | "
        + " | ".join(sizes)
        + " | 4-img fail | 8-img fail | reward slope [95 % CI] |"
    )
    print("|---|---:|---:|" + "---:|" * (len(sizes) + 2) + "---|")
    for r in rows:
        cells = [f"{r[k]:.3f}" for k in sizes] + [f"{r['4-img fail']:.0%}", f"{r['8-img fail']:.0%}"]
        print(
            f"| {r['method']} | {r['lr']:g} | {r['val_score']:.3f} | "
            + " | ".join(cells)
            + f" | {slope_cell(r)} |"
        )
    return finish(args, rows, base, ("sft", "rarl"))


if __name__ == "__main__":
    main()
