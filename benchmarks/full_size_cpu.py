"""The released Qwen2.5-VL-3B architecture through the real commands on CPU: `rarl train`, a kill, `--resume`,
`rarl eval`; wall time and peak memory per phase, and whether the resumed run ends on the same weights.

Nothing is downloaded: the model is the random full-size 3B folder (`write_random_full_size`, 3,754,622,976
parameters, bf16, image processor at 448x448, 256 visual tokens per image). The run config is the shipped
`configs/utkface-qwen2.5-vl-3b.yaml` (bf16, sdpa, frozen vision tower, gradient checkpointing) with LoRA r = 16
on the language model's linear layers, one stage of `--steps` steps, 2-image prompts of synthetic 448x448
images, G = 2, one prompt per step, `--max-new-tokens` tokens, a checkpoint after every step, and RMO
replacing one of the two rollouts with the ground-truth answer (`rmo.k=1`, every group): random weights
never answer in the format, so without it every reward is 0, no advantage is non-zero and the adapters would
not move, which would make the resume comparison empty (`lora_b_nonzero` says they moved). Under LoRA the
trainer keeps no reference copy: the KL term's reference pass runs the same weights with the adapters
disabled (`GRPOTrainer`; the phase's peak memory shows it: one copy of the weights).

Phases, each a subprocess (`python -m rarl ...`) whose wall time and peak resident memory (`os.wait4`'s
`ru_maxrss`) are measured:

1. `write`: the random 3B folder (skipped when `--model` already holds one);
2. `prepare`: the synthetic 2-image data at 448x448 (`rarl prepare synthetic`);
3. `train`: run A, `--steps` steps uninterrupted (checkpoints only, no model folder at the end);
4. `train, killed`: run B, the same config, SIGKILLed once the checkpoint of step `--steps - 1` is in place;
5. `resume`: run B again with `--resume`, to the end (its final model folder: adapters merged);
6. `eval`: `rarl eval` of run B's final folder on `--eval-samples` test prompts.

Run A's own log (`metrics.jsonl`) gives the seconds of each GRPO phase per step (rollout, reward, reference
pass, update, ...). Then the LoRA adapter tensors and the optimizer state of run A's and run B's last checkpoints are compared
element for element (`resume equal`: every tensor identical). One table; `--json` writes the rows.

    python benchmarks/full_size_cpu.py --out /tmp/full-size-cpu --json /tmp/full-size-cpu.json
    python benchmarks/full_size_cpu.py --smoke --out /tmp/full-size-smoke   # the tiny model at 56x56: seconds

Disk: about 8 GB for the model folder and 8 GB per checkpoint or model folder (each holds the full weights);
the script removes the folders it wrote when it is done with them (run A's after the comparison) unless
`--keep`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "utkface-qwen2.5-vl-3b.yaml"
SIDE = 448  # the released budget's frame: 256 visual tokens per image
SMOKE_SIDE = 56  # the tiny model's frame: 4 visual tokens per image


def run_phase(name: str, argv: list[str], rows: list[dict[str, Any]], kill_when: Any = None) -> int:
    """Run `argv` as a child, record its wall time and peak RSS; `kill_when()` true: SIGKILL it."""
    print(f"== {name}: {' '.join(argv)}", flush=True)
    start = time.perf_counter()
    child = subprocess.Popen(argv, cwd=ROOT, start_new_session=True)
    killed = False
    while True:  # os.wait4 reaps the child itself, so its rusage (peak RSS) is this child's alone
        pid, status, usage = os.wait4(child.pid, 0 if kill_when is None else os.WNOHANG)
        if pid == child.pid:
            break
        if not killed and kill_when():
            os.killpg(child.pid, signal.SIGKILL)
            killed = True
        time.sleep(0.05)  # a tiny model finishes its next step in about a second
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
    seconds = time.perf_counter() - start
    code = child.returncode
    rows.append(
        {
            "phase": name,
            "seconds": round(seconds, 1),
            "peak_rss_gib": round(usage.ru_maxrss / 2**20, 2),  # ru_maxrss is in KiB on Linux
            "exit": "killed" if killed else code,
        }
    )
    print(json.dumps(rows[-1]), flush=True)
    if not killed and code != 0:
        raise SystemExit(f"error: phase {name!r} failed with exit code {code}")
    return code


def train_args(
    config: Path, model: Path, data: Path, out: Path, steps: int, tokens: int, final: bool, side: int
) -> list[str]:
    """`rarl train` of the shipped 3B config made short and LoRA, as the module docstring says."""
    return [
        sys.executable, "-m", "rarl", "train", "--config", str(config),
        f"output_dir={out}", f"model.name_or_path={model}", f"data.manifest={data}", "data.sizes=[2]",
        "model.lora.r=16", "model.freeze_vision=true", f"model.max_pixels={side * side}",
        "rollout.num_generations=2", f"rollout.max_new_tokens={tokens}", "prompts_per_step=1",
        "micro_batch_size=2", "optim.lr=1e-4",
        f"stages=[{{name: main, steps: {steps}, sizes: [2], rmo: true}}]", "rmo.k=1", "rmo.prob=1.0",
        "checkpoint.every=1", "checkpoint.keep_last=1", f"checkpoint.save_final_model={str(final).lower()}",
        "logging.tensorboard=false", "logging.sample_every=0", "eval.every=0",
    ]  # fmt: skip


def last_checkpoint(run: Path) -> Path | None:
    steps = sorted((run / "checkpoints").glob("step-*")) if (run / "checkpoints").is_dir() else []
    return steps[-1] if steps else None


def tensors(folder: Path, keep: Any) -> dict[str, torch.Tensor]:
    """The tensors of every safetensors file in `folder` whose name `keep(name)` accepts."""
    out: dict[str, torch.Tensor] = {}
    for file in sorted(folder.glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as f:
            out.update({f"{file.name}:{k}": f.get_tensor(k) for k in f.keys() if keep(k)})  # noqa: SIM118
    return out


def compare_checkpoints(a: Path, b: Path) -> dict[str, Any]:
    """Element-for-element equality of the LoRA tensors (model) and of the optimizer state of two checkpoints."""
    lora_a, lora_b = (tensors(p, lambda k: "lora_" in k) for p in (a, b))
    held = 0  # tensors in the checkpoint's weights files (the adapters only, under LoRA)
    for file in b.glob("*.safetensors"):
        with safe_open(str(file), framework="pt") as f:
            held += len(f.keys())
    same_keys = sorted(lora_a) == sorted(lora_b)
    lora_equal = same_keys and all(torch.equal(lora_a[k], lora_b[k]) for k in lora_a)
    opt_a, opt_b = (torch.load(p / "optimizer.bin", map_location="cpu", weights_only=False) for p in (a, b))
    flat_a = [v for s in opt_a["state"].values() for v in s.values() if torch.is_tensor(v)]
    flat_b = [v for s in opt_b["state"].values() for v in s.values() if torch.is_tensor(v)]
    opt_equal = len(flat_a) == len(flat_b) and all(torch.equal(x, y) for x, y in zip(flat_a, flat_b))
    max_diff = max((float((lora_a[k].float() - lora_b[k].float()).abs().max()) for k in lora_a), default=0.0)
    b_mats = [t for k, t in lora_a.items() if "lora_B" in k]  # zero at initialisation: non-zero once trained
    return {
        "lora_tensors": len(lora_a),
        "lora_params": int(sum(t.numel() for t in lora_a.values())),
        "lora_equal": lora_equal,
        "lora_max_abs_diff": max_diff if same_keys else None,
        "lora_b_nonzero": round(
            sum(int((t != 0).sum()) for t in b_mats) / max(1, sum(t.numel() for t in b_mats)), 4
        ),
        "checkpoint_tensors": held,
        "checkpoint_weights_bytes": sum(f.stat().st_size for f in b.glob("*.safetensors")),
        "optimizer_tensors": len(flat_a),
        "optimizer_equal": opt_equal,
    }


def step_phases(run: Path) -> list[dict[str, float]]:
    """Per training step of `run`, the seconds of each phase the trainer logged (`time/<phase>`)."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [
        {
            **{
                ("total" if k == "time/step" else k[5:]): round(float(v), 3)
                for k, v in r.items()
                if k[:5] == "time/"
            },
            "step": r["step"],
        }
        for r in rows
        if "time/step" in r
    ]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("/tmp/rarl-full-size-cpu"))
    p.add_argument("--model", type=Path, help="a random full-size 3B folder (written there when missing)")
    p.add_argument("--config", type=Path, default=CONFIG)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--max-new-tokens", type=int, default=16)
    p.add_argument("--eval-samples", type=int, default=2)
    p.add_argument("--keep", action="store_true", help="keep the runs' folders")
    p.add_argument("--smoke", action="store_true", help="the offline tiny model at 56x56 instead of the 3B")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if args.steps < 2:
        raise SystemExit("error: --steps must be >= 2 (a kill after step steps-1, then a resume)")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    side = SMOKE_SIDE if args.smoke else SIDE
    model = (args.model or out / ("model-tiny" if args.smoke else "model-3b")).resolve()
    data, run_a, run_b = out / "data", out / "run-a", out / "run-b"
    for folder in (data, run_a, run_b, out / "eval"):
        if folder.exists():
            raise SystemExit(f"error: {folder} exists; give a new --out (nothing is overwritten)")
    rows: list[dict[str, Any]] = []
    py = [sys.executable, "-c"]
    if not (model / "config.json").is_file():
        code = (
            f"from rarl.model.tiny import build_tiny_qwen2_5_vl; build_tiny_qwen2_5_vl({str(model)!r})"
            if args.smoke
            else "from rarl.model.full_size import write_random_full_size; "
            f"write_random_full_size('3b', {str(model)!r}, dtype='bfloat16', image_size={side})"
        )
        run_phase("write", [*py, code], rows)
    samples = f"{{'train': {args.steps + 1}, 'val': 1, 'test': {args.eval_samples}}}"
    code = (
        "from rarl.recipes.ordinal.prepare import prepare; "
        f"prepare('synthetic', {str(data)!r}, sizes=(2,), seed=0, samples_per_size={samples}, "
        f"property='count', num_images=24, image_size={side}, quiet=True)"
    )
    run_phase("prepare", [*py, code], rows)
    tokens = args.max_new_tokens
    run_phase("train", train_args(args.config, model, data, run_a, args.steps, tokens, False, side), rows)
    kill_at = f"step-{args.steps - 1:08d}"

    def checkpointed() -> bool:
        last = last_checkpoint(run_b)
        return last is not None and last.name == kill_at

    run_phase(
        "train, killed",
        train_args(args.config, model, data, run_b, args.steps, tokens, True, side),
        rows,
        kill_when=checkpointed,
    )
    resume = [*train_args(args.config, model, data, run_b, args.steps, tokens, True, side), "--resume"]
    run_phase("resume", resume, rows)
    final = run_b / "final"
    run_phase(
        "eval",
        [
            sys.executable, "-m", "rarl", "eval", "--model", f"3b-lora={final}", "--data", str(data),
            "--out", str(out / "eval"), "--max-samples", str(args.eval_samples),
            "--max-new-tokens", str(tokens),
        ],
        rows,
    )  # fmt: skip
    a, b = last_checkpoint(run_a), last_checkpoint(run_b)
    if a is None or b is None or a.name != b.name:
        raise SystemExit(f"error: the runs' last checkpoints differ: {a} vs {b}")
    equality = compare_checkpoints(a, b)
    phases = step_phases(run_a)
    print("| phase | wall (s) | peak RSS (GiB) | exit |\n|---|---:|---:|---|")
    for r in rows:
        print(f"| {r['phase']} | {r['seconds']:.1f} | {r['peak_rss_gib']:.2f} | {r['exit']} |")
    for r in phases:
        print(
            "run A step "
            + ", ".join(f"{k} {v:g}" for k, v in r.items() if k != "step")
            + f" (step {r['step']})"
        )
    print(f"resume: {json.dumps(equality)}")
    result = {
        "rows": rows,
        "step_phases": phases,
        "resume": equality,
        "steps": args.steps,
        "max_new_tokens": tokens,
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    if not args.keep:
        for folder in (run_a, run_b):
            shutil.rmtree(folder)
    return result


if __name__ == "__main__":
    main()
