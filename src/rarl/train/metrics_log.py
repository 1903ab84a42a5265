"""Step metrics: a JSONL file always, TensorBoard / wandb / trackio when installed and asked for.

Every row goes to metrics.jsonl as it is; the trackers get the same row's numbers (`tracker_scalars`: every
int or float value but `step`, which is their x axis; `eval/*` validation rows included), all of them the
same dict. Only the main process writes. On resume, rows past the resumed step are dropped so the log
matches the parameters that were actually restored (TensorBoard's events past it too); a fresh run removes
the previous run's log and TensorBoard events in the same folder.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("rarl")


def tracker_scalars(row: dict[str, Any]) -> dict[str, float]:
    """The numbers of a metrics row the trackers log: every int or float value (NaN included; None, text and
    nested values are not numbers) except `step`, which is their x axis."""
    return {k: v for k, v in row.items() if isinstance(v, (int, float)) and k != "step"}


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a metrics JSONL file; unreadable lines are skipped (a crash may cut the last one)."""
    rows = []
    p = Path(path)
    if not p.exists():
        return rows
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


class MetricLogger:
    """Writes one JSON object per step to `<dir>/metrics.jsonl` and mirrors scalars to trackers."""

    def __init__(
        self,
        out_dir: str | Path,
        *,
        enabled: bool = True,
        tensorboard: bool = False,
        wandb: bool = False,
        trackio: bool = False,
        run_name: str = "rarl",
        resume_step: int | None = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        self.enabled = enabled
        self.dir = Path(out_dir)
        self.path = self.dir / "metrics.jsonl"
        self.samples_path = self.dir / "samples.jsonl"
        self._trackers: list[Any] = []
        if not enabled:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        if resume_step is not None:
            self._truncate(self.path, resume_step)
            self._truncate(self.samples_path, resume_step)
        else:
            for old in (
                self.path,
                self.samples_path,
                *(self.dir / "tensorboard").glob("events.out.tfevents.*"),
            ):
                old.unlink(missing_ok=True)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                purge = None if resume_step is None else resume_step + 1  # events past the resumed step go
                writer = SummaryWriter(log_dir=str(self.dir / "tensorboard"), purge_step=purge)
                self._trackers.append(("tensorboard", writer))
            except ImportError:
                log.warning("tensorboard requested but not installed (pip install tensorboard); skipping")
        for name, flag in (("wandb", wandb), ("trackio", trackio)):
            if not flag:
                continue
            try:
                mod = __import__(name)
                mod.init(project="rarl", name=run_name, config=config or {})
                self._trackers.append((name, mod))
            except Exception as e:  # tracker setup must never kill a run
                log.warning("%s requested but could not start (%s); skipping", name, e)

    @staticmethod
    def _truncate(path: Path, step: int) -> None:
        if not path.exists():
            return
        keep = [json.dumps(r) for r in read_metrics(path) if r.get("step", 0) <= step]
        path.write_text("".join(k + "\n" for k in keep), encoding="utf-8")

    def log(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        step = int(row.get("step", 0))
        scalars = tracker_scalars(row)
        for name, tracker in self._trackers:
            if name == "tensorboard":
                for k, v in scalars.items():
                    tracker.add_scalar(k, v, step)
            else:
                tracker.log(scalars, step=step)

    def log_samples(self, step: int, samples: list[dict[str, Any]]) -> None:
        if not self.enabled:
            return
        with self.samples_path.open("a", encoding="utf-8") as f:
            for s in samples:
                f.write(json.dumps({"step": step, **s}, ensure_ascii=False) + "\n")

    def close(self) -> None:
        for name, tracker in self._trackers:
            try:
                if name == "tensorboard":
                    tracker.close()
                else:
                    tracker.finish()
            except Exception:
                pass
        self._trackers = []
