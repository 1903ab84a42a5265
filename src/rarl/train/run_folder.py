"""The run folder's safety: what a run left there, `--resume` config checks, `--overwrite`, leftovers.

No command deletes what it did not create: `check_output_dir` refuses a folder holding a run unless the user
resumes or overwrites it, `clear_run` removes only what a run writes (logs, resolved config, checkpoints,
final and stage folders), and `prepare_output_dir` cleans up what a killed save left behind.

One run per output folder: `hold_run_folder` takes the folder's lock (`rarl.utils.lock`) before a run writes
anything, on the main process only; a second run on the same folder stops with one line naming the pid and
host that hold it, and a run killed with SIGKILL leaves no stuck lock.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml
from accelerate.utils import broadcast_object_list

from rarl.train.checkpoint import (
    CHECKPOINTS,
    latest_checkpoint,
    list_checkpoints,
    remove_leftovers,
    saved_config,
)
from rarl.train.config import stage_name_problem
from rarl.utils.config import ConfigError, to_dict
from rarl.utils.io import remove_path, temporary_siblings
from rarl.utils.lock import FolderLock

log = logging.getLogger("rarl")

FINAL_DIR = "final"
"""The run's last model folder (`<output_dir>/final`)."""
BEST_DIR = "best"
"""The model folder of the best validation so far (`<output_dir>/best`, rarl.train.validation)."""
RUN_CONFIG = "config.yaml"
RUN_LOGS = ("metrics.jsonl", "samples.jsonl", "tensorboard")
"""What the metric logger writes into the run folder (rarl.train.metrics_log)."""
RESUME_MAY_DIFFER = ("output_dir", "logging", "checkpoint", "guards", "micro_batch_size")
"""Config keys (and sections) that `--resume` lets differ from the checkpoint's: they change how a run is
logged, saved, guarded or split into micro-batches for memory, never its data, model, objective or schedule."""


def stage_names(cfg: Any) -> list[str]:
    """The stage folder names a config writes (none for SFT)."""
    return [s.name for s in getattr(cfg, "stages", [])]


def _saved_stage_names(out: Path) -> list[str]:
    """Stage names of the configs a previous run saved in `out` (its config.yaml and its checkpoints'),
    keeping only names that are safe to use as folder names inside `out`."""
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
    """Delete a previous run from `out`: logs, resolved config, checkpoints, final, best and stage folders (of the
    current config and of the configs saved there) and their temporaries; returns what was removed.
    Anything else in the folder (the `tiny-model` it built, the user's own files) is kept."""
    folders = [FINAL_DIR, BEST_DIR, *stage_names(cfg), *_saved_stage_names(out)]
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
    check_output_dir(cfg, resume=resume, overwrite=overwrite)
    accelerator.wait_for_everyone()
    out = Path(cfg.output_dir)
    if accelerator.is_main_process and out.is_dir():
        if overwrite:
            removed = clear_run(out, cfg)
            if removed:
                log.warning("--overwrite: removed the previous run's %s", ", ".join(removed))
        else:
            folders = [FINAL_DIR, BEST_DIR, *stage_names(cfg), *_saved_stage_names(out), RUN_CONFIG]
            for line in remove_leftovers(out, folders):
                log.warning("left by an interrupted save: %s", line)
    accelerator.wait_for_everyone()


@contextlib.contextmanager
def hold_run_folder(out: str | os.PathLike, accelerator: Any | None = None) -> Iterator[None]:
    """Hold `out`'s lock for the block: one run per output folder (`rarl.utils.lock`; re-entrant in a process).

    Only the main process locks. With an `accelerator` of several processes, the main process's outcome is
    broadcast, so every process raises the same one-line error instead of waiting for a main process that
    stopped; without one (before the trainer has made its accelerator), a multi-process launch (WORLD_SIZE
    > 1) takes no lock here and leaves it to the trainer.
    """
    if accelerator is None:
        many, main = int(os.environ.get("WORLD_SIZE", "1") or 1) > 1, True
    else:
        many, main = accelerator.num_processes > 1, accelerator.is_main_process
    if many and accelerator is None:
        yield
        return
    lock = FolderLock(out, "run", "output_dir") if main else None
    error: Exception | None = None
    if lock is not None:
        try:
            lock.__enter__()
        except Exception as e:  # every process must hear of it, or the others wait forever
            error = e
    if many:
        payload: list[Any] = [None if error is None else str(error)]
        broadcast_object_list(payload, from_process=0)
        if error is None and payload[0] is not None:
            raise ConfigError(payload[0])
    if error is not None:
        raise error
    try:
        yield
    finally:
        if lock is not None:
            lock.__exit__(None, None, None)


def holding_run_folder(method: Callable[..., Any]) -> Callable[..., Any]:
    """A trainer method run while holding its output folder's lock (`hold_run_folder` with the trainer's
    `out` and `accelerator`)."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with hold_run_folder(self.out, self.accelerator):
            return method(self, *args, **kwargs)

    return wrapper


@contextlib.contextmanager
def checked_run_folder(cfg: Any, *, resume: bool, overwrite: bool) -> Iterator[None]:
    """The output folder locked (`hold_run_folder`), then checked (`check_output_dir`, reads only), for the
    block that builds and runs a trainer: another run's folder is refused before the model is loaded."""
    with hold_run_folder(cfg.output_dir):
        check_output_dir(cfg, resume=resume, overwrite=overwrite, notes=False)
        yield
