"""Refine-IQA scoring data: the IQA dataset readers and the MOS mapping to [0, 5).

    rarl prepare koniq --root KONIQ_DIR --out data/koniq          # then: -o split=test for an eval-only set

Sources (`rarl.recipes.quality.prepare.QUALITY_SOURCES`; each reads its dataset's own release files, `root`
is the dataset folder):

| source    | file read (under root)                              | MOS column          | nominal scale          |
|-----------|-----------------------------------------------------|---------------------|------------------------|
| koniq     | koniq10k_scores_and_distributions.csv               | MOS                 | 1..5, higher better    |
| spaq      | `MOS and Image attribute scores.xlsx` (or .csv)     | MOS                 | 0..100, higher better  |
| livec     | Data/AllMOS_release.mat + Data/AllImages_release.mat| AllMOS_release      | 0..100, higher better  |
| kadid     | dmos.csv                                            | dmos                | 1..5, higher better    |
| agiqa     | data.csv                                            | mos_quality         | 0..5, higher better    |
| csiq      | csiq_dmos.csv (a CSV export of csiq.DMOS.xlsx)      | dmos                | 0..1, LOWER better     |
| iqa-csv   | any CSV with `path` (or `image`) and `mos` columns  | mos                 | `-o mos_range=lo,hi`   |

The mapping to the paper's [0, 5) scale is linear per dataset on its nominal scale `[lo, hi]`:
`s = 5 * (m - lo) / (hi - lo)` (higher better) or `s = 5 * (hi - m) / (hi - lo)` (CSIQ's DMOS), and the top
of the scale is capped at 4.99 so that every score has an integer digit 0..4 (Eq. 8). A MOS outside
`[lo, hi]` is a bad row ("MOS outside the nominal scale"). The generic CSV takes `mos_range` as an option;
without it the observed min..max of the file is used and a note says so. The mapping is stored in task.json.

SPAQ's spreadsheet is read with `openpyxl` when it is installed (`pip install openpyxl`); otherwise export
the sheet to CSV (same header) and point `-o file=` at it.

Bad rows (a missing or unreadable image, an unparsable or non-finite MOS, a MOS off the scale, a row with
missing columns) are counted in the `ReadReport` with examples and excluded; `--strict` stops at the first.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io

from rarl.data.errors import DataError, ReadReport
from rarl.data.options import parse_range
from rarl.data.readers.safe import csv_rows, show, user_path
from rarl.data.validate import check_image

MAX_SCORE = 4.99
"""Rescaled scores are capped here so they stay on [0, 5)."""

__all__ = [
    "DATASET_SCALES",
    "MAX_SCORE",
    "MosScale",
    "QualityRead",
    "mapping_table",
    "read_agiqa",
    "read_csiq",
    "read_iqa_csv",
    "read_kadid",
    "read_koniq",
    "read_livec",
    "read_spaq",
    "read_table",
]


@dataclass(frozen=True)
class MosScale:
    """A dataset's nominal MOS scale and direction; `rescale` maps it linearly onto [0, 5)."""

    lo: float
    hi: float
    higher_better: bool = True

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lo) and math.isfinite(self.hi) and self.lo < self.hi):
            raise DataError(f"a MOS scale needs finite lo < hi, got {self.lo}..{self.hi}")

    def contains(self, mos: float) -> bool:
        return self.lo - 1e-9 <= mos <= self.hi + 1e-9

    def rescale(self, mos: float) -> float:
        """The score on [0, 5): `5 (m - lo) / (hi - lo)` (or from the top for lower-better), capped at 4.99.

        Computed on halves when `hi - lo` overflows a float (a scale from -1e308 to 1e308), so every MOS on
        a finite scale has a finite score."""
        if math.isfinite(self.hi - self.lo):
            frac = (mos - self.lo) / (self.hi - self.lo)
        else:
            frac = (mos / 2 - self.lo / 2) / (self.hi / 2 - self.lo / 2)
        if not self.higher_better:
            frac = 1.0 - frac
        return min(max(5.0 * frac, 0.0), MAX_SCORE)

    def to_dict(self) -> dict[str, Any]:
        return {"lo": self.lo, "hi": self.hi, "higher_better": self.higher_better}


DATASET_SCALES: dict[str, MosScale] = {
    "koniq": MosScale(1.0, 5.0),
    "spaq": MosScale(0.0, 100.0),
    "livec": MosScale(0.0, 100.0),
    "kadid": MosScale(1.0, 5.0),
    "agiqa": MosScale(0.0, 5.0),
    "csiq": MosScale(0.0, 1.0, higher_better=False),
}
"""Nominal MOS scales of the supported datasets (see the module docstring)."""


