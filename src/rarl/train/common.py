"""Pieces the GRPO trainer and the SFT baseline share: accelerator, policy, optimizer, schedule, data, guards."""

from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rarl.train.config import CheckpointConfig, GuardConfig, ModelConfig, OptimConfig
from rarl.train.errors import TrainingAborted

log = logging.getLogger("rarl")

FINAL_DIR = "final"
"""The run's last model folder (`<output_dir>/final`)."""
RUN_CONFIG = "config.yaml"
TINY_MODEL_DIR = "tiny-model"
RUN_LOGS = ("metrics.jsonl", "samples.jsonl", "tensorboard")
"""What the metric logger writes into the run folder (rarl.train.metrics_log)."""
RESUME_MAY_DIFFER = ("output_dir", "logging", "checkpoint", "guards", "micro_batch_size")
"""Config keys (and sections) that `--resume` lets differ from the checkpoint's: they change how a run is
logged, saved, guarded or split into micro-batches for memory, never its data, model, objective or schedule."""


def make_accelerator(seed: int) -> Any:
    """An `accelerate.Accelerator` (DDP / FSDP / DeepSpeed come from `accelerate launch` configs).

    Without CUDA the accelerator is told it runs on CPU, so several processes started by
    `accelerate launch --multi_gpu --num_processes N` (torchrun) join one gloo process group instead of
    each running alone.
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed

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


def named_model_path(name: str) -> str:
    """`demo-base` -> the shipped demo base folder (`rarl.recipes.ordinal.demo_base`); any other name as is."""
    if name == "demo-base":
        from rarl.recipes.ordinal.demo_base import SHIPPED_BASE

        return str(SHIPPED_BASE)
    return name


def resolve_model_path(cfg: ModelConfig, output_dir: str | Path, accelerator: Any) -> str:
    """`tiny` -> build (once, on the main process) the offline tiny Qwen2.5-VL under output_dir;
    `demo-base` -> the shipped demo base."""
    if cfg.name_or_path != "tiny":
        return named_model_path(cfg.name_or_path)
    from rarl.model.tiny import build_tiny_qwen2_5_vl

    path = Path(output_dir) / TINY_MODEL_DIR
    if accelerator.is_main_process and not (path / "config.json").exists():
        build_tiny_qwen2_5_vl(path, seed=0)
    accelerator.wait_for_everyone()
    return str(path)


def load_policy_from_config(cfg: ModelConfig, output_dir: str | Path, accelerator: Any) -> Any:
    from rarl.model import load_policy

    return load_policy(
        resolve_model_path(cfg, output_dir, accelerator),
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
    import yaml

    from rarl.train.metrics_log import MetricLogger
    from rarl.utils.config import to_dict
    from rarl.utils.io import atomic_write_text

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
    from rarl.train.checkpoint import latest_checkpoint, load_checkpoint

    path = latest_checkpoint(output_dir)
    if path is None:
        log.info("no checkpoint in %s; starting from scratch", output_dir)
        return None
    state = load_checkpoint(accelerator, path)
    log.info("resumed from %s (step %d)", path, state["global_step"])
    return state


# ---------------------------------------------------------------------------------------------- run folder
def stage_names(cfg: Any) -> list[str]:
    """The stage folder names a config writes (none for SFT)."""
    return [s.name for s in getattr(cfg, "stages", [])]


def _saved_stage_names(out: Path) -> list[str]:
    """Stage names of the configs a previous run saved in `out` (its config.yaml and its checkpoints'),
    keeping only names that are safe to use as folder names inside `out`."""
    from rarl.train.checkpoint import list_checkpoints, saved_config
    from rarl.train.config import stage_name_problem

    names: list[str] = []
    for saved in [saved_config(out), *(saved_config(c) for c in list_checkpoints(out))]:
        stages = (saved or {}).get("stages")
        for stage in stages if isinstance(stages, list) else []:
            name = stage.get("name") if isinstance(stage, dict) else None
            if isinstance(name, str) and stage_name_problem(name) is None:
                names.append(name)
    return list(dict.fromkeys(names))


def run_contents(out: Path, cfg: Any) -> list[str]:
    """What a previous run left in `out` (its logs, checkpoints, final and stage folders); empty if none.

    The resolved config.yaml alone and the `tiny-model` folder do not count: a run that stopped before its
    first step leaves only those, and starting again there loses nothing.
    """
    from rarl.train.checkpoint import CHECKPOINTS

    found = [name for name in RUN_LOGS[:2] if (out / name).exists()]
    checkpoints = out / CHECKPOINTS
    if checkpoints.is_dir() and any(checkpoints.iterdir()):
        found.append(CHECKPOINTS + "/")
    for name in [FINAL_DIR, *stage_names(cfg)]:
        if (out / name).exists():
            found.append(name + "/")
    return found


def _short(value: Any, limit: int = 40) -> str:
    """A config value as one short piece of text."""
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def config_differences(saved: Any, current: Any, key: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted key, saved value, current value) for every value that differs between two resolved configs.

    Keys present on one side only are not compared (configs written by another version of rarl); lists of
    equal length are compared item by item (`stages.1.steps`), lists of different length as a whole.
    """
    if isinstance(saved, dict) and isinstance(current, dict):
        out = []
        for k in current:
            if k in saved:
                out.extend(config_differences(saved[k], current[k], f"{key}.{k}" if key else str(k)))
        return out
    same_length = isinstance(saved, list) and isinstance(current, list) and len(saved) == len(current)
    if same_length and any(isinstance(v, (dict, list)) for v in current):
        out = []
        for i, (a, b) in enumerate(zip(saved, current)):
            out.extend(config_differences(a, b, f"{key}.{i}"))
        return out
    return [] if saved == current else [(key, saved, current)]


def _describe(diffs: list[tuple[str, Any, Any]]) -> str:
    """`key old -> new, ...` for config differences."""
    return ", ".join(f"{k} {_short(a)} -> {_short(b)}" for k, a, b in diffs)


def _may_differ(key: str) -> bool:
    return any(key == k or key.startswith(k + ".") for k in RESUME_MAY_DIFFER)


def check_resume_config(checkpoint: Path, cfg: Any, notes: bool = True) -> None:
    """ConfigError listing the keys that changed the run when `cfg` differs from the checkpoint's config;
    differences in `RESUME_MAY_DIFFER` are only logged (when `notes`)."""
    import yaml

    from rarl.train.checkpoint import saved_config
    from rarl.utils.config import ConfigError, to_dict

    saved = saved_config(checkpoint)
    if saved is None and notes:
        log.warning("%s has no readable config.yaml; resuming without comparing configs", checkpoint)
    if saved is None:
        return
    current = yaml.safe_load(yaml.safe_dump(to_dict(cfg), sort_keys=False))  # the form it is saved in
    diffs = config_differences(saved, current)
    allowed = [d for d in diffs if _may_differ(d[0])]
    refused = [d for d in diffs if not _may_differ(d[0])]
    if refused:
        raise ConfigError(
            f"--resume: the config differs from the one saved in {checkpoint} in {_describe(refused)}; "
            "resume with the saved settings, or start a new run (another output_dir, or --overwrite)"
        )
    if allowed and notes:
        log.info("resuming with changed settings: %s", _describe(allowed))


def check_output_dir(cfg: Any, *, resume: bool, overwrite: bool, notes: bool = True) -> None:
    """Refuse to start when the output folder and the flags disagree; reads only (every process may call it).

    Without `resume`, a folder that holds a run is refused unless `overwrite`; with `resume`, a config that
    differs from the latest checkpoint's in anything that changes the run is refused. `notes=False` skips
    the warnings (for an early check that runs again later).
    """
    from rarl.train.checkpoint import latest_checkpoint
    from rarl.utils.config import ConfigError

    out = Path(cfg.output_dir)
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite exclude each other: continue the run, or replace it")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output_dir {out} is a file, not a folder")
    if resume:
        checkpoint = latest_checkpoint(out)
        if checkpoint is not None:
            check_resume_config(checkpoint, cfg, notes)
        elif notes and run_contents(out, cfg):
            log.warning("--resume: no complete checkpoint in %s; the run starts over", out)
        return
    found = run_contents(out, cfg)
    if found and not overwrite:
        raise ConfigError(
            f"output_dir {out} already holds a run ({', '.join(found)}); use --resume to continue it, "
            "--overwrite to replace it, or another output_dir"
        )


