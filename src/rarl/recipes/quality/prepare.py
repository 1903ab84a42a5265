"""`rarl prepare` for Refine-IQA scoring data: the sources, the split assignment and the manifest written.

    rarl prepare koniq --root KONIQ_DIR --out data/koniq          # then: -o split=test for an eval-only set
    rarl prepare iqa-merge --out data/koniq+spaq -o manifests=data/koniq,data/spaq
    rarl prepare synthetic-quality --out data/synthetic-quality -o num_images=300

`QUALITY_SOURCES` names the sources: the dataset readers of `rarl.recipes.quality.iqa_readers` (KonIQ, SPAQ,
LIVE-C, KADID, AGIQA, CSIQ, a generic CSV), the synthetic quality task (`rarl.recipes.quality.synthetic`)
and the merge of prepared manifests (`rarl.recipes.quality.merge`). `prepare_quality` rescales each MOS to
[0, 5) with its dataset's mapping (stored in task.json) and writes the manifest atomically. The stage-1
perception data is `rarl.recipes.quality.perception.prepare_perception` (`refine-perception`).

Splits: random by seed (`-o fractions=0.7,0.1,0.2`, train/val/test) or a whole dataset in one split
(`-o split=test` for the paper's evaluation-only sets LIVE-C, AGIQA-3K, KADID-10k, CSIQ).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rarl.data.errors import DataError, ReadReport
from rarl.data.options import (
    Option,
    check_options,
    choice,
    flag,
    fractions,
    integer,
    names,
    number,
    path,
    paths,
    text,
)
from rarl.data.options import value_range as range_option
from rarl.data.prepare import check_images_outside, check_out_dir
from rarl.data.readers.safe import resolved, user_path
from rarl.recipes.quality.distortions import DISTORTIONS
from rarl.recipes.quality.iqa_readers import (
    QualityRead,
    read_agiqa,
    read_csiq,
    read_iqa_csv,
    read_kadid,
    read_koniq,
    read_livec,
    read_spaq,
)
from rarl.recipes.quality.merge import merge_quality_manifests
from rarl.recipes.quality.samples import (
    SCORE_TASK,
    SPLITS,
    QualitySample,
    parse_fractions,
    split_labels,
    write_quality_manifest,
)
from rarl.recipes.quality.synthetic import read_synthetic_quality
from rarl.utils.io import atomic_directory

__all__ = ["QUALITY_SOURCES", "SOURCE_OPTIONS", "QualitySummary", "prepare_quality", "sample_ids"]

Reader = Callable[..., QualityRead]
QUALITY_SOURCES: dict[str, Reader | None] = {
    "koniq": read_koniq,
    "spaq": read_spaq,
    "livec": read_livec,
    "kadid": read_kadid,
    "agiqa": read_agiqa,
    "csiq": read_csiq,
    "iqa-csv": read_iqa_csv,
    "synthetic-quality": None,
    "iqa-merge": None,
}
"""`rarl prepare` sources of the Refine-IQA scoring data (refine-perception is in `perception`)."""

_SPLIT_OPTIONS: dict[str, Option] = {"split": choice(*SPLITS), "fractions": fractions(3)}
_DATASET_OPTIONS: dict[str, Option] = {**_SPLIT_OPTIONS, "file": path(), "images": path()}
SOURCE_OPTIONS: dict[str, dict[str, Option]] = {
    **dict.fromkeys(("koniq", "spaq", "kadid", "agiqa", "csiq"), _DATASET_OPTIONS),
    "livec": {**_SPLIT_OPTIONS, "images": path()},
    "iqa-csv": {**_DATASET_OPTIONS, "mos_range": range_option(), "higher_better": flag(), "name": text()},
    "synthetic-quality": {
        **_SPLIT_OPTIONS,
        "num_images": integer(lo=6),
        "image_size": integer(lo=28, hi=4096),
        "distortions": names(*DISTORTIONS),
        "label_noise": number(lo=0),
    },
    "iqa-merge": {"manifests": paths()},
}
"""Each source's options and their types (`rarl.data.options`), checked before anything is read; `iqa-merge`
keeps the splits of the manifests it merges."""


@dataclass
class QualitySummary:
    """What `prepare_quality` wrote: samples per split and dataset, the MOS mappings and the read report."""

    out: Path
    source: str
    counts: dict[str, dict[str, int]]
    scales: dict[str, dict[str, Any]]
    report: ReadReport

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "samples": self.counts,
            "scales": self.scales,
            "report": self.report.to_dict(),
        }

    def lines(self) -> list[str]:
        out = [f"{self.out}: {self.source} (quality scoring, MOS rescaled to [0, 5))"]
        for split, by_dataset in self.counts.items():
            out.append(
                f"  {split}: " + (", ".join(f"{n} {d}" for d, n in by_dataset.items()) or "no samples")
            )
        for name, s in self.scales.items():
            direction = "higher better" if s["higher_better"] else "lower better"
            out.append(f"  {name}: MOS {s['lo']}..{s['hi']} ({direction}) -> [0, 5)")
        out.extend(f"  {line}" for line in self.report.lines())
        return out


def prepare_quality(
    source: str,
    out: str | os.PathLike,
    *,
    root: str | os.PathLike | None = None,
    seed: int = 0,
    strict: bool = False,
    split: str | None = None,
    fractions: str | Sequence[float] | None = None,
    manifests: str | Sequence[str] | None = None,
    **options: Any,
) -> QualitySummary:
    """Write a Refine-IQA scoring manifest at `out` (atomically) from an IQA dataset (see module docstring).

    `fractions` (train, val, test) defaults to 0.7, 0.1, 0.2; options are checked by `SOURCE_OPTIONS`."""
    if source not in QUALITY_SOURCES:
        raise DataError(f"unknown quality source {source!r}; choose from {sorted(QUALITY_SOURCES)}")
    given = {"split": split, "fractions": fractions, "manifests": manifests}
    options = check_options(source, {**given, **options}, SOURCE_OPTIONS[source])
    split, manifests = options.pop("split", None), options.pop("manifests", None)
    fractions = options.pop("fractions", (0.7, 0.1, 0.2))
    out_path = user_path(out).resolve()
    root_path = resolved(user_path(root)) if root is not None else None
    check_out_dir(out_path, root_path, {**options, "manifests": manifests})
    with atomic_directory(out_path) as tmp:
        report = ReadReport(strict=strict)
        by_split: dict[str, list[QualitySample]] = {s: [] for s in SPLITS}
        scales: dict[str, dict[str, Any]] = {}
        if source == "iqa-merge":
            by_split, scales = merge_quality_manifests(manifests)
        else:
            if source == "synthetic-quality":
                reads = read_synthetic_quality(tmp, seed=seed, **options)
            else:
                if root_path is None:
                    raise DataError(f"{source}: --root (the dataset folder) is required")
                reader = QUALITY_SOURCES[source]
                try:
                    reads = [reader(root_path, strict=strict, **options)]  # type: ignore[misc]
                except TypeError as e:
                    raise DataError(f"{source}: bad options {sorted(options)} ({e})") from None
            for read in reads:
                report.merge(read.report)
                scales[read.dataset] = read.scale.to_dict()
                labels = (
                    [split] * len(read.rows)
                    if split
                    else split_labels(len(read.rows), parse_fractions(fractions), seed)
                )
                ids = sample_ids([image for image, _ in read.rows])
                for i, ((image, raw), sp) in enumerate(zip(read.rows, labels)):
                    meta = {"mos_raw": raw, **((read.meta or [{}] * len(read.rows))[i])}
                    sample = QualitySample(
                        sample_id=f"{read.dataset}/{ids[i]}",
                        task=SCORE_TASK,
                        images=(image,),
                        dataset=read.dataset,
                        mos=round(read.scale.rescale(raw), 4),
                        meta=meta,
                    )
                    by_split[sp].append(sample)
        if not any(by_split.values()):
            raise DataError(f"empty dataset: no usable samples from {source} ({'; '.join(report.lines())})")
        check_images_outside(out_path, (i for v in by_split.values() for s in v for i in s.images))
        counts = {sp: _count(v) for sp, v in by_split.items()}
        summary = QualitySummary(out_path, source, counts, scales, report)
        task = {"kind": "scoring", "source": source, "scales": scales}
        write_quality_manifest(
            tmp, task, {k: v for k, v in by_split.items()}, summary.to_dict(), final_dir=out_path
        )
    return summary


def sample_ids(images: Sequence[str]) -> list[str]:
    """A distinct id for each of a dataset's (distinct) image paths: the file name when no two names
    repeat, else the path relative to the folder all the images are under (`a/x.png`, `b/x.png`)."""
    names = [Path(image).name for image in images]
    if len(set(names)) == len(names):
        return names
    base = os.path.commonpath([os.path.dirname(image) for image in images])
    return [Path(os.path.relpath(image, base)).as_posix() for image in images]


def _count(samples: Sequence[QualitySample]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in samples:
        out[s.dataset] = out.get(s.dataset, 0) + 1
    return out
