"""What the demos' learning-rate selection scripts share (`demo_selection.py`, `iqa_selection.py`,
`vr1_selection.py`): each scores candidates on the validation split; this picks the best per method, reads a
run's on-policy reward trend and writes the summary."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rarl.eval.trend import stage_trends


def train_candidates(
    out: Path,
    method: str,
    lrs: list[float],
    train: Callable[[Path, float], object],
    score: Callable[..., None],
    on_policy: bool = False,
) -> None:
    """Per learning rate, `train(run, lr)` into `out/METHOD-LR` (kept when a finished run is already there) and
    `score(method, lr, model, seconds[, run])` its final model (`on_policy`: also pass the run folder)."""
    for lr in lrs:
        t0 = time.perf_counter()
        run = out / f"{method}-{lr:g}"
        if not (run / "final" / "config.json").exists():
            train(run, lr)
        score(method, lr, run / "final", time.perf_counter() - t0, *([run] if on_policy else []))


def reward_slopes(run: Path) -> dict[str, list[float]]:
    """{stage: [slope, low, high]} of the on-policy reward per step (`rarl.eval.trend`: OLS, 95 % t-interval)."""
    return {stage: [t.slope, t.low, t.high] for stage, t in stage_trends(run)}


def slope_cell(row: dict[str, Any]) -> str:
    """A row's reward slopes as one table cell."""
    return "; ".join(
        f"{s} {v[0]:+.4f} [{v[1]:+.4f}, {v[2]:+.4f}]" for s, v in row.get("reward_slopes", {}).items()
    )


def finish(
    args: argparse.Namespace, rows: list[dict[str, Any]], base: Path | None, methods: tuple[str, ...]
) -> dict[str, Any]:
    """The learning rate with the highest `val_score` per method (printed), and the JSON summary (`--json`)."""
    chosen = {
        m: max((r for r in rows if r["method"] == m), key=lambda r: r["val_score"])["lr"]
        for m in methods
        if any(r["method"] == m for r in rows)
    }
    print("chosen on val: " + ", ".join(f"{m} lr {lr:g}" for m, lr in chosen.items()))
    summary = {"scale": args.scale, "seed": args.seed, "base": str(base), "rows": rows, "chosen": chosen}
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return summary