@dataclass
class QualityRead:
    """A reader's output: (image path, raw MOS) rows, the dataset's scale and name, the report."""

    dataset: str
    scale: MosScale
    rows: list[tuple[str, float]]
    report: ReadReport = field(default_factory=ReadReport)
    meta: list[dict[str, Any]] | None = None


# --- tables ----------------------------------------------------------------------------------------------------


def read_table(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV (any dialect the sniffer recognises, UTF-8 with or without BOM) or an .xlsx first sheet."""
    if not path.is_file():
        raise DataError(f"file not found: {path}")
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        try:
            import openpyxl
        except ImportError:
            raise DataError(
                f"{path}: reading .xlsx needs openpyxl (pip install openpyxl); or export the sheet to CSV "
                "and pass it with -o file=..."
            ) from None
        try:
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as e:  # openpyxl raises several types for a broken file
            raise DataError(f"{path}: not a readable spreadsheet ({e})") from None
        sheet = book.worksheets[0]
        values = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        book.close()
        if not values:
            raise DataError(f"{path}: empty spreadsheet")
        header = [h.strip() for h in values[0]]
        return [dict(zip(header, row)) for row in values[1:] if any(c.strip() for c in row)]
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not a readable UTF-8 text file ({e})") from None
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel  # type: ignore[assignment]
    reader = csv.DictReader(text.splitlines(), dialect=dialect)
    try:
        header = reader.fieldnames
    except csv.Error as e:
        raise DataError(f"{path}:1: not a usable CSV header ({e})") from None
    if header is None:
        raise DataError(f"{path}: no header row")
    reader.fieldnames = [h.strip() for h in header]
    # a short row's missing cells are "" (not None); a long row's extra cells (key None) are dropped
    return [
        {k: v if isinstance(v, str) else "" for k, v in row.items() if k is not None}
        for row in csv_rows(reader, str(path))
    ]


def _number(text: object) -> float | None:
    try:
        value = float(str(text).strip())
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _columns(rows: list[dict[str, str]], needed: Sequence[str], path: Path) -> None:
    if not rows:
        raise DataError(f"{path}: no data rows")
    missing = [c for c in needed if c not in rows[0]]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; found {list(rows[0])}")


def _rows(
    dataset: str,
    scale: MosScale,
    entries: Sequence[tuple[str, object, str]],
    strict: bool,
    meta: Sequence[dict[str, Any]] | None = None,
) -> QualityRead:
    """Check each (image path, raw MOS text, where) entry: parsable MOS on the scale, a decodable image."""
    report = ReadReport(strict=strict)
    rows: list[tuple[str, float]] = []
    kept_meta: list[dict[str, Any]] = []
    seen: set[str] = set()
    for k, (image, raw, where) in enumerate(entries):
        report.read += 1
        if not image:
            report.skip("no image name", where)
            continue
        mos = raw if isinstance(raw, float) else _number(raw)
        if mos is None:
            report.skip("unparsable MOS", f"{where} ({show(raw)})")
            continue
        if not scale.contains(mos):
            report.skip("MOS outside the nominal scale", f"{where} ({mos} not in {scale.lo}..{scale.hi})")
            continue
        if image in seen:
            report.skip("duplicate image", f"{where} ({Path(image).name} already read)")
            continue
        check = check_image(image)
        if check.problem is not None:
            report.skip(check.problem, f"{where} ({image})")
            continue
        seen.add(image)
        rows.append((image, mos))
        kept_meta.append(dict(meta[k]) if meta else {})
    return QualityRead(dataset, scale, rows, report, kept_meta)


def _image(folder: Path, cell: str | None) -> str:
    """The image path of a table cell under `folder`; "" for an empty cell (the row is skipped)."""
    name = (cell or "").strip()
    return str(folder / name) if name else ""


def _image_dir(root: Path, candidates: Sequence[str]) -> Path:
    for name in candidates:
        if (root / name).is_dir():
            return root / name
    return root


# --- dataset readers -------------------------------------------------------------------------------------------


def read_koniq(
    root: Path, *, file: str | None = None, images: str | None = None, strict: bool = False
) -> QualityRead:
    """KonIQ-10k: `koniq10k_scores_and_distributions.csv` (image_name, ..., MOS, ...); images in 1024x768/."""
    path = root / (file or "koniq10k_scores_and_distributions.csv")
    rows = read_table(path)
    _columns(rows, ["image_name", "MOS"], path)
    folder = root / images if images else _image_dir(root, ("1024x768", "512x384", "images"))
    entries = [
        (_image(folder, r["image_name"]), r["MOS"], f"{path.name}:{i + 2}") for i, r in enumerate(rows)
    ]
    return _rows("KonIQ", DATASET_SCALES["koniq"], entries, strict)


def read_spaq(
    root: Path, *, file: str | None = None, images: str | None = None, strict: bool = False
) -> QualityRead:
    """SPAQ: `MOS and Image attribute scores.xlsx` (Image name, MOS, ...) or its CSV export; images in TestImage/."""
    if file is None:
        for name in ("MOS and Image attribute scores.xlsx", "MOS and Image attribute scores.csv", "mos.csv"):
            if (root / name).is_file() or (root / "Annotations" / name).is_file():
                file = name if (root / name).is_file() else f"Annotations/{name}"
                break
        else:
            raise DataError(
                f"spaq: no 'MOS and Image attribute scores.xlsx' (or .csv) under {root}; pass -o file="
            )
    path = root / file
    rows = read_table(path)
    _columns(rows, ["Image name", "MOS"], path)
    folder = root / images if images else _image_dir(root, ("TestImage", "images"))
    entries = [
        (_image(folder, r["Image name"]), r["MOS"], f"{path.name}:{i + 2}") for i, r in enumerate(rows)
    ]
    return _rows("SPAQ", DATASET_SCALES["spaq"], entries, strict)


def read_livec(root: Path, *, images: str | None = None, strict: bool = False) -> QualityRead:
    """LIVE Challenge: Data/AllMOS_release.mat and Data/AllImages_release.mat (scipy.io.loadmat); Images/.

    The first seven images of the release live in Images/trainingImages/; both folders are searched.
    """
    data = root / "Data" if (root / "Data").is_dir() else root
    mos = _mat_variable(data / "AllMOS_release.mat", "AllMOS_release", root)
    names = _mat_variable(data / "AllImages_release.mat", "AllImages_release", root)
    mos_values = [_mat_cell(v) for v in np.asarray(mos, dtype=object).reshape(-1)]
    flat = np.asarray(names, dtype=object).reshape(-1)
    if len(flat) != len(mos_values):
        raise DataError(f"livec: {len(flat)} image names but {len(mos_values)} MOS values")
    folder = root / images if images else _image_dir(root, ("Images",))
    entries: list[tuple[str, object, str]] = []
    for i, (cell, value) in enumerate(zip(flat, mos_values)):
        name = _mat_cell(cell)
        name = name.strip() if isinstance(name, str) else ""
        path = folder / name
        if name and not path.is_file() and (folder / "trainingImages" / name).is_file():
            path = folder / "trainingImages" / name
        entries.append((str(path) if name else "", value, f"AllMOS_release[{i}]"))
    return _rows("LIVE-C", DATASET_SCALES["livec"], entries, strict)


def _mat_variable(path: Path, key: str, root: Path) -> Any:
    """The variable `key` of the MATLAB file at `path`; one-line `DataError` naming the file when it is
    missing, empty, truncated, not a .mat file, or lacks the variable."""
    if not path.is_file():
        raise DataError(f"livec: {path.name} not found under {root}")
    try:
        content = scipy.io.loadmat(str(path))
    except Exception as e:  # scipy raises many types for a broken file (MatReadError, ValueError, ...)
        raise DataError(f"livec: {path} is not a readable .mat file ({type(e).__name__}: {e})") from None
    if key not in content:
        found = sorted(k for k in content if not k.startswith("__"))
        raise DataError(f"livec: {path} has no variable {key!r} (found {found})")
    return content[key]


def _mat_cell(cell: object) -> object:
    """One element of a .mat array as a Python value: the single number (a finite float, else its repr) or
    text it holds (a MOS stored as the text "63.4", an image name in a cell), or a word saying what else it
    holds ("an array of 3 values", "void" for a struct), which the reader reports."""
    value = cell
    while isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(-1)[0]
    if isinstance(value, np.ndarray):
        return f"an array of {value.size} values"
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
        number = float(value)
        return number if math.isfinite(number) else repr(number)
    return type(value).__name__


def read_kadid(
    root: Path, *, file: str | None = None, images: str | None = None, strict: bool = False
) -> QualityRead:
    """KADID-10k: `dmos.csv` (dist_img, ref_img, dmos, var); images in images/."""
    path = root / (file or "dmos.csv")
    rows = read_table(path)
    _columns(rows, ["dist_img", "dmos"], path)
    folder = root / images if images else _image_dir(root, ("images",))
    entries = [(_image(folder, r["dist_img"]), r["dmos"], f"{path.name}:{i + 2}") for i, r in enumerate(rows)]
    return _rows("KADID-10k", DATASET_SCALES["kadid"], entries, strict)


def read_agiqa(
    root: Path, *, file: str | None = None, images: str | None = None, strict: bool = False
) -> QualityRead:
    """AGIQA-3K: `data.csv` (name, prompt, ..., mos_quality, std_quality, mos_align, std_align)."""
    path = root / (file or "data.csv")
    rows = read_table(path)
    _columns(rows, ["name", "mos_quality"], path)
    folder = root / images if images else _image_dir(root, ("AGIQA-3K", "images"))
    entries = [
        (_image(folder, r["name"]), r["mos_quality"], f"{path.name}:{i + 2}") for i, r in enumerate(rows)
    ]
    return _rows("AGIQA-3K", DATASET_SCALES["agiqa"], entries, strict)


_CSIQ_TYPES = {
    "noise": "awgn",
    "awgn": "awgn",
    "jpeg": "jpeg",
    "jpeg 2000": "jpeg2000",
    "jpeg2000": "jpeg2000",
    "f noise": "fnoise",
    "fnoise": "fnoise",
    "blur": "blur",
    "contrast": "contrast",
}


def read_csiq(
    root: Path, *, file: str | None = None, images: str | None = None, strict: bool = False
) -> QualityRead:
    """CSIQ: a CSV export of csiq.DMOS.xlsx's per-image sheet (image, dst_type, dst_lev, ..., dmos).

    The distorted file is `dst_imgs/<type>/<image>.<TYPE>.<lev>.png`; names are matched ignoring case, with
    the sheet's type names mapped to the folder names (noise -> awgn, jpeg 2000 -> jpeg2000, f noise ->
    fnoise). A row may instead name its file in a `path` column.
    """
    path = root / (file or "csiq_dmos.csv")
    rows = read_table(path)
    _columns(rows, ["dmos"], path)
    folder = root / images if images else _image_dir(root, ("dst_imgs",))
    index = {p.name.lower(): p for p in folder.rglob("*") if p.is_file()}
    entries = []
    for i, r in enumerate(rows):
        where = f"{path.name}:{i + 2}"
        if r.get("path"):
            image = _image(folder, r["path"])
        else:
            kind = _CSIQ_TYPES.get(
                str(r.get("dst_type", "")).strip().lower(), str(r.get("dst_type", "")).strip()
            )
            stem, level = str(r.get("image", "")).strip(), str(r.get("dst_lev", "")).strip()
            level = level[:-2] if level.endswith(".0") else level
            found = index.get(f"{stem}.{kind}.{level}.png".lower())
            image = str(found) if found else str(folder / kind / f"{stem}.{kind}.{level}.png")
        entries.append((image, r.get("dmos", ""), where))
    return _rows("CSIQ", DATASET_SCALES["csiq"], entries, strict)


def read_iqa_csv(
    root: Path,
    *,
    file: str | None = None,
    images: str | None = None,
    mos_range: str | None = None,
    higher_better: bool = True,
    name: str | None = None,
    strict: bool = False,
) -> QualityRead:
    """A generic CSV with `path` (or `image`) and `mos` columns; `root` is the CSV or its folder.

    `mos_range` is the nominal scale: `"lo,hi"`, `"lo-hi"`, `"lo..hi"` or `(lo, hi)`, signs allowed
    (`"-1,10"`, `"-1-10"`); without it, the observed min..max (noted in the report).
    """
    path = root if root.is_file() else root / (file or "mos.csv")
    rows = read_table(path)
    col = "path" if rows and "path" in rows[0] else "image"
    _columns(rows, [col, "mos"], path)
    folder = user_path(images) if images else path.parent
    if mos_range is not None:
        lo, hi = parse_range(mos_range, "iqa-csv: mos_range")
        scale = MosScale(lo, hi, higher_better)
        note = None
    else:
        values = [v for v in (_number(r["mos"]) for r in rows) if v is not None]
        if len(values) < 2 or min(values) == max(values):
            raise DataError(f"{path}: fewer than two distinct MOS values; pass -o mos_range=lo,hi")
        scale = MosScale(min(values), max(values), higher_better)
        note = f"no mos_range given: using the observed range {scale.lo}..{scale.hi}"
    entries = [(_image(folder, r[col]), r["mos"], f"{path.name}:{i + 2}") for i, r in enumerate(rows)]
    read = _rows(name or path.stem, scale, entries, strict)
    if note:
        read.report.note(note)
    return read


def mapping_table(scales: Mapping[str, MosScale] = DATASET_SCALES) -> str:
    """The MOS mapping per dataset as a markdown table (docs/data.md)."""
    lines = ["| dataset | nominal MOS | direction | score on [0, 5) |", "|---|---|---|---|"]
    for name, s in scales.items():
        formula = (
            f"5 (m - {s.lo:g}) / {s.hi - s.lo:g}"
            if s.higher_better
            else f"5 ({s.hi:g} - m) / {s.hi - s.lo:g}"
        )
        direction = "higher better" if s.higher_better else "lower better"
        lines.append(f"| {name} | {s.lo:g}..{s.hi:g} | {direction} | min({formula}, 4.99) |")
    return "\n".join(lines)
