"""`rarl prepare iqa-merge`: several Refine-IQA scoring manifests merged into one.

    rarl prepare iqa-merge --out data/koniq+spaq -o manifests=data/koniq,data/spaq

Each manifest's splits are concatenated split by split (a manifest without a split contributes nothing to
it) and the MOS mappings of its datasets (task.json `scales`) are kept; the manifests must not share sample
ids (prepare them under different datasets).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rarl.data.errors import DataError
from rarl.recipes.quality.samples import SPLITS, QualitySample, load_quality_manifest, load_quality_task

__all__ = ["merge_quality_manifests"]


def merge_quality_manifests(
    manifests: str | Sequence[str] | None,
) -> tuple[dict[str, list[QualitySample]], dict[str, dict[str, Any]]]:
    """(samples per split, MOS mapping per dataset) of the manifest folders `manifests` (`dir1,dir2` or a list)."""
    by_split: dict[str, list[QualitySample]] = {s: [] for s in SPLITS}
    scales: dict[str, dict[str, Any]] = {}
    names = manifests.split(",") if isinstance(manifests, str) else list(manifests or [])
    if not names:
        raise DataError("iqa-merge: give the manifests to merge with -o manifests=dir1,dir2")
    for folder in names:
        task = load_quality_task(folder)
        scales.update(task.get("scales", {}))
        for sp in SPLITS:
            try:
                by_split[sp].extend(load_quality_manifest(folder, sp))
            except DataError as e:
                if "no split" not in str(e) and "no samples" not in str(e):
                    raise
    ids = [s.sample_id for v in by_split.values() for s in v]
    if len(set(ids)) != len(ids):
        raise DataError("iqa-merge: the manifests share sample ids; prepare them under different datasets")
    return by_split, scales
