"""Results tables in the layout of the paper's Tables 2-6, and a JSON form of the results.

`Rows` maps a model name to its results per size: `{"Qwen2.5-VL-3B + RARL": {1: SizeResult, 2: ..., 8: ...}}`.
Rows keep their insertion order. A cell reads `0.812 [0.790, 0.830] (fail 1.5%)`: the value, its bootstrap
confidence interval and the failure rate of the answers (see `rarl.recipes.ordinal.scoring`). The best value
of each column is bold (lowest MAE, highest otherwise; ties at the shown precision are all bold), but only
when the column has at least two values. Missing cells show `-`, as in the paper.

Renderers: Markdown (`render_markdown_table`, `render_ablation_table`), HTML for the static report
(`render_html_table`) and a `rich.table.Table` for the terminal (`render_rich_table`).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.table import Table
from rich.text import Text

from rarl.recipes.ordinal.scoring import SizeResult, higher_is_better

__all__ = [
    "RESULTS_FORMAT",
    "Rows",
    "format_value",
    "metric_label",
    "render_ablation_table",
    "render_html_table",
    "render_markdown_table",
    "render_rich_table",
    "results_from_json",
    "results_to_json",
    "size_label",
]

Rows = Mapping[str, Mapping[int, SizeResult]]
RESULTS_FORMAT = "rarl.eval.results/v1"
DEFAULT_SIZES: tuple[int, ...] = (1, 2, 4, 8)

_METRIC_LABELS = {"mae": "MAE", "accuracy": "Acc %", "srcc": "SRCC", "plcc": "PLCC", "tau": "τ"}
_DECIMALS = {"mae": 2, "accuracy": 2, "srcc": 3, "plcc": 3, "tau": 3}


def size_label(size: int) -> str:
    """`1-img`, `2-imgs`, ... as in the paper's column headers."""
    return "1-img" if size == 1 else f"{size}-imgs"


def metric_label(metric: str) -> str:
    """Short display name with the direction arrow: `MAE ↓`, `τ ↑`."""
    arrow = "↑" if higher_is_better(metric) else "↓"
    return f"{_METRIC_LABELS.get(metric, metric)} {arrow}"


def format_value(metric: str, v: float) -> str:
    """A metric value at the paper's precision: 2 decimals for MAE and accuracy, 3 for correlations."""
    if v is None or not math.isfinite(v):
        return "nan"
    return f"{v:.{_DECIMALS.get(metric, 3)}f}"


# ----------------------------------------------------------------------------------------------------------
# One neutral grid, rendered three ways.


@dataclass(frozen=True)
class _Cell:
    value: str
    ci: str
    fail: str
    bold: bool


@dataclass(frozen=True)
class _Grid:
    headers: list[str]  # column headers after the row-name column
    body: list[tuple[str, list[_Cell | None]] | str]  # a str is a section header row
    n_note: str


def _column_metric(results: list[SizeResult], where: str) -> str | None:
    metrics = {r.metric for r in results}
    if len(metrics) > 1:
        raise ValueError(f"column {where} mixes metrics {sorted(metrics)}")
    return metrics.pop() if metrics else None


def _cell(r: SizeResult, bold: bool) -> _Cell:
    ci = (
        f"[{format_value(r.metric, r.ci_low)}, {format_value(r.metric, r.ci_high)}]"
        if math.isfinite(r.ci_low) and math.isfinite(r.ci_high)
        else ""
    )
    fail = f"fail {100.0 * r.failure_rate:.1f}%" if math.isfinite(r.failure_rate) else ""
    return _Cell(format_value(r.metric, r.value), ci, fail, bold)


def _n_text(ns: list[int]) -> str:
    if not ns:
        return "-"
    lo, hi = min(ns), max(ns)
    return str(lo) if lo == hi else f"{lo}-{hi}"


