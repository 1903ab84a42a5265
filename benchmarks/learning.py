"""Does GRPO learn? Reward curves from a fixed base for three rewards, with fitted slopes and CIs over seeds.

    python benchmarks/learning.py [--out /tmp/learning] [--seeds 0 1 2] [--steps 20] [--plot docs/figures/learning.png]

From one fixed base (`WEAK_BASE`, the demo's former 150-step warm-up of the 4-layer tiny Qwen2.5-VL on a
warm-up split, built once under `--out` unless `--base` and `--data` point at existing folders), run
single-stage GRPO for each variant:

- `format`: the format reward alone, lambda = (0, 0, 1);
- `regression`: regression + format, lambda = (1, 0, 1) (the paper's stage 1);
- `rarl`: the full ranking-aware reward, lambda = (1, 1, 1) (the paper's stage 2, without RMO so that the
  curve is on-policy learning only).

For every (variant, seed) it records the on-policy `reward/total_mean` and `reward/format` per step, fits a
least-squares line to reward vs step, and reports the mean slope over seeds with a Student-t 95 % interval
(seeds are the independent units; steps within a run are not). It also prints the means of the first and last
quarter of the steps. `--plot` writes a PNG of the curves (mean over seeds, one thin line per seed).

Everything not given on the command line uses the RL settings of docs/learning.md (lr 6e-4 with 3 warm-up
steps, negative advantages x 0.25, KL 0.01, 16 prompts x G = 8, 20 steps). One torch thread per run keeps it
reproducible on a shared CPU.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VARIANTS: dict[str, tuple[float, float, float]] = {
    "format": (0.0, 0.0, 1.0),
    "regression": (1.0, 0.0, 1.0),
    "rarl": (1.0, 1.0, 1.0),
}
"""Variant name -> lambda1..3 (regression, ranking, format)."""

VARIANT_SIZES: dict[str, list[int]] = {"format": [1, 2], "regression": [1, 2], "rarl": [2, 4]}
"""Image counts per variant (small, to keep the benchmark within minutes on two cores): ranking needs at least
two images, so the `rarl` variant uses 2 and 4."""


@dataclass(frozen=True)
class Fit:
    """Slope of reward vs step over seeds: the mean of per-seed least-squares slopes and its t-interval."""

    slope: float
    low: float
    high: float
    first: float  # mean reward over the first quarter of the steps (all seeds)
    last: float  # mean reward over the last quarter of the steps (all seeds)
    per_seed: tuple[float, ...]


# Two-sided 95 % Student-t quantiles by degrees of freedom (scipy is not a dependency).
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def ols_slope(y: list[float]) -> float:
    """Least-squares slope of y against 0..n-1."""
    n = len(y)
    if n < 2:
        return float("nan")
    xm, ym = (n - 1) / 2, sum(y) / n
    sxx = sum((x - xm) ** 2 for x in range(n))
    return sum((x - xm) * (v - ym) for x, v in enumerate(y)) / sxx


def fit_curves(curves: list[list[float]]) -> Fit:
    """curves: one reward-per-step list per seed -> mean slope over seeds with a 95 % t-interval."""
    slopes = [ols_slope(c) for c in curves]
    k = len(slopes)
    mean = sum(slopes) / k
    if k > 1:
        sd = math.sqrt(sum((s - mean) ** 2 for s in slopes) / (k - 1))
        half = _T95.get(k - 1, 1.96) * sd / math.sqrt(k)
    else:
        half = float("nan")
    q = max(1, min(len(c) for c in curves) // 4)
    first = sum(v for c in curves for v in c[:q]) / (q * k)
    last = sum(v for c in curves for v in c[-q:]) / (q * k)
    return Fit(mean, mean - half, mean + half, first, last, tuple(slopes))


WEAK_BASE = {"num_layers": 4, "warmup_steps": 150, "warmup_lr": 2e-3, "batch": 16, "num_images": 900}
"""The fixed base of this benchmark: the demo's former 150-step warm-up, which writes a valid answer for about
two thirds of its samples, so there is format left to learn (the shipped demo base already writes it)."""


def build_base(out: Path, seed: int = 0) -> tuple[Path, Path]:
    """The benchmark's weak base and its task data under `out`; reused when already there."""
    from rarl.model.tiny import build_tiny_qwen2_5_vl
    from rarl.recipes.demo_common import demo_sft_config
    from rarl.recipes.ordinal.demo_task import brightness_data
    from rarl.recipes.runs import run_sft

    w = WEAK_BASE
    base, data, warm = out / "base" / "final", out / "data", out / "warmup-data"
    if (base / "config.json").exists() and (data / "task.json").exists():
        return base, data
    tiny = build_tiny_qwen2_5_vl(out / "tiny-model", seed=seed, num_layers=w["num_layers"])
    n = w["num_images"]
    brightness_data(data, seed=seed, num_images=n, samples_per_size={"train": 400, "val": 40, "test": 100})
    brightness_data(
        warm,
        seed=seed + 1000,
        num_images=n // 2,
        samples_per_size={"train": 400, "val": 4, "test": 4},
        quiet=True,
    )
    cfg = demo_sft_config(
        str(tiny), warm, out / "base", steps=w["warmup_steps"], lr=w["warmup_lr"], batch=w["batch"], seed=seed
    )
    return Path(run_sft(cfg)), data


