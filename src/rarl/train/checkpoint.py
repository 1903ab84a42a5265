"""Resumable checkpoints and loadable model folders.

A checkpoint folder `<output_dir>/checkpoints/step-XXXXXXXX/` holds what `accelerate` saves with
`save_state` (model weights, optimizer, scheduler, the RNG states of every rank) plus
`trainer_state.json` (step, stage, data position, RMO memory) and `config.yaml` (the resolved config).
Every process writes into a temporary sibling folder; the main process renames it into place only after all
ranks are done, so an interrupted save never leaves a checkpoint that looks complete. Old step checkpoints
are rotated (`keep_last`); a checkpoint is removed by deleting its `trainer_state.json` first, so a kill
mid-removal leaves a folder that no longer counts as a checkpoint. Re-saving a step that exists moves the
old copy aside (`.step-XXXXXXXX.old`) until the new one is in place.

Under LoRA (a PEFT model, one process or DDP) a checkpoint's weights are the trainable adapter tensors only:
the frozen base weights are those of the run's model folder, which a resume loads anyway, so a 3B checkpoint
holds 120 MB of adapters (float32) instead of 7.6 GB (`adapter_only_weights`). Resuming loads such a checkpoint
non-strictly after checking that it holds every trainable tensor (`load_checkpoint`). FSDP and DeepSpeed save
through their own paths, unchanged.

`remove_leftovers` (run at the start of every run) deletes what a killed save leaves behind: `.step-*.tmp`
folders, step folders without a trainer state, and the temporary siblings of model folders (see
`rarl.utils.io`). `model_folder_problem` tells whether a saved model folder is complete. A model folder
records the task it was trained on (`rarl_task.json`, `rarl.model.task_file`) when the trainer passes one.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from safetensors import safe_open

from rarl.model.loading import is_peft_model
from rarl.model.task_file import ModelTask, model_task, write_model_task
from rarl.utils.io import atomic_directory, atomic_write_json, atomic_write_text, recover_leftovers

log = logging.getLogger("rarl")

_STEP_DIR = re.compile(r"^step-(\d{8})$")
_STEP_LEFTOVER = re.compile(r"^\.(step-\d{8})\.(tmp|old)$")
TRAINER_STATE = "trainer_state.json"
CHECKPOINTS = "checkpoints"
SAVED_CONFIG = "config.yaml"
PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json")
"""A saved model folder has one of these (transformers 5 writes the first, released folders the second)."""


def checkpoint_root(output_dir: str | Path) -> Path:
    return Path(output_dir) / CHECKPOINTS


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
    handle = accelerator.register_save_state_pre_hook(adapter_only_weights)
    try:
        accelerator.save_state(str(tmp))
    finally:
        handle.remove()
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        atomic_write_json(tmp / TRAINER_STATE, trainer_state)
        atomic_write_text(tmp / SAVED_CONFIG, yaml.safe_dump(config, sort_keys=False))
        _move_into_place(tmp, final)
        for old in list_checkpoints(output_dir)[:-keep_last] if keep_last > 0 else []:
            remove_checkpoint(old)
    accelerator.wait_for_everyone()
    return final


def _move_into_place(tmp: Path, final: Path) -> None:
    """Rename `tmp` to `final`; an existing `final` is moved aside first and removed once `tmp` is in place
    (a kill in between leaves `.step-XXXXXXXX.old`, which `remove_leftovers` moves back)."""
    if not final.exists():
        tmp.rename(final)
        return
    aside = final.with_name(f".{final.name}.old")
    if aside.exists():
        shutil.rmtree(aside)
    final.rename(aside)
    tmp.rename(final)
    remove_checkpoint(aside)


def remove_checkpoint(path: Path) -> None:
    """Delete a checkpoint folder, its trainer state first (so a half-deleted folder is never resumed)."""
    (path / TRAINER_STATE).unlink(missing_ok=True)
    shutil.rmtree(path, ignore_errors=True)


def saved_config(checkpoint: str | Path) -> dict[str, Any] | None:
    """The resolved config saved with a checkpoint (None when it is missing or unreadable)."""
    path = Path(checkpoint) / SAVED_CONFIG
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def _checkpoint_leftovers(output_dir: str | Path) -> list[str]:
    """Remove what killed checkpoint saves left in `checkpoints/`; returns what was done."""
    root = checkpoint_root(output_dir)
    if not root.is_dir():
        return []
    done = []
    for p in sorted(root.iterdir()):
        m = _STEP_LEFTOVER.match(p.name)
        replaced = m is not None and m.group(2) == "old" and (p / TRAINER_STATE).is_file()
        if replaced and not (root / m.group(1) / TRAINER_STATE).is_file():
            if (root / m.group(1)).exists():
                remove_checkpoint(root / m.group(1))
            p.rename(root / m.group(1))
            done.append(f"restored {root / m.group(1)} from {p.name}")
        elif m:
            remove_checkpoint(p)
            done.append(f"removed {p}")
        elif _STEP_DIR.match(p.name) and p.is_dir() and not (p / TRAINER_STATE).is_file():
            remove_checkpoint(p)
            done.append(f"removed {p} (incomplete: no {TRAINER_STATE})")
    return done


def remove_leftovers(output_dir: str | Path, folder_names: Iterable[str]) -> list[str]:
    """Clean up after killed saves: temporary and incomplete checkpoints, and the temporary siblings of the
    run's model folders and files (`folder_names`, e.g. `final` and the stage names). Returns what was done."""
    out = Path(output_dir)
    done = _checkpoint_leftovers(out)
    for name in dict.fromkeys(folder_names):
        done.extend(recover_leftovers(out / name))
    return done