def _build_grid(
    sections: Sequence[tuple[str, Mapping[str, Mapping[str, Mapping[int, SizeResult]]]]],
    sizes: Sequence[int],
) -> _Grid:
    """sections: [(section title or "", {row name: {task: {size: result}}})]; one column per (task, size)."""
    tasks: list[str] = []
    for _, rows in sections:
        for per_task in rows.values():
            for t in per_task:
                if t not in tasks:
                    tasks.append(t)
    columns = [(t, s) for t in tasks for s in sizes]

    def get(row: Mapping[str, Mapping[int, SizeResult]], col: tuple[str, int]) -> SizeResult | None:
        return row.get(col[0], {}).get(col[1])

    all_rows = [row for _, rows in sections for row in rows.values()]
    headers: list[str] = []
    best: dict[tuple[str, int], str | None] = {}
    n_parts: list[str] = []
    for col in columns:
        present = [r for r in (get(row, col) for row in all_rows) if r is not None]
        metric = _column_metric(present, f"{col[0]} {size_label(col[1])}".strip())
        if metric is None:
            metric = "tau" if col[1] > 1 else None
        head = size_label(col[1]) + (f" {metric_label(metric)}" if metric else "")
        headers.append(f"{col[0]} {head}" if len(tasks) > 1 else head)
        finite = [r for r in present if math.isfinite(r.value)]
        if len(finite) >= 2 and metric is not None:
            pick = max if higher_is_better(metric) else min
            best[col] = format_value(metric, pick(r.value for r in finite))
        else:
            best[col] = None
        label = f"{col[0]} {size_label(col[1])}" if len(tasks) > 1 else size_label(col[1])
        n_parts.append(f"{label} {_n_text([r.n for r in present])}")

    body: list[tuple[str, list[_Cell | None]] | str] = []
    for title, rows in sections:
        if title:
            body.append(title)
        for name, row in rows.items():
            cells: list[_Cell | None] = []
            for col in columns:
                r = get(row, col)
                if r is None:
                    cells.append(None)
                else:
                    shown = format_value(r.metric, r.value)
                    cells.append(_cell(r, bold=best[col] is not None and shown == best[col]))
            body.append((name, cells))
    return _Grid(headers=headers, body=body, n_note="n: " + ", ".join(n_parts))


def _single_task(rows: Rows) -> list[tuple[str, Mapping[str, Mapping[str, Mapping[int, SizeResult]]]]]:
    return [("", {name: {"": per_size} for name, per_size in rows.items()})]


def _legend(ci_level: float) -> str:
    return (
        f"Cells: value [{100 * ci_level:g}% bootstrap CI] (fail = share of answers that could not be scored: "
        "1-img uses the value-range midpoint, or counts wrong for accuracy; N-imgs score tau 0). "
        "Bold: best in column."
    )


# ----------------------------------------------------------------------------------------------------------
# Markdown


def _md_cell(c: _Cell | None) -> str:
    if c is None:
        return "-"
    value = f"**{c.value}**" if c.bold else c.value
    parts = [value] + ([c.ci] if c.ci else []) + ([f"({c.fail})"] if c.fail else [])
    return " ".join(parts)


def _md(grid: _Grid, title: str, first_col: str, ci_level: float) -> str:
    lines = []
    if title:
        lines += [f"**{title}**", ""]
    lines.append("| " + " | ".join([first_col, *grid.headers]) + " |")
    lines.append("|" + "---|" + "---:|" * len(grid.headers))
    for entry in grid.body:
        if isinstance(entry, str):
            lines.append(f"| *{entry}* |" + " |" * len(grid.headers))
        else:
            name, cells = entry
            lines.append("| " + " | ".join([name.replace("|", "\\|"), *map(_md_cell, cells)]) + " |")
    lines += ["", f"{_legend(ci_level)} {grid.n_note}.", ""]
    return "\n".join(lines)


def render_markdown_table(
    rows: Rows, title: str = "", sizes: Sequence[int] = DEFAULT_SIZES, *, ci_level: float = 0.95
) -> str:
    """Paper Table 2/4/5 layout: one row per model, columns 1-img, 2-imgs, 4-imgs, 8-imgs.

    Returns Markdown: an optional bold title line, the table, then a legend line with n per column.
    """
    return _md(_build_grid(_single_task(rows), sizes), title, "Method", ci_level)


def render_ablation_table(
    sections: Mapping[str, Mapping[str, Rows]],
    title: str = "",
    sizes: Sequence[int] = DEFAULT_SIZES,
    *,
    ci_level: float = 0.95,
) -> str:
    """Paper Table 3/6 layout: row groups under section headers, columns grouped by task.

    `sections` maps a section header (e.g. "Rewards", "Stages", "RMO vs DAPO filter"; "" for no header row)
    to `{task name: Rows}`. With one task the columns are `1-img ... 8-imgs` as in Table 6; with several, each
    task contributes its own four columns as in Table 3. A row name may appear in several sections; each
    occurrence is its own row. Bold marks the best value of a column over the whole table.
    """
    merged = []
    for header, per_task in sections.items():
        rows: dict[str, dict[str, Mapping[int, SizeResult]]] = {}
        for task, task_rows in per_task.items():
            for name, per_size in task_rows.items():
                rows.setdefault(name, {})[task] = per_size
        merged.append((header, rows))
    return _md(_build_grid(merged, sizes), title, "Method", ci_level)


