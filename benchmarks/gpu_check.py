"""GPU check (`make gpu-check`): a few bf16 GRPO steps of a shipped 3B config on one GPU; one table.

The random full-size Qwen2.5-VL-3B (`write_random_full_size`, nothing downloaded; `--model DIR` takes a
folder, or writes it there) and a shipped config (`--config`, default configs/utkface-qwen2.5-vl-3b.yaml) as
it is but short: its last stage, `--steps` steps (the first a warm-up, not in the means), `--images` images
per prompt (default: the largest size) at the config's budget (synthetic, side sqrt(max_pixels): 448 for 3B),
`--prompts` prompts per GPU x the config's G, `--max-new-tokens`, and `--lr` (1e-4: the shipped 1e-6 is below
half a bf16 ulp of most weights, so the push check would compare nearly unchanged weights). Rows, each
`GRPOTrainer.step` as `rarl train` runs it, config in <out>/config-<row>.yaml: `hf` (HF generate); `vllm`
(engine colocated in this process; only where `import vllm` works); `fsdp xN` (N >= 2 GPUs: the hf row
through `accelerate launch --config_file configs/accelerate/fsdp.yaml`, `--worker` mode, N x the prompts).

Update MFU = F / (update phase seconds x GPUs x peak), F the update's model FLOPs (forward + backward):

    F = 6 x N x T

N: the language model's parameters on every token's path (decoder layers, final norm, LM head; not the
embedding lookup, nor the frozen vision tower, whose features the rollout computed), from `rarl plan`'s exact
counts. T: tokens the update's forward runs: kept rows' completion tokens plus prompt tokens (with the shared
prompt prefill, off under gradient checkpointing, each micro-batch's distinct prompts once). Not counted:
attention (12 x layers x width x row length per token, ~10 % more at 2.3k-token rows), checkpointing's
recomputation. Peak: dense bf16 by device name (H100 SXM 989, H200 989, A100 312 TFLOP/s, others "unknown";
`--peak-tflops`). Memory: `torch.cuda.max_memory_allocated` / `_reserved` beside `rarl plan`'s peak per GPU
for the row's config (`memory_report.make_plan`; it adds a 1 GiB runtime reserve). vLLM: max / mean |vLLM -
trainer log-prob| of the sampled tokens of the first rollout after an optimizer step and its weight push,
and the max against the pre-update weights (the reference copy), which a missed push would match.
`changed`: share of one decoder matrix's elements the first optimizer step changed.

    python benchmarks/gpu_check.py --out runs/gpu-check
    python benchmarks/gpu_check.py --cpu-smoke --out /tmp/gpu-check   # tiny model, float32, CPU, hf row

No CUDA device and no --cpu-smoke: one error line, exit 2. A row that ran and failed: exit 1.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import transformers
import yaml

from rarl.model.full_size import FULL_SIZE_PARAMS, write_random_full_size
from rarl.model.logprobs import token_logprobs
from rarl.model.memory_plan import GIB
from rarl.model.memory_report import make_plan
from rarl.model.prefill import cache_dropped
from rarl.model.tiny import build_tiny_qwen2_5_vl
from rarl.recipes.ordinal.prepare import prepare
from rarl.recipes.runs import recipe_for
from rarl.train.common import seed_everything
from rarl.train.config import TrainConfig
from rarl.train.grpo import GRPOTrainer
from rarl.utils.config import load_config, to_dict

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = ROOT / "configs" / "utkface-qwen2.5-vl-3b.yaml"
FSDP_CONFIG = ROOT / "configs" / "accelerate" / "fsdp.yaml"
NO_GPU = "error: gpu-check needs a CUDA GPU (none found)"
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}
"""Dense bf16 TFLOP/s by name (SXM parts; A100 PCIe and SXM share the figure); PCIe/NVL H100/H200 differ."""
SMOKE_SIDE = 56  # the tiny model's frame: 4 visual tokens per image


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="a shipped rarl-recipe config")
    p.add_argument("--model", type=Path, default=None, help="model folder (written there if it has none)")
    p.add_argument("--out", type=Path, default=Path("runs/gpu-check"), help="table, JSON and row configs")
    p.add_argument("--steps", type=int, default=3, help="steps per row, the first a warm-up (>= 2)")
    p.add_argument("--prompts", type=int, default=2, help="prompts per step per GPU (x the config's G)")
    p.add_argument("--max-new-tokens", type=int, default=None, help="default 64 (--cpu-smoke 16)")
    p.add_argument("--images", type=int, default=None, help="default: the largest size (--cpu-smoke 2)")
    p.add_argument("--lr", type=float, default=1e-4, help="learning rate (0: the config's), see `changed`")
    p.add_argument("--peak-tflops", type=float, default=None, help="the GPU's dense bf16 peak")
    p.add_argument("--cpu-smoke", action="store_true", help="tiny model, float32, CPU, hf row only")
    p.add_argument("--worker", type=Path, default=None, help=argparse.SUPPRESS)  # a row config (FSDP ranks)
    args = p.parse_args(argv)
    if args.max_new_tokens is None:
        args.max_new_tokens = 16 if args.cpu_smoke else 64
    args.images = 2 if args.images is None and args.cpu_smoke else args.images
    if args.steps < 2 or args.prompts < 1 or args.max_new_tokens < 1 or args.lr < 0:
        p.error("--steps must be >= 2 (a warm-up, then timed), --prompts, --max-new-tokens >= 1, --lr >= 0")
    if args.images is not None and args.images not in (1, 2, 4, 8):
        p.error("--images must be one of 1 2 4 8")
    return args


# ------------------------------------------------------------------------------------------ measuring
@dataclass
class Measured:
    """What one process measured over a row's steps (timed steps only, except `changed`)."""

    walls: list[float] = field(default_factory=list)  # seconds per timed step
    rollout_s: list[float] = field(default_factory=list)
    update_s: list[float] = field(default_factory=list)
    update_tokens: list[int] = field(default_factory=list)  # T of the FLOP count, per timed step
    prompt_text_tokens: int = 0  # largest prompt's tokens besides image pads and vision start/end
    peak_allocated: int | None = None  # bytes; None on CPU
    peak_reserved: int | None = None
    logprob_max_diff: float | None = None  # vLLM row
    logprob_mean_diff: float | None = None
    logprob_stale_diff: float | None = None  # max against the weights before the update (a missed push)
    pushes: int | None = None
    changed: float | None = None  # share of one decoder matrix's elements the first update changed