def clear_run(out: Path, cfg: Any) -> list[str]:
    """Delete a previous run from `out`: logs, resolved config, checkpoints, final and stage folders (of the
    current config and of the configs saved there) and their temporaries; returns what was removed.
    Anything else in the folder (the `tiny-model` it built, the user's own files) is kept."""
    from rarl.train.checkpoint import CHECKPOINTS
    from rarl.utils.io import remove_path, temporary_siblings

    folders = [FINAL_DIR, *stage_names(cfg), *_saved_stage_names(out)]
    names = list(dict.fromkeys([*RUN_LOGS, RUN_CONFIG, CHECKPOINTS, *folders]))
    doomed = [p for name in names for p in [*temporary_siblings(out / name), out / name]]
    removed = []
    for path in doomed:
        if path.exists() or path.is_symlink():
            remove_path(path)
            removed.append(path.name)
    return removed


def prepare_output_dir(cfg: Any, accelerator: Any, *, resume: bool, overwrite: bool) -> None:
    """Check the output folder (`check_output_dir`), then on the main process clear the old run when
    overwriting, or remove what killed saves left behind (logged either way)."""
    from rarl.train.checkpoint import remove_leftovers

    check_output_dir(cfg, resume=resume, overwrite=overwrite)
    accelerator.wait_for_everyone()
    out = Path(cfg.output_dir)
    if accelerator.is_main_process and out.is_dir():
        if overwrite:
            removed = clear_run(out, cfg)
            if removed:
                log.warning("--overwrite: removed the previous run's %s", ", ".join(removed))
        else:
            folders = [FINAL_DIR, *stage_names(cfg), *_saved_stage_names(out), RUN_CONFIG]
            for line in remove_leftovers(out, folders):
                log.warning("left by an interrupted save: %s", line)
    accelerator.wait_for_everyone()
