"""What every recipe uses: image loading, manifest writing and validation, splits by image, errors.

A recipe's own datasets (schema, readers, prompts, `prepare` sources) live in its folder under
`rarl.recipes`; the `rarl` recipe's ordinal datasets are in `rarl.recipes.ordinal`. The helpers of a
recipe's `rarl prepare` (output-folder check, progress bars) are in `rarl.data.prepare`.
See docs/data.md for the manifest format and the policies (splits, grouping, skipped items).
"""

from rarl.data.errors import DataError, ReadReport
from rarl.data.grouping import SPLITS, allocate, check_disjoint, find_leaks, split_items
from rarl.data.images import load_rgb
from rarl.data.manifest import (
    SUMMARY_FILE,
    TASK_FILE,
    list_splits,
    load_summary,
    relative_path,
    require_manifest_dir,
    split_file,
    write_manifest_files,
)
from rarl.data.validate import check_image, find_bad_images, image_file_problem, validate_images
from rarl.utils.moved import moved_names

__all__ = [
    "SPLITS",
    "SUMMARY_FILE",
    "TASK_FILE",
    "DataError",
    "ReadReport",
    "allocate",
    "check_disjoint",
    "check_image",
    "find_bad_images",
    "find_leaks",
    "image_file_problem",
    "list_splits",
    "load_rgb",
    "load_summary",
    "relative_path",
    "require_manifest_dir",
    "split_file",
    "split_items",
    "validate_images",
    "write_manifest_files",
]

MOVED = {
    "AVA_TASK": "rarl.recipes.ordinal.readers.ava",
    "OrdinalItem": "rarl.recipes.ordinal.schema",
    "OrdinalSample": "rarl.recipes.ordinal.schema",
    "OrdinalTask": "rarl.recipes.ordinal.schema",
    "PrepareSummary": "rarl.recipes.ordinal.prepare",
    "ReadResult": "rarl.recipes.ordinal.readers.base",
    "SOURCES": "rarl.recipes.ordinal.prepare",
    "SYNTHETIC_PROPERTIES": "rarl.recipes.ordinal.synthetic",
    "SYSTEM_PROMPT": "rarl.recipes.ordinal.prompts",
    "UTKFACE_TASK": "rarl.recipes.ordinal.readers.utkface",
    "answer_text": "rarl.recipes.ordinal.prompts",
    "build_messages": "rarl.recipes.ordinal.prompts",
    "generate_synthetic": "rarl.recipes.ordinal.synthetic",
    "group_samples": "rarl.recipes.ordinal.grouping",
    "instruct_prompt": "rarl.recipes.ordinal.prompts",
    "label_histogram": "rarl.recipes.ordinal.prepare",
    "load_manifest": "rarl.recipes.ordinal.manifest",
    "load_task": "rarl.recipes.ordinal.manifest",
    "prompt_corpus": "rarl.recipes.ordinal.prompts",
    "read_ava": "rarl.recipes.ordinal.readers.ava",
    "read_coco_counts": "rarl.recipes.ordinal.readers.coco_count",
    "read_table": "rarl.recipes.ordinal.readers.table",
    "read_utkface": "rarl.recipes.ordinal.readers.utkface",
    "render_synthetic": "rarl.recipes.ordinal.synthetic",
    "synthetic_task": "rarl.recipes.ordinal.synthetic",
    "write_manifest": "rarl.recipes.ordinal.manifest",
}
"""Names this package exported before the `rarl` recipe's code moved into its folder, and their new modules."""

__getattr__ = moved_names(__name__, MOVED)
