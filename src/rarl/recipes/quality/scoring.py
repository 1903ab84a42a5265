"""`rarl score`: a trained model's quality score of given images, numeric and probability-based (Eq. 8).

    rarl score --model runs/refine-iqa/final photo1.jpg photo2.png [--mode no_think] [--json]

For each image the model answers the recipe's scoring prompt (greedy); the numeric score is the one parsed
from its answer (None when it wrote none), the probability-based score the expectation over the digits
0..4 at the answer's integer position, plus 0.5 (`rarl.recipes.quality.evaluation`), and the explanation
the text of its `<think>..</think>` block, stripped (None when it wrote none or an empty one).

The prompt mode is `--mode`, else the one the model folder's `rarl_task.json` records (the mode of the stage
that ended there: `think` for a Refine-IQA run's `final/`), else `think` (`DEFAULT_MODE`: the model explains
its score); one note line on stderr names the mode and why. A folder recorded for another recipe is refused;
one trained on perception questions only is scored with a note. Every image is checked before the model
loads (`rarl.eval.user_images`).

`show_scores` prints the rows on stdout: a table (image, numeric, prob, explanation cut at
`EXPLANATION_CHARS`), or with `as_json` one JSON list of every row in full.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from rarl.data.errors import DataError
from rarl.eval.protocol import EvalSettings, generate_answers
from rarl.eval.user_images import check_user_images
from rarl.model.loading import check_model_source, load_for_inference
from rarl.model.scorer import PolicyScorer
from rarl.model.task_file import read_model_task
from rarl.recipes.base import get_recipe
from rarl.recipes.quality.evaluation import digit_prefix, probability_scores
from rarl.recipes.quality.prompts import NO_THINK, THINK
from rarl.recipes.quality.samples import RECIPE_NAME, SCORE_TASK, QualitySample
from rarl.rewards.quality import parse_score
from rarl.rewards.tags import think_content
from rarl.utils.io import user_path

__all__ = ["DEFAULT_MODE", "EXPLANATION_CHARS", "explanation", "score_images", "score_mode", "show_scores"]


DEFAULT_MODE = THINK
"""The prompt mode for a model folder that records none (a model from elsewhere): the model explains its
score in `<think>..</think>` before giving it."""

EXPLANATION_CHARS = 200
"""The table shows at most this many characters of an explanation (`--json` has it in full)."""


def _mode_note(mode: str, model: str | Path, record_path: Path | None) -> str:
    """The one note line that says which mode `rarl score` uses and why."""
    if record_path is not None:
        return f"scoring in {mode} mode, as {model} was trained ({record_path}; --mode overrides)"
    other = NO_THINK if mode == THINK else THINK
    hint = "the answer alone" if other == NO_THINK else "an explanation before the score"
    return f"scoring in {mode} mode (default: {model} records no mode; --mode {other} for {hint})"


def score_mode(model: str | Path, mode: str | None) -> tuple[str, list[str]]:
    """The prompt mode to score in (`mode`, else the model folder's recorded one, else `DEFAULT_MODE`) and
    notes, the first naming the mode and why; a record of another recipe is a DataError."""
    record = read_model_task(model) if user_path(model).is_dir() else None
    if mode is not None:
        trained = record.mode if record is not None else None
        was = f"; {model} was trained in {trained} mode" if trained not in (None, mode) else ""
        chosen, note = mode, f"scoring in {mode} mode (--mode{was})"
    elif record is not None and record.mode is not None:
        chosen, note = record.mode, _mode_note(record.mode, model, record.path)
    else:
        chosen, note = DEFAULT_MODE, _mode_note(DEFAULT_MODE, model, None)
    if record is None:
        return chosen, [note]
    if record.recipe != RECIPE_NAME:
        hint = "; rank its images with `rarl rank`" if record.recipe == "rarl" else ""
        raise DataError(
            f"{model} was trained with recipe {record.recipe!r} ({record.path}), not {RECIPE_NAME!r}: "
            f"`rarl score` asks Refine-IQA's scoring prompt{hint}"
        )
    notes = [note]
    tasks = record.task.get("tasks")
    if isinstance(tasks, list) and tasks and SCORE_TASK not in tasks:
        notes.append(
            f"{model} was trained on perception questions only ({', '.join(map(str, tasks))}), not scoring"
        )
    return chosen, notes


def explanation(completion: str) -> str | None:
    """The text of the completion's `<think>..</think>` block, stripped; None without one or when blank."""
    text = think_content(completion)
    return text.strip() if text is not None and text.strip() else None


def score_images(
    model: str | Path,
    images: Sequence[str | Path],
    mode: str | None = None,
    max_new_tokens: int = 256,
    batch_size: int = 8,
) -> list[dict[str, Any]]:
    """[{image, mode, numeric, prob, explanation, completion}] for each image (see the module docstring)."""
    check_model_source(model)  # a run folder is named as such before its task file is looked for
    recipe = get_recipe(RECIPE_NAME)
    chosen, notes = score_mode(model, mode)
    mode = recipe.resolve_mode(chosen)
    notes += check_user_images(images, "score")
    console = Console(stderr=True, soft_wrap=True)  # notes on stderr, one line each; the scores on stdout
    for note in notes:
        console.print(Text("note: " + note, style="yellow"))
    paths = [str(user_path(image).resolve()) for image in images]
    samples = [QualitySample(sample_id=str(i), task=SCORE_TASK, images=(p,)) for i, p in enumerate(paths)]
    policy = load_for_inference(str(model))
    settings = EvalSettings(max_new_tokens=max_new_tokens, batch_size=batch_size)
    texts = generate_answers(policy, samples, settings, lambda s: recipe.messages(s, mode))
    prefixes = [digit_prefix(t, mode)[0] for t in texts]
    prob = probability_scores(PolicyScorer(policy, recipe.messages), samples, prefixes, mode, batch_size)
    return [
        {
            "image": p,
            "mode": mode,
            "numeric": parse_score(t),
            "prob": q,
            "explanation": explanation(t),
            "completion": t,
        }
        for p, t, q in zip(paths, texts, prob)
    ]


def _cut(text: str | None) -> str:
    """An explanation for the table: on one line, at most `EXPLANATION_CHARS` characters."""
    if text is None:
        return "(none)"
    flat = " ".join(text.split())
    return flat if len(flat) <= EXPLANATION_CHARS else flat[: EXPLANATION_CHARS - 1].rstrip() + "…"


def show_scores(rows: Sequence[dict[str, Any]], shown: Sequence[str], as_json: bool = False) -> None:
    """Print `rows` on stdout: a table, one image per row under its name in `shown` (as the user gave it),
    or with `as_json` one JSON list of the rows in full (absolute image paths)."""
    if as_json:
        print(json.dumps(list(rows), indent=2, ensure_ascii=False))
        return
    table = Table(show_lines=len(rows) > 1)
    table.add_column("image", overflow="fold")
    table.add_column("numeric", justify="right", no_wrap=True)
    table.add_column("prob", justify="right", no_wrap=True)
    table.add_column("explanation", overflow="fold")
    cut = False
    for name, row in zip(shown, rows):
        numeric = "none" if row["numeric"] is None else f"{row['numeric']:.2f}"
        text = _cut(row["explanation"])
        cut |= row["explanation"] is not None and text != " ".join(row["explanation"].split())
        table.add_row(name, numeric, f"{row['prob']:.3f}", text)
    if cut:
        table.caption = f"explanations cut at {EXPLANATION_CHARS} characters; --json has them in full"
    width = max(shutil.get_terminal_size((120, 24)).columns, 100)  # a pipe or a narrow terminal: 100 at least
    Console(width=width).print(table)
