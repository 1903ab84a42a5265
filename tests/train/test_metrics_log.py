"""The trackers get the same numbers as metrics.jsonl: TensorBoard's event files read back, wandb's dict."""

from __future__ import annotations

import json
import math
import sys
import types

import numpy as np
import pytest

from rarl.train.metrics_log import MetricLogger, read_metrics

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

ROWS = [
    {"step": 1, "stage": "stage1", "reward/total_mean": 0.25, "reward/format": 1.0, "kl": 0.0, "loss": -0.5,
     "skipped_steps": 0, "rmo_mutated_frac": 0.0, "time/step": 1.5},
    {"step": 2, "stage": "stage2", "reward/total_mean": 1.75, "reward/ranking": 2.5, "reward/pd": math.nan,
     "kl": 0.0125, "loss": 0.125, "skipped_steps": 1, "note": "text is not a scalar"},
    # a validation row as rarl.train.validation logs it: a non-finite metric is null
    {"step": 2, "stage": "stage2", "eval/tau@4": 0.71, "eval/mae@1": 3.5, "eval/srcc": None,
     "best/tau@4": 0.71, "best/step": 2, "time/eval": 0.3},
    {"step": 3, "stage": "stage2", "reward/total_mean": 2.0, "loss": 0.0625, "eval/tau@4": 0.8},
]  # fmt: skip


def _expected(rows):
    """{key: [(step, value)]} of every numeric value but `step`, read back from metrics.jsonl."""
    out: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        for k, v in row.items():
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool):
                out.setdefault(k, []).append((row["step"], float(v)))
    return out


def _events(folder):
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def _same(got, want):
    assert [s for s, _ in got] == [s for s, _ in want]
    for (_, g), (_, w) in zip(got, want, strict=True):
        assert (math.isnan(g) and math.isnan(w)) or g == np.float32(w)  # TensorBoard stores float32


def test_tensorboard_gets_every_numeric_key_of_metrics_jsonl(tmp_path):
    logger = MetricLogger(tmp_path, tensorboard=True)
    for row in ROWS:
        logger.log(row)
    logger.close()
    written = read_metrics(tmp_path / "metrics.jsonl")
    assert written[2]["eval/srcc"] is None and math.isnan(written[1]["reward/pd"])
    want = _expected(written)
    got = _events(tmp_path / "tensorboard")
    assert set(got) == set(want)  # eval/*, best/*, time/* included; text, null and `step` are not scalars
    assert {"eval/tau@4", "eval/mae@1", "best/step", "reward/pd"} <= set(got) and "eval/srcc" not in got
    for key in want:
        _same(got[key], want[key])
    assert got["eval/tau@4"] == [(2, pytest.approx(0.71)), (3, pytest.approx(0.8))]


def test_resume_drops_events_past_the_resumed_step_and_a_fresh_run_starts_empty(tmp_path):
    logger = MetricLogger(tmp_path, tensorboard=True)
    for row in ROWS:
        logger.log(row)
    logger.close()
    resumed = MetricLogger(tmp_path, tensorboard=True, resume_step=1)  # steps 2 and 3 are trained again
    again = {"step": 2, "reward/total_mean": 9.0, "loss": 1.0}
    resumed.log(again)
    resumed.close()
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert rows == [ROWS[0], again]
    got = _events(tmp_path / "tensorboard")
    assert got["reward/total_mean"] == [(1, 0.25), (2, 9.0)] and got["kl"] == [(1, 0.0)]

    fresh = MetricLogger(tmp_path, tensorboard=True)  # a new run in the same folder: nothing of the old one
    fresh.log({"step": 1, "loss": 7.0})
    fresh.close()
    assert read_metrics(tmp_path / "metrics.jsonl") == [{"step": 1, "loss": 7.0}]
    assert _events(tmp_path / "tensorboard") == {"loss": [(1, 7.0)]}


class _FakeTracker(types.ModuleType):
    """Stands in for wandb / trackio: records init and every `log(dict, step=)` call."""

    def __init__(self, name):
        super().__init__(name)
        self.calls, self.config, self.finished = [], None, False

    def init(self, project, name, config):
        self.config = config

    def log(self, scalars, step):
        self.calls.append((step, dict(scalars)))

    def finish(self):
        self.finished = True


def test_wandb_and_trackio_get_the_same_dict_as_tensorboard(tmp_path, monkeypatch):
    fakes = {name: _FakeTracker(name) for name in ("wandb", "trackio")}
    for name, fake in fakes.items():
        monkeypatch.setitem(sys.modules, name, fake)
    logger = MetricLogger(tmp_path, tensorboard=True, wandb=True, trackio=True, config={"seed": 0})
    for row in ROWS:
        logger.log(row)
    logger.close()
    written = read_metrics(tmp_path / "metrics.jsonl")
    want = [(r["step"], {k: v for k, v in r.items() if k in _expected([r])}) for r in written]
    tensorboard = _events(tmp_path / "tensorboard")
    for fake in fakes.values():
        assert fake.config == {"seed": 0} and fake.finished
        assert len(fake.calls) == len(ROWS)
        for (step, got), (want_step, want_row) in zip(fake.calls, want, strict=True):
            assert step == want_step and set(got) == set(want_row)
            assert all(
                g == w or (math.isnan(g) and math.isnan(w)) for g, w in zip(got.values(), want_row.values())
            )
        per_key: dict[str, list[tuple[int, float]]] = {}
        for step, got in fake.calls:
            for k, v in got.items():
                per_key.setdefault(k, []).append((step, v))
        assert set(per_key) == set(tensorboard)
        for key, values in per_key.items():
            _same(tensorboard[key], values)
    assert json.dumps(fakes["wandb"].calls) == json.dumps(fakes["trackio"].calls)