def update_tokens(rollout: Any, keep: torch.Tensor, micro_batch: int, shared: bool) -> int:
    """T of F = 6 N T: completion tokens of the kept rows, plus prompt tokens (each micro-batch's distinct
    prompts once when the prefill is shared), as `rarl.train.policy_update` chunks the rows."""
    rows = keep.nonzero().flatten().tolist()  # [R_kept]
    prompt = rollout.prompts.attention_mask.sum(-1)  # [R] real prompt tokens
    completion = rollout.completion_mask.sum(-1)  # [R]
    total = int(completion[rows].sum())
    for i in range(0, len(rows), micro_batch):
        chunk = rows[i : i + micro_batch]
        if shared:
            firsts = {int(rollout.group_index[r]): r for r in reversed(chunk)}  # group -> its first row
            total += int(prompt[list(firsts.values())].sum())
        else:
            total += int(prompt[chunk].sum())
    return total


def prompt_text_tokens(rollout: Any) -> int:
    """The largest prompt's tokens besides its images (image pads and a start/end pair per image)."""
    p = rollout.prompts
    text = p.attention_mask.sum(-1) - (p.mm_token_type_ids == 1).sum(-1) - 2 * p.images_per_row  # [R]
    return int(text.max())


class CheckedTrainer(GRPOTrainer):
    """The GRPO trainer, keeping what the check counts: the update's tokens, the vLLM log-prob comparison
    after a weight push, and how much of one matrix the first optimizer step changed."""

    measure_changes = True
    check_seconds = 0.0  # time the log-prob comparison took inside the rollout phase (not the step's)
    last_tokens = 0
    text_tokens = 0
    logprob_diffs: tuple[float, float, float | None] | None = None  # max, mean, max against stale weights
    changed: float | None = None

    def rollout(self, stage: Any) -> Any:
        batch = super().rollout(stage)
        ro = batch.rollout
        self.text_tokens = max(self.text_tokens, prompt_text_tokens(ro))
        engine = getattr(self.backend, "last_logprobs", None)  # [B*G, T] the engine's, of the sampled tokens
        if engine is not None and self.state.global_step >= 1 and self.logprob_diffs is None:
            start = time.perf_counter()  # weights changed by an optimizer step, then pushed to the engine
            mask = ro.completion_mask.to(self.accelerator.device).bool()  # [B*G, T]
            engine = engine.to(mask.device).float()
            self.model.eval()
            diff = (self._logprobs(self.model, ro) - engine).abs()[mask]  # [tokens]
            stale = None  # the weights before the first update: the reference copy, after one update
            if isinstance(self.reference, torch.nn.Module) and self.state.global_step == 1:
                stale = float((self._logprobs(self.reference, ro) - engine).abs()[mask].max())
            self.logprob_diffs = (float(diff.max()), float(diff.mean()), stale)
            self.check_seconds += time.perf_counter() - start
        return batch

    @torch.no_grad()
    def _logprobs(self, model: Any, ro: Any) -> torch.Tensor:
        """[B*G, T] log-probs of the rollout's tokens, as the trainer's reference phase computes them."""
        device = self.accelerator.device
        return token_logprobs(
            model,
            ro.prompts.to(device),
            ro.completion_ids.to(device),
            ro.completion_mask.to(device),
            micro_batch_size=self.cfg.micro_batch_size,
            temperature=self.cfg.rollout.temperature,
            prompt_groups=ro.group_index if self.cfg.model.share_prompt_prefill else None,
        ).float()

    def update(self, batch: Any) -> dict[str, float]:
        self.model.train()  # as the update runs it: checkpointed layers drop the shared prefill's cache
        shared = self.cfg.model.share_prompt_prefill and not cache_dropped(self.model)
        self.last_tokens = update_tokens(batch.rollout, batch.keep, self.cfg.micro_batch_size, shared)
        if self.changed is not None or not self.measure_changes:
            return super().update(batch)
        weight = next(p for n, p in self.model.named_parameters() if "layers.0." in n and p.ndim == 2)
        before = weight.detach().clone()
        metrics = super().update(batch)
        self.changed = float((weight.detach() != before).float().mean())
        return metrics


