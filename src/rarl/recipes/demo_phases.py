"""Numbered, timed phases of a recipe's CPU demo, shown as console rules (shared by the recipes' demos)."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console


class DemoPhases:
    """`start(title)` opens phase k/total with a rule; `done(name)` records the time since the last `done`.

    phases = DemoPhases(total=3)
    phases.start("data"); ...; phases.done("prepare data")
    phases.summary(report=out / "report.md")     # "phase times: prepare data 3s, ...; total 95s"
    """

    def __init__(self, total: int, console: Console | None = None) -> None:
        self.total_phases = total
        self.console = console or Console()
        self.timings: dict[str, float] = {}
        self._index = 0
        self._t0 = time.perf_counter()
        self._last = self._t0

    def start(self, title: str) -> None:
        """Open the next numbered phase."""
        self._index += 1
        self.console.rule(f"[bold]{self._index}/{self.total_phases} {title}")

    def done(self, name: str) -> float:
        """Record `name` as taking the time since the previous `done` (or the start); returns it in seconds."""
        now = time.perf_counter()
        self.timings[name] = now - self._last
        self._last = now
        self.console.rule(f"[dim]{name} done in {self.timings[name]:.0f}s")
        return self.timings[name]

    @property
    def total(self) -> float:
        """Seconds since the demo started."""
        return time.perf_counter() - self._t0

    def summary(self, report: Path | None = None) -> None:
        """Print every phase's time and the total, and where the report is."""
        times = ", ".join(f"{k} {v:.0f}s" for k, v in self.timings.items())
        self.console.print(f"[bold]phase times:[/] {times}; total {self.total:.0f}s")
        if report is not None:
            self.console.print(f"[bold]report:[/] {report}")
