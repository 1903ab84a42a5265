"""The `rarl` recipe's `prepare`: a dataset in its native format -> a checked, split, grouped manifest folder.

Steps: read the source (a registered reader) -> check every image (missing/corrupt files are reported
and excluded, or abort under `strict`) -> drop duplicate images (same bytes, same rule) -> store labels
at the task's display precision -> split by image -> verify no image is in two splits -> build 1/2/4/8-image
samples per split -> write task.json, <split>.jsonl and summary.json in one atomic folder rename.

`out` is replaced as a whole. To protect user data, `prepare` refuses an `out` that exists, is not empty
and is not a manifest folder (no task.json), and an `out` that contains the source data
(`rarl.data.prepare.check_out_dir`).
"""

from __future__ import annotations

import inspect
import math
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from rarl import __version__
from rarl.data.errors import DataError, ReadReport
from rarl.data.grouping import SPLITS, check_disjoint, split_items
from rarl.data.options import (
    Option,
    check_options,
    choice,
    counts,
    flag,
    fractions,
    integer,
    names,
    number,
    path,
    text,
    value_range,
)
from rarl.data.prepare import ProgressFn, check_out_dir, jsonable, progress_bars
from rarl.data.readers.safe import user_path
from rarl.data.validate import validate_images
from rarl.recipes.ordinal.grouping import DEFAULT_SIZES, group_samples
from rarl.recipes.ordinal.manifest import write_manifest
from rarl.recipes.ordinal.readers.ava import read_ava
from rarl.recipes.ordinal.readers.base import ReadResult
from rarl.recipes.ordinal.readers.coco_count import read_coco_counts
from rarl.recipes.ordinal.readers.table import read_table
from rarl.recipes.ordinal.readers.utkface import read_utkface
from rarl.recipes.ordinal.schema import METRICS, OrdinalItem, OrdinalSample, OrdinalTask
from rarl.recipes.ordinal.synthetic import MIN_IMAGE_SIZE, SYNTHETIC_PROPERTIES, generate_synthetic
from rarl.utils.io import atomic_directory

_INTERNAL = {"root", "strict", "out_dir", "seed", "progress", "subdir"}


@dataclass(frozen=True)
class Source:
    """A registered data source: its reader and whether it needs `root`."""

    name: str
    reader: Callable[..., ReadResult]
    needs_root: bool = True

    def options(self) -> list[str]:
        """The source-specific keyword options `prepare` accepts for this source."""
        params = inspect.signature(self.reader).parameters
        return [p for p, v in params.items() if v.kind is v.KEYWORD_ONLY and p not in _INTERNAL]

    def read(
        self,
        root: Path | None,
        *,
        out_dir: Path,
        seed: int,
        strict: bool,
        progress: ProgressFn,
        **options: Any,
    ) -> ReadResult:
        """Run the reader with the common arguments it takes plus `options`."""
        unknown = sorted(set(options) - set(self.options()))
        if unknown:
            raise DataError(f"{self.name}: unknown options {unknown}; known: {self.options()}")
        if self.needs_root and root is None:
            raise DataError(f"{self.name}: root is required (the dataset folder or file)")
        params = inspect.signature(self.reader).parameters
        common: dict[str, Any] = {"strict": strict, "out_dir": out_dir, "seed": seed, "progress": progress}
        kwargs = {k: v for k, v in common.items() if k in params}
        if "root" in params:
            kwargs["root"] = root
        return self.reader(**kwargs, **options)


def _synthetic_reader(
    *,
    out_dir: Path,
    seed: int = 0,
    strict: bool = False,
    progress: ProgressFn | None = None,
    property: str = "count",
    num_images: int = 600,
    image_size: int = 56,
    levels: int = 9,
    label_noise: float = 0.0,
) -> ReadResult:
    """`generate_synthetic` as a source: images are drawn into the manifest folder's images/."""
    if isinstance(num_images, bool) or not isinstance(num_images, int) or num_images < 1:
        raise DataError(f"synthetic: num_images must be an int >= 1, got {num_images!r}")
    return generate_synthetic(
        out_dir,
        property=property,
        num_images=num_images,
        image_size=image_size,
        levels=levels,
        label_noise=label_noise,
        seed=seed,
        progress=progress("Drawing images", num_images) if progress is not None else None,
    )


SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source("utkface", read_utkface),
        Source("ava", read_ava),
        Source("coco-count", read_coco_counts),
        Source("csv", read_table, needs_root=False),
        Source("jsonl", read_table, needs_root=False),
        Source("synthetic", _synthetic_reader, needs_root=False),
    )
}

_PREPARE_OPTIONS: dict[str, Option] = {
    "splits": fractions(3),
    "samples_per_size": counts(),
    "workers": integer(lo=1),
    "quiet": flag(),
}
"""The options `prepare` itself takes, for every source."""

_TABLE_OPTIONS: dict[str, Option] = {
    "file": path(),
    "images_dir": path(),
    "name": text(),
    "rule": text(),
    "value_range": value_range(),
    "value_type": choice("int", "float"),
    "precision": integer(lo=0, hi=10),
    "delta": number(lo=0),
    "metric": choice(*METRICS),
    "path_column": text(),
    "label_column": text(),
    "encoding": text(),
}
SOURCE_OPTIONS: dict[str, dict[str, Option]] = {
    "utkface": {"recursive": flag()},
    "ava": {"ava_file": path(), "images_dir": path()},
    "coco-count": {
        "annotations": path(),
        "images_dir": path(),
        "categories": names(),
        "max_count": integer(lo=1),
        "over_max": choice("drop", "cap"),
        "include_zero": flag(),
        "rule_template": text(),
    },
    "csv": _TABLE_OPTIONS,
    "jsonl": _TABLE_OPTIONS,
    "synthetic": {
        "property": choice(*SYNTHETIC_PROPERTIES),
        "num_images": integer(lo=1),
        "image_size": integer(lo=MIN_IMAGE_SIZE, hi=4096),
        "levels": integer(lo=2, hi=9),
        "label_noise": number(lo=0),
    },
}
"""Each source's own options and their types (`rarl.data.options`), checked before anything is read."""


@dataclass
class PrepareSummary:
    """What `prepare` wrote: per-split item/sample counts, label histograms, skips and warnings."""

    out: Path
    source: str
    task: OrdinalTask
    items: dict[str, int]
    images: dict[str, int]
    samples: dict[str, dict[int, int]]
    histograms: dict[str, dict[str, int]]
    report: ReadReport
    warnings: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the manifest's summary.json)."""
        return {
            "rarl_version": __version__,
            "source": self.source,
            "task": self.task.to_dict(),
            "settings": self.settings,
            "items": self.items,
            "images": self.images,
            "samples": {s: {str(n): c for n, c in d.items()} for s, d in self.samples.items()},
            "label_histogram": self.histograms,
            "report": self.report.to_dict(),
            "warnings": self.warnings,
        }

    def print(self, console: Any = None) -> None:
        """Render the summary as rich tables (to stderr unless a console is given)."""
        console = console or Console(stderr=True)
        t = self.task
        console.print(
            f"[bold]{self.out}[/bold]: task {t.name!r}, rule {t.rule!r}, range {t.range_text()} "
            f"({t.value_type}, precision {t.precision}, delta {t.delta:g}, metric {t.metric})"
        )
        sizes = sorted({n for d in self.samples.values() for n in d})
        table = Table("split", "items", "images", *[f"n={n} samples" for n in sizes])
        for split in self.items:
            row = [str(self.samples.get(split, {}).get(n, 0)) for n in sizes]
            table.add_row(split, str(self.items[split]), str(self.images[split]), *row)
        console.print(table)
        hist = Table("labels", *self.histograms, title="label histogram")
        bins = list(next(iter(self.histograms.values()), {}))
        for b in bins:
            hist.add_row(b, *[str(h.get(b, 0)) for h in self.histograms.values()])
        console.print(hist)
        for line in self.report.lines():
            console.print(f"[yellow]{line}[/yellow]")
        for line in self.warnings:
            console.print(f"[yellow]warning: {line}[/yellow]")


