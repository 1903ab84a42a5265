"""Choose the Vision-R1 demo's SFT and RL learning rates on the validation split (never the test split).

From the demo's base and on the demo's data (same scale and seed as `rarl demo --recipe vision-r1`), this runs
the SFT baseline and the Vision-R1 run once per candidate learning rate with the demo's budgets, and scores
every model on the validation split with the recipe's protocol. A model's validation score is its mAP (the
demo table's headline column). Per method, the candidate with the highest score is the one the demo uses
(`rarl.recipes.localization.demo.SCALES`). Each RL candidate's on-policy reward trend (OLS slope, 95 %
t-interval over steps) is printed beside it.

    python benchmarks/vr1_selection.py --sft-lrs 1e-4 3e-4 1e-3 --rl-lrs 1e-4 3e-4 1e-3 --json sel.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from selection import finish, reward_slopes, slope_cell, train_candidates

from rarl.eval.settings import EvalSettings
from rarl.recipes.base import get_recipe
from rarl.recipes.localization.demo import (
    SCALES,
    grpo_config,
    prepare_demo_data,
    resolve_demo_base,
    sft_config,
)
from rarl.recipes.runs import evaluate, run_grpo, run_sft

COLUMNS = ("mAP", "AP50", "AP75", "AR100", "failure_rate")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="/tmp/rarl-vr1-selection", help="work folder (data, runs, evaluations)")
    p.add_argument("--scale", default="default", choices=sorted(SCALES))
    p.add_argument("--seed", type=int, default=0, help="the demo's seed (data and runs)")
    p.add_argument("--base", default="shipped", help="shipped, scratch or a model folder")
    p.add_argument("--sft-lrs", nargs="+", type=float, default=[1e-4, 3e-4, 1e-3])
    p.add_argument("--rl-lrs", nargs="+", type=float, default=[1e-4, 3e-4, 1e-3])
    p.add_argument("--rl-steps", type=int, help="override the scale's steps (SFT gets steps x batch samples)")
    p.add_argument("--num-generations", type=int, help="override the scale's group size G")
    p.add_argument(
        "--batch", type=int, help="override the scale's prompts per RL step (= SFT samples per step)"
    )
    p.add_argument("--temperature", type=float, help="override the scale's rollout temperature")
    p.add_argument("--json", help="write every candidate's scores here")
    args = p.parse_args(argv)

    scale = SCALES[args.scale]
    if args.rl_steps:
        scale = dataclasses.replace(scale, rl_steps=args.rl_steps)
    if args.num_generations:
        scale = dataclasses.replace(scale, num_generations=args.num_generations)
    if args.batch:
        scale = dataclasses.replace(scale, batch=args.batch)
    if args.temperature:
        scale = dataclasses.replace(scale, temperature=args.temperature)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = out / "data"
    if not (data / "task.json").exists():
        prepare_demo_data(out, scale, args.seed)
    base = resolve_demo_base(args.base, out, scale, args.seed)
    recipe = get_recipe("vision-r1")
    settings = EvalSettings(
        split="val", max_new_tokens=scale.max_new_tokens, n_boot=1, seed=args.seed, progress=False
    )
    rows: list[dict[str, Any]] = []

    def score(method: str, lr: float, model: Path, seconds: float, run: Path | None = None) -> None:
        results = evaluate(
            {"m": str(model)}, data, out / "eval" / f"{method}-{lr:g}", settings, recipe=recipe
        )
        flat = recipe.validation_metrics(results["m"])
        row = {
            "method": method,
            "lr": lr,
            "val_score": round(flat["mAP"], 4),
            **{k: round(flat[k], 4) for k in COLUMNS},
            "train_seconds": round(seconds, 1),
        }
        if run is not None:
            row["reward_slopes"] = reward_slopes(run)
        rows.append(row)
        print(json.dumps(row), flush=True)

    score("base", 0.0, base, 0.0)
    sft_steps = scale.rl_steps  # equal budgets: SFT steps x batch = RL steps x prompts per step
    train_candidates(
        out, "sft", args.sft_lrs,
        lambda run, lr: run_sft(sft_config(str(base), data, run, sft_steps, lr, scale, args.seed)), score,
    )  # fmt: skip
    train_candidates(
        out, "vision-r1", args.rl_lrs,
        lambda run, lr: run_grpo(
            grpo_config(str(base), data, run, dataclasses.replace(scale, rl_lr=lr), args.seed)
        ),
        score, on_policy=True,
    )  # fmt: skip

    print("| method | lr | mAP (val score) | AP50 | AP75 | AR@100 | fail | reward slope [95 % CI] |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        cells = " | ".join(f"{100 * r[k]:.1f}" for k in COLUMNS)
        print(f"| {r['method']} | {r['lr']:g} | {cells} | {slope_cell(r)} |")
    return finish(args, rows, base, ("sft", "vision-r1"))


if __name__ == "__main__":
    main()
