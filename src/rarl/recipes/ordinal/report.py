"""The `rarl` recipe's evaluation report folder: numbers, table, figures, Markdown and a static HTML page.

```
out_dir/
  results.json          results_to_json(results, meta): the numbers, reloadable with results_from_json
  table.md              render_markdown_table(results, title)
  size_bars.png         plot_size_bars(results)
  training_curves.png   plot_training_curves(curves), only when curves are given
  report.md             title, notes, table, figures (with curves: the on-policy reward trend per stage,
                        rarl.eval.trend), scoring policy in brief
  index.html            the same as a static page (img tags, the table as HTML); no scripts, no network
```

Every file is written atomically; files of an earlier report in the same folder that this one does not
write (e.g. training_curves.png when no curves are given now) are removed so that the folder is consistent.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rarl.eval.curves import recipe_curves
from rarl.eval.plots import plot_training_curves
from rarl.eval.report import html_page
from rarl.eval.trend import trend_html, trend_lines, trend_markdown
from rarl.recipes.base import RECIPES
from rarl.recipes.ordinal.plots import plot_size_bars
from rarl.recipes.ordinal.tables import (
    DEFAULT_SIZES,
    Rows,
    render_html_table,
    render_markdown_table,
    results_to_json,
)
from rarl.utils.io import atomic_write_text

__all__ = ["POLICY_SUMMARY", "write_report"]

POLICY_SUMMARY = (
    "1-img: the value of image 1 in the answer; an unparseable answer is a failure, scored with the midpoint "
    "of the task's value range (MAE, SRCC, PLCC) or as wrong (accuracy). "
    "N-imgs: Kendall's tau-b between the answer's order and the true order; an answer that does not list "
    "every image exactly once is a failure and scores tau = 0. "
    "Intervals: percentile bootstrap over test samples (pairs for SRCC/PLCC), seeded. "
    "See docs/evaluation.md."
)


def write_report(
    out_dir: str | os.PathLike,
    results: Rows,
    title: str,
    curves: Mapping[str, Any] | None = None,
    notes: str | None = None,
    *,
    sizes: Sequence[int] = DEFAULT_SIZES,
    meta: Mapping[str, Any] | None = None,
    ci_level: float = 0.95,
) -> Path:
    """Write the report folder described in the module docstring and return `out_dir` as a Path.

    Args:
        out_dir: created if missing; other files in it are left alone.
        results: `{model name: {size: SizeResult}}`.
        title: report and table title (e.g. "UTKFace, Qwen2.5-VL-3B").
        curves: `{run name: run folder, JSONL path or list of log rows}` (a folder lets the figure label reward changes at stage boundaries) for the training-curve figure, or None.
        notes: free text shown near the top (e.g. checkpoint, config, date).
        sizes: table columns and figure panels.
        meta: extra JSON-able facts stored in results.json (task, seed, n_boot, ...).
        ci_level: the confidence level used when scoring, for captions only.
    """

    def write(name: str, text: str) -> None:
        atomic_write_text(out / name, text)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write("results.json", results_to_json(results, {"title": title, **dict(meta or {})}))
    table_md = render_markdown_table(results, title, sizes, ci_level=ci_level)
    write("table.md", table_md)
    plot_size_bars(results, out / "size_bars.png", sizes, title=title, ci_level=ci_level)
    has_curves = bool(curves)
    trends = trend_lines(curves)  # one line per run and stage: the on-policy reward's slope
    if has_curves:
        plot_training_curves(  # this recipe's reward components and validation metrics
            curves, out / "training_curves.png", title="Training curves", **recipe_curves(RECIPES["rarl"])
        )
    else:
        (out / "training_curves.png").unlink(missing_ok=True)

    md = [f"# {title}", ""]
    if notes:
        md += [notes.strip(), ""]
    body_md = render_markdown_table(results, "", sizes, ci_level=ci_level)  # the heading carries the title
    md += ["## Results", "", body_md, "![Results per size](size_bars.png)", ""]
    if has_curves:
        md += [
            "## Training curves",
            "",
            "![Training curves](training_curves.png)",
            *trend_markdown(trends),
            "",
        ]
    md += ["## Scoring policy", "", POLICY_SUMMARY, "", "Raw numbers: [results.json](results.json).", ""]
    write("report.md", "\n".join(md))

    e = html.escape
    page = [
        "<h2>Results</h2>",
        render_html_table(results, "", sizes, ci_level=ci_level),
        '<img src="size_bars.png" alt="Results per size">',
    ]
    if has_curves:
        page += ["<h2>Training curves</h2>", '<img src="training_curves.png" alt="Training curves">']
        page += trend_html(trends)
    page += [
        "<h2>Scoring policy</h2>",
        f"<p>{e(POLICY_SUMMARY)}</p>",
        '<p>Raw numbers: <a href="results.json">results.json</a>, table: <a href="table.md">table.md</a>, '
        'report: <a href="report.md">report.md</a>.</p>',
    ]
    write("index.html", html_page(title, page, notes))
    return out
