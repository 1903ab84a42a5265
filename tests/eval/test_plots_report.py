"""Training-curve figures (valid PNGs, missing keys, several runs), the report page, a light import."""

from __future__ import annotations

import json
import sys

import pytest

from rarl.eval.plots import plot_training_curves
from rarl.eval.report import html_page


def test_training_curves_single_run_from_jsonl(tmp_path, training_log, assert_png):
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in training_log()))
    out = plot_training_curves(log, tmp_path / "curves.png")
    assert_png(out)


def test_training_curves_missing_keys_and_rows_without_step(tmp_path, training_log, assert_png):
    rows = training_log(drop=("kl", "loss", "zero_var_frac_after"))
    rows += [{"note": "no numbers here"}, {"reward/total_mean": "n/a"}]
    for r in rows[:5]:
        r.pop("step")
    assert_png(plot_training_curves(rows, tmp_path / "c.png", smooth=0.6))
    # only keys that exist nowhere: an empty figure with a message, no error
    assert_png(plot_training_curves([{"step": 1}], tmp_path / "empty.png", keys=("kl",)))


def test_training_curves_several_runs_and_extra_keys(tmp_path, training_log, assert_png):
    runs = {
        "RARL": training_log(),
        "w.o. RMO": training_log(drop=("rmo_mutated_frac",)),
        "stage 1 only": training_log(stage_at=99),
    }
    assert_png(plot_training_curves(runs, tmp_path / "runs.png", title="ablation"))
    keys = ("reward/total_mean", "kl", "custom/metric")
    runs["RARL"][0]["custom/metric"] = 1.0
    runs["RARL"][1]["custom/metric"] = 2.0
    assert_png(plot_training_curves(runs, tmp_path / "keys.png", keys=keys))


def test_training_curves_bad_smooth(tmp_path, training_log):
    with pytest.raises(ValueError):
        plot_training_curves(training_log(), tmp_path / "x.png", smooth=1.0)


def test_html_page_is_a_complete_static_page():
    page = html_page("A <b> title", ["<p>body</p>"], notes="  seed 0 & more  ")
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</body></html>\n")
    assert "<title>A &lt;b&gt; title</title>" in page and "<h1>A &lt;b&gt; title</h1>" in page
    assert '<pre class="notes">seed 0 &amp; more</pre>' in page and "<p>body</p>" in page
    assert "<script" not in page
    assert "<pre" not in html_page("t", [])


def test_command_line_starts_light():
    """`rarl --help` loads no torch, matplotlib or scipy: the CLI defers its commands' imports."""
    import subprocess

    code = "import sys, rarl.cli; print(any(m in sys.modules for m in ('torch', 'matplotlib', 'scipy')))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "False"
