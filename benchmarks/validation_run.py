"""A short RARL run validated while it trains: the `eval/*` rows, the figure, and `best/` against the checkpoint
of the best step.

    python benchmarks/validation_run.py [--out runs/validation-run] [--figure docs/figures/validation-run.png]

`configs/demo.yaml` (the shipped tiny base, the demo's brightness data drawn with the demo's seed) with each
stage cut to `--steps` steps, `eval: {every: --every, max_samples: 32}` and a checkpoint kept at every
validation step, run through `rarl train`. It then prints the validation rows of `metrics.jsonl`, checks that
every tensor of `best/` equals the same tensor of the checkpoint at `best/step` (and differs from `final/`
when the best is not the last step), and draws the run's training-curve figure with its validation panel.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml
from safetensors.torch import load_file

from rarl.eval.curves import recipe_curves
from rarl.eval.plots import plot_training_curves
from rarl.model.loading import load_policy
from rarl.recipes import get_recipe
from rarl.recipes.ordinal.demo_task import SCALES, demo_data
from rarl.train.checkpoint import checkpoint_root
from rarl.train.metrics_log import read_metrics

ROOT = Path(__file__).resolve().parents[1]


def weights(folder: Path) -> dict[str, torch.Tensor]:
    """A model folder's tensors (loaded, so named as in the model) or a checkpoint's (as saved)."""
    if (folder / "config.json").is_file():
        model = load_policy(str(folder), dtype="float32").model
        return {k: v.detach() for k, v in model.state_dict().items()}
    return load_file(str(folder / "model.safetensors"))


def differing(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> tuple[int, list[str]]:
    """(tensors compared, names of those that differ) over the names both hold."""
    common = sorted(set(a) & set(b))
    return len(common), [k for k in common if not torch.equal(a[k], b[k])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="runs/validation-run")
    ap.add_argument("--figure", default=None, help="also write the figure here (e.g. docs/figures/...)")
    ap.add_argument("--steps", type=int, default=10, help="steps per stage (two stages)")
    ap.add_argument("--every", type=int, default=4)
    args = ap.parse_args()
    out = Path(args.out)
    if out.exists() and not (out / "validation_run.yaml").is_file():
        sys.exit(f"error: --out {out} exists and is not this benchmark's folder; choose another")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)

    data = demo_data(out / "data", SCALES["default"], seed=0, quiet=True)
    cfg = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    cfg["output_dir"] = str(out / "run")
    cfg["data"]["manifest"] = str(data)
    for stage in cfg["stages"]:
        stage["steps"] = args.steps
    cfg["eval"] = {"every": args.every, "max_samples": 32, "batch_size": 64}
    cfg["checkpoint"] = {"every": args.every, "keep_last": 0}  # every validation step's weights kept
    (out / "validation_run.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))

    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "rarl", "train", "--config", str(out / "validation_run.yaml")]
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t0

    rows = [r for r in read_metrics(out / "run" / "metrics.jsonl") if "eval/tau" in r]
    print(f"\n{2 * args.steps} steps, validated every {args.every}: {wall:.0f} s wall")
    print(
        "| step | stage | eval/tau | tau@2 | tau@4 | tau@8 | fail@8 | best/tau | best/step | time/eval (s) |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['step']} | {r['stage']} | {r['eval/tau']:.3f} | {r['eval/tau@2']:.3f} | {r['eval/tau@4']:.3f} "
            f"| {r['eval/tau@8']:.3f} | {r['eval/fail@8']:.3f} | {r['best/tau']:.3f} | {r['best/step']} "
            f"| {r['time/eval']:.1f} |"
        )
    best_step = rows[-1]["best/step"]
    best = weights(out / "run" / "best")
    n, diff = differing(best, weights(checkpoint_root(out / "run") / f"step-{best_step:08d}"))
    print(f"best/ vs the checkpoint of step {best_step}: {n} tensors compared, {len(diff)} differ")
    n_final, diff_final = differing(best, weights(out / "run" / "final"))
    print(f"best/ vs final/ (step {rows[-1]['step']}): {n_final} tensors compared, {len(diff_final)} differ")

    title = f"configs/demo.yaml, {args.steps} + {args.steps} steps, validated every {args.every}"
    png = out / "training_curves.png"
    plot_training_curves(out / "run", png, title=title, **recipe_curves(get_recipe("rarl")))
    print(f"figure: {png}")
    if args.figure:
        shutil.copyfile(png, args.figure)
        print(f"figure: {args.figure}")
    if diff or n < 0.9 * len(best):
        sys.exit("best/ is not the best step's weights")


if __name__ == "__main__":
    main()
