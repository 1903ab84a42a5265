"""Evaluation driver: answer a recipe's test samples with each model, score them the recipe's way, report.

`evaluate_models` loads each model folder (named models such as `demo-base` through the recipe's
`model_path`), asks the recipe to evaluate it (`recipe.evaluate`: generate with
`generate_answers`, parse, score with the recipe's metrics and failure policy), writes every raw completion to
`predictions.jsonl` so each number can be traced to the text that produced it, and has the recipe write its
report (tables, plots). A model folder that cannot be loaded does not throw away the others: their results
are written, and the failure is raised after (one line naming the model).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rarl.eval.curves import LogSource
from rarl.eval.settings import EvalSettings
from rarl.model.loading import ModelLoadError, load_for_inference
from rarl.model.rollout import generate
from rarl.utils.io import atomic_write_jsonl
from rarl.utils.output_folder import claimed_folder

__all__ = ["EvalSettings", "evaluate_models", "generate_answers"]

log = logging.getLogger("rarl")


def generate_answers(
    policy: Any, samples: Sequence[Any], settings: EvalSettings, messages_fn: Any, on_batch: Any = None
) -> list[str]:
    """One completion per sample (prompt: `messages_fn(sample)`), batched; `on_batch(n)` after each batch."""
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
    recipe: Any,
    curves: Mapping[str, LogSource] | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """Evaluate several model folders with `recipe` (a recipe object, resolved by the caller); write
    predictions and the recipe's report under `out`."""
    if recipe is None or isinstance(recipe, str):
        raise TypeError("evaluate_models needs a recipe object (rarl.recipes.runs.evaluate resolves a name)")
    out = Path(out)
    recipe.load_samples(str(manifest_dir), settings.split, settings.sizes)  # bad data fails before any model
    # a new, empty or report folder (an unwritable or foreign one fails now, not after the models ran)
    with claimed_folder(out, REPORT_KIND, ["predictions.jsonl"], replace=False, adopt=_older_report):
        return _evaluate_into(out, models, manifest_dir, settings, recipe, curves, title)


REPORT_KIND = "report"
"""`rarl eval` marks its folder `.rarl-report.json` (`rarl.utils.output_folder`)."""


def _older_report(out: Path) -> bool:
    """A report folder an earlier version wrote (before folders were marked)."""
    return (out / "predictions.jsonl").is_file() and (out / "report.md").is_file()


def _evaluate_into(
    out: Path,
    models: dict[str, str],
    manifest_dir: str | Path,
    settings: EvalSettings,
    recipe: Any,
    curves: Mapping[str, LogSource] | None,
    title: str | None,
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    predictions: list[dict[str, Any]] = []
    failures: list[str] = []
    for name, path in models.items():
        try:
            policy = load_for_inference(recipe.model_path(path))
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
