"""COCO instances files, shared by the recipes that read them: checks and category selection.

A COCO instances file is `{"images": [...], "annotations": [...], "categories": [...]}`. `check_coco` checks
its images and categories (naming the first bad entry), `annotation_problem` says why one annotation cannot
be used, and `select_categories` picks categories by name. The `rarl` recipe's object counting reader is
`rarl.recipes.ordinal.readers.coco_count`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rarl.data.errors import DataError
from rarl.data.readers.safe import show


def _is_id(value: object) -> bool:
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def _entry_problem(entry: object, keys: Sequence[str], text_key: str | None = None) -> str | None:
    """Why a COCO `images`/`categories`/`annotations` entry is malformed, or None."""
    if not isinstance(entry, dict):
        return f"is a {type(entry).__name__}, not an object"
    for key in keys:
        if key not in entry:
            return f"has no {key!r}"
        if not _is_id(entry[key]):
            return f"{key} is {show(entry[key])}, not an integer or string id"
    if text_key is not None and not (isinstance(entry.get(text_key), str) and entry[text_key].strip()):
        return f"{text_key} is {show(entry.get(text_key))}, not a non-empty string"
    return None


def check_coco(coco: object, path: Path) -> None:
    """One-line `DataError` unless `coco` is a COCO instances file whose images and categories are well
    formed (naming the first bad entry); annotations are checked one by one (`annotation_problem`)."""
    if not isinstance(coco, dict):
        raise DataError(
            f"{path}: not a COCO instances file (the top level is a {type(coco).__name__}; expected an object "
            "with 'images', 'annotations' and 'categories' lists)"
        )
    for key in ("images", "annotations", "categories"):
        if not isinstance(coco.get(key), list):
            raise DataError(f"{path}: not a COCO instances file (no '{key}' list)")
    for key, text_key in (("images", "file_name"), ("categories", "name")):
        seen: set[object] = set()
        for k, entry in enumerate(coco[key]):
            problem = _entry_problem(entry, ("id",), text_key)
            if problem is None and entry["id"] in seen:
                problem = f"repeats id {show(entry['id'])}"
            if problem is not None:
                raise DataError(f"{path}: {key}[{k}] {problem}")
            seen.add(entry["id"])


def annotation_problem(ann: object) -> str | None:
    """Why a COCO annotation cannot be used (not an object, no or a malformed image_id / category_id)."""
    return _entry_problem(ann, ("image_id", "category_id"))


def select_categories(
    categories: Sequence[dict[str, Any]], wanted: Sequence[str] | None, source: str
) -> dict[Any, str]:
    """{category id: name} of the COCO `categories` named in `wanted` (all when None); an unknown name is a
    one-line DataError listing the known ones."""
    cat_names = {c["id"]: str(c["name"]) for c in categories}
    if wanted is None:
        return cat_names
    by_name = {name: cid for cid, name in cat_names.items()}
    unknown = [c for c in wanted if c not in by_name]
    if unknown:
        raise DataError(f"{source}: unknown categories {unknown}; known: {sorted(by_name)}")
    return {by_name[c]: c for c in wanted}
