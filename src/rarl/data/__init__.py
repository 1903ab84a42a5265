"""Ordinal datasets: sample schema, readers, synthetic tasks, N-image grouping, manifests, prompts.

See docs/data.md for the manifest format and the policies (splits, grouping, skipped items).
"""

from rarl.data.errors import DataError, ReadReport
from rarl.data.grouping import SPLITS, check_disjoint, find_leaks, group_samples, split_items
from rarl.data.manifest import list_splits, load_manifest, load_summary, load_task, write_manifest
from rarl.data.prepare import SOURCES, PrepareSummary, label_histogram, prepare
from rarl.data.prompts import (
    SYSTEM_PROMPT,
    answer_text,
    build_messages,
    instruct_prompt,
    prompt_corpus,
)
from rarl.data.readers import (
    AVA_TASK,
    UTKFACE_TASK,
    ReadResult,
    read_ava,
    read_coco_counts,
    read_table,
    read_utkface,
)
from rarl.data.schema import OrdinalItem, OrdinalSample, OrdinalTask
from rarl.data.synthetic import (
    SYNTHETIC_PROPERTIES,
    generate_synthetic,
    render_synthetic,
    synthetic_task,
)
from rarl.data.validate import validate_images

__all__ = [
    "AVA_TASK",
    "SOURCES",
    "SPLITS",
    "SYNTHETIC_PROPERTIES",
    "SYSTEM_PROMPT",
    "UTKFACE_TASK",
    "DataError",
    "OrdinalItem",
    "OrdinalSample",
    "OrdinalTask",
    "PrepareSummary",
    "ReadReport",
    "ReadResult",
    "answer_text",
    "build_messages",
    "check_disjoint",
    "find_leaks",
    "generate_synthetic",
    "group_samples",
    "instruct_prompt",
    "label_histogram",
    "list_splits",
    "load_manifest",
    "load_summary",
    "load_task",
    "prepare",
    "prompt_corpus",
    "read_ava",
    "read_coco_counts",
    "read_table",
    "read_utkface",
    "render_synthetic",
    "split_items",
    "synthetic_task",
    "validate_images",
    "write_manifest",
]
