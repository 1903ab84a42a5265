"""`rarl rank`: a model's estimates and ranking of 1 to 8 user images, in the task it was trained on.

    rarl rank --model runs/demo/rarl/final a.png b.png          # rule and value range from the model folder
    rarl rank --model Qwen/Qwen2.5-VL-3B-Instruct a.png --rule "age of the person" --value-range 0-116

The task (rule, value range, value type and precision) comes from the model folder's `rarl_task.json`, which
the trainers write (`rarl.model.task_file`); `--rule` and `--value-range` override it, and a folder without
the file (a model from elsewhere) needs both. Every image is checked before the model loads, and all the
unusable ones are named in one error. The answer is read with the reward's parser; an image the answer
leaves out is named, and so is an entry that names no given image or repeats one. More images than the
model was trained on (the file's `sizes`) is allowed, with a note.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from rarl.data.errors import DataError
from rarl.eval.protocol import generate_answers
from rarl.eval.settings import EvalSettings
from rarl.eval.user_images import check_user_images
from rarl.model.loading import check_model_source, load_for_inference
from rarl.model.task_file import TASK_FILE, TaskFileError, read_model_task
from rarl.recipes.ordinal.prompts import build_messages
from rarl.recipes.ordinal.schema import OrdinalItem, OrdinalSample, OrdinalTask
from rarl.rewards import parse_answer
from rarl.utils.io import user_path

__all__ = ["MAX_IMAGES", "RECIPE", "parse_value_range", "rank_images", "rank_task"]

RECIPE = "rarl"
"""The recipe whose models `rarl rank` asks (the name its task files carry)."""
MAX_IMAGES = 8
"""The most images one ranking prompt holds (the paper's largest size)."""
_RANGE = re.compile(r"\s*([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)\s*-\s*([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)\s*")


def parse_value_range(text: str) -> tuple[float, float]:
    """'0-116', '1.5-9', '-10-10' -> (lo, hi): two finite numbers, lo < hi; DataError naming the option."""
    match = _RANGE.fullmatch(text)
    try:
        lo, hi = (float(x) for x in match.groups()) if match else (math.nan, math.nan)
    except ValueError:
        lo, hi = math.nan, math.nan
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise DataError(f"--value-range must look like 0-116 (lo-hi), got {text!r}")
    if not lo < hi:
        raise DataError(f"--value-range {text!r}: the low end must be below the high end")
    return lo, hi


def rank_task(model: str | Path, rule: str | None, value_range: str | None) -> tuple[OrdinalTask, list[int]]:
    """The task to ask `model` in, and the image counts it was trained on (empty: not known): the model
    folder's recorded task with `rule` / `value_range` put over it, or the two flags alone."""
    record = read_model_task(model) if user_path(model).is_dir() else None
    if record is not None and record.recipe != RECIPE:
        if rule is None or value_range is None:
            raise DataError(
                f"{model} was trained with recipe {record.recipe!r} ({record.path}), which records no "
                "rule or value range for ranking: give --rule and --value-range"
            )
        record = None
    base: OrdinalTask | None = None
    sizes: list[int] = []
    if record is not None and (record.task or rule is None or value_range is None):
        facts = dict(record.task)
        raw_sizes = facts.pop("sizes", [])
        try:
            base = OrdinalTask.from_dict(facts)
        except DataError as e:
            raise TaskFileError(f"{record.path}: {e}") from None
        if isinstance(raw_sizes, list) and all(type(n) is int for n in raw_sizes):
            sizes = sorted(raw_sizes)
    if base is None and (rule is None or value_range is None):
        missing = " and ".join(f for f, v in (("--rule", rule), ("--value-range", value_range)) if v is None)
        raise DataError(
            f"give {missing}: {model} records no task (no {TASK_FILE}; a trained model folder has one)"
        )
    if rule is not None and not rule.strip():
        raise DataError("--rule is empty: say what to estimate, e.g. 'age of the person'")
    if base is None:
        return OrdinalTask("user", str(rule), parse_value_range(str(value_range))), sizes
    lo, hi = parse_value_range(value_range) if value_range is not None else base.value_range
    task = OrdinalTask(
        base.name, rule or base.rule, (lo, hi), base.value_type, base.precision, base.delta, base.metric
    )
    return task, sizes


def rank_images(
    model_path: str | Path,
    images: Sequence[Path],
    rule: str | None = None,
    value_range: str | None = None,
    max_new_tokens: int = 256,
) -> dict[str, Any]:
    """Run a model on 1-8 user images; print the raw answer and the parsed ranking (see the module
    docstring). Returns {completion, entries, missing}: `missing` the image numbers the answer left out."""
    settings = EvalSettings(max_new_tokens=max_new_tokens, batch_size=1)  # bad options fail before any work
    images = [Path(p) for p in images]
    check_model_source(model_path)  # a run folder is named as such before its task file is looked for
    task, sizes = rank_task(model_path, rule, value_range)
    notes = check_user_images(images, "rank", MAX_IMAGES)
    if sizes and len(images) > max(sizes):
        trained = ", ".join(map(str, sizes))
        notes.append(
            f"the model was trained on {trained} image(s) per prompt; {len(images)} is more than it has seen"
        )
    items = tuple(OrdinalItem(image=str(user_path(p).resolve()), label=task.lo, meta={}) for p in images)
    sample = OrdinalSample(sample_id="user", task=task, items=items)
    policy = load_for_inference(str(model_path))
    (text,) = generate_answers(policy, [sample], settings, lambda s: build_messages(s))
    parsed = parse_answer(text, len(images))
    console = Console(soft_wrap=True)  # each message one line, whatever the width
    for note in notes:
        console.print(Text("note: " + note, style="yellow"))
    console.print(Text.assemble(("answer:", "bold"), " ", text))
    if not parsed.ok:
        console.print(Text("the answer could not be parsed into a ranking", style="yellow"))
        return {"completion": text, "entries": [], "missing": list(range(1, len(images) + 1))}
    for rank_pos, (image_id, value) in enumerate(parsed.entries, 1):
        console.print(Text(f"  {rank_pos}. image {image_id} ({images[image_id - 1]}): {value:g}"))
    missing = [i for i in range(1, len(images) + 1) if i not in parsed.values_by_id()]
    problems = []
    if missing:
        named = ", ".join(f"image {i} ({images[i - 1]})" for i in missing)
        ranked = len(images) - len(missing)
        problems.append(f"the answer ranks {ranked} of {len(images)} images; left out: {named}")
    extra = parsed.n_entries - len(parsed.entries)
    if extra:
        entries = "1 entry" if extra == 1 else f"{extra} entries"
        problems.append(f"ignored {entries} naming no given image, repeating one, or without a number")
    if problems:
        console.print(Text("; ".join(problems), style="yellow"))
    return {"completion": text, "entries": list(parsed.entries), "missing": missing}
