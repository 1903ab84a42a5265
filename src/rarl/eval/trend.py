"""Did the on-policy reward rise within a stage? An OLS slope with its confidence interval per stage of a run.

    t = reward_trend([1.2, 1.5, 1.4, 1.9])           # Trend(n=4, slope=0.2, low=..., high=..., word=...)
    for stage, t in stage_trends("runs/rarl"):       # a run folder, its metrics.jsonl or a list of rows
        print(format_trend(t, f"RARL {stage}"))
    # RARL stage1: on-policy reward 1.761 -> 1.765 (first -> last quarter), slope +0.0004/step
    #   [95 % CI -0.0011, +0.0019], 40 steps: flat

A trend is computed per stage because a stage boundary may change the reward's definition (RARL's stage 2 adds
the ranking term; Refine-IQA's stages score different tasks), so a fit across the boundary would measure the
change of definition, not learning. The reports that receive training curves list one line per stage under
the figure (`trend_lines`, then `trend_markdown` or `trend_html`); `print_stage_trends` prints them for a
finished run.
"""

from __future__ import annotations

import html
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from scipy.stats import t as student_t

from rarl.eval.curves import LogSource, load_run, load_runs, num

__all__ = [
    "ONPOLICY_KEYS",
    "Trend",
    "format_trend",
    "print_stage_trends",
    "reward_trend",
    "stage_trends",
    "trend_html",
    "trend_lines",
    "trend_markdown",
]

ONPOLICY_KEYS = ("reward/onpolicy_mean", "reward/total_mean")
"""Where a GRPO step's row holds the mean on-policy reward (before RMO): the first key a row has. Both hold
the same number in the trainer's log; logs written before `reward/onpolicy_mean` existed have only the
second."""


@dataclass(frozen=True)
class Trend:
    """The OLS fit of a series against its positions 0..n-1 (see `reward_trend`)."""

    n: int
    slope: float
    """Change per step (NaN for n < 2)."""
    stderr: float
    """Standard error of the slope (NaN for n < 3)."""
    low: float
    """Lower end of the (1 - alpha) confidence interval of the slope (NaN for n < 3)."""
    high: float
    first: float
    """Mean of the first quarter of the series (its first max(1, n // 4) values; NaN when empty)."""
    last: float
    """Mean of the last quarter (its last max(1, n // 4) values)."""
    word: str
    """'rises' (interval above 0), 'falls' (below 0), 'flat' (covers 0), 'too short' (n < 3)."""
    alpha: float = 0.05


def reward_trend(values: Sequence[float], alpha: float = 0.05) -> Trend:
    """The OLS slope per step of `values` against x = 0..n-1, with its (1 - alpha) confidence interval.

    With x̄ = (n - 1) / 2, ȳ the mean, S_xx = Σ (x - x̄)² = n (n² - 1) / 12:

        slope b = Σ (x - x̄)(y - ȳ) / S_xx
        s²      = Σ (y - ȳ - b (x - x̄))² / (n - 2)          (residual variance)
        SE(b)   = sqrt(s² / S_xx)
        CI      = b ± t_{1 - alpha/2, n - 2} · SE(b)          (Student-t quantile, n - 2 degrees of freedom)

    The word is 'rises' when the interval lies above 0, 'falls' below 0, 'flat' when it covers 0; n < 3
    leaves no degree of freedom for the error: NaN interval, 'too short'. A constant series has slope 0 and a
    zero-width interval (flat); a perfect line a zero-width interval at its slope. `first` and `last` are the
    means of the first and last max(1, n // 4) values. The interval assumes independent errors around a
    line; a reward curve's steps are correlated, so read it as a yardstick, not an exact test.

    Raises ValueError for a non-finite value or alpha outside (0, 1).
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"reward_trend: alpha must lie in (0, 1), got {alpha}")
    ys = [float(v) for v in values]
    bad = next((i for i, y in enumerate(ys) if not math.isfinite(y)), None)
    if bad is not None:
        raise ValueError(f"reward_trend: values[{bad}] is {ys[bad]}, not a finite number")
    n = len(ys)
    nan = math.nan
    q = max(1, n // 4)
    first = math.fsum(ys[:q]) / q if n else nan
    last = math.fsum(ys[-q:]) / q if n else nan
    if n < 2:
        return Trend(n, nan, nan, nan, nan, first, last, "too short", alpha)
    constant = max(ys) == min(ys)  # exactly: no rounding noise in the slope
    x_mean, y_mean = (n - 1) / 2, math.fsum(ys) / n
    sxx = n * (n * n - 1) / 12
    slope = 0.0 if constant else math.fsum((x - x_mean) * (y - y_mean) for x, y in enumerate(ys)) / sxx
    if n < 3:
        return Trend(n, slope, nan, nan, nan, first, last, "too short", alpha)
    sse = 0.0 if constant else math.fsum((y - y_mean - slope * (x - x_mean)) ** 2 for x, y in enumerate(ys))
    stderr = math.sqrt(sse / (n - 2) / sxx)
    half = float(student_t.ppf(1.0 - alpha / 2.0, n - 2)) * stderr
    low, high = slope - half, slope + half
    word = "rises" if low > 0 else "falls" if high < 0 else "flat"
    return Trend(n, slope, stderr, low, high, first, last, word, alpha)


def _onpolicy(row: Mapping[str, Any]) -> float | None:
    for key in ONPOLICY_KEYS:
        value = num(row.get(key))
        if value is not None:
            return value
    return None


def stage_trends(source: LogSource, alpha: float = 0.05) -> list[tuple[str, Trend]]:
    """`(stage, reward_trend(its on-policy rewards))` for each stage of a run, in order of first appearance.

    `source`: a run folder (its metrics.jsonl), a metrics JSONL path or a list of log rows. Only the rows of
    GRPO steps count (those with a numeric `ONPOLICY_KEYS` value: validation and SFT rows have none), in step
    order (a row without a numeric `step` by its position); a row without `stage` belongs to stage ''.
    """
    rows = load_run(source).rows
    points: list[tuple[float, str, float]] = []
    for i, row in enumerate(rows):
        value = _onpolicy(row)
        if value is None:
            continue
        step = num(row.get("step"))
        stage = row.get("stage")
        points.append((float(i) if step is None else step, "" if stage is None else str(stage), value))
    points.sort(key=lambda p: p[0])
    by_stage: dict[str, list[float]] = {}
    for _, stage, value in points:
        by_stage.setdefault(stage, []).append(value)
    return [(stage, reward_trend(values, alpha)) for stage, values in by_stage.items()]


def _decimals(t: Trend) -> int:
    """Decimals that show the interval's half-width (else the slope) to two significant digits."""
    scale = (t.high - t.low) / 2 if math.isfinite(t.high - t.low) and t.high > t.low else abs(t.slope)
    if not math.isfinite(scale) or scale == 0:
        return 4
    return min(10, max(0, 1 - math.floor(math.log10(scale))))


