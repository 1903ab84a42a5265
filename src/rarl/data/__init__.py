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
