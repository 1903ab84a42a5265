"""Issue 14, item 7: CSV and annotation files as spreadsheet programs and older tools write them.

Each table below holds the same rows (including a non-ASCII rule and file name) in another encoding or
layout; every one must give the same items, or be refused with one line that names the expected encoding.
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest
from PIL import Image

from rarl.data.errors import DataError
from rarl.recipes.ordinal.readers.coco_count import read_coco_counts
from rarl.recipes.ordinal.readers.table import read_table
from rarl.train.config import TrainConfig
from rarl.utils.config import ConfigError, load_config

ROWS = [("café/ä1.png", "1", "Anzahl der Äpfel"), ("café/ä2.png", "2,5", "Anzahl der Äpfel")]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "café").mkdir()
    for k in (1, 2):
        Image.new("RGB", (32, 32), (40 * k, 0, 0)).save(tmp_path / "café" / f"ä{k}.png")
    return tmp_path


def _text(delimiter: str, decimal_comma: bool) -> str:
    lines = [delimiter.join(("path", "label", "rule"))]
    for path, label, rule in ROWS:
        lines.append(delimiter.join((path, label if decimal_comma else label.replace(",", "."), rule)))
    return "\r\n".join(lines) + "\r\n"  # spreadsheet programs end lines with CRLF


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("utf8.csv", _text(",", False).encode("utf-8")),
        ("excel-csv-utf8.csv", codecs.BOM_UTF8 + _text(",", False).encode("utf-8")),
        ("excel-unicode-text.txt", _text("\t", True).encode("utf-16")),  # UTF-16 LE with BOM, tabs
        ("utf16-be.csv", codecs.BOM_UTF16_BE + _text(",", False).encode("utf-16-be")),
        ("european.csv", _text(";", True).encode("utf-8")),  # ';' with decimal commas
    ],
    ids=["utf8", "utf8-bom", "utf16-tabs", "utf16-be", "semicolons"],
)
def test_tables_as_tools_write_them(folder: Path, name: str, raw: bytes):
    (folder / name).write_bytes(raw)
    task, items, report = read_table(folder / name)
    assert report.n_skipped == 0, report.lines()
    assert task.rule == "Anzahl der Äpfel"
    assert [(Path(it.image).name, it.label) for it in items] == [("ä1.png", 1.0), ("ä2.png", 2.5)]
    assert all(Path(it.image).is_file() for it in items)


def test_windows_ansi_is_refused_naming_the_encoding_then_read_when_named(folder: Path):
    table = folder / "ansi.csv"
    table.write_bytes(_text(",", False).encode("cp1252"))
    with pytest.raises(DataError) as err:
        read_table(table)
    message = str(err.value)
    assert "\n" not in message
    assert "ansi.csv:2: not UTF-8" in message and "byte 0xe9" in message  # the é of café on line 2
    assert "encoding=cp1252" in message
    task, items, _ = read_table(table, encoding="cp1252")
    assert task.rule == "Anzahl der Äpfel" and len(items) == 2
    with pytest.raises(DataError, match="unknown text encoding 'klingon'"):
        read_table(table, encoding="klingon")


def test_jsonl_with_bom(folder: Path):
    rows = [
        json.dumps({"path": p, "label": float(label.replace(",", ".")), "rule": r}) for p, label, r in ROWS
    ]
    (folder / "labels.jsonl").write_bytes(codecs.BOM_UTF8 + "\n".join(rows).encode("utf-8"))
    _, items, report = read_table(folder / "labels.jsonl")
    assert report.n_skipped == 0 and len(items) == 2


def test_coco_annotations_with_bom_and_in_latin1(folder: Path):
    coco = {
        "images": [{"id": 1, "file_name": "ä1.png"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [0, 0, 4, 4]}],
        "categories": [{"id": 3, "name": "Äpfel"}],
    }
    text = json.dumps(coco, ensure_ascii=False)
    (folder / "instances_bom.json").write_bytes(codecs.BOM_UTF8 + text.encode("utf-8"))
    task, items, _ = read_coco_counts(folder, annotations="instances_bom.json", images_dir=folder / "café")
    assert task.rule == "number of Äpfel" and len(items) == 1
    (folder / "instances_latin1.json").write_bytes(text.encode("latin-1"))
    with pytest.raises(DataError, match=r"instances_latin1.json:1: not UTF-8 .*save it as UTF-8"):
        read_coco_counts(folder, annotations="instances_latin1.json", images_dir=folder / "café")


def test_config_files_from_windows_editors(tmp_path: Path):
    yaml_text = "seed: 7\nrollout:\n  num_generations: 4\n"
    (tmp_path / "ps.yaml").write_bytes(yaml_text.encode("utf-16"))  # PowerShell's `>`
    (tmp_path / "notepad.yaml").write_bytes(codecs.BOM_UTF8 + yaml_text.encode("utf-8"))
    for name in ("ps.yaml", "notepad.yaml"):
        cfg = load_config(TrainConfig, tmp_path / name)
        assert cfg.seed == 7 and cfg.rollout.num_generations == 4
    (tmp_path / "binary.yaml").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ConfigError, match=r"binary.yaml:2: not UTF-8 .* byte 0x80 .* save it as UTF-8"):
        load_config(TrainConfig, tmp_path / "binary.yaml")
    (tmp_path / "nul.yaml").write_bytes(b"seed: 1\x00\x00\x00")
    with pytest.raises(ConfigError, match="NUL"):
        load_config(TrainConfig, tmp_path / "nul.yaml")
