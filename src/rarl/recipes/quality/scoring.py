"""`rarl score`: a trained model's quality score of given images, numeric and probability-based (Eq. 8).

    rarl score --model runs/refine-iqa/final photo1.jpg photo2.png [--mode no_think]

For each image the model answers the recipe's scoring prompt (greedy); the numeric score is the one parsed
from its answer (None when it wrote none), the probability-based score the expectation over the digits
0..4 at the answer's integer position, plus 0.5 (`rarl.recipes.quality.evaluation`).

The prompt mode is `--mode`, else the one the model folder's `rarl_task.json` records (the mode of the stage
that ended there: `think` for a Refine-IQA run's `final/`), else `no_think`. A folder recorded for another
recipe is refused; one trained on perception questions only is scored with a note. Every image is checked
before the model loads (`rarl.eval.user_images`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from rarl.data.errors import DataError
from rarl.eval.protocol import EvalSettings, generate_answers
from rarl.eval.user_images import check_user_images
from rarl.model.loading import check_model_source, load_policy
from rarl.model.scorer import PolicyScorer
from rarl.model.task_file import read_model_task
from rarl.recipes.base import get_recipe
from rarl.recipes.quality.evaluation import digit_prefix, probability_scores
from rarl.recipes.quality.prompts import NO_THINK
from rarl.recipes.quality.samples import RECIPE_NAME, SCORE_TASK, QualitySample
from rarl.rewards.quality import parse_score
from rarl.utils.io import user_path

__all__ = ["DEFAULT_MODE", "score_images", "score_mode"]


DEFAULT_MODE = NO_THINK
"""The prompt mode for a model folder that records none (a model from elsewhere)."""


def score_mode(model: str | Path, mode: str | None) -> tuple[str | None, list[str]]:
    """The prompt mode to score in (None: `DEFAULT_MODE`) and notes, from `mode` or the model folder's task
    record; a record of another recipe is a DataError."""
    record = read_model_task(model) if user_path(model).is_dir() else None
    if record is None:
        return mode, []
    if record.recipe != RECIPE_NAME:
        hint = "; rank its images with `rarl rank`" if record.recipe == "rarl" else ""
        raise DataError(
            f"{model} was trained with recipe {record.recipe!r} ({record.path}), not {RECIPE_NAME!r}: "
            f"`rarl score` asks Refine-IQA's scoring prompt{hint}"
        )
    notes = []
    tasks = record.task.get("tasks")
    if isinstance(tasks, list) and tasks and SCORE_TASK not in tasks:
        notes.append(
            f"{model} was trained on perception questions only ({', '.join(map(str, tasks))}), not scoring"
        )
    if mode is None and record.mode is not None:
        notes.append(
            f"scoring in {record.mode} mode, as {model} was trained ({record.path}; --mode overrides)"
        )
        return record.mode, notes
    return mode, notes


def score_images(
    model: str | Path,
    images: Sequence[str | Path],
    mode: str | None = None,
    max_new_tokens: int = 256,
    batch_size: int = 8,
) -> list[dict[str, Any]]:
    """[{image, numeric, prob, completion, mode}] for each image (see the module docstring)."""
    check_model_source(model)  # a run folder is named as such before its task file is looked for
    recipe = get_recipe(RECIPE_NAME)
    chosen, notes = score_mode(model, mode)
    mode = recipe.resolve_mode(chosen if chosen is not None else DEFAULT_MODE)
    notes += check_user_images(images, "score")
    console = Console(stderr=True, soft_wrap=True)  # notes on stderr, one line each; the scores on stdout
    for note in notes:
        console.print(Text("note: " + note, style="yellow"))
    paths = [str(user_path(image).resolve()) for image in images]
    samples = [QualitySample(sample_id=str(i), task=SCORE_TASK, images=(p,)) for i, p in enumerate(paths)]
    policy = load_policy(str(model), dtype="float32")
    settings = EvalSettings(max_new_tokens=max_new_tokens, batch_size=batch_size)
    texts = generate_answers(policy, samples, settings, lambda s: recipe.messages(s, mode))
    prefixes = [digit_prefix(t, mode)[0] for t in texts]
    prob = probability_scores(PolicyScorer(policy, recipe.messages), samples, prefixes, mode, batch_size)
    return [
        {"image": p, "numeric": parse_score(t), "prob": q, "completion": t, "mode": mode}
        for p, t, q in zip(paths, texts, prob)
    ]
