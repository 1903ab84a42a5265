"""Training progress: a live rich bar on a terminal, plain lines in a log.

On a terminal the bar shows the step, the elapsed time and the key numbers of the last step. When the output
is not a terminal (a pipe, a file, a job scheduler's log) a live bar cannot be drawn, so the progress is
printed as plain lines on stderr instead, one after the first step, then every tenth of the run or every
30 seconds, whichever comes first, and one for the last step (or the step a run stops at):

    train step 12/40 (30%) stage1: R=0.412 len=38 kl=0.0021 rmo=0 | 4.21 s/step, elapsed 0:00:51, ETA 0:01:58

Seconds per step and the ETA count the steps of this process only (a resumed run starts them afresh).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["KEY_METRICS", "SFT_METRICS", "StepProgress", "format_duration"]

KEY_METRICS = (
    ("reward/total_mean", "R"),
    ("completion_len_mean", "len"),
    ("kl", "kl"),
    ("rmo_mutated_frac", "rmo"),
)
"""(metric, short name) shown for a GRPO step."""
SFT_METRICS = (("loss", "loss"), ("grad_norm", "grad_norm"))
"""(metric, short name) shown for an SFT step."""
INTERVAL_S = 30.0
"""Plain lines: at most this long between two lines (when steps end)."""
LINES_PER_RUN = 10
"""Plain lines: one every `total / LINES_PER_RUN` steps at least."""


def format_duration(seconds: float) -> str:
    """`3725.2` -> '1:02:05'; unknown or negative: '?'."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class StepProgress:
    """Progress of a run of `total` optimizer steps (see the module docstring).

    `live`: draw the rich bar (default: when stdout is a terminal, as rich decides); otherwise plain lines go
    to `stream` (default stderr). `keys`: the (metric, short name) pairs shown.
    """

    def __init__(
        self,
        total: int,
        enabled: bool = True,
        description: str = "train",
        *,
        keys: Sequence[tuple[str, str]] = KEY_METRICS,
        live: bool | None = None,
        stream: TextIO | None = None,
        interval_s: float = INTERVAL_S,
        clock: Any = time.monotonic,
    ) -> None:
        self.enabled = enabled
        self.total = total
        self.description = description
        self.keys = tuple(keys)
        self._progress: Any = None
        self._stream = stream
        self._interval = interval_s
        self._every = max(1, math.ceil(total / LINES_PER_RUN))
        self._clock = clock
        self._step = self._start_step = self._printed_step = 0
        self._start = self._printed_at = clock()
        self._last: tuple[str, dict[str, Any]] | None = None
        self.live = False
        if not enabled:
            return
        self.live = Console().is_terminal if live is None else live
        if not self.live:
            return
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"),
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(description, total=total, info="")

    def advance_to(self, step: int) -> None:
        """Start at `step` (a resumed run): the rate and ETA count from here."""
        self._step = self._start_step = self._printed_step = step
        self._start = self._printed_at = self._clock()
        if self._progress is not None:
            self._progress.update(self._task, completed=step)

    def _info(self, metrics: dict[str, Any]) -> str:
        return " ".join(
            f"{short}={metrics[k]:.3g}"
            for k, short in self.keys
            if isinstance(metrics.get(k), (int, float)) and not isinstance(metrics.get(k), bool)
        )

    def update(self, stage: str, metrics: dict[str, Any]) -> None:
        """One optimizer step ended in `stage` with `metrics`."""
        if not self.enabled:
            return
        self._step += 1
        self._last = (stage, metrics)
        if self._progress is not None:
            self._progress.update(self._task, advance=1, description=stage, info=self._info(metrics))
            return
        now = self._clock()
        due = (
            self._printed_step == self._start_step  # the first step of this process
            or self._step - self._printed_step >= self._every
            or now - self._printed_at >= self._interval
            or self._step >= self.total
        )
        if due:
            self._print_line(now)

    def line(self, now: float | None = None) -> str:
        """The plain progress line for the current step."""
        now = self._clock() if now is None else now
        done = self._step - self._start_step
        per_step = (now - self._start) / done if done > 0 else math.nan
        stage, metrics = self._last if self._last is not None else ("", {})
        pct = 100.0 * self._step / self.total if self.total else 100.0
        head = f"{self.description} step {self._step}/{self.total} ({pct:.0f}%)"
        if stage and stage != self.description:
            head += f" {stage}"
        info = self._info(metrics)
        rate = f"{per_step:.3g} s/step" if math.isfinite(per_step) else "? s/step"
        eta = format_duration(per_step * (self.total - self._step)) if math.isfinite(per_step) else "?"
        timing = f"{rate}, elapsed {format_duration(now - self._start)}, ETA {eta}"
        return f"{head}: {info} | {timing}" if info else f"{head}: {timing}"

    def _print_line(self, now: float) -> None:
        stream = self._stream if self._stream is not None else sys.stderr
        print(self.line(now), file=stream, flush=True)
        self._printed_step, self._printed_at = self._step, now

    def close(self) -> None:
        """Stop the bar; in plain mode, print the step the run ended at if it was not printed yet."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        elif self.enabled and not self.live and self._step > self._printed_step:
            self._print_line(self._clock())
