"""Evaluation driver: answer a recipe's test samples with each model, score them the recipe's way, report.

`evaluate_models` loads each model folder, asks the recipe to evaluate it (`recipe.evaluate`: generate with
`generate_answers`, parse, score with the recipe's metrics and failure policy), writes every raw completion to
`predictions.jsonl` so each number can be traced to the text that produced it, and has the recipe write its
report (tables, plots). A model folder that cannot be loaded does not throw away the others: their results
are written, and the failure is raised after (one line naming the model).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("rarl")


@dataclass
class EvalSettings:
    split: str = "test"
    sizes: tuple[int, ...] = (1, 2, 4, 8)
    """Sample sizes to evaluate (the recipe says what a size is; RARL: images per sample)."""
    max_samples: int | None = None
    """Cap on samples per size (None: all)."""
    do_sample: bool = False
    temperature: float = 1.0
    max_new_tokens: int = 256
    batch_size: int = 16
    n_boot: int = 1000
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        """Bad values are one-line `ConfigError`s naming the setting and its `rarl eval` option."""
        import math

        from rarl.utils.config import ConfigError

        def require(ok: bool, name: str, rule: str, value: object) -> None:
            if not ok:
                flag = "--" + name.replace("_", "-")
                raise ConfigError(f"{name} ({flag}) must be {rule}, got {value!r}")

        require(
            bool(self.sizes) and all(n >= 1 for n in self.sizes), "sizes", "positive integers", self.sizes
        )
        require(self.max_samples is None or self.max_samples >= 1, "max_samples", ">= 1", self.max_samples)
        require(self.max_new_tokens >= 1, "max_new_tokens", ">= 1", self.max_new_tokens)
        require(self.batch_size >= 1, "batch_size", ">= 1", self.batch_size)
        require(self.n_boot >= 1, "n_boot", ">= 1", self.n_boot)
        ok = math.isfinite(self.temperature) and (self.temperature > 0 or not self.do_sample)
        require(ok, "temperature", "a finite number > 0 with --sample", self.temperature)


def generate_answers(
    policy: Any, samples: Sequence[Any], settings: EvalSettings, messages_fn: Any, on_batch: Any = None
) -> list[str]:
    """One completion per sample (prompt: `messages_fn(sample)`), batched; `on_batch(n)` after each batch."""
    from rarl.model import generate

    texts: list[str] = []
    for start in range(0, len(samples), settings.batch_size):
        chunk = samples[start : start + settings.batch_size]
        rollout = generate(
            policy,
            chunk,
            num_generations=1,
            temperature=settings.temperature,
            top_p=1.0,
            max_new_tokens=settings.max_new_tokens,
            seed=settings.seed + start,
            do_sample=settings.do_sample,
            messages_fn=messages_fn,
        )
        texts.extend(rollout.texts)
        if on_batch is not None:
            on_batch(len(chunk))
    return texts


def evaluate_models(
    models: dict[str, str],
    manifest_dir: str | Path,
    out: str | Path,
    settings: EvalSettings,
    recipe: Any = "rarl",
    curves: dict[str, list[dict[str, Any]]] | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """Evaluate several model folders with `recipe`; write predictions and the recipe's report under `out`."""
    from rarl.data import DataError
    from rarl.model import ModelLoadError, load_policy
    from rarl.recipes import get_recipe
    from rarl.utils.io import atomic_write_jsonl

    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    out = Path(out)
    results: dict[str, Any] = {}
    predictions: list[dict[str, Any]] = []
    recipe.load_samples(str(manifest_dir), settings.split, settings.sizes)  # bad data fails before any model
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out} is a file, not a folder; choose another report folder")
    out.mkdir(parents=True, exist_ok=True)  # an unwritable report folder fails now, not after the models ran
    failures: list[str] = []
    for name, path in models.items():
        try:
            policy = load_policy(path, dtype="float32")
        except (ModelLoadError, FileNotFoundError) as e:
            if len(models) == 1:
                raise
            failures.append(f"{name}: {e}")
            continue
        results[name], rows = recipe.evaluate(policy, str(manifest_dir), settings, name)
        predictions.extend(rows)
    if not results:
        raise ModelLoadError("no model could be loaded: " + "; ".join(failures))
    atomic_write_jsonl(out / "predictions.jsonl", predictions)
    title = title or f"{Path(manifest_dir).name}: {settings.split} split"
    recipe.write_report(out, results, title=title, curves=curves, settings=settings)
    log.info("report written to %s", out)
    if failures:
        raise ModelLoadError(
            f"{len(failures)} of {len(models)} models could not be loaded (the others are reported in {out}): "
            + "; ".join(failures)
        )
    return results
