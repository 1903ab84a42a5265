"""Readers for dataset formats; each returns `ReadResult(task, items, report)`."""

from rarl.data.readers.ava import AVA_TASK, parse_ava_row, read_ava
from rarl.data.readers.base import ReadResult
from rarl.data.readers.coco import read_coco_counts
from rarl.data.readers.table import parse_value_range, read_table
from rarl.data.readers.utkface import UTKFACE_TASK, parse_utkface_name, read_utkface

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
