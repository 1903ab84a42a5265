"""Figures for reports: training curves from the trainer's JSONL log (every recipe's), and `save_png`.

matplotlib is used through `Figure` objects only (no pyplot, so no global backend or figure state; PNGs
render with Agg). PNGs are written atomically: to a temporary sibling, then renamed into place.

Training log rows are dicts, one per step, with keys such as `step`, `stage`, `reward/total_mean`,
`reward/<component>`, `zero_var_frac_before`, `zero_var_frac_after`, `rmo_mutated_frac`, `kept_frac`, `kl`,
`loss`, `completion_len_mean`, and at validation steps `eval/<metric>`. Any key may be missing from any row;
missing, null and non-numeric values are skipped. Which panels the figure holds is decided from the rows
(`rarl.eval.curves`): the recipe's reward components with a legend, the validation metrics with markers, and
the RMO, filter, KL and clipping panels only when that feature was on in the run. Stage changes are vertical
lines labelled with the new stage, and with the reward settings that change there when the run's
`config.yaml` is known (the log given as a run folder or as the metrics.jsonl beside that file).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from rarl.eval.curves import (
    DEFAULT_PANELS,
    CurveRun,
    LogSource,
    Panel,
    StageBoundary,
    load_runs,
    select_panels,
    series,
    short_name,
    stage_boundaries,
)
from rarl.utils.io import atomic_path

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["DEFAULT_PANELS", "plot_training_curves", "save_png", "training_curves_figure"]

ConfigSource = Mapping[str, Any] | str | os.PathLike


def _ema(values: list[float], smooth: float) -> list[float]:
    out, acc = [], None
    for v in values:
        acc = v if acc is None else smooth * acc + (1.0 - smooth) * v
        out.append(acc)
    return out


def save_png(fig: Figure, out_png: str | os.PathLike) -> Path:
    """Write `fig` as a PNG at its own dpi, atomically (a temporary sibling, then renamed into place)."""
    with atomic_path(out_png, suffix=".tmp.png") as tmp:
        fig.savefig(tmp, format="png", dpi=fig.dpi, bbox_inches="tight")
    return Path(out_png)


def _plot_line(ax: Axes, xs: list[float], ys: list[float], smooth: float, markers: bool, **kw: Any) -> None:
    if markers:  # validation: a few points, each a measurement
        ax.plot(xs, ys, linewidth=1.4, marker="o", markersize=4, **kw)
    elif smooth > 0 and len(ys) > 2:
        ax.plot(xs, ys, alpha=0.25, linewidth=0.8, color=kw.get("color"))
        ax.plot(xs, _ema(ys, smooth), linewidth=1.6, **kw)
    else:
        ax.plot(xs, ys, linewidth=1.4, marker="o" if len(ys) <= 20 else None, markersize=3, **kw)


def _boundaries(
    runs: Mapping[str, CurveRun], colors: Mapping[str, str], schedule: Sequence[str]
) -> list[tuple[StageBoundary, str]]:
    """(boundary, colour): grey where every run changes stage alike, else one per run in its colour."""
    marks = {name: stage_boundaries(run.rows, run.config, schedule) for name, run in runs.items()}
    shared = set.intersection(*(set(v) for v in marks.values())) if marks else set()
    out = [(b, "0.4") for b in sorted(shared, key=lambda b: (b.step, b.stage))]
    out += [(b, colors[name]) for name, v in marks.items() for b in v if b not in shared]
    return out


def _stage_label(b: StageBoundary, reward_panel: bool) -> str:
    """The boundary's label: the stage, and on a reward panel each reward setting that changes there."""
    label = b.stage if b.stage.lower().startswith("stage") else f"stage {b.stage}"
    if b.within:
        label = f"within {label}"
    if not b.reward_change:
        return label
    if reward_panel:
        return "\n".join([f"{label}: {b.reward_change}", *b.detail])
    return f"{label}: {b.reward_change}"


def _draw_best(ax: Axes, rows: Sequence[Mapping[str, Any]], color: str) -> None:
    """A dotted line at the step the run's `best/` model folder holds (its last `best/step`), labelled."""
    steps = series(rows, "best/step")[1]
    if steps:
        ax.axvline(steps[-1], color=color, linestyle=":", linewidth=1.2, label=f"best/ (step {steps[-1]:g})")


def _draw_boundary(ax: Axes, b: StageBoundary, color: str, reward_panel: bool, left: bool) -> None:
    """The boundary's line (solid where the reward changes) and its label, right of the line unless `left`."""
    ax.axvline(b.step, color=color, linestyle="-" if b.reward_change else "--", linewidth=0.9)
    ax.annotate(
        _stage_label(b, reward_panel),
        xy=(b.step, 1.0),
        xycoords=("data", "axes fraction"),
        xytext=(-3 if left else 3, -3),
        textcoords="offset points",
        fontsize=7,
        color="0.25",
        va="top",
        ha="right" if left else "left",
        bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
        zorder=1,  # under the curves: a label must not hide the data that runs behind it
    )


