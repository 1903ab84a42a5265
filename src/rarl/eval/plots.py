"""Figures for reports: training curves from the trainer's JSONL log (every recipe's), and `save_png`.

matplotlib is imported inside the functions and used through `Figure` objects only (no pyplot, so no
global backend or figure state; PNGs render with Agg), so `import rarl.eval` stays light.
PNGs are written atomically: to a temporary sibling, then renamed into place.

Training log rows are dicts, one per step, with keys such as `step`, `stage`, `reward/total_mean`,
`reward/<component>`, `zero_var_frac_before`, `zero_var_frac_after`, `rmo_mutated_frac`, `kl`, `loss`,
`completion_len_mean`. Any key may be missing from any row; missing, null and non-numeric values are
skipped, and a panel with no data at all is left out of the figure.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from rarl.utils.io import atomic_path, read_jsonl

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["DEFAULT_PANELS", "plot_training_curves", "save_png"]

Panel = tuple[str, tuple[str, ...]]
DEFAULT_PANELS: tuple[Panel, ...] = (
    ("Total reward", ("reward/total_mean",)),
    (
        "Reward components (each in [0, 1])",
        ("reward/regression", "reward/length", "reward/consistency", "reward/accuracy", "reward/format"),
    ),
    ("Ranking reward (length + consistency + accuracy)", ("reward/ranking",)),
    ("Zero-variance groups and RMO", ("zero_var_frac_before", "zero_var_frac_after", "rmo_mutated_frac")),
    ("KL to reference", ("kl",)),
    ("Loss", ("loss",)),
    ("Completion length (tokens)", ("completion_len_mean",)),
)
"""(panel title, keys) of the default training-curve figure, in order."""

LogSource = str | os.PathLike | Sequence[Mapping[str, Any]]


def _load_rows(source: LogSource) -> list[Mapping[str, Any]]:
    if isinstance(source, (str, os.PathLike)):
        return [r for r in read_jsonl(source) if isinstance(r, Mapping)]
    return [r for r in source if isinstance(r, Mapping)]


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _series(rows: Sequence[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """(steps, values) for `key`, in step order; rows without a numeric `step` use their index."""
    pts = []
    for i, r in enumerate(rows):
        y = _num(r.get(key))
        if y is None:
            continue
        x = _num(r.get("step"))
        pts.append((float(i) if x is None else x, y))
    pts.sort(key=lambda p: p[0])
    return [p[0] for p in pts], [p[1] for p in pts]


def _stage_starts(rows: Sequence[Mapping[str, Any]]) -> list[tuple[float, str]]:
    """(step, stage) where the stage changes, after the first stage."""
    staged = []
    for i, r in enumerate(rows):
        if r.get("stage") is None:
            continue
        x = _num(r.get("step"))
        staged.append((float(i) if x is None else x, str(r["stage"])))
    staged.sort(key=lambda p: p[0])
    out = []
    for (_, prev), (x, cur) in zip(staged, staged[1:], strict=False):
        if cur != prev:
            out.append((x, cur))
    return out


def _ema(values: list[float], smooth: float) -> list[float]:
    out, acc = [], None
    for v in values:
        acc = v if acc is None else smooth * acc + (1.0 - smooth) * v
        out.append(acc)
    return out


def _short(key: str) -> str:
    return key.split("/", 1)[1] if key.startswith("reward/") else key


def save_png(fig: Figure, out_png: str | os.PathLike) -> Path:
    """Write `fig` as a PNG at its own dpi, atomically (a temporary sibling, then renamed into place)."""
    with atomic_path(out_png, suffix=".tmp.png") as tmp:
        fig.savefig(tmp, format="png", dpi=fig.dpi, bbox_inches="tight")
    return Path(out_png)


def _plot_line(ax: Axes, xs: list[float], ys: list[float], smooth: float, **kw: Any) -> None:
    if smooth > 0 and len(ys) > 2:
        ax.plot(xs, ys, alpha=0.25, linewidth=0.8, color=kw.get("color"))
        ax.plot(xs, _ema(ys, smooth), linewidth=1.6, **kw)
    else:
        ax.plot(xs, ys, linewidth=1.4, marker="o" if len(ys) <= 20 else None, markersize=3, **kw)


def plot_training_curves(
    log: LogSource | Mapping[str, LogSource],
    out_png: str | os.PathLike,
    keys: Sequence[str] | None = None,
    *,
    panels: Sequence[Panel] = DEFAULT_PANELS,
    smooth: float = 0.0,
    title: str | None = None,
) -> Path:
    """Multi-panel figure of training curves against `step`; stage changes are dashed vertical lines.

    Args:
        log: one run (a JSONL path or a list of row dicts) or several runs `{run name: path or rows}`,
            overlaid for ablations.
        out_png: where the PNG goes.
        keys: restrict the figure to these keys (a key outside `panels` gets a panel of its own);
            None plots every key of `panels` that has data.
        panels: `(title, keys)` groups; one run draws each group in one panel, coloured by key. Several runs
            get one panel per key, coloured by run, so that runs compare at a glance.
        smooth: exponential moving average coefficient in [0, 1); above 0 the raw curve is drawn faint
            behind the smoothed one.
        title: figure title.
    """
    if not 0.0 <= smooth < 1.0:
        raise ValueError(f"smooth must be in [0, 1), got {smooth}")
    runs: dict[str, list[Mapping[str, Any]]]
    if isinstance(log, Mapping):
        runs = {str(name): _load_rows(src) for name, src in log.items()}
    else:
        runs = {"": _load_rows(log)}
    multi = len(runs) > 1

    groups: list[Panel] = [(t, tuple(k for k in ks if keys is None or k in keys)) for t, ks in panels]
    if keys is not None:
        known = {k for _, ks in panels for k in ks}
        groups += [(k, (k,)) for k in keys if k not in known]
    if multi:
        groups = [(_short(k) if len(ks) > 1 else t, (k,)) for t, ks in groups for k in ks]

    def has_data(k: str) -> bool:
        return any(_series(rows, k)[0] for rows in runs.values())

    groups = [(t, tuple(k for k in ks if has_data(k))) for t, ks in groups]
    groups = [(t, ks) for t, ks in groups if ks]

    n = max(1, len(groups))
    ncols = 1 if n == 1 else (2 if n <= 8 else 3)
    nrows = math.ceil(n / ncols)
    legend_rows = math.ceil(len(runs) / 5) if multi else 0
    header = (0.45 if title else 0.1) + 0.3 * legend_rows  # inches above the panels
    height = 3.1 * nrows + header
    fig = Figure(figsize=((6.4 if ncols < 3 else 5.4) * ncols, height), dpi=110)
    flat = list(fig.subplots(nrows, ncols, squeeze=False).flat)
    run_colors = {name: f"C{i % 10}" for i, name in enumerate(runs)}
    # Stage changes: one grey line where every run changes stage at the same step, else one per run.
    starts = {name: _stage_starts(rows) for name, rows in runs.items()}
    shared = set.intersection(*(set(v) for v in starts.values())) if starts else set()
    boundaries = [(x, st, "0.4") for x, st in sorted(shared)]
    boundaries += [
        (x, st, run_colors[nm]) for nm, v in starts.items() for x, st in v if (x, st) not in shared
    ]
    all_steps = [x for rows in runs.values() for x in _series(rows, "step")[0]]
    xlim = (min(all_steps), max(all_steps)) if len(set(all_steps)) > 1 else None
    for ax, (panel_title, ks) in zip(flat, groups, strict=False):
        for ki, k in enumerate(ks):
            for name, rows in runs.items():
                xs, ys = _series(rows, k)
                if not xs:
                    continue
                color = run_colors[name] if multi else f"C{ki % 10}"
                label = name if multi else _short(k)
                _plot_line(ax, xs, ys, smooth, color=color, label=label)
        for x, stage, color in boundaries:
            ax.axvline(x, color=color, linestyle="--", linewidth=0.9)
            ax.annotate(
                stage if stage.lower().startswith("stage") else f"stage {stage}",
                xy=(x, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(3, -3),
                textcoords="offset points",
                fontsize=7,
                color="0.25",
                va="top",
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
            )
        if xlim is not None:  # every panel on the same step axis, so that panels line up
            pad = 0.02 * (xlim[1] - xlim[0])
            ax.set_xlim(xlim[0] - pad, xlim[1] + pad)
        ax.set_title(panel_title, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(True, alpha=0.3)
        if not multi and len(ks) > 1:
            ax.legend(fontsize=7, loc="best", ncol=2 if len(ks) > 3 else 1, framealpha=0.8)
    for ax in flat[len(groups) :]:
        ax.set_visible(False)
    if not groups:
        flat[0].set_visible(True)
        flat[0].text(0.5, 0.5, "no data in the training log", ha="center", va="center")
        flat[0].set_axis_off()
    if multi:
        handles = [Line2D([], [], color=c, linewidth=2) for c in run_colors.values()]
        fig.legend(
            handles,
            list(run_colors),
            loc="upper center",
            ncol=min(len(runs), 5),
            fontsize=9,
            bbox_to_anchor=(0.5, 1.0 - ((0.4 if title else 0.05) / height)),
            frameon=False,
        )
    if title:
        fig.suptitle(title, fontsize=12, y=1.0 - 0.08 / height, va="top")
    fig.tight_layout(rect=(0, 0, 1, 1.0 - header / height))
    return save_png(fig, out_png)
