"""Validation while training: the recipe's own evaluation on held-out samples, and the best model so far.

With `eval.every: N` (`rarl.train.eval_config.EvalConfig`) both trainers call `Validator.maybe_run` after each
optimizer step; it validates after every N-th step and after the last one (once per step):

    results, _ = recipe.evaluate(policy, manifest, EvalSettings(greedy, max_samples, ...), "step-<N>")
    metrics = recipe.validation_metrics(results)         # flat name -> number, logged as eval/<name>

on the current weights, isolated from training: the modules' train/eval flags, the torch (CPU and CUDA),
numpy and Python RNG states and the shared image-feature cache are restored afterwards, and nothing enters
autograd, so a run with validation trains to the same weights as the run without it. The metric row
(`eval/<name>`, `best/<best_metric>`, `best/step`, `time/eval`) goes to metrics.jsonl (and the trackers) at
that step. When `best_metric` is strictly better than every earlier validation (higher or lower as the
recipe's `higher_is_better` says; NaN never is), the weights are saved to `<output_dir>/best/` like `final/`.

The state (last validated step, best value and step) is part of the checkpointed trainer state, so a resumed
run validates at the same steps and keeps the same best. A validation runs before the checkpoint of its step.

Under data parallelism only the main process validates (a recipe's metrics are over the whole validation set,
which one process sees at once); the others wait in a broadcast of its metrics (or of its error, which every
rank then raises), so all ranks agree on the best step and call the collective `best/` save together. A
sharded model (FSDP, DeepSpeed ZeRO-3) cannot run on one process alone, so validation refuses them.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate.utils import DistributedType, broadcast_object_list

from rarl.eval.settings import EvalSettings
from rarl.model.image_features import shared_image_features
from rarl.train.checkpoint import save_model_folder
from rarl.train.errors import TrainingAborted
from rarl.train.run_folder import BEST_DIR
from rarl.utils.config import ConfigError

__all__ = ["BEST_DIR", "ValidationState", "Validator", "isolated", "run_name"]

log = logging.getLogger("rarl")

SFT_MAX_NEW_TOKENS = 256
"""`eval.max_new_tokens` of an SFT run that leaves it null (a GRPO run takes `rollout.max_new_tokens`)."""


def run_name(step: int) -> str:
    """The model name a validation passes to `recipe.evaluate` (`step-<N>`)."""
    return f"step-{step}"


def _short(value: Any) -> str:
    """A metric for the log line: 4 significant digits, `none` when undefined."""
    return "none" if value is None else f"{float(value):.4g}"


@dataclass
class ValidationState:
    """What a checkpoint keeps of validation."""

    last_step: int | None = None
    """The step validated last (a step is validated once, even when a resumed run passes it again)."""
    best_value: float | None = None
    best_step: int | None = None


@contextlib.contextmanager
def isolated(model: torch.nn.Module, device: torch.device) -> Iterator[None]:
    """Run code on `model` without leaving a trace training could see: no autograd, every module's
    train/eval flag, the torch (CPU, and CUDA on `device`), numpy and Python RNG states and the shared
    image-feature cache (`rarl.model.image_features`) are as they were afterwards; the model is in eval mode
    inside."""
    flags = [(m, m.training) for m in model.modules()]
    py_state, np_state = random.getstate(), np.random.get_state()
    shared = shared_image_features(model)
    cache = (OrderedDict(shared.cache), replace(shared.counts)) if shared is not None else None
    devices = [device.index or 0] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            model.eval()
            yield
    finally:
        for module, training in flags:
            module.training = training
        random.setstate(py_state)
        np.random.set_state(np_state)
        if shared is not None and cache is not None:
            shared.cache, shared.counts = cache


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


class Validator:
    """Validation of one run (see the module docstring); `enabled` is False when `eval.every` is 0."""

    def __init__(
        self,
        cfg: Any,
        recipe: Any,
        accelerator: Any,
        *,
        out: str | Path,
        total_steps: int,
        max_new_tokens: int,
        folder_names: tuple[str, ...] = (),
    ) -> None:
        """`cfg`: a TrainConfig or SFTConfig (its `eval`, `data` and `seed`); `folder_names`: the model
        folders the run writes besides `best/` (GRPO's stage folders)."""
        e = cfg.eval
        self.every, self.total_steps = e.every, total_steps
        self.recipe, self.accelerator, self.out = recipe, accelerator, Path(out)
        self.state = ValidationState()
        self.enabled = e.every > 0
        if not self.enabled:
            return
        self.manifest = e.manifest or cfg.data.manifest
        sizes = tuple(e.sizes or cfg.data.sizes)
        self.settings = EvalSettings(
            split=e.split or cfg.data.eval_split,
            sizes=sizes,
            max_samples=e.max_samples,
            do_sample=False,
            max_new_tokens=e.max_new_tokens or max_new_tokens,
            batch_size=e.batch_size,
            n_boot=1,  # the intervals are not logged
            seed=cfg.seed,
            progress=False,
        )
        for name in folder_names:
            if name.lower() == BEST_DIR:
                raise ConfigError(
                    f"stage {name!r}: the run keeps its best model in '{BEST_DIR}/'; rename the stage"
                )
        self._refuse_sharded(accelerator)
        samples = recipe.load_samples(self.manifest, self.settings.split, list(sizes))
        if not samples:
            raise ConfigError(
                f"eval: no samples of sizes {list(sizes)} in split '{self.settings.split}' of {self.manifest}"
            )
        self.known = recipe.validation_metric_names(samples, self.settings)
        self.metric = e.best_metric or getattr(recipe, "headline_metric", "")
        if not self.metric:
            raise ConfigError(
                f"eval.best_metric: recipe {recipe.name!r} has no headline metric; name one"
                + (f" of {', '.join(self.known)}" if self.known else "")
            )
        if self.known is not None and self.metric not in self.known:
            raise self._unknown_metric(self.known)
        self.higher = bool(recipe.higher_is_better(self.metric))

    @classmethod
    def for_run(cls, cfg: Any, recipe: Any, accelerator: Any, total_steps: int) -> Validator:
        """The validator of a GRPO run (TrainConfig: answers up to `rollout.max_new_tokens`, stage folders
        checked against `best/`) or an SFT run (SFTConfig)."""
        rollout = getattr(cfg, "rollout", None)
        return cls(
            cfg,
            recipe,
            accelerator,
            out=cfg.output_dir,
            total_steps=total_steps,
            max_new_tokens=rollout.max_new_tokens if rollout is not None else SFT_MAX_NEW_TOKENS,
            folder_names=tuple(s.name for s in getattr(cfg, "stages", [])),
        )

    @staticmethod
    def _refuse_sharded(accelerator: Any) -> None:
        kind = getattr(accelerator, "distributed_type", None)
        plugin = getattr(getattr(accelerator, "state", None), "deepspeed_plugin", None)
        if kind == DistributedType.FSDP or (plugin is not None and getattr(plugin, "zero_stage", 0) == 3):
            raise ConfigError(
                "eval.every: validation runs on the main process alone, which a sharded model (FSDP, "
                "DeepSpeed ZeRO-3) cannot; set eval.every: 0 and evaluate the saved folders with `rarl eval`"
            )

    def _unknown_metric(self, available: Any) -> ConfigError:
        return ConfigError(
            f"eval.best_metric: recipe {self.recipe.name!r} produces no metric {self.metric!r} on this "
            f"validation; available: {', '.join(sorted(available)) or 'none'}"
        )

    # ------------------------------------------------------------------ the run folder and the state
    def state_dict(self) -> dict[str, Any]:
        return asdict(self.state)

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Restore from a checkpoint's trainer state (None: a checkpoint from before validation existed)."""
        self.state = ValidationState(**state) if state else ValidationState()

    # ------------------------------------------------------------------ validation
    def due(self, step: int) -> bool:
        """Whether step `step` is validated: every `every`-th step and the last, each once."""
        if not self.enabled or step == self.state.last_step:
            return False
        return step % self.every == 0 or step >= self.total_steps

    def maybe_run(self, step: int, stage: str, trainer: Any) -> dict[str, Any] | None:
        """Validate after optimizer step `step` when it is due; returns the logged row (None: not due).

        `trainer` is the GRPO or SFT trainer: its `accelerator`, `model` (as prepared), `policy` (whose model
        generates), `logger` and `model_tasks` (`best/` records the task of `stage`). Every process must call
        this.
        """
        if not self.due(step):
            return None
        start = time.perf_counter()
        metrics = self._shared_metrics(step, trainer)
        seconds = time.perf_counter() - start
        if self.metric not in metrics:
            raise self._unknown_metric(metrics)
        value = metrics[self.metric]
        best = self.state.best_value
        better = _finite(value) and (best is None or (value > best if self.higher else value < best))
        self.state.last_step = step
        if better:
            self.state.best_value, self.state.best_step = float(value), step
            task = getattr(trainer, "model_tasks", {}).get(stage)  # the record of the stage it was saved in
            save_model_folder(
                self.accelerator, trainer.model, trainer.policy.processor, self.out / BEST_DIR, task
            )
        row: dict[str, Any] = {"step": step, "stage": stage}
        row.update({f"eval/{k}": (float(v) if _finite(v) else None) for k, v in metrics.items()})
        row[f"best/{self.metric}"] = self.state.best_value
        row["best/step"] = self.state.best_step
        row["time/eval"] = seconds
        if trainer.logger is not None:
            trainer.logger.log(row)
        log.info(
            "validation at step %d: %s = %s (best %s at step %s)%s",
            step, self.metric, _short(value), _short(self.state.best_value), self.state.best_step,
            "; saved best/" if better else "",
        )  # fmt: skip
        return row

    def _shared_metrics(self, step: int, trainer: Any) -> dict[str, float]:
        """The main process's validation metrics, on every process (its error raised on every process)."""
        acc = self.accelerator
        metrics: dict[str, float] | None = None
        error: Exception | None = None
        if acc.is_main_process:
            try:
                metrics = self.evaluate(step, trainer.policy)
            except Exception as e:  # every rank must hear of it, or the others wait forever
                error = e
        if acc.num_processes > 1:
            payload: list[Any] = [metrics if error is None else f"{type(error).__name__}: {error}"]
            broadcast_object_list(payload, from_process=0)
            if error is None and isinstance(payload[0], str):
                raise TrainingAborted(f"validation at step {step} failed on the main process: {payload[0]}")
            metrics = payload[0]
        if error is not None:
            raise error
        assert metrics is not None
        return metrics

    def evaluate(self, step: int, policy: Any) -> dict[str, float]:
        """The recipe's evaluation of `policy` (its current weights), isolated from training -> flat metrics."""
        with isolated(policy.model, self.accelerator.device):
            results, _rows = self.recipe.evaluate(policy, self.manifest, self.settings, run_name(step))
        return {str(k): float(v) for k, v in self.recipe.validation_metrics(results).items()}