def adapter_only_weights(models: Sequence[Any], weights: list[dict[str, Any]], output_dir: str) -> None:
    """`save_state` pre-hook: the state dict of a PEFT model (LoRA) keeps only its trainable tensors.

    `weights` holds the state dicts accelerate is about to write, one per model it saves itself (none under
    FSDP or DeepSpeed, which save through their own paths)."""
    for i, (model, state) in enumerate(zip(models, weights)):
        if not is_peft_model(model):
            continue
        trainable = {name for name, p in model.named_parameters() if p.requires_grad}
        if trainable and trainable <= set(state):
            weights[i] = {k: v for k, v in state.items() if k in trainable}


def _saved_keys(path: Path) -> set[str] | None:
    """The tensor names of a checkpoint's single-model weights file (None: not a safetensors checkpoint)."""
    file = path / "model.safetensors"
    if not file.is_file():
        return None
    with safe_open(str(file), framework="pt") as f:
        return set(f.keys())


def load_checkpoint(accelerator: Any, path: str | Path) -> dict[str, Any]:
    """Restore model/optimizer/scheduler/RNG states from `path`; returns the trainer state.

    A checkpoint that holds only a PEFT model's trainable tensors (`adapter_only_weights`) is loaded
    non-strictly, after checking that every trainable tensor is in it."""
    path = Path(path)
    state_file = path / TRAINER_STATE
    if not state_file.is_file():
        raise FileNotFoundError(f"not a complete checkpoint (no {TRAINER_STATE}): {path}")
    saved = _saved_keys(path)
    models = list(getattr(accelerator, "_models", []))
    partial = False
    if saved is not None and len(models) == 1 and is_peft_model(models[0]):
        full = set(models[0].state_dict())
        trainable = {name for name, p in models[0].named_parameters() if p.requires_grad}
        partial = saved < full
        if partial and not trainable <= saved:
            missing = sorted(trainable - saved)
            raise RuntimeError(
                f"checkpoint {path} lacks {len(missing)} trainable tensors of this run (e.g. {missing[0]}); "
                "it was saved by a run with other adapters"
            )
    accelerator.load_state(str(path), **({"strict": False} if partial else {}))
    return json.loads(state_file.read_text(encoding="utf-8"))


def stage_tasks(
    recipe: Any, stages: Sequence[Any], manifest_of: Callable[[Any], str], pools: Mapping[str, Sequence[Any]]
) -> dict[str, ModelTask]:
    """The task record of each model folder a run saves, by folder name: each stage's (its `mode`, its
    manifest `manifest_of(stage)`, the samples `pools[stage.name]` joined to those of the stages before it)
    and `final`'s, the last stage's. `best/` records the stage it is saved in."""
    out: dict[str, ModelTask] = {}
    seen: list[Any] = []
    for stage in stages:
        seen.extend(pools[stage.name])
        out[stage.name] = model_task(recipe, stage.mode, manifest_of(stage), seen, stage=stage.name)
    if stages:
        out["final"] = out[stages[-1].name]
    return out


