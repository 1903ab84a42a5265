"""The `rarl` recipe's dataset readers (UTKFace, AVA, COCO counts, CSV/JSONL tables); each returns
`ReadResult(task, items, report)`."""

from rarl.recipes.ordinal.readers.ava import AVA_TASK, parse_ava_row, read_ava
from rarl.recipes.ordinal.readers.base import ReadResult
from rarl.recipes.ordinal.readers.coco_count import read_coco_counts
from rarl.recipes.ordinal.readers.table import parse_value_range, read_table
from rarl.recipes.ordinal.readers.utkface import UTKFACE_TASK, parse_utkface_name, read_utkface

__all__ = [
    "AVA_TASK",
    "UTKFACE_TASK",
    "ReadResult",
    "parse_ava_row",
    "parse_utkface_name",
    "parse_value_range",
    "read_ava",
    "read_coco_counts",
    "read_table",
    "read_utkface",
]
