"""AVA reader (aesthetic assessment, paper Sec. 4.1).

`AVA.txt` has one row per image, whitespace separated:
`index image_id c1 c2 ... c10 semantic_tag1 semantic_tag2 challenge_id`, where c_k is the number of votes
for score k. The label is the vote-weighted mean score `sum(k * c_k) / sum(c_k)`, stored rounded to the
task's precision (the exact mean is kept in `meta["mean_score"]`) so that the ground-truth answer text
and the label agree exactly.

Our reading: precision 2 (not 1). AVA means cluster in 4-7, so one decimal would tie many images and the
ranking targets would lose information; two decimals keep almost all pairs distinct at a cost of one
more token per value. delta = 1.0 (one score step), metric SRCC as in the paper's table.

Images are `<images_dir>/<image_id>.jpg`; `images_dir` defaults to `<root>/images` when that folder
exists, else `<root>`. Rows whose image file is absent are reported ("no image file"), as are malformed
rows and rows without votes.
"""

from __future__ import annotations

import os
from pathlib import Path

from rarl.data.errors import DataError, ReadReport
from rarl.recipes.ordinal.readers.base import ReadResult, check_label, file_names, require_dir, require_file
from rarl.recipes.ordinal.schema import OrdinalItem, OrdinalTask
from rarl.utils.text import read_text

AVA_TASK = OrdinalTask(
    name="ava",
    rule="aesthetic score of the photo",
    value_range=(1, 10),
    value_type="float",
    precision=2,
    delta=1.0,
    metric="srcc",
)


def parse_ava_row(line: str) -> tuple[str, list[int], dict[str, int]] | None:
    """(image_id, votes for scores 1..10, tags) from one AVA.txt row, or None if it is malformed."""
    parts = line.split()
    if len(parts) != 15:
        return None
    try:
        numbers = [int(p) for p in parts[2:]]
    except ValueError:
        return None
    votes = numbers[:10]
    if any(v < 0 for v in votes):
        return None
    tags = {"semantic_tag1": numbers[10], "semantic_tag2": numbers[11], "challenge_id": numbers[12]}
    return parts[1], votes, tags


def read_ava(
    root: str | os.PathLike | None,
    *,
    ava_file: str | os.PathLike | None = None,
    images_dir: str | os.PathLike | None = None,
    strict: bool = False,
) -> ReadResult:
    """Read AVA from `root` (containing `AVA.txt`, or pass `ava_file`) with images in `images_dir`."""
    folder = require_dir(root, "ava")
    if ava_file is None:
        candidates = [folder / "AVA.txt", folder / "AVA_dataset" / "AVA.txt"]
        ava_file = next((c for c in candidates if c.is_file()), candidates[0])
    txt = require_file(ava_file if Path(ava_file).is_absolute() else folder / ava_file, "ava")
    if images_dir is None:
        images = folder / "images" if (folder / "images").is_dir() else folder
    else:
        images = require_dir(images_dir if Path(images_dir).is_absolute() else folder / images_dir, "ava")
    present = file_names(images)
    report = ReadReport(strict=strict)
    task = AVA_TASK
    items = []
    text = read_text(txt, error=DataError, hint="save it as UTF-8")
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        report.read += 1
        where = f"{txt.name}:{lineno}"
        row = parse_ava_row(line)
        if row is None:
            report.skip("malformed row", where)
            continue
        image_id, votes, tags = row
        total = sum(votes)
        if total == 0:
            report.skip("no votes", f"{where} (image {image_id})")
            continue
        name = f"{image_id}.jpg"
        if name not in present:
            report.skip("no image file", f"{where} ({name})")
            continue
        mean = sum(k * c for k, c in enumerate(votes, 1)) / total
        label = task.quantize(mean)
        if not check_label(task, label, f"{where} ({name})", report):
            continue
        meta = {"image_id": image_id, "votes": total, "mean_score": round(mean, 6), **tags}
        items.append(OrdinalItem(image=str(images / name), label=label, meta=meta))
    return ReadResult(task, items, report)
