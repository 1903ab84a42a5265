"""UTKFace reader (facial age estimation, paper Sec. 4.1).

File names encode the labels: `[age]_[gender]_[race]_[date&time].jpg`, e.g. `26_0_1_20170116233306093.jpg`;
the aligned-and-cropped set appends `.chip.jpg` (`26_0_1_20170116233306093.jpg.chip.jpg`). Gender is 0
(male) or 1 (female); race is 0-4 (White, Black, Asian, Indian, Others). A handful of files in the public
release miss a field (e.g. `39_1_20170116174525125.jpg.chip.jpg`); such names are reported as
"unparsable file name" and skipped, never guessed.

The task follows the paper's table: age in 0-116 as an integer, MAE as the 1-image metric, delta = 5.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from rarl.data.errors import ReadReport
from rarl.recipes.ordinal.readers.base import ReadResult, check_label, require_dir
from rarl.recipes.ordinal.schema import OrdinalItem, OrdinalTask

UTKFACE_TASK = OrdinalTask(
    name="utkface",
    rule="age of the person",
    value_range=(0, 116),
    value_type="int",
    precision=0,
    delta=5.0,
    metric="mae",
)

_NAME = re.compile(r"^(?P<age>\d+)_(?P<gender>\d+)_(?P<race>\d+)_(?P<datetime>\d+)\.jpg(?:\.chip\.jpg)?$")
_GENDERS = {0: "male", 1: "female"}
_RACES = {0: "white", 1: "black", 2: "asian", 3: "indian", 4: "others"}


def parse_utkface_name(name: str) -> dict[str, object] | None:
    """The labels encoded in a UTKFace file name, or None if the name does not follow the pattern."""
    m = _NAME.match(name)
    if m is None:
        return None
    gender, race = int(m["gender"]), int(m["race"])
    if gender not in _GENDERS or race not in _RACES:
        return None
    return {"age": int(m["age"]), "gender": _GENDERS[gender], "race": _RACES[race], "datetime": m["datetime"]}


def read_utkface(
    root: str | os.PathLike | None, *, recursive: bool = True, strict: bool = False
) -> ReadResult:
    """Read UTKFace images under `root` (any of its release folders; sub-folders too if `recursive`).

    Every `*.jpg` file is either an item (label = age) or a skip in the report: "unparsable file name",
    or "label outside 0-116".
    """
    folder = require_dir(root, "utkface")
    report = ReadReport(strict=strict)
    task = UTKFACE_TASK
    pattern = "**/*.jpg" if recursive else "*.jpg"
    items = []
    for path in sorted(folder.glob(pattern)):
        if not path.is_file():
            continue
        report.read += 1
        fields = parse_utkface_name(path.name)
        if fields is None:
            report.skip("unparsable file name", path.name)
            continue
        age = fields.pop("age")
        if not check_label(task, age, path.name, report):
            continue
        items.append(OrdinalItem(image=str(Path(path)), label=float(age), meta=fields))
    return ReadResult(task, items, report)
