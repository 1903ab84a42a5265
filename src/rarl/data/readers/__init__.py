"""Dataset formats read by more than one recipe: COCO instances files (`rarl.data.readers.coco`).

A recipe's own readers live in its folder (the `rarl` recipe's in `rarl.recipes.ordinal.readers`).
"""

from rarl.data.readers.coco import annotation_problem, check_coco, select_categories

__all__ = ["annotation_problem", "check_coco", "select_categories"]
