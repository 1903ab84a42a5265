"""The `rarl` recipe's manifest records: `OrdinalTask` in `task.json`, `OrdinalSample`s in `<split>.jsonl`.

The folder layout (`task.json`, one `<split>.jsonl` per split, `summary.json`) is `rarl.data.manifest`'s;
docs/data.md describes the records.

A sample line is `{"id": ..., "n": N, "items": [{"image": ..., "label": ..., "meta": {...}}, ...]}`,
items in presentation order, image paths relative to the manifest folder (absolute paths are accepted
too). A sample whose rule differs from the task's (one per COCO category, say) also carries `"rule"`.
`load_manifest` returns samples with absolute image paths and checks every line.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rarl.data.errors import DataError
from rarl.data.manifest import (
    TASK_FILE,
    list_splits,
    relative_path,
    require_manifest_dir,
    split_file,
    write_manifest_files,
)
from rarl.data.validate import find_bad_images
from rarl.recipes.ordinal.schema import OrdinalItem, OrdinalSample, OrdinalTask
from rarl.utils.io import read_jsonl_numbered


def sample_record(sample: OrdinalSample, folder: str, final_dir: str, task_rule: str) -> dict[str, Any]:
    """The JSON record of one sample (see the module docstring)."""
    rec: dict[str, Any] = {"id": sample.sample_id, "n": sample.n}
    if sample.task.rule != task_rule:
        rec["rule"] = sample.task.rule
    rec["items"] = [
        {"image": relative_path(it.image, folder, final_dir), "label": it.label, "meta": it.meta}
        for it in sample.items
    ]
    return rec


def write_manifest(
    folder: str | os.PathLike,
    task: OrdinalTask,
    splits: dict[str, Sequence[OrdinalSample]],
    summary: dict[str, Any] | None = None,
    *,
    final_dir: str | os.PathLike | None = None,
) -> Path:
    """Write task.json, `<split>.jsonl` for every split, and summary.json (if given) into `folder`.

    Image paths are written relative to `final_dir` (the folder's eventual location when `folder` is a
    temporary one that will be renamed into place; default `folder`), except images stored inside
    `folder` itself, which are written relative to it. Each file is written atomically.
    """
    return write_manifest_files(
        folder,
        task.to_dict(),
        splits,
        lambda s, folder_abs, final_abs: sample_record(s, folder_abs, final_abs, task.rule),
        summary,
        final_dir=final_dir,
    )


def load_task(manifest_dir: str | os.PathLike) -> OrdinalTask:
    """The `OrdinalTask` stored in a manifest folder's task.json."""
    folder = require_manifest_dir(manifest_dir)
    path = folder / TASK_FILE
    if not path.is_file():
        raise DataError(f"not a manifest folder (no {TASK_FILE}): {folder}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    try:
        return OrdinalTask.from_dict(data)
    except DataError as e:
        raise DataError(f"{path}: {e}") from None


def _parse_item(raw: Any, folder: str, where: str) -> OrdinalItem:
    if not isinstance(raw, dict) or not isinstance(raw.get("image"), str) or not raw["image"]:
        raise DataError(f"{where}: an item needs an 'image' path, got {raw!r}")
    label = raw.get("label")
    if isinstance(label, bool) or not isinstance(label, (int, float)) or not math.isfinite(label):
        raise DataError(f"{where}: label of {raw['image']} must be a finite number, got {label!r}")
    meta = raw.get("meta", {})
    if not isinstance(meta, dict):
        raise DataError(f"{where}: meta of {raw['image']} must be an object")
    return OrdinalItem(image=os.path.normpath(os.path.join(folder, raw["image"])), label=label, meta=meta)


def parse_samples(
    records: Iterable[Any], task: OrdinalTask, folder: str, source: str, sizes: set[int] | None = None
) -> list[OrdinalSample]:
    """`OrdinalSample`s from sample records; `source` names the file in error messages."""
    tasks: dict[str | None, OrdinalTask] = {None: task}
    samples = []
    for k, rec in enumerate(records, 1):
        where = f"{source}: record {k}"
        if not isinstance(rec, dict):
            raise DataError(f"{where}: expected a JSON object")
        sid = rec.get("id")
        if not isinstance(sid, (str, int)) or isinstance(sid, bool):
            raise DataError(f"{where}: missing or bad 'id'")
        where = f"{source}: record {k} (id {sid})"
        raw_items = rec.get("items")
        if not isinstance(raw_items, list) or not raw_items:
            raise DataError(f"{where}: 'items' must be a non-empty list")
        n = rec.get("n", len(raw_items))
        if n != len(raw_items):
            raise DataError(f"{where}: 'n' is {n} but there are {len(raw_items)} items")
        if sizes is not None and n not in sizes:
            continue
        rule = rec.get("rule")
        if rule is not None and not isinstance(rule, str):
            raise DataError(f"{where}: 'rule' must be a string")
        if rule not in tasks:
            tasks[rule] = task.with_rule(rule)
        items = tuple(_parse_item(raw, folder, where) for raw in raw_items)
        for it in items:
            if not task.contains(it.label):
                raise DataError(
                    f"{where}: label {it.label:g} of {it.image} is outside the task's range {task.range_text()}"
                )
        samples.append(OrdinalSample(str(sid), tasks[rule], items))
    return samples


def load_manifest(
    manifest_dir: str | os.PathLike,
    split: str,
    sizes: Iterable[int] | None = None,
    *,
    check_files: bool = False,
) -> list[OrdinalSample]:
    """The samples of one split (optionally only those with `n` in `sizes`), with absolute image paths.

    Raises `DataError` for a missing folder or file, a line that is not JSON (file:line), a malformed
    record, or a label outside the task's range. With `check_files`, also when an image of a loaded sample
    is missing, unreadable or refused by the image rules of `rarl.data.images` (`check_images`).
    """
    folder = require_manifest_dir(manifest_dir)
    task = load_task(folder)
    path = split_file(folder, split)
    if not path.is_file():
        have = ", ".join(list_splits(folder)) or "none"
        raise DataError(f"manifest {folder} has no split {split!r} (no {path.name}; splits: {have})")
    try:
        numbered = read_jsonl_numbered(path)
    except ValueError as e:
        raise DataError(str(e)) from None
    wanted = None if sizes is None else {int(s) for s in sizes}
    records = [rec for _, rec in numbered]
    samples = parse_samples(records, task, str(folder), str(path), wanted)
    if check_files:
        # parse_samples keeps exactly the records whose item count is wanted (each is valid by now)
        lines = [n for n, rec in numbered if wanted is None or len(rec["items"]) in wanted]
        check_images(samples, lines, path)
    return samples


def check_images(samples: Sequence[OrdinalSample], lines: Sequence[int], source: Path) -> None:
    """DataError naming the first manifest line (`source`:line) with a missing or unreadable image, how
    many lines and files are bad, and how to fix it; `lines[k]` is the line of `samples[k]`."""
    bad = find_bad_images([p for s in samples for p in s.image_paths])
    if not bad:
        return
    bad_lines = [(line, s) for line, s in zip(lines, samples) if any(p in bad for p in s.image_paths)]
    line, first = bad_lines[0]
    image = next(p for p in first.image_paths if p in bad)
    files = "file" if len(bad) == 1 else "files"
    have = "has" if len(bad_lines) == 1 else "have"
    raise DataError(
        f"{source}:{line}: {bad[image]}: {image} ({len(bad_lines)} of {len(samples)} samples in "
        f"{source.name} {have} a missing or unreadable image, {len(bad)} {files} in all); remove those lines "
        f"from {source.name}, or re-run `rarl prepare` to rebuild the manifest from the images there are"
    )
