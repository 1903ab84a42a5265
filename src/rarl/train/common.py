"""Pieces the GRPO trainer and the SFT baseline share: accelerator, policy, optimizer, schedule, guards, logs.

The run folder's safety checks are in `rarl.train.run_folder`, the shared update loop in `rarl.train.update`.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from accelerate import Accelerator
from accelerate.utils import set_seed

from rarl.model.loading import load_policy
from rarl.model.tiny import build_tiny_qwen2_5_vl
from rarl.train.checkpoint import latest_checkpoint, load_checkpoint
from rarl.train.config import CheckpointConfig, GuardConfig, ModelConfig, OptimConfig
from rarl.train.errors import TrainingAborted
from rarl.train.metrics_log import MetricLogger
from rarl.train.run_folder import RUN_CONFIG
from rarl.utils.config import to_dict
from rarl.utils.io import atomic_write_text

log = logging.getLogger("rarl")

TINY_MODEL_DIR = "tiny-model"
"""Where `model.name_or_path: tiny` builds the offline tiny Qwen2.5-VL (`<output_dir>/tiny-model`)."""


def make_accelerator(seed: int) -> Any:
    """An `accelerate.Accelerator` (DDP / FSDP / DeepSpeed come from `accelerate launch` configs).

    Without CUDA the accelerator is told it runs on CPU, so several processes started by
    `accelerate launch --multi_gpu --num_processes N` (torchrun) join one gloo process group instead of
    each running alone.
    """
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    set_seed(seed)
    return accelerator


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def step_seed(base_seed: int, global_step: int, rank: int) -> int:
    """A per-step, per-rank seed: sampling depends only on (seed, step, rank), so a resumed run replays exactly."""
    return (base_seed * 1_000_003 + global_step * 7919 + rank * 104_729) % (2**31 - 1)


def resolve_model_path(
    cfg: ModelConfig, output_dir: str | Path, accelerator: Any, named: Callable[[str], str] | None = None
) -> str:
    """`tiny` -> build (once, on the main process) the offline tiny Qwen2.5-VL under output_dir; any other
    name through `named` (the recipe's `model_path`: `demo-base` is the recipe's shipped base)."""
    if cfg.name_or_path != "tiny":
        return named(cfg.name_or_path) if named is not None else cfg.name_or_path
    path = Path(output_dir) / TINY_MODEL_DIR
    if accelerator.is_main_process and not (path / "config.json").exists():
        build_tiny_qwen2_5_vl(path, seed=0)
    accelerator.wait_for_everyone()
    return str(path)


def load_policy_from_config(
    cfg: ModelConfig, output_dir: str | Path, accelerator: Any, named: Callable[[str], str] | None = None
) -> Any:
    return load_policy(
        resolve_model_path(cfg, output_dir, accelerator, named),
        dtype=cfg.dtype,
        attn_implementation=cfg.attn_implementation,
        lora=cfg.lora,
        freeze_vision=cfg.freeze_vision,
        gradient_checkpointing=cfg.gradient_checkpointing,
        min_pixels=cfg.min_pixels,
        max_pixels=cfg.max_pixels,
        device=accelerator.device,
        share_image_features=cfg.share_image_features,
    )


def make_optimizer(model: torch.nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise TrainingAborted("the model has no trainable parameters (check freeze_vision / lora settings)")
    return torch.optim.AdamW(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)


def make_scheduler(
    optimizer: torch.optim.Optimizer,
    cfg: OptimConfig,
    total_steps: int,
    stage_multipliers: Sequence[tuple[int, float]] = (),
) -> torch.optim.lr_scheduler.LambdaLR:
    """Warmup + constant/linear/cosine over `total_steps`; `stage_multipliers` = [(first_step, lr factor)].

    The factor is a pure function of the global step, so a resumed run follows the same schedule.
    """

    def factor(step: int) -> float:
        mult = 1.0
        for first, m in stage_multipliers:
            if step >= first:
                mult = m
        if cfg.warmup_steps and step < cfg.warmup_steps:
            return mult * (step + 1) / cfg.warmup_steps
        progress = (step - cfg.warmup_steps) / max(1, total_steps - cfg.warmup_steps)
        progress = min(max(progress, 0.0), 1.0)
        if cfg.scheduler == "cosine":
            return mult * 0.5 * (1.0 + math.cos(math.pi * progress))
        if cfg.scheduler == "linear":
            return mult * (1.0 - progress)
        return mult

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class NonFiniteGuard:
    """Counts skipped optimizer steps; aborts after too many in a row."""

    def __init__(self, cfg: GuardConfig) -> None:
        self.limit = cfg.max_consecutive_nonfinite
        self.in_a_row = 0
        self.total = 0

    def check(self, *values: float) -> bool:
        """True when every value is finite; otherwise counts (and raises past the limit)."""
        if all(math.isfinite(v) for v in values):
            self.in_a_row = 0
            return True
        self.in_a_row += 1
        self.total += 1
        log.warning("non-finite loss or gradient norm (%s); optimizer step skipped", values)
        if self.in_a_row >= self.limit:
            raise TrainingAborted(
                f"{self.in_a_row} optimizer steps in a row had a non-finite loss or gradient norm; "
                "aborting (lower the learning rate, or raise guards.max_consecutive_nonfinite)"
            )
        return False


def should_checkpoint(cfg: CheckpointConfig, global_step: int) -> bool:
    return cfg.every > 0 and global_step > 0 and global_step % cfg.every == 0


def open_run_dir(out: Path, cfg: Any, accelerator: Any, logging_cfg: Any, resume_step: int | None) -> Any:
    """Write the resolved config next to the run and open its metric logger (main process only writes)."""
    resolved = to_dict(cfg)
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / RUN_CONFIG, yaml.safe_dump(resolved, sort_keys=False))
    return MetricLogger(
        out,
        enabled=accelerator.is_main_process,
        tensorboard=logging_cfg.tensorboard,
        wandb=logging_cfg.wandb,
        trackio=logging_cfg.trackio,
        run_name=out.name,
        resume_step=resume_step,
        config=resolved,
    )


def check_run_inputs(per_step: int, per_step_name: str, accelerator: Any) -> None:
    """One-line error for a per-step count that does not split across processes."""
    if per_step % accelerator.num_processes:
        raise TrainingAborted(
            f"{per_step_name} ({per_step}) must divide by the number of processes ({accelerator.num_processes})"
        )


def prepare_for_training(
    model: torch.nn.Module,
    cfg: OptimConfig,
    total_steps: int,
    accelerator: Any,
    stage_multipliers: Sequence[tuple[int, float]] = (),
) -> tuple[Any, Any, Any]:
    """AdamW + schedule for `model`, wrapped by `accelerator.prepare` -> (model, optimizer, scheduler)."""
    optimizer = make_optimizer(model, cfg)
    scheduler = make_scheduler(optimizer, cfg, total_steps, stage_multipliers)
    return accelerator.prepare(model, optimizer, scheduler)


def restore_latest(accelerator: Any, output_dir: str | Path) -> dict[str, Any] | None:
    """Load the newest complete checkpoint under `output_dir` (weights, optimizer, RNG) -> trainer state."""
    path = latest_checkpoint(output_dir)
    if path is None:
        log.info("no checkpoint in %s; starting from scratch", output_dir)
        return None
    state = load_checkpoint(accelerator, path)
    log.info("resumed from %s (step %d)", path, state["global_step"])
    return state
