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

import os
from collections import defaultdict
from pathlib import Path
from typing import Literal

from rarl.data.errors import DataError, ReadReport
from rarl.data.readers.coco import annotation_problem, check_coco, select_categories
from rarl.data.readers.safe import load_json
from rarl.recipes.ordinal.readers.base import ReadResult, file_names, require_dir, require_file
from rarl.recipes.ordinal.schema import OrdinalItem, OrdinalTask


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
    coco = load_json(ann_path, "coco-count")
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
