"""Training progress in a log that is not a terminal: plain lines at a steady pace, with rate and ETA."""

from __future__ import annotations

import io

from rarl.train.progress import SFT_METRICS, StepProgress, format_duration


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _run(
    total: int, seconds_per_step: float, steps: int | None = None, start: int = 0, **kwargs
) -> list[str]:
    clock, out = Clock(), io.StringIO()
    progress = StepProgress(total, live=False, stream=out, clock=clock, **kwargs)
    progress.advance_to(start)
    for step in range(start + 1, (steps or total) + 1):
        clock.now += seconds_per_step
        progress.update(
            "stage1" if step <= total // 2 else "stage2", {"reward/total_mean": step / 10, "kl": 0.0}
        )
    progress.close()
    return out.getvalue().splitlines()


def test_lines_every_tenth_of_the_run_and_the_last_step():
    lines = _run(40, seconds_per_step=1.0)
    steps = [int(line.split()[2].split("/")[0]) for line in lines]
    assert steps == [1, 5, 9, 13, 17, 21, 25, 29, 33, 37, 40]  # the first, then every 4 (40 / 10), the last
    assert lines[1] == "train step 5/40 (12%) stage1: R=0.5 kl=0 | 1 s/step, elapsed 0:00:05, ETA 0:00:35"
    assert lines[-1] == "train step 40/40 (100%) stage2: R=4 kl=0 | 1 s/step, elapsed 0:00:40, ETA 0:00:00"


def test_slow_steps_print_at_least_every_30_seconds():
    lines = _run(100, seconds_per_step=12.0, steps=8)
    steps = [int(line.split()[2].split("/")[0]) for line in lines]
    # 30 s is reached every third step (36 s) before a tenth of the run (10 steps); close adds the stop step
    assert steps == [1, 4, 7, 8]
    assert lines[1].endswith("| 12 s/step, elapsed 0:00:48, ETA 0:19:12")


def test_a_resumed_run_counts_rate_and_eta_from_where_it_resumed():
    lines = _run(20, seconds_per_step=2.0, start=10)
    assert lines[0] == "train step 11/20 (55%) stage2: R=1.1 kl=0 | 2 s/step, elapsed 0:00:02, ETA 0:00:18"


def test_sft_lines_show_the_loss():
    clock, out = Clock(), io.StringIO()
    progress = StepProgress(3, live=False, stream=out, clock=clock, description="sft", keys=SFT_METRICS)
    clock.now = 0.5
    progress.update("sft", {"loss": 2.25, "grad_norm": 1.5, "stage": "sft"})
    assert (
        out.getvalue()
        == "sft step 1/3 (33%): loss=2.25 grad_norm=1.5 | 0.5 s/step, elapsed 0:00:00, ETA 0:00:01\n"
    )


def test_disabled_progress_prints_nothing():
    out = io.StringIO()
    progress = StepProgress(5, enabled=False, live=False, stream=out)
    progress.update("s", {"kl": 1.0})
    progress.close()
    assert out.getvalue() == ""


def test_format_duration():
    assert format_duration(3725.2) == "1:02:05"
    assert format_duration(59.6) == "0:01:00"
    assert format_duration(float("nan")) == "?"
