"""Choose the Refine-IQA demo's SFT and RL learning rates on the validation split (never the test split).

From the demo's base and on the demo's data (same scale and seed as `rarl demo --recipe refine-iqa`), this runs
the SFT baseline and the two-stage Refine-IQA run once per candidate learning rate with the demo's budgets, and
scores every model on the validation split with the recipe's protocol. A model's validation score is the mean
over the synthetic datasets of its think-mode numeric SRCC (the demo table's headline row; an undefined SRCC,
every answer the same, counts as 0). Per method, the candidate with the highest score is the one the demo
uses (`rarl.recipes.quality.demo.SCALES`). Each RL candidate's on-policy reward trend per stage (OLS slope,
95 % t-interval over steps) is printed beside it.

    python benchmarks/iqa_selection.py --sft-lrs 1e-4 2e-4 5e-4 --rl-lrs 1e-4 2e-4 5e-4 --json sel.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from selection import finish, reward_slopes, slope_cell, train_candidates


def val_score(flat: dict[str, float]) -> float:
    """Mean think-mode numeric SRCC over datasets (NaN counted as 0)."""
    values = [v for k, v in flat.items() if k.endswith("/think/srcc")]
    return sum(0.0 if math.isnan(v) else v for v in values) / max(1, len(values))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from rarl.eval.protocol import EvalSettings
    from rarl.recipes.base import get_recipe
    from rarl.recipes.quality.demo import (
        SCALES,
        prepare_demo_data,
        refine_config,
        resolve_demo_base,
        sft_config,
    )
    from rarl.recipes.runs import evaluate, run_grpo, run_sft

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="/tmp/rarl-iqa-selection", help="work folder (data, runs, evaluations)")
    p.add_argument("--scale", default="default", choices=sorted(SCALES))
    p.add_argument("--seed", type=int, default=0, help="the demo's seed (data and runs)")
    p.add_argument("--base", default="shipped", help="shipped, scratch or a model folder")
    p.add_argument("--sft-lrs", nargs="+", type=float, default=[1e-4, 2e-4, 5e-4])
    p.add_argument("--rl-lrs", nargs="+", type=float, default=[1e-4, 2e-4, 5e-4])
    p.add_argument("--json", help="write every candidate's scores here")
    args = p.parse_args(argv)

    scale = SCALES[args.scale]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data, perception = prepare_demo_data(out, scale, args.seed)
    base = resolve_demo_base(args.base, out, scale, args.seed)
    recipe = get_recipe("refine-iqa")
    settings = EvalSettings(
        split="val", max_samples=scale.eval_samples, max_new_tokens=scale.max_new_tokens, n_boot=200,
        seed=args.seed, progress=False,
    )  # fmt: skip
    rows: list[dict[str, Any]] = []

    def score(method: str, lr: float, model: Path, seconds: float, run: Path | None = None) -> None:
        results = evaluate(
            {"m": str(model)}, data, out / "eval" / f"{method}-{lr:g}", settings, recipe=recipe
        )
        flat = recipe.validation_metrics(results["m"])
        row = {
            "method": method,
            "lr": lr,
            "val_score": round(val_score(flat), 4),
            **{k: round(v, 4) for k, v in flat.items() if k.endswith(("/think/srcc", "/think/srcc_prob"))},
            "train_seconds": round(seconds, 1),
        }
        if run is not None:
            row["reward_slopes"] = reward_slopes(run)
        rows.append(row)
        print(json.dumps(row), flush=True)

    score("base", 0.0, base, 0.0)
    train_candidates(
        out, "sft", args.sft_lrs,
        lambda run, lr: run_sft(sft_config(str(base), data, run, scale.stage2_steps, lr, scale.batch, args.seed)),
        score,
    )  # fmt: skip
    train_candidates(
        out, "refine-iqa", args.rl_lrs,
        lambda run, lr: run_grpo(
            refine_config(str(base), data, perception, run, dataclasses.replace(scale, rl_lr=lr), args.seed)
        ),
        score, on_policy=True,
    )  # fmt: skip

    print("| method | lr | val score (mean think SRCC) | reward slope per stage [95 % CI] |")
    print("|---|---:|---:|---|")
    for r in rows:
        print(f"| {r['method']} | {r['lr']:g} | {r['val_score']:.3f} | {slope_cell(r)} |")
    return finish(args, rows, base, ("sft", "refine-iqa"))


if __name__ == "__main__":
    main()
