"""A rich progress bar for training steps that shows the key numbers of the last step."""

from __future__ import annotations

from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

KEY_METRICS = (
    ("reward/total_mean", "R"),
    ("completion_len_mean", "len"),
    ("kl", "kl"),
    ("rmo_mutated_frac", "rmo"),
)


class StepProgress:
    def __init__(self, total: int, enabled: bool = True, description: str = "train") -> None:
        self.enabled = enabled
        self._progress: Any = None
        if not enabled:
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
        if self._progress is not None:
            self._progress.update(self._task, completed=step)

    def update(self, stage: str, metrics: dict[str, Any]) -> None:
        if self._progress is None:
            return
        info = " ".join(f"{short}={metrics[k]:.3g}" for k, short in KEY_METRICS if k in metrics)
        self._progress.update(self._task, advance=1, description=stage, info=info)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
