"""The task a trained model folder records (`rarl_task.json`), so inference commands need not be told again.

A trainer writes the file into every model folder it saves (`final/`, `best/`, stage folders), inside the
same atomic save as the weights:

    {"format": 1, "recipe": "rarl", "mode": "think", "stage": "stage2", "manifest": "runs/demo/data",
     "task": {"name": "synthetic-brightness", "rule": "brightness of the image", "value_range": [1.0, 9.0],
              ..., "sizes": [1, 2, 4, 8]}}

`recipe` is the recipe's name, `mode` the prompt mode of the stage that ended in the folder (`stage`; for
`final/` the last stage, for `best/` the stage it was saved in) and `manifest` that stage's data. `task`
holds the facts the recipe records (`recipe.task_record(manifest, samples)`, given the samples of that
stage and of the stages before it: RARL's task.json and the image counts trained on, Vision-R1's categories
and pixel budget, Refine-IQA's manifest kind, MOS scales and question types); the engine writes it as it is
and never reads it.

`rarl rank` and `rarl score` read the file (`read_model_task`) for what their flags leave out; a folder
without it (a model from elsewhere, a base built before the file existed) needs the flags as before, and a
malformed file is one error line naming it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rarl.utils.errors import UserError
from rarl.utils.io import user_path

__all__ = ["TASK_FILE", "ModelTask", "TaskFileError", "model_task", "read_model_task", "write_model_task"]

TASK_FILE = "rarl_task.json"
"""The file in a model folder that records the task it was trained on."""
FORMAT = 1
"""The version of the file's layout this code writes and reads."""


class TaskFileError(ValueError, UserError):
    """A `rarl_task.json` that cannot be read (the message names the file and what is wrong)."""


@dataclass(frozen=True)
class ModelTask:
    """What a model folder's `rarl_task.json` says (see the module docstring)."""

    recipe: str
    mode: str | None = None
    stage: str | None = None
    manifest: str | None = None
    task: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    """The file it was read from (None: not read from a file)."""

    def to_dict(self) -> dict[str, Any]:
        """The file's JSON object."""
        return {
            "format": FORMAT,
            "recipe": self.recipe,
            "mode": self.mode,
            "stage": self.stage,
            "manifest": self.manifest,
            "task": dict(self.task),
        }


def model_task(
    recipe: Any, mode: str | None, manifest: str, samples: Sequence[Any], stage: str | None = None
) -> ModelTask:
    """The record of a model trained by `recipe` in prompt `mode` (None: the recipe's default) on
    `manifest`'s `samples` (those of the stage ending in the folder and of the stages before it); the recipe
    gives the task's facts (`recipe.task_record`)."""
    facts = recipe.task_record(manifest, samples)
    if not isinstance(facts, Mapping):
        raise TypeError(
            f"recipe {recipe.name!r}: task_record must return a mapping, got {type(facts).__name__}"
        )
    return ModelTask(
        recipe=str(recipe.name),
        mode=recipe.resolve_mode(mode),
        stage=stage,
        manifest=str(manifest) if manifest else None,
        task=json.loads(json.dumps(dict(facts), default=str)),  # JSON-ready, detached from the recipe's
    )


def write_model_task(folder: str | Path, record: ModelTask) -> Path:
    """Write `record` as `folder/rarl_task.json` (the folder is a model folder being saved) and return it."""
    path = Path(folder) / TASK_FILE
    path.write_text(json.dumps(record.to_dict(), indent=1) + "\n", encoding="utf-8")
    return path


def read_model_task(folder: str | Path) -> ModelTask | None:
    """The record of the model folder `folder`; None when it has no `rarl_task.json`; a TaskFileError naming
    the file when it is unreadable, not JSON, or holds a field of the wrong type."""
    path = user_path(folder) / TASK_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise TaskFileError(f"{path}: not a valid task file (not UTF-8 text)") from None
    except RecursionError:
        raise TaskFileError(f"{path}: not a valid task file (JSON nested too deeply)") from None
    except ValueError as err:
        detail = err.msg if isinstance(err, json.JSONDecodeError) else str(err)
        raise TaskFileError(f"{path}: not a valid task file (not JSON: {detail})") from None
    if not isinstance(data, dict):
        raise TaskFileError(f"{path}: not a valid task file (a JSON {type(data).__name__}, not an object)")
    version = data.get("format", FORMAT)
    if version != FORMAT:
        raise TaskFileError(f"{path}: task file format {_short(version)}; this rarl reads format {FORMAT}")
    task = data.get("task", {})
    if not isinstance(task, dict):
        raise TaskFileError(f"{path}: 'task' must be a JSON object, got {_short(task)}")
    return ModelTask(
        recipe=_text(data, "recipe", path, required=True) or "",
        mode=_text(data, "mode", path),
        stage=_text(data, "stage", path),
        manifest=_text(data, "manifest", path),
        task=task,
        path=path,
    )


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _text(data: dict[str, Any], key: str, path: Path, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise TaskFileError(f"{path}: {key!r} must be a non-empty string, got {_short(value)}")
    return value


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value) if not isinstance(value, float) or math.isfinite(value) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
