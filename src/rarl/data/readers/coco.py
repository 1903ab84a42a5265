"""COCO-style object counting (COCO-REM, paper Sec. 4.1).

Input: a COCO instances file (`{"images": [...], "annotations": [...], "categories": [...]}`; COCO-REM
ships its refined val set in this format). For each (image, category) pair the label is the number of
instance annotations of that category in that image, and the rule is "number of <category>"
(`rule_template`). Items with different categories carry different rules (`meta["rule"]`), so they are
never grouped into the same sample.

Policies (our reading; the paper does not say):
- `categories`: names to keep (default all). An unknown name is an error listing the known ones.
- `include_zero=False`: only pairs with at least one instance. With `include_zero=True` every image gets
  a 0-count item for every selected category it does not contain (this grows the dataset quickly).
- `max_count=10`, `over_max="drop"`: pairs with more instances are skipped and reported (the label would
  be hard to verify visually). `over_max="cap"` keeps them with label `max_count`, read as
  "max_count or more"; this mixes a censored value into the targets and is off by default.
- A pair with a crowd annotation (`iscrowd=1`) has no exact count and is skipped ("crowd annotation").
- The task's range is (1 or 0, max_count), int values, delta 2, metric accuracy.

Images are `<images_dir>/<file_name>`; by default the first of `<root>`, `<root>/images`,
`<root>/val2017`, `<root>/train2017` that holds the first listed image. Missing files are reported.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from rarl.data.errors import DataError, ReadReport
from rarl.data.readers.base import ReadResult, file_names, require_dir, require_file
from rarl.data.schema import OrdinalItem, OrdinalTask
from rarl.utils.text import read_text


def check_rule_template(template: object, source: str) -> None:
    """One-line `DataError` unless `template` is a string that names `{category}` and nothing else to fill."""
    rule = f"{source}: rule_template must be text naming '{{category}}' once or more, e.g. 'number of {{category}}'"
    if not isinstance(template, str) or "{category}" not in template:
        raise DataError(f"{rule}; got {template!r}")
    try:
        filled = template.format(category="x")
    except (KeyError, IndexError, ValueError, AttributeError) as e:
        what = f"unknown field {{{e.args[0]}}}" if isinstance(e, KeyError) else str(e)
        raise DataError(
            f"{rule}; got {template!r} ({what}; write {{{{ and }}}} for literal braces)"
        ) from None
    if not filled.strip():
        raise DataError(f"{rule}; got {template!r}")


def _find_annotations(folder: Path) -> Path:
    ann = folder / "annotations"
    found = sorted(ann.glob("instances*.json")) if ann.is_dir() else []
    found = found or sorted(folder.glob("instances*.json"))
    if len(found) != 1:
        where = f"{ann} or {folder}"
        what = "none" if not found else ", ".join(p.name for p in found)
        raise DataError(f"coco-count: pass annotations=<instances json>; found {what} in {where}")
    return found[0]


def _find_images_dir(folder: Path, first_file: str | None) -> Path:
    candidates = [folder, folder / "images", folder / "val2017", folder / "train2017"]
    for c in candidates:
        if first_file is not None and (c / first_file).is_file():
            return c
    return folder


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
            return f"{key} is {entry[key]!r}, not an integer or string id"
    if text_key is not None and not (isinstance(entry.get(text_key), str) and entry[text_key].strip()):
        return f"{text_key} is {entry.get(text_key)!r}, not a non-empty string"
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
                problem = f"repeats id {entry['id']!r}"
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


def read_coco_counts(
    root: str | os.PathLike | None,
    *,
    annotations: str | os.PathLike | None = None,
    images_dir: str | os.PathLike | None = None,
    categories: list[str] | str | None = None,
    max_count: int = 10,
    over_max: Literal["drop", "cap"] = "drop",
    include_zero: bool = False,
    rule_template: str = "number of {category}",
    strict: bool = False,
) -> ReadResult:
    """Counting items from a COCO instances file: one item per (image, category), label = #instances."""
    folder = require_dir(root, "coco-count")
    if isinstance(categories, str):
        categories = [c.strip() for c in categories.split(",") if c.strip()]
    if not isinstance(max_count, int) or max_count < 1:
        raise DataError(f"coco-count: max_count must be an int >= 1, got {max_count!r}")
    if over_max not in ("drop", "cap"):
        raise DataError(f"coco-count: over_max must be 'drop' or 'cap', got {over_max!r}")
    check_rule_template(rule_template, "coco-count")
    ann_path = _find_annotations(folder) if annotations is None else Path(annotations)
    if not ann_path.is_absolute():
        ann_path = folder / ann_path
    ann_path = require_file(ann_path, "coco-count")
    try:
        coco = json.loads(read_text(ann_path, error=DataError, hint="save it as UTF-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{ann_path}:{e.lineno}: not valid JSON ({e.msg})") from None
    check_coco(coco, ann_path)

    selected = select_categories(coco["categories"], categories, "coco-count")

    images = {img["id"]: img["file_name"] for img in coco["images"]}
    if images_dir is None:
        first = next(iter(images.values()), None)
        img_dir = _find_images_dir(folder, first)
    else:
        img_dir = require_dir(images_dir if Path(images_dir).is_absolute() else folder / images_dir, "coco")
    present = file_names(img_dir)

    counts: dict[tuple[int, int], int] = defaultdict(int)
    crowd: set[tuple[int, int]] = set()
    report = ReadReport(strict=strict)
    for k, ann in enumerate(coco["annotations"]):
        problem = annotation_problem(ann)
        if problem is not None:
            report.skip("malformed annotation", f"{ann_path.name} annotations[{k}] {problem}")
            continue
        key = (ann["image_id"], ann["category_id"])
        if key[1] not in selected:
            continue
        if key[0] not in images:
            report.skip("annotation of an unlisted image", f"annotation {ann.get('id')}")
            continue
        if ann.get("iscrowd", 0):
            crowd.add(key)
        counts[key] += 1

    lo = 0 if include_zero else 1
    task = OrdinalTask(
        name="coco-count",
        rule=rule_template.format(category=next(iter(selected.values())))
        if len(selected) == 1
        else rule_template.format(category="objects"),
        value_range=(lo, max_count),
        value_type="int",
        precision=0,
        delta=2.0,
        metric="accuracy",
    )
    items = []
    for image_id in sorted(images):
        file_name = images[image_id]
        for cat_id in sorted(selected):
            key = (image_id, cat_id)
            count = counts.get(key, 0)
            if count == 0 and not include_zero:
                continue
            report.read += 1
            name = selected[cat_id]
            where = f"{file_name} [{name}]"
            if key in crowd:
                report.skip("crowd annotation", where)
                continue
            if count > max_count:
                if over_max == "drop":
                    report.skip(f"more than {max_count} instances", f"{where} ({count})")
                    continue
                count = max_count
            if file_name not in present and not (img_dir / file_name).is_file():
                report.skip("no image file", where)
                continue
            meta = {
                "image_id": image_id,
                "category": name,
                "category_id": cat_id,
                "rule": rule_template.format(category=name),
            }
            items.append(OrdinalItem(image=str(img_dir / file_name), label=float(count), meta=meta))
    return ReadResult(task, items, report)
