"""The `rarl` recipe's per-size result figure: grouped bars of each model's score per size, with intervals.

matplotlib is used through `Figure` objects only (no pyplot, so no global backend or figure state; PNGs render
with Agg); PNGs are written atomically (`rarl.eval.plots.save_png`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from rarl.eval.plots import save_png
from rarl.recipes.ordinal.scoring import SizeResult
from rarl.recipes.ordinal.tables import DEFAULT_SIZES, Rows, metric_label, size_label

__all__ = ["plot_size_bars"]


def plot_size_bars(
    rows: Rows,
    out_png: str | os.PathLike,
    sizes: Sequence[int] = DEFAULT_SIZES,
    *,
    title: str | None = None,
    ci_level: float = 0.95,
) -> Path:
    """Grouped bars of each model's result per size with CI error bars; one panel per size, since the
    1-image metric has its own scale. Under each bar: the failure rate, or `n/a` for a missing result."""
    models = list(rows)
    used = [s for s in sizes if any(s in rows[m] for m in models)] or list(sizes)
    legend_cols = min(len(models) + 1, 4)
    legend_rows = math.ceil((len(models) + 1) / legend_cols)
    footer = 0.25 + 0.22 * legend_rows  # inches below the panels for the legend
    height = 3.9 + footer + (0.3 if title else 0.0)
    fig = Figure(figsize=(max(3.2, 0.6 * len(models) + 1.6) * len(used), height), dpi=110)
    axes = fig.subplots(1, len(used), squeeze=False)
    colors = {m: f"C{i % 10}" for i, m in enumerate(models)}
    for ax, size in zip(axes[0], used, strict=True):
        metric = next((rows[m][size].metric for m in models if size in rows[m]), "tau" if size > 1 else "")
        under: list[str] = []
        finite: list[SizeResult] = []
        for i, m in enumerate(models):
            r = rows[m].get(size)
            if r is None or not math.isfinite(r.value):
                under.append("n/a")
                continue
            finite.append(r)
            err = None
            if math.isfinite(r.ci_low) and math.isfinite(r.ci_high):
                err = [[max(0.0, r.value - r.ci_low)], [max(0.0, r.ci_high - r.value)]]
            ax.bar(
                i, r.value, color=colors[m], yerr=err, capsize=4, width=0.75, edgecolor="0.2", linewidth=0.5
            )
            fail = r.failure_rate
            under.append(f"fail\n{100 * fail:.1f}%" if math.isfinite(fail) and fail > 0 else "")
        if finite and min(min(r.value, r.ci_low) for r in finite) < 0:
            ax.axhline(0, color="0.3", linewidth=0.8)
        ax.set_title(size_label(size), fontsize=10)
        ax.set_ylabel(metric_label(metric) if metric else "", fontsize=9)
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels(under, fontsize=7, color="0.3")
        ax.tick_params(axis="x", length=0)
        ax.tick_params(axis="y", labelsize=8)
        ax.set_xlim(-0.6, len(models) - 0.4)
        ax.grid(True, axis="y", alpha=0.3)
        if finite and metric in ("tau", "srcc", "plcc"):
            hi = max((r.ci_high if math.isfinite(r.ci_high) else r.value) for r in finite)
            if hi <= 1.0:
                ax.set_ylim(top=min(1.0, hi + 0.08))
    handles = [Patch(color=colors[m]) for m in models]
    handles.append(Line2D([], [], color="black", marker="_", markersize=8, linestyle="-", linewidth=1.2))
    labels = [*models, f"{100 * ci_level:g}% bootstrap CI"]
    fig.legend(handles, labels, loc="lower center", ncol=legend_cols, fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, footer / height, 1, 1))
    return save_png(fig, out_png)