def run_steps(cfg: TrainConfig, steps: int) -> Measured:
    """`steps` trainer steps of the row's one stage (the first a warm-up) in this process, measured."""
    gc.collect()
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))  # an FSDP rank's own GPU
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    seed_everything(cfg.seed)
    trainer = CheckedTrainer(cfg, recipe_for(cfg))
    trainer.measure_changes = trainer.accelerator.num_processes == 1  # FSDP shards are DTensors
    stage = cfg.stages[0]
    reward_fn = trainer._reward_fn(stage)
    out, sync = Measured(), torch.cuda.synchronize if cuda else (lambda: None)
    try:
        for i in range(steps):
            trainer.check_seconds = 0.0
            sync()
            start = time.perf_counter()
            metrics = trainer.step(stage, reward_fn)
            sync()
            if i == 0:
                continue  # warm-up: kernels, allocator, the vLLM engine's build
            out.walls.append(time.perf_counter() - start - trainer.check_seconds)
            out.rollout_s.append(float(metrics["time/rollout"]) - trainer.check_seconds)
            out.update_s.append(float(metrics["time/update"]))
            out.update_tokens.append(trainer.last_tokens)
        out.prompt_text_tokens = trainer.text_tokens
        if trainer.logprob_diffs is not None:
            out.logprob_max_diff, out.logprob_mean_diff, out.logprob_stale_diff = trainer.logprob_diffs
        out.pushes = getattr(trainer.backend, "pushes", None)
        out.changed = trainer.changed
        if cuda:
            device = trainer.accelerator.device
            out.peak_allocated = torch.cuda.max_memory_allocated(device)
            out.peak_reserved = torch.cuda.max_memory_reserved(device)
    finally:
        getattr(trainer.backend, "close", lambda: None)()  # a vLLM engine's memory
        del trainer
        gc.collect()
    return out


