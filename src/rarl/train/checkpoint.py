"""Resumable checkpoints and loadable model folders.

A checkpoint folder `<output_dir>/checkpoints/step-XXXXXXXX/` holds what `accelerate` saves with
`save_state` (model or adapter weights, optimizer, scheduler, the RNG states of every rank) plus
`trainer_state.json` (step, stage, data position, RMO memory) and `config.yaml` (the resolved config).
Every process writes into a temporary sibling folder; the main process renames it into place only after all
ranks are done, so an interrupted save never leaves a checkpoint that looks complete. Old step checkpoints
are rotated (`keep_last`).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from rarl.utils.io import atomic_directory, atomic_write_json, atomic_write_text

log = logging.getLogger("rarl")

_STEP_DIR = re.compile(r"^step-(\d{8})$")
TRAINER_STATE = "trainer_state.json"


def checkpoint_root(output_dir: str | Path) -> Path:
    return Path(output_dir) / "checkpoints"


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints, oldest first (a folder counts only once its trainer_state.json exists)."""
    root = checkpoint_root(output_dir)
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = _STEP_DIR.match(p.name)
        if m and (p / TRAINER_STATE).is_file():
            found.append((int(m.group(1)), p))
    return [p for _, p in sorted(found)]


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    ckpts = list_checkpoints(output_dir)
    return ckpts[-1] if ckpts else None


def save_checkpoint(
    accelerator: Any,
    output_dir: str | Path,
    step: int,
    trainer_state: dict[str, Any],
    config: dict[str, Any],
    keep_last: int = 2,
) -> Path:
    """Save a resumable checkpoint for global `step` (all processes must call this)."""
    root = checkpoint_root(output_dir)
    final = root / f"step-{step:08d}"
    tmp = root / f".step-{step:08d}.tmp"
    if accelerator.is_main_process:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        atomic_write_json(tmp / TRAINER_STATE, trainer_state)
        atomic_write_text(tmp / "config.yaml", yaml.safe_dump(config, sort_keys=False))
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        for old in list_checkpoints(output_dir)[:-keep_last] if keep_last > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator: Any, path: str | Path) -> dict[str, Any]:
    """Restore model/optimizer/scheduler/RNG states from `path`; returns the trainer state."""
    path = Path(path)
    state_file = path / TRAINER_STATE
    if not state_file.is_file():
        raise FileNotFoundError(f"not a complete checkpoint (no {TRAINER_STATE}): {path}")
    accelerator.load_state(str(path))
    return json.loads(state_file.read_text(encoding="utf-8"))


def save_model_folder(accelerator: Any, model: Any, processor: Any, out_dir: str | Path) -> Path:
    """Save a folder that `load_policy` / `from_pretrained` loads (LoRA adapters are merged into a copy)."""
    out_dir = Path(out_dir)
    accelerator.wait_for_everyone()
    state_dict = accelerator.get_state_dict(model)
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        with atomic_directory(out_dir) as tmp:
            if hasattr(unwrapped, "merge_and_unload"):
                import copy

                merged = copy.deepcopy(unwrapped).merge_and_unload()
                merged.save_pretrained(tmp)
            else:
                unwrapped.save_pretrained(tmp, state_dict=state_dict)
            processor.save_pretrained(tmp)
    accelerator.wait_for_everyone()
    return out_dir