def _value(v: float) -> str:
    """A reward to four significant digits, trailing zeros kept (1.77 -> '1.770')."""
    return f"{v:#.4g}".rstrip(".")


def format_trend(t: Trend, label: str = "") -> str:
    """One line: `label: on-policy reward FIRST -> LAST (first -> last quarter), slope +S/step [95 % CI
    -L, +H], N steps: WORD`; the interval is left out for n < 3, the slope for n < 2. Decimals: enough to
    show the interval's half-width (else the slope) to two significant digits."""
    head = f"{label}: " if label else ""
    if t.n == 0:
        return f"{head}no on-policy reward logged: {t.word}"
    line = f"{head}on-policy reward {_value(t.first)} -> {_value(t.last)} (first -> last quarter)"
    if math.isfinite(t.slope):
        d = _decimals(t)
        line += f", slope {t.slope:+.{d}f}/step"
        if math.isfinite(t.low):
            line += f" [{100 * (1 - t.alpha):g} % CI {t.low:+.{d}f}, {t.high:+.{d}f}]"
    steps = "1 step" if t.n == 1 else f"{t.n} steps"
    return f"{line}, {steps}: {t.word}"


def trend_lines(curves: LogSource | Mapping[str, LogSource] | None, alpha: float = 0.05) -> list[str]:
    """One `format_trend` line per run and stage of a report's `curves` (`{run name: folder, JSONL path or
    rows}`, or one unnamed run), labelled `"<run> <stage>"`; [] without curves or without GRPO steps."""
    if not curves:
        return []
    lines = []
    for name, run in load_runs(curves).items():
        for stage, t in stage_trends(run.rows, alpha):
            label = " ".join(p for p in (name, stage) if p)
            lines.append(format_trend(t, label))
    return lines


def _caption(alpha: float) -> str:
    return (
        f"On-policy reward per stage (OLS slope per step, {100 * (1 - alpha):g} % CI with Student's t; "
        "rises / falls: the interval excludes 0, flat: it covers 0):"
    )


def trend_markdown(lines: Sequence[str], alpha: float = 0.05) -> list[str]:
    """What a report's Markdown puts under its training-curve figure for `trend_lines(curves, alpha)`: a blank
    line, a caption, a blank line and one bullet per line; [] for no line."""
    return ["", _caption(alpha), "", *(f"- {line}" for line in lines)] if lines else []


def trend_html(lines: Sequence[str], alpha: float = 0.05) -> list[str]:
    """The same for a report page: the caption as a paragraph and the lines as a list (escaped HTML)."""
    if not lines:
        return []
    items = [f"<li>{html.escape(line)}</li>" for line in lines]
    return [f'<p class="legend">{html.escape(_caption(alpha))}</p>', "<ul>", *items, "</ul>"]


def print_stage_trends(run_dir: str | os.PathLike, stream: TextIO | None = None) -> list[str]:
    """Print a finished run's per-stage lines (`trend_lines(run_dir)`) on `stream` (default stdout), on the
    main process only (environment RANK unset or 0); returns the lines (also on other processes)."""
    lines = trend_lines(run_dir)
    if lines and os.environ.get("RANK", "0") == "0":
        print("\n".join(lines), file=stream or sys.stdout)
    return lines