# ------------------------------------------------------------------------------------------ rows
def inputs(args: argparse.Namespace, work: Path) -> tuple[TrainConfig, Path, int]:
    """The base config of every row (the shipped one with the check's changes), its model folder, images."""
    cfg = load_config(TrainConfig, args.config)
    if cfg.recipe != "rarl":
        raise SystemExit(f"error: --config {args.config}: the check needs recipe rarl, not {cfg.recipe}")
    images = args.images or max([*cfg.data.sizes, *(n for s in cfg.stages for n in s.sizes or ())])
    if args.cpu_smoke:
        model, side = build_tiny_qwen2_5_vl(work / "tiny-model", seed=0), SMOKE_SIDE
        cfg.model.dtype, cfg.model.max_pixels, cfg.model.min_pixels = "float32", side * side, None
    else:
        side = int((cfg.model.max_pixels or 200_704) ** 0.5) // 28 * 28
        size = next((k for k in FULL_SIZE_PARAMS if k in cfg.model.name_or_path.lower()), None)
        model = args.model or work / f"random-{size}"
        if not (Path(model) / "config.json").is_file():
            if size is None:
                raise SystemExit(f"error: --config {args.config}: no random full-size model; give --model")
            print(f"writing the random full-size {size} to {model} ...", flush=True)
            write_random_full_size(size, model, dtype="bfloat16", device="cuda", image_size=side)
    manifest = work / "data"
    samples = {"train": args.prompts * args.steps * max(torch.cuda.device_count(), 1), "val": 1, "test": 1}
    prepare("synthetic", manifest, sizes=(images,), seed=0, samples_per_size=samples, property="count",
            num_images=max(8 * images, 24), image_size=side, quiet=True)  # fmt: skip
    cfg.model.name_or_path, cfg.data.manifest, cfg.data.sizes = str(model), str(manifest), [images]
    cfg.rollout.max_new_tokens, cfg.optim.lr = args.max_new_tokens, args.lr or cfg.optim.lr
    cfg.prompts_per_step = args.prompts
    cfg.stages = [replace(cfg.stages[-1], name="check", steps=args.steps, sizes=[images])]
    cfg.logging.tensorboard, cfg.logging.wandb, cfg.logging.trackio = False, False, False
    cfg.logging.progress, cfg.logging.sample_every = False, 0
    cfg.checkpoint.every, cfg.checkpoint.save_final_model = 0, False
    cfg.eval.every = 0
    return cfg, Path(model), images