def run_variant(args: argparse.Namespace, base: Path, data: Path, variant: str, seed: int) -> dict[str, Any]:
    """One single-stage GRPO run; returns its per-step metrics and wall time."""
    from rarl.recipes.runs import run_grpo
    from rarl.train.config import (
        AlgorithmConfig,
        CheckpointConfig,
        DataConfig,
        LoggingConfig,
        ModelConfig,
        OptimConfig,
        RolloutConfig,
        StageConfig,
        TrainConfig,
    )
    from rarl.train.metrics_log import read_metrics

    out = Path(args.out) / "runs" / f"{variant}-seed{seed}"
    cfg = TrainConfig(
        output_dir=str(out),
        seed=seed,
        model=ModelConfig(name_or_path=str(base), freeze_vision=False),
        data=DataConfig(manifest=str(data), sizes=args.sizes or VARIANT_SIZES[variant]),
        rollout=RolloutConfig(
            num_generations=args.group,
            temperature=args.temperature,
            max_new_tokens=args.max_new_tokens,
        ),
        algorithm=AlgorithmConfig(beta=args.beta, advantage_kwargs={"negative_scale": args.negative_scale}),
        optim=OptimConfig(lr=args.lr, warmup_steps=args.warmup),
        prompts_per_step=args.batch,
        micro_batch_size=32,
        stages=[
            StageConfig(name="main", steps=args.steps, reward_kwargs={"weights": list(VARIANTS[variant])})
        ],
        logging=LoggingConfig(progress=False, sample_every=0),
        checkpoint=CheckpointConfig(every=0, keep_last=1, save_final_model=False),
    )
    t0 = time.perf_counter()
    run_grpo(cfg, overwrite=True)
    rows = read_metrics(out / "metrics.jsonl")
    return {"rows": rows, "seconds": time.perf_counter() - t0}