def save_model_folder(
    accelerator: Any, model: Any, processor: Any, out_dir: str | Path, task: ModelTask | None = None
) -> Path:
    """Save a folder that `load_policy` / `from_pretrained` loads (LoRA adapters are merged into a copy),
    with `task` as its `rarl_task.json` (none: no task file), all in one atomic save."""
    out_dir = Path(out_dir)
    accelerator.wait_for_everyone()
    state_dict = accelerator.get_state_dict(model)
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        with atomic_directory(out_dir) as tmp:
            if is_peft_model(unwrapped):
                import copy

                merged = copy.deepcopy(unwrapped).merge_and_unload()
                merged.save_pretrained(tmp)
            else:
                unwrapped.save_pretrained(tmp, state_dict=state_dict)
            processor.save_pretrained(tmp)
            if task is not None:
                write_model_task(tmp, task)
    accelerator.wait_for_everyone()
    return out_dir


def ensure_model_folder(
    accelerator: Any, model: Any, processor: Any, out_dir: str | Path, task: ModelTask | None = None
) -> bool:
    """Re-save the model folder `out_dir` (with `task`) from `model` when it is missing or incomplete (all
    processes must call this); returns whether it was re-saved."""
    problem = model_folder_problem(out_dir)
    if problem is None:
        return False
    log.warning("model folder %s is %s; re-creating it from the restored weights", out_dir, problem)
    save_model_folder(accelerator, model, processor, out_dir, task)
    return True


def repair_model_folders(
    accelerator: Any,
    model: Any,
    processor: Any,
    out: Path,
    stage_names: list[str],
    done: int,
    tasks: Mapping[str, ModelTask] | None = None,
) -> None:
    """After a resume at the end of stage `done` (1-based; 0: none ended): re-save the model folders the
    restored weights stand for (the stage that just ended, and `final/` when every stage has) if a kill left
    them missing or incomplete, each with its task record (`tasks`, by folder name); earlier stage folders
    that are broken can only be reported."""
    if done == 0:
        return
    targets = [out / stage_names[done - 1]]
    if done == len(stage_names):
        targets.append(out / "final")
    for target in targets:
        ensure_model_folder(accelerator, model, processor, target, (tasks or {}).get(target.name))
    for name in stage_names[: done - 1]:
        problem = model_folder_problem(out / name)
        if problem:
            log.warning(
                "stage folder %s is %s and cannot be re-created (the checkpoint with its weights is gone)",
                out / name,
                problem,
            )


def _safetensors_problem(path: Path) -> str | None:
    """Why a .safetensors file is incomplete (its header promises more bytes than it has), or None."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return f"{path.name} is truncated ({size} bytes)"
            n = int.from_bytes(head, "little")
            if n <= 0 or 8 + n > size:
                return f"{path.name} is truncated (header of {n} bytes, file of {size})"
            header = json.loads(f.read(n))
    except (OSError, ValueError) as e:
        return f"{path.name} is unreadable ({e})"
    ends = [t["data_offsets"][1] for k, t in header.items() if k != "__metadata__" and isinstance(t, dict)]
    if 8 + n + max(ends, default=0) > size:
        return f"{path.name} is truncated ({size} of {8 + n + max(ends)} bytes)"
    return None


def _weights_problem(folder: Path) -> str | None:
    """Why the weights of a model folder are missing or incomplete, or None."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8")).get("weight_map", {}).values()))
        files = [folder / s for s in shards]
    elif (folder / "model.safetensors").is_file():
        files = [folder / "model.safetensors"]
    else:
        return "no model.safetensors"
    for f in files:
        problem = "missing " + f.name if not f.is_file() else _safetensors_problem(f)
        if problem:
            return problem
    return None


def model_folder_problem(folder: str | Path) -> str | None:
    """Why `folder` is not a complete saved model (missing, a JSON file cut short, truncated weights, no
    processor files), or None when it is complete. Checks structure and sizes only; loads nothing."""
    folder = Path(folder)
    if not folder.is_dir():
        return "missing"
    detail = _files_problem(folder) or _weights_problem(folder)
    return f"incomplete ({detail})" if detail else None


def _files_problem(folder: Path) -> str | None:
    """Why the JSON files of a model folder (config, tokenizer, processor) are missing or cut short, or None."""
    for names in (("config.json",), ("tokenizer_config.json",), PROCESSOR_FILES):
        if not any((folder / name).is_file() for name in names):
            return f"no {names[0]}"
    for f in sorted(folder.glob("*.json")):
        try:
            json.loads(f.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            return f"{f.name} is cut short or unreadable"
    return None
