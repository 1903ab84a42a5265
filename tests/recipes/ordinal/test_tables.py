"""Markdown / HTML / rich tables (paper Tables 2-6 layout) and the JSON round trip."""

from __future__ import annotations

import json
import math

import pytest

from rarl.recipes.ordinal.scoring import SizeResult
from rarl.recipes.ordinal.tables import (
    format_value,
    render_ablation_table,
    render_html_table,
    render_markdown_table,
    render_rich_table,
    results_from_json,
    results_to_json,
)

from .conftest import make_result


def _row(md: str, name: str) -> list[str]:
    line = next(ln for ln in md.splitlines() if ln.startswith(f"| {name} |"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_markdown_layout_arrows_and_bold(paper_rows):
    md = render_markdown_table(paper_rows, "UTKFace")
    assert md.startswith("**UTKFace**")
    header = _row(md, "Method")
    assert header == ["Method", "1-img MAE ↓", "2-imgs τ ↑", "4-imgs τ ↑", "8-imgs τ ↑"]
    rarl = _row(md, "+ RARL")
    base = _row(md, "Qwen2.5-VL-3B")
    # Best per column: lowest MAE, highest tau -> all in the RARL row.
    assert rarl[1].startswith("**4.02** [3.87, 4.17]")
    assert all(c.startswith("**") for c in rarl[1:])
    assert not any("**" in c for c in base[1:] + _row(md, "+ SFT")[1:])
    assert "(fail 3.1%)" in base[1] and "(fail 0.0%)" in rarl[1]
    assert "0.712 [0.692, 0.732]" in base[2]
    assert "n: 1-img 500" in md


def test_lower_mae_wins_even_when_listed_first():
    rows = {"a": {1: make_result(1, 3.0)}, "b": {1: make_result(1, 5.0)}}
    md = render_markdown_table(rows, sizes=(1,))
    assert _row(md, "a")[1].startswith("**3.00**")
    assert "**" not in _row(md, "b")[1]


def test_ties_all_bold_missing_cells_dash_and_single_row_not_bold():
    rows = {"a": {2: make_result(2, 0.8)}, "b": {2: make_result(2, 0.8)}, "c": {1: make_result(1, 4.0)}}
    md = render_markdown_table(rows, sizes=(1, 2))
    assert _row(md, "a")[2].startswith("**0.800**") and _row(md, "b")[2].startswith("**0.800**")
    assert _row(md, "a")[1] == "-"
    assert _row(md, "c")[1].startswith("4.00")  # the only value in its column: nothing to compare
    assert "**" not in _row(md, "c")[1]


def test_nan_cells_render_and_are_never_bold():
    nan = math.nan
    rows = {
        "a": {2: SizeResult(2, "tau", nan, nan, nan, nan, 0, {})},
        "b": {2: make_result(2, 0.5)},
        "c": {2: make_result(2, 0.4)},
    }
    md = render_markdown_table(rows, sizes=(2,))
    assert _row(md, "a")[1] == "nan"
    assert _row(md, "b")[1].startswith("**0.500**")


def test_mixed_metrics_in_a_column_is_an_error():
    rows = {"a": {1: make_result(1, 3.0)}, "b": {1: SizeResult(1, "srcc", 0.5, 0.4, 0.6, 0.0, 10, {})}}
    with pytest.raises(ValueError, match="mixes metrics"):
        render_markdown_table(rows, sizes=(1,))


def test_accuracy_and_srcc_headers_and_precision():
    acc = {"m": {1: SizeResult(1, "accuracy", 68.7312, 66.0, 71.0, 0.01, 100, {})}}
    assert "1-img Acc % ↑" in render_markdown_table(acc, sizes=(1,))
    assert "68.73 [66.00, 71.00]" in render_markdown_table(acc, sizes=(1,))
    assert format_value("srcc", 0.78312) == "0.783"


def test_ablation_table_sections_and_task_groups(paper_rows):
    sections = {
        "": {"UTKFace": {"Qwen2.5-VL-3B": paper_rows["Qwen2.5-VL-3B"]}},
        "Stages": {"UTKFace": {"w.o. RMO": paper_rows["+ SFT"], "w. RMO": paper_rows["+ RARL"]}},
    }
    md = render_ablation_table(sections, "Table 6")
    lines = md.splitlines()
    assert any(ln.startswith("| *Stages* |") for ln in lines)
    assert lines.index(next(ln for ln in lines if ln.startswith("| *Stages*"))) < lines.index(
        next(ln for ln in lines if ln.startswith("| w. RMO"))
    )
    assert _row(md, "w. RMO")[1].startswith("**4.02**")
    assert _row(md, "Method")[1] == "1-img MAE ↓"

    multi = render_ablation_table(
        {"Rewards": {"UTKFace": paper_rows, "AVA": paper_rows}}, "Table 3", sizes=(1, 2)
    )
    assert _row(multi, "Method")[1:] == [
        "UTKFace 1-img MAE ↓",
        "UTKFace 2-imgs τ ↑",
        "AVA 1-img MAE ↓",
        "AVA 2-imgs τ ↑",
    ]


def test_html_table_escapes_and_bolds(paper_rows):
    rows = {"<script>": paper_rows["+ SFT"], **paper_rows}
    page = render_html_table(rows, "UTKFace & co")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "UTKFace &amp; co" in page
    assert "<b>4.02</b>" in page
    assert page.count("<tr>") == 1 + len(rows)  # header row + one per model


def test_rich_table_renders(paper_rows):
    from rich.console import Console

    table = render_rich_table(paper_rows, "UTKFace")
    assert len(table.columns) == 5 and table.row_count == 3
    console = Console(width=160, record=True)
    console.print(table)
    text = console.export_text()
    assert "[3.87, 4.17]" in text  # square brackets survive (not parsed as markup)
    assert "fail 3.1%" in text and "MAE ↓" in text


def test_json_round_trip(paper_rows):
    nan = math.nan
    rows = {**paper_rows, "broken": {2: SizeResult(2, "tau", nan, nan, nan, nan, 0, {"n_excluded": 2.0})}}
    text = results_to_json(rows, {"task": "utkface"})
    doc = json.loads(text)  # strict JSON: no NaN tokens
    assert doc["meta"] == {"task": "utkface"} and "NaN" not in text
    back = results_from_json(text)
    assert list(back) == list(rows)
    assert back["+ RARL"] == paper_rows["+ RARL"]
    assert math.isnan(back["broken"][2].value) and back["broken"][2].extras == {"n_excluded": 2.0}
    assert results_from_json(doc)["+ SFT"][8] == paper_rows["+ SFT"][8]
    with pytest.raises(ValueError):
        results_from_json('{"format": "something else"}')