def row_config(base: TrainConfig, name: str, work: Path, out: Path, **rollout: Any) -> TrainConfig:
    cfg = copy.deepcopy(base)
    cfg.output_dir = str(work / f"run-{name}")
    for key, value in rollout.items():
        setattr(cfg.rollout, key, value)
    (out / f"config-{name}.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    return cfg


def peak_flops(args: argparse.Namespace) -> tuple[float | None, str]:
    """(FLOP/s, "") of the GPU, or (None, why MFU is not given)."""
    if args.cpu_smoke:
        return None, "n/a"
    if args.peak_tflops:
        return args.peak_tflops * 1e12, ""
    name = torch.cuda.get_device_name(0)
    if any(h in name for h in ("H100", "H200")) and any(v in name.upper() for v in ("PCIE", "NVL")):
        return None, "unknown"  # other clocks and power than the SXM parts
    return next(((tf * 1e12, "") for key, tf in PEAK_TFLOPS.items() if key in name), (None, "unknown"))


def make_row(
    name: str, cfg: TrainConfig, ranks: list[Measured], args: argparse.Namespace, gpus: int, strategy: str
) -> dict[str, Any]:
    """One table row: the ranks' measurements (one per process) beside the plan of the row's config."""
    first = ranks[0]
    gpu_memory = torch.cuda.get_device_properties(0).total_memory if torch.cuda.is_available() else 80 * GIB
    plan, _, _ = make_plan(
        cfg,
        recipe_for(cfg).model_path(cfg.model.name_or_path),
        gpus=gpus,
        gpu_memory=gpu_memory,
        strategy=strategy,
        images_per_prompt=cfg.data.sizes[0],
        prompt_text_tokens=max(max(r.prompt_text_tokens for r in ranks), 1),
    )
    f = plan.facts
    n_params = f.layers * f.layer_params + f.vocab * f.hidden + f.hidden  # decoder, LM head, final norm
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    update_s = max(mean(r.update_s) for r in ranks)  # the slowest rank sets the step
    flops = 6 * n_params * sum(mean(r.update_tokens) for r in ranks)
    peak, why = peak_flops(args)
    allocated = [r.peak_allocated for r in ranks if r.peak_allocated is not None]
    reserved = [r.peak_reserved for r in ranks if r.peak_reserved is not None]
    return {
        "row": name,
        "status": "ok",
        "note": "",
        "gpus": gpus,
        "strategy": strategy,
        "backend": cfg.rollout.backend,
        "timed_steps": len(first.walls),
        "s_per_step": max(mean(r.walls) for r in ranks),
        "rollout_s": max(mean(r.rollout_s) for r in ranks),
        "update_s": update_s,
        "update_tokens": sum(mean(r.update_tokens) for r in ranks),
        "lm_params": n_params,
        "update_tflops": flops / update_s / 1e12,
        "mfu": flops / (update_s * gpus * peak) if peak else None,
        "mfu_note": why,
        "peak_allocated_gib": max(allocated) / GIB if allocated else None,
        "peak_reserved_gib": max(reserved) / GIB if reserved else None,
        "plan_peak_gib": plan.total / GIB,
        "plan_phase": plan.peak_phase,
        "prompt_text_tokens": max(r.prompt_text_tokens for r in ranks),
        "logprob_max_abs_diff": first.logprob_max_diff,
        "logprob_mean_abs_diff": first.logprob_mean_diff,
        "logprob_stale_max_abs_diff": first.logprob_stale_diff,
        "vllm_pushes": first.pushes if cfg.rollout.backend == "vllm" else None,
        "changed": first.changed,
    }


def status_row(name: str, status: str, note: str) -> dict[str, Any]:
    return {"row": name, "status": status, "note": note.replace("|", "/")}  # a markdown cell


def guarded(name: str, row: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`row()`, or a failed row saying why: the table still prints."""
    print(f"row {name} ...", flush=True)
    try:
        return row()
    except Exception as e:
        return status_row(name, "failed", f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")


def run_row(name: str, cfg: TrainConfig, args: argparse.Namespace) -> dict[str, Any]:
    return guarded(name, lambda: make_row(name, cfg, [run_steps(cfg, args.steps)], args, 1, "ddp"))


def vllm_missing() -> str | None:
    try:
        import vllm  # noqa: F401
    except Exception as e:  # ImportError, or a broken build failing at import
        return "vllm not installed" if isinstance(e, ModuleNotFoundError) else f"vllm does not import: {e}"
    return None


def fsdp_row(base: TrainConfig, args: argparse.Namespace, work: Path, gpus: int) -> dict[str, Any]:
    """The hf row on every GPU through `accelerate launch` with the repo's FSDP config, N x the prompts."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]  # a free port for the rendezvous
    cfg = copy.deepcopy(base)
    cfg.prompts_per_step = args.prompts * gpus
    cfg = row_config(cfg, "fsdp", work, args.out, backend="hf")
    results = work / "fsdp-ranks"
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(FSDP_CONFIG),
        "--num_processes", str(gpus), "--main_process_port", str(port),
        __file__, "--worker", str(args.out / "config-fsdp.yaml"), "--out", str(results),
        "--steps", str(args.steps),
    ]  # fmt: skip
    log = args.out / "fsdp.log"
    with log.open("w") as handle:
        proc = subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, timeout=480, check=False)
    files = sorted(results.glob("rank*.json"))
    if proc.returncode != 0 or len(files) != gpus:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
        errors = [line for line in lines if "Error" in line and "ChildFailedError" not in line] or lines[-1:]
        raise RuntimeError(f"exit {proc.returncode}: {' '.join(errors[-1:])} (see {log})")
    ranks = [Measured(**json.loads(f.read_text())) for f in files]
    return make_row(f"fsdp x{gpus}", cfg, ranks, args, gpus, "fsdp")


def worker(args: argparse.Namespace) -> None:
    """One FSDP rank: the row's steps, its measurements to <out>/rank<R>.json."""
    cfg = load_config(TrainConfig, args.worker)
    measured = run_steps(cfg, args.steps)
    args.out.mkdir(parents=True, exist_ok=True)
    rank = int(os.environ.get("RANK", "0"))
    (args.out / f"rank{rank}.json").write_text(json.dumps(asdict(measured)))


