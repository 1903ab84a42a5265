"""The `rarl` recipe's per-size bars figure and its report folder."""

from __future__ import annotations

import math

from rarl.recipes.ordinal.plots import plot_size_bars
from rarl.recipes.ordinal.report import write_report
from rarl.recipes.ordinal.scoring import SizeResult
from rarl.recipes.ordinal.tables import results_from_json


def test_size_bars(tmp_path, paper_rows, assert_png):
    assert_png(plot_size_bars(paper_rows, tmp_path / "bars.png", title="UTKFace"))
    nan = math.nan
    partial = {
        "a": {2: SizeResult(2, "tau", -0.1, -0.2, 0.05, 0.5, 10, {})},
        "b": {2: SizeResult(2, "tau", nan, nan, nan, nan, 0, {})},
    }
    assert_png(plot_size_bars(partial, tmp_path / "partial.png"))


def test_write_report(tmp_path, paper_rows, training_log, assert_png):
    out = write_report(
        tmp_path / "rep", paper_rows, "UTKFace test", curves={"RARL": training_log()}, notes="seed 0"
    )
    names = {p.name for p in out.iterdir()}
    assert {
        "results.json",
        "table.md",
        "size_bars.png",
        "training_curves.png",
        "report.md",
        "index.html",
    } <= names
    assert not [n for n in names if n.endswith(".tmp") or n.startswith(".")]  # no temporaries left
    assert_png(out / "size_bars.png")
    assert_png(out / "training_curves.png")
    assert results_from_json((out / "results.json").read_text())["+ RARL"] == paper_rows["+ RARL"]
    report = (out / "report.md").read_text()
    assert "# UTKFace test" in report and "**4.02**" in report and "training_curves.png" in report
    page = (out / "index.html").read_text()
    assert '<img src="size_bars.png"' in page and "<table" in page and "seed 0" in page

    # Re-written without curves: the stale curve figure goes.
    write_report(out, paper_rows, "UTKFace test")
    assert not (out / "training_curves.png").exists()
    assert "training_curves.png" not in (out / "index.html").read_text()