def label_histogram(labels: Sequence[float], task: OrdinalTask, max_bins: int = 12) -> dict[str, int]:
    """Counts per label (int tasks with at most `max_bins` values) or per equal-width bin of the range."""
    lo, hi = task.value_range
    if task.value_type == "int" and hi - lo + 1 <= max_bins:
        keys = [str(int(v)) for v in range(int(lo), int(hi) + 1)]
        counts = Counter(str(int(v)) for v in labels)
        return {k: counts.get(k, 0) for k in keys}
    if task.value_type == "int":
        width = math.ceil((hi - lo + 1) / 10)
        edges = [lo + i * width for i in range(math.ceil((hi - lo + 1) / width) + 1)]
        names = [f"{int(a)}-{int(min(b - 1, hi))}" for a, b in zip(edges[:-1], edges[1:], strict=True)]
    else:
        width = (hi - lo) / 10
        edges = [lo + i * width for i in range(11)]
        names = [
            f"{task.format_value(a)}-{task.format_value(b)}"
            for a, b in zip(edges[:-1], edges[1:], strict=True)
        ]
    hist = dict.fromkeys(names, 0)
    for v in labels:
        i = min(len(names) - 1, max(0, int((v - lo) // width)))
        hist[names[i]] += 1
    return hist


def _samples_for(samples_per_size: int | Mapping[str, int | None] | None, split: str) -> int | None:
    if samples_per_size is None or isinstance(samples_per_size, int):
        return samples_per_size
    unknown = sorted(set(samples_per_size) - set(SPLITS))
    if unknown:
        raise DataError(f"samples_per_size: unknown splits {unknown} (splits: {list(SPLITS)})")
    return samples_per_size.get(split)


def _dedupe(
    items: list[OrdinalItem], digests: dict[str, str], task: OrdinalTask, report: ReadReport
) -> list[OrdinalItem]:
    """Drop items whose image bytes and rule repeat an earlier item's."""
    first: dict[tuple[str, str], str] = {}
    kept = []
    for it in items:
        key = (digests.get(it.image, it.image), it.meta.get("rule") or task.rule)
        if key in first:
            report.skip("duplicate image", f"{it.image} (same as {first[key]})")
            continue
        first[key] = it.image
        kept.append(it)
    return kept


def _quantized(items: list[OrdinalItem], task: OrdinalTask) -> list[OrdinalItem]:
    """Items with labels stored at the task's display precision."""
    out = []
    for it in items:
        q = task.quantize(it.label)
        out.append(it if q == it.label else replace(it, label=q))
    return out


def _clean(
    result: ReadResult, out: Path, source: str, workers: int | None, progress: ProgressFn
) -> tuple[list[OrdinalItem], Callable[[OrdinalItem], str]]:
    """Checked, de-duplicated, quantized items, and the image key (content hash) used for splitting."""
    task, report = result.task, result.report
    inside = next((it.image for it in result.items if it.image.startswith(f"{out}{os.sep}")), None)
    if inside is not None:
        raise DataError(f"the output folder {out} contains source image {inside}; choose another --out")
    n_files = len({it.image for it in result.items})
    items, digests = validate_images(
        result.items, report, workers=workers, progress=progress("Checking images", n_files)
    )
    items = _quantized(_dedupe(items, digests, task, report), task)
    if not items:
        detail = "; ".join(report.lines()) or f"{report.read} rows read"
        raise DataError(f"empty dataset: no usable items from {source} ({detail})")

    def image_key(it: OrdinalItem) -> str:
        return digests.get(it.image, it.image)

    return items, image_key


def prepare(
    source: str,
    out: str | os.PathLike,
    *,
    root: str | os.PathLike | None = None,
    sizes: Sequence[int] = DEFAULT_SIZES,
    seed: int = 0,
    splits: Sequence[float] = (0.8, 0.1, 0.1),
    samples_per_size: int | Mapping[str, int | None] | None = None,
    strict: bool = False,
    workers: int | None = None,
    quiet: bool = False,
    console: Any = None,
    **source_options: Any,
) -> PrepareSummary:
    """Build a manifest folder at `out` from `source` (see `SOURCES` and docs/data.md).

    - `source`: "utkface" | "ava" | "coco-count" | "csv" | "jsonl" | "synthetic"; `root` is the dataset
      folder (utkface, ava, coco-count), the table file or its folder with `file=` (csv, jsonl), or
      unused (synthetic).
    - `sizes`: images per sample; `splits`: train/val/test fractions of the images; `seed`: drives
      splitting, grouping and synthetic drawing.
    - `samples_per_size`: samples per size in every split (int), per split ({"train": 2000, "val": 200}),
      or None: ceil(items / size), enough to cover the split's items.
    - `strict`: the first skipped item (bad name, missing or corrupt image, label out of range,
      duplicate) raises `DataError` instead of being reported and excluded.
    - `workers`: threads for image checks; `quiet`: no progress bar and no printed summary.
    - `source_options`: per source, see `SOURCES[source].options()`.

    Returns the summary (also written to summary.json and, unless `quiet`, printed).
    """
    if source not in SOURCES:
        raise DataError(f"unknown source {source!r}; choose from {sorted(SOURCES)}")
    src = SOURCES[source]
    given = {"samples_per_size": samples_per_size, "workers": workers, "quiet": quiet}
    source_options = check_options(
        source, {"splits": splits, **given, **source_options}, {**_PREPARE_OPTIONS, **SOURCE_OPTIONS[source]}
    )
    splits = source_options.pop("splits", (0.8, 0.1, 0.1))
    samples_per_size, workers = (source_options.pop(k, None) for k in ("samples_per_size", "workers"))
    quiet = source_options.pop("quiet", False)
    if console is not None and not callable(getattr(console, "print", None)):
        raise DataError(f"console must be a rich Console (it is not a source option), got {console!r}")
    out_path = user_path(out).resolve()
    root_path = user_path(root) if root is not None else None
    check_out_dir(out_path, root_path, source_options)
    for split in SPLITS:
        _samples_for(samples_per_size, split)
    settings = {
        "root": str(root_path.resolve()) if root_path is not None else None,
        "sizes": list(sizes),
        "seed": seed,
        "splits": [float(f) for f in splits],
        "samples_per_size": samples_per_size
        if not isinstance(samples_per_size, Mapping)
        else dict(samples_per_size),
        "strict": strict,
        "options": {k: jsonable(v) for k, v in source_options.items()},
    }

    with progress_bars(quiet, console) as progress, atomic_directory(out_path) as tmp:
        result = src.read(
            root_path, out_dir=tmp, seed=seed, strict=strict, progress=progress, **source_options
        )
        task, report = result.task, result.report
        items, image_key = _clean(result, out_path, source, workers, progress)
        by_split = split_items(items, splits, seed=seed, key=image_key)
        check_disjoint(by_split, key=image_key)  # same bytes under two names
        check_disjoint(by_split)  # same path
        samples: dict[str, list[OrdinalSample]] = {}
        warnings: list[str] = []
        for split, split_list in by_split.items():
            n = _samples_for(samples_per_size, split)
            samples[split], w = group_samples(
                split_list, task, sizes=sizes, num_samples=n, seed=seed, split=split
            )
            warnings.extend(w)
        summary = PrepareSummary(
            out=out_path,
            source=source,
            task=task,
            items={s: len(v) for s, v in by_split.items()},
            images={s: len({image_key(it) for it in v}) for s, v in by_split.items()},
            samples={s: dict(sorted(Counter(x.n for x in v).items())) for s, v in samples.items()},
            histograms={s: label_histogram([it.label for it in v], task) for s, v in by_split.items()},
            report=report,
            warnings=warnings,
            settings=settings,
        )
        write_manifest(tmp, task, samples, summary.to_dict(), final_dir=out_path)
    if not quiet:
        summary.print(console)
    return summary