def training_curves_figure(
    log: LogSource | Mapping[str, LogSource],
    keys: Sequence[str] | None = None,
    *,
    panels: Sequence[Panel] = DEFAULT_PANELS,
    components: Sequence[str] = (),
    schedule: Sequence[str] = (),
    validation: Sequence[str] = (),
    config: ConfigSource | None = None,
    smooth: float = 0.0,
    title: str | None = None,
) -> Figure:
    """The training-curve figure (see `plot_training_curves`) as a matplotlib Figure, one axes per panel."""
    if not 0.0 <= smooth < 1.0:
        raise ValueError(f"smooth must be in [0, 1), got {smooth}")
    runs = load_runs(log, config)
    multi = len(runs) > 1
    groups = select_panels(runs, panels, keys, components, validation)

    n = max(1, len(groups))
    ncols = 1 if n == 1 else (2 if n <= 8 else 3)
    nrows = math.ceil(n / ncols)
    legend_rows = math.ceil(len(runs) / 5) if multi else 0
    header = (0.45 if title else 0.1) + 0.3 * legend_rows  # inches above the panels
    height = 3.1 * nrows + header
    fig = Figure(figsize=((6.4 if ncols < 3 else 5.4) * ncols, height), dpi=110)
    flat = list(fig.subplots(nrows, ncols, squeeze=False).flat)
    run_colors = {name: f"C{i % 10}" for i, name in enumerate(runs)}
    boundaries = _boundaries(runs, run_colors, schedule)
    all_steps = [x for run in runs.values() for x in series(run.rows, "step")[0]]
    xlim = (min(all_steps), max(all_steps)) if len(set(all_steps)) > 1 else None
    if all_steps and xlim is None:  # one step: a whole step either side, so that the ticks are steps
        xlim = (all_steps[0] - 1.0, all_steps[0] + 1.0)
    for ax, (panel_title, ks, always_legend) in zip(flat, groups, strict=False):
        for ki, k in enumerate(ks):
            for name, run in runs.items():
                xs, ys = series(run.rows, k)
                if not xs:
                    continue
                color = run_colors[name] if multi else f"C{ki % 10}"
                label = name if multi else short_name(k)
                _plot_line(ax, xs, ys, smooth, k.startswith("eval/"), color=color, label=label)
        reward_panel = any(k.startswith("reward/") for k in ks)
        if any(k.startswith("eval/") for k in ks):
            for name, run in runs.items():  # the step `best/` holds, where the run logs one
                _draw_best(ax, run.rows, run_colors[name] if multi else "0.2")
        for b, color in boundaries:  # a label near the right edge goes left of its line
            left = xlim is not None and b.step - xlim[0] > 0.6 * (xlim[1] - xlim[0])
            _draw_boundary(ax, b, color, reward_panel, left)
        if xlim is not None:  # every panel on the same step axis, so that panels line up
            pad = 0.02 * (xlim[1] - xlim[0])
            ax.set_xlim(xlim[0] - pad, xlim[1] + pad)
        ax.set_title(panel_title, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
        ax.tick_params(labelsize=8)
        ax.grid(True, alpha=0.3)
        if not multi and (len(ks) > 1 or always_legend):
            ax.legend(fontsize=7, loc="best", ncol=2 if len(ks) > 3 else 1, framealpha=0.8)
    for ax in flat[len(groups) :] if groups else flat[1:]:
        fig.delaxes(ax)
    if not groups:
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
    return fig


def plot_training_curves(
    log: LogSource | Mapping[str, LogSource],
    out_png: str | os.PathLike,
    keys: Sequence[str] | None = None,
    *,
    panels: Sequence[Panel] = DEFAULT_PANELS,
    components: Sequence[str] = (),
    schedule: Sequence[str] = (),
    validation: Sequence[str] = (),
    config: ConfigSource | None = None,
    smooth: float = 0.0,
    title: str | None = None,
) -> Path:
    """Multi-panel PNG of training curves against `step`, with the stage changes marked; returns its path.

    Args:
        log: one run (a run folder, its metrics.jsonl path, or a list of row dicts) or several runs
            `{run name: folder, path or rows}`, overlaid for ablations. A folder (or the folder of a JSONL
            path) with the run's `config.yaml` lets stage labels say which reward settings change there.
        out_png: where the PNG goes.
        keys: restrict the figure to these keys (a key outside `panels` gets a panel of its own);
            None plots every key of `panels` that has data and whose feature was on.
        panels: `(title, keys)` groups, `reward/*` and `eval/*` standing for the reward components and the
            validation metrics (`rarl.eval.curves`). One run draws each group in one panel, coloured by
            key; several runs get one panel per key, coloured by run, so that runs compare at a glance.
        components: the reward components to plot (the recipe's `curve_components`, names with or without
            `reward/`); empty: every logged `reward/<name>` other than the totals.
        schedule: reward settings logged per step as `reward/<name>` (the recipe's `curve_schedule`, e.g.
            Vision-R1's thresholds `xi0`, `xi1`, `xi2`); a change inside a stage is marked like a stage change,
            labelled `within stage <name>: reward changes` with the settings' old and new values.
        validation: the validation metrics to plot (the recipe's `curve_validation`: names without `eval/`
            or shell patterns such as `*/think/srcc`); empty: every logged `eval/<metric>`.
        `rarl.eval.curves.recipe_curves(recipe)` gives a recipe's `components`, `schedule` and `validation`.
        config: the single run's training config (a mapping or a YAML path), for a log given as rows.
        smooth: exponential moving average coefficient in [0, 1); above 0 the raw curve is drawn faint
            behind the smoothed one.
        title: figure title.
    """
    fig = training_curves_figure(
        log,
        keys,
        panels=panels,
        components=components,
        schedule=schedule,
        validation=validation,
        config=config,
        smooth=smooth,
        title=title,
    )
    return save_png(fig, out_png)