# ----------------------------------------------------------------------------------------------------------
# HTML and rich


def render_html_table(
    rows: Rows, title: str = "", sizes: Sequence[int] = DEFAULT_SIZES, *, ci_level: float = 0.95
) -> str:
    """The `render_markdown_table` content as an HTML `<table>` (for the static report page)."""
    grid = _build_grid(_single_task(rows), sizes)
    e = html.escape
    out = ['<table class="results">']
    if title:
        out.append(f"<caption>{e(title)}</caption>")
    out.append(
        "<thead><tr><th>Method</th>" + "".join(f"<th>{e(h)}</th>" for h in grid.headers) + "</tr></thead>"
    )
    out.append("<tbody>")
    for entry in grid.body:
        if isinstance(entry, str):
            out.append(f'<tr class="section"><td colspan="{len(grid.headers) + 1}">{e(entry)}</td></tr>')
            continue
        name, cells = entry
        tds = []
        for c in cells:
            if c is None:
                tds.append("<td>-</td>")
                continue
            value = f"<b>{e(c.value)}</b>" if c.bold else e(c.value)
            ci = f' <span class="ci">{e(c.ci)}</span>' if c.ci else ""
            fail = f'<br><span class="fail">{e(c.fail)}</span>' if c.fail else ""
            tds.append(f"<td>{value}{ci}{fail}</td>")
        out.append(f"<tr><th>{e(name)}</th>{''.join(tds)}</tr>")
    out.append("</tbody></table>")
    out.append(f'<p class="legend">{e(_legend(ci_level))} {e(grid.n_note)}.</p>')
    return "\n".join(out)


def render_rich_table(
    rows: Rows, title: str = "", sizes: Sequence[int] = DEFAULT_SIZES, *, ci_level: float = 0.95
) -> Table:
    """The same table as a `rich.table.Table` for the terminal (value and CI on one line, failure below)."""
    grid = _build_grid(_single_task(rows), sizes)
    table = Table(title=title or None, caption=f"{_legend(ci_level)} {grid.n_note}.", show_lines=True)
    table.add_column("Method", style="cyan", no_wrap=True)
    for h in grid.headers:
        table.add_column(h, justify="right")
    for entry in grid.body:
        if isinstance(entry, str):
            table.add_row(Text(entry, style="bold italic"))
            continue
        name, cells = entry
        rendered: list[Text] = []
        for c in cells:
            if c is None:
                rendered.append(Text("-"))
                continue
            t = Text(c.value, style="bold green" if c.bold else "")
            if c.ci:
                t.append(f" {c.ci}", style="dim")
            if c.fail:
                t.append(f"\n{c.fail}", style="yellow" if not c.fail.startswith("fail 0.0%") else "dim")
            rendered.append(t)
        table.add_row(Text(name), *rendered)
    return table


# ----------------------------------------------------------------------------------------------------------
# JSON


def results_to_json(rows: Rows, meta: Mapping[str, Any] | None = None) -> str:
    """Serialise `rows` (and optional JSON-able `meta`, e.g. task and seed) to strict JSON text.

    Layout: `{"format": RESULTS_FORMAT, "meta": {...}, "models": {name: {"1": SizeResult.as_dict(), ...}}}`;
    nan is written as null.
    """
    doc = {
        "format": RESULTS_FORMAT,
        "meta": dict(meta or {}),
        "models": {
            name: {str(s): r.as_dict() for s, r in per_size.items()} for name, per_size in rows.items()
        },
    }
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def results_from_json(text: str | Mapping[str, Any]) -> dict[str, dict[int, SizeResult]]:
    """Inverse of `results_to_json` (accepts the text or the already-parsed object)."""
    doc = json.loads(text) if isinstance(text, str) else text
    fmt = doc.get("format")
    if fmt != RESULTS_FORMAT:
        raise ValueError(f"not a rarl results document (format {fmt!r}, expected {RESULTS_FORMAT!r})")
    return {
        name: {int(s): SizeResult.from_dict(d) for s, d in per_size.items()}
        for name, per_size in doc["models"].items()
    }