# ------------------------------------------------------------------------------------------ table
def table(rows: list[dict[str, Any]]) -> str:
    """The markdown table of every row."""
    head = (
        "| row | status | s/step | rollout s | update s | update TFLOP/s | MFU | peak alloc GiB | "
        "peak reserved GiB | plan GiB (phase) | vLLM-trainer max / mean abs logp diff | changed | note |"
    )
    lines = [head, "|" + " --- |" * head.count(" | ") + " --- |"]
    gib = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| {r['row']} | {r['status']} |" + " - |" * 10 + f" {r['note']} |")
            continue
        mfu = r["mfu_note"] or f"{r['mfu']:.1%}"
        diff = "-"
        if r["logprob_max_abs_diff"] is not None:
            diff = f"{r['logprob_max_abs_diff']:.3g} / {r['logprob_mean_abs_diff']:.3g}"
            stale = r["logprob_stale_max_abs_diff"]
            diff += "" if stale is None else f" (pre-update weights: max {stale:.3g})"
        changed = "-" if r["changed"] is None else f"{r['changed']:.1%}"
        lines.append(
            f"| {r['row']} | ok | {r['s_per_step']:.2f} | {r['rollout_s']:.2f} | {r['update_s']:.2f} | "
            f"{r['update_tflops']:.3g} | {mfu} | {gib(r['peak_allocated_gib'])} | "
            f"{gib(r['peak_reserved_gib'])} | {r['plan_peak_gib']:.1f} ({r['plan_phase']}) | {diff} | "
            f"{changed} | {r['note']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker is not None:
        worker(args)
        return 0
    if args.cpu_smoke:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before CUDA starts: the trainer's accelerator picks the CPU
    elif not torch.cuda.is_available():
        print(NO_GPU, file=sys.stderr)
        return 2
    transformers.logging.disable_progress_bar()
    args.out.mkdir(parents=True, exist_ok=True)
    gpus = torch.cuda.device_count() if not args.cpu_smoke else 0
    with tempfile.TemporaryDirectory(prefix="rarl-gpu-check-") as tmp:
        work = Path(tmp)
        base, model, images = inputs(args, work)
        rows = [run_row("hf", row_config(base, "hf", work, args.out, backend="hf"), args)]
        missing = "not in --cpu-smoke" if args.cpu_smoke else vllm_missing()
        if missing is None:
            cfg = row_config(base, "vllm", work, args.out, backend="vllm", backend_kwargs={"logprobs": True})
            rows.append(run_row("vllm", cfg, args))
        else:
            rows.append(status_row("vllm", "skipped", missing))
        if gpus >= 2:
            rows.append(guarded(f"fsdp x{gpus}", lambda: fsdp_row(base, args, work, gpus)))
        else:
            rows.append(status_row("fsdp", "skipped", f"needs 2+ GPUs (found {gpus})"))
    peak, side = peak_flops(args)[0], int((base.model.max_pixels or 0) ** 0.5)
    device = "CPU (--cpu-smoke)" if args.cpu_smoke else f"{gpus} x {torch.cuda.get_device_name(0)}"
    name = "tiny Qwen2.5-VL" if args.cpu_smoke else str(args.model or f"{model.name} (temporary)")
    report = {
        "device": device,
        "torch": torch.__version__,
        "config": str(args.config),
        "model": name,
        "dtype": base.model.dtype,
        "images_per_prompt": images,
        "image_side": side,
        "prompts_per_step_per_gpu": args.prompts,
        "group_size": base.rollout.num_generations,
        "max_new_tokens": args.max_new_tokens,
        "lr": base.optim.lr,
        "steps": args.steps,
        "peak_tflops": peak / 1e12 if peak else None,
        "rows": rows,
    }
    text = table(rows)
    print(
        f"\nGPU check: {device}, {name}, {base.model.dtype}, {images} image(s) of {side}x{side} per prompt, "
        f"{args.prompts} prompt(s) x G={base.rollout.num_generations} per GPU, {args.max_new_tokens} new "
        f"tokens, mean of {args.steps - 1} step(s) after a warm-up\n"
    )
    print(text)
    (args.out / "gpu-check.md").write_text(text + "\n")
    (args.out / "gpu-check.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten: {args.out / 'gpu-check.json'}, {args.out / 'gpu-check.md'}")
    return 1 if any(r["status"] == "failed" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
