"""The manifest folder every recipe writes: `task.json`, one `<split>.jsonl` per split, `summary.json`.

What a task and a sample record hold is the recipe's business (docs/data.md describes the `rarl` recipe's);
this module writes the files atomically, names them, and reads the parts that do not depend on the recipe.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rarl.data.errors import DataError
from rarl.utils.io import atomic_write_json, atomic_write_jsonl, user_path

TASK_FILE = "task.json"
SUMMARY_FILE = "summary.json"


def split_file(manifest_dir: str | os.PathLike, split: str) -> Path:
    """Path of a split's JSONL file in a manifest folder."""
    return Path(manifest_dir) / f"{split}.jsonl"


def relative_path(path: str, folder: str, final_dir: str) -> str:
    """`path` relative to `final_dir`, or to `folder` when it lies inside `folder` (being written)."""
    if path == folder or path.startswith(folder + os.sep):
        return os.path.relpath(path, folder).replace(os.sep, "/")
    return os.path.relpath(path, final_dir).replace(os.sep, "/")


def write_manifest_files(
    folder: str | os.PathLike,
    task: dict[str, Any],
    splits: Mapping[str, Sequence[Any]],
    record: Callable[[Any, str, str], dict[str, Any]],
    summary: Mapping[str, Any] | None = None,
    *,
    final_dir: str | os.PathLike | None = None,
) -> Path:
    """The manifest layout of any recipe: task.json, `<split>.jsonl` of `record(sample, folder, final_dir)`
    per sample (absolute folder paths, for `relative_path`), and summary.json; each file atomic."""
    folder_abs = os.path.abspath(folder)
    final_abs = os.path.abspath(final_dir) if final_dir is not None else folder_abs
    atomic_write_json(Path(folder_abs) / TASK_FILE, task)
    for name, samples in splits.items():
        atomic_write_jsonl(split_file(folder_abs, name), (record(s, folder_abs, final_abs) for s in samples))
    if summary is not None:
        atomic_write_json(Path(folder_abs) / SUMMARY_FILE, dict(summary))
    return Path(folder_abs)


def require_manifest_dir(manifest_dir: str | os.PathLike) -> Path:
    """The manifest folder as an absolute Path, or `DataError` if it does not exist."""
    folder = user_path(manifest_dir)
    if not folder.is_dir():
        raise DataError(f"manifest folder not found: {folder}")
    return folder.resolve()


def list_splits(manifest_dir: str | os.PathLike) -> list[str]:
    """Names of the splits present in a manifest folder."""
    return sorted(p.stem for p in Path(manifest_dir).glob("*.jsonl"))


def load_summary(manifest_dir: str | os.PathLike) -> dict[str, Any]:
    """The summary.json of a manifest folder."""
    path = require_manifest_dir(manifest_dir) / SUMMARY_FILE
    if not path.is_file():
        raise DataError(f"no {SUMMARY_FILE} in {path.parent}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