def plot(
    curves: dict[str, dict[str, dict[str, list[float]]]], fits: dict[str, dict[str, Fit]], path: Path
) -> None:
    """Reward curves per variant (total and format), seeds thin, mean thick, with the fitted slope.

    curves: variant -> seed -> metric -> reward per step.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(curves)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names):
        for key, colour in (("reward/total_mean", "tab:blue"), ("reward/format", "tab:orange")):
            runs = [per_seed[key] for per_seed in curves[name].values()]
            for c in runs:
                ax.plot(range(1, len(c) + 1), c, color=colour, alpha=0.25, lw=0.8)
            n = min(len(c) for c in runs)
            mean = [sum(c[i] for c in runs) / len(runs) for i in range(n)]
            f = fits[name][key]
            label = f"{key.split('/')[1]}: slope {f.slope:+.4f} [{f.low:+.4f}, {f.high:+.4f}]"
            ax.plot(range(1, n + 1), mean, color=colour, lw=2, label=label)
        ax.set_title(f"{name} reward, lambda = {VARIANTS[name]}", fontsize=9)
        ax.set_xlabel("GRPO step")
        ax.set_ylabel("on-policy reward")
        ax.legend(fontsize=7, loc="lower right")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


KEYS = ("reward/total_mean", "reward/format")


def report(curves: dict[str, dict[str, dict[str, list[float]]]]) -> dict[str, dict[str, Fit]]:
    """Print the slope table of `curves` (variant -> seed -> metric -> per-step reward); returns the fits."""
    fits = {v: {k: fit_curves([c[k] for c in per.values()]) for k in KEYS} for v, per in curves.items()}
    print(
        f"{'variant':10s} {'metric':8s} {'seeds':>5s} {'first q':>8s} {'last q':>8s} {'slope/step':>11s} {'95% CI':>20s}"
    )
    for variant, per_key in fits.items():
        for key, f in per_key.items():
            print(
                f"{variant:10s} {key.split('/')[1][:8]:8s} {len(f.per_seed):5d} {f.first:8.3f} {f.last:8.3f} "
                f"{f.slope:+11.4f} [{f.low:+.4f}, {f.high:+.4f}]"
            )
    return fits


def _saved_curves(path: Path) -> dict[str, dict[str, dict[str, list[float]]]]:
    """Curves of earlier runs: a `--json` summary, or an `--out` folder (its runs' metrics.jsonl, finished or not)."""
    from rarl.train.metrics_log import read_metrics

    if path.is_file():
        return json.loads(path.read_text())["curves"]
    curves: dict[str, dict[str, dict[str, list[float]]]] = {}
    for metrics in sorted(path.glob("runs/*-seed*/metrics.jsonl")):
        variant, seed = metrics.parent.name.rsplit("-seed", 1)
        rows = read_metrics(metrics)
        if rows:
            curves.setdefault(variant, {})[seed] = {k: [r[k] for r in rows] for k in KEYS}
    for variant, per in curves.items():  # a run still going (or killed) is shorter: keep the full-length ones
        longest = max(len(c[KEYS[0]]) for c in per.values())
        curves[variant] = {seed: c for seed, c in per.items() if len(c[KEYS[0]]) == longest}
    return curves


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="/tmp/rarl-learning", help="work folder (base, data, runs)")
    p.add_argument(
        "--base", help="an existing base model folder (default: build the demo's base under --out)"
    )
    p.add_argument("--data", help="the manifest of the task data (with --base)")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch", type=int, default=16, help="prompts per step")
    p.add_argument("--group", type=int, default=8, help="rollouts per prompt (G)")
    p.add_argument("--lr", type=float, default=6e-4)
    p.add_argument("--warmup", type=int, default=3, help="linear lr warm-up steps")
    p.add_argument("--beta", type=float, default=0.01, help="KL coefficient")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--negative-scale", type=float, default=0.25, help="weight of negative advantages")
    p.add_argument("--max-new-tokens", type=int, default=160)
    p.add_argument("--sizes", nargs="+", type=int, help="image counts (default: per variant)")
    p.add_argument("--plot", help="write the curves to this PNG")
    p.add_argument("--json", help="write curves and fits to this JSON file")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--merge", nargs="+", help="only combine the --json files of earlier runs into one table/plot"
    )
    args = p.parse_args(argv)
    if args.merge:
        curves: dict[str, dict[str, dict[str, list[float]]]] = {}
        for f in args.merge:
            for variant, per in _saved_curves(Path(f)).items():
                curves.setdefault(variant, {}).update(per)
        fits = report(curves)
        if args.plot:
            plot(curves, fits, Path(args.plot))
            print(f"plot: {args.plot}")
        return {
            "fits": {v: {k: f.__dict__ for k, f in per.items()} for v, per in fits.items()},
            "curves": curves,
        }

    import torch

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    if args.base:
        if not args.data:
            p.error("--base needs --data")
        base, data = Path(args.base), Path(args.data)
    else:
        base, data = build_base(Path(args.out))
    print(f"base {base} (ready after {time.perf_counter() - t0:.0f}s)", flush=True)

    curves: dict[str, dict[str, dict[str, list[float]]]] = {}
    seconds: dict[str, dict[str, float]] = {}
    for variant in args.variants:
        curves[variant], seconds[variant] = {}, {}
        for seed in args.seeds:
            run = run_variant(args, base, data, variant, seed)
            curves[variant][str(seed)] = {k: [r[k] for r in run["rows"]] for k in KEYS}
            seconds[variant][str(seed)] = run["seconds"]
            total, fmt = (
                curves[variant][str(seed)]["reward/total_mean"],
                curves[variant][str(seed)]["reward/format"],
            )
            print(
                f"{variant:10s} seed {seed}: total {total[0]:.3f} -> {total[-1]:.3f}, "
                f"format {fmt[0]:.2f} -> {fmt[-1]:.2f}, slope {ols_slope(total):+.4f}/step ({run['seconds']:.0f}s)",
                flush=True,
            )

    print(
        f"\nGRPO from a fixed base: {len(args.seeds)} seeds x {args.steps} steps, {args.batch} prompts x "
        f"G={args.group}, lr {args.lr:g} (warm-up {args.warmup}), beta {args.beta:g}, T={args.temperature:g}, "
        f"negative_scale {args.negative_scale:g}"
    )
    fits = report(curves)
    print(f"total wall time {time.perf_counter() - t0:.0f}s")
    if args.plot:
        plot(curves, fits, Path(args.plot))
        print(f"plot: {args.plot}")
    summary = {
        "settings": dict(vars(args)),
        "fits": {v: {k: f.__dict__ for k, f in per.items()} for v, per in fits.items()},
        "curves": curves,
        "seconds": seconds,
    }
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(summary, indent=1) + "\n")
    return summary


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
