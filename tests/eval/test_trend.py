"""Did the on-policy reward rise within a stage: the OLS slope with its Student-t interval (hand-worked), the
per-stage split of a run's log, and the lines the reports and `print_stage_trends` show for a real tiny GRPO
run."""

from __future__ import annotations

import io
import json
import math

import pytest

import rarl.recipes.localization.evaluation as localization_evaluation
import rarl.recipes.ordinal.report as ordinal_report
from rarl.eval.trend import format_trend, print_stage_trends, reward_trend, stage_trends, trend_lines
from rarl.recipes.runs import grpo_trainer
from rarl.train.config import (
    CheckpointConfig,
    DataConfig,
    LoggingConfig,
    ModelConfig,
    OptimConfig,
    RolloutConfig,
    StageConfig,
    TrainConfig,
)
from rarl.train.metrics_log import read_metrics

# ------------------------------------------------------------------------------------ hand-worked fits


def test_a_perfect_line_has_its_slope_and_a_zero_width_interval():
    t = reward_trend([2 + 0.5 * x for x in range(8)])  # 2, 2.5, ..., 5.5
    assert t.n == 8 and t.slope == pytest.approx(0.5, abs=1e-12)
    assert t.stderr == pytest.approx(0.0, abs=1e-12)
    assert t.low == pytest.approx(0.5, abs=1e-12) and t.high == pytest.approx(0.5, abs=1e-12)
    assert t.first == 2.25 and t.last == 5.25  # quarters of 8: the first and last two values
    assert t.word == "rises"
    falling = reward_trend([2 - 0.5 * x for x in range(8)])
    assert falling.slope == pytest.approx(-0.5, abs=1e-12) and falling.word == "falls"


def test_a_small_series_by_hand():
    # y = 1, 3, 2, 5 at x = 0..3: x̄ = 1.5, ȳ = 2.75, S_xx = 5,
    # Σ(x - x̄)(y - ȳ) = (-1.5)(-1.75) + (-0.5)(0.25) + (0.5)(-0.75) + (1.5)(2.25) = 5.5 -> slope 1.1;
    # fitted 1.1, 2.2, 3.3, 4.4 -> residuals -0.1, 0.8, -1.3, 0.6, SSE = 2.7, s² = 2.7 / 2 = 1.35,
    # SE = sqrt(1.35 / 5) = 0.519615; t(0.975, 2 df) = 4.302653 -> half-width 2.235724: [-1.135724, 3.335724]
    t = reward_trend([1, 3, 2, 5])
    assert t.slope == pytest.approx(1.1)
    assert t.stderr == pytest.approx(0.519615, abs=1e-6)
    assert (t.low, t.high) == (pytest.approx(-1.135724, abs=1e-6), pytest.approx(3.335724, abs=1e-6))
    assert (t.first, t.last, t.word) == (1.0, 5.0, "flat")
    # y = 5, 4, 4, 2, 1: x̄ = 2, ȳ = 3.2, S_xx = 10, Σ(x - x̄)(y - ȳ) = -3.6 - 0.8 + 0 - 1.2 - 4.4 = -10,
    # slope -1;
    # residuals -0.2, -0.2, 0.8, -0.2, -0.2, SSE = 0.8, s² = 0.8 / 3, SE = sqrt(0.8 / 30) = 0.163299;
    # t(0.975, 3 df) = 3.182446 -> half-width 0.519691: [-1.519691, -0.480309]
    t = reward_trend([5, 4, 4, 2, 1])
    assert t.slope == pytest.approx(-1.0)
    assert t.stderr == pytest.approx(0.163299, abs=1e-6)
    assert (t.low, t.high) == (pytest.approx(-1.519691, abs=1e-6), pytest.approx(-0.480309, abs=1e-6))
    assert t.word == "falls"
    line = "RARL stage1: on-policy reward 5.000 -> 1.000 (first -> last quarter), slope -1.00/step "
    assert format_trend(t, "RARL stage1") == line + "[95 % CI -1.52, -0.48], 5 steps: falls"
    # a 90 % interval: t(0.95, 3 df) = 2.353363 -> half-width 0.384303
    t90 = reward_trend([5, 4, 4, 2, 1], alpha=0.10)
    assert t90.high - t90.slope == pytest.approx(0.384303, abs=1e-6)
    assert "[90 % CI -1.38, -0.62]" in format_trend(t90)


def test_a_constant_series_is_flat_with_slope_zero():
    t = reward_trend([0.1] * 7)  # 0.1 is not exact in binary: the slope must still be exactly 0
    assert (t.slope, t.stderr, t.low, t.high, t.word) == (0.0, 0.0, 0.0, 0.0, "flat")
    assert t.first == pytest.approx(0.1) and t.last == pytest.approx(0.1)


def test_two_values_are_too_short_for_an_interval():
    t = reward_trend([1.0, 2.0])
    assert t.slope == 1.0 and t.word == "too short"
    assert math.isnan(t.low) and math.isnan(t.high) and math.isnan(t.stderr)
    assert format_trend(t, "s") == (
        "s: on-policy reward 1.000 -> 2.000 (first -> last quarter), slope +1.0/step, 2 steps: too short"
    )
    one, none = reward_trend([3.0]), reward_trend([])
    assert math.isnan(one.slope) and one.word == "too short" and one.first == one.last == 3.0
    assert (
        none.n == 0
        and math.isnan(none.first)
        and format_trend(none, "s") == ("s: no on-policy reward logged: too short")
    )


def test_bad_input_names_it():
    with pytest.raises(ValueError, match=r"values\[1\] is nan"):
        reward_trend([1.0, float("nan"), 2.0])
    with pytest.raises(ValueError, match="alpha must lie in"):
        reward_trend([1.0, 2.0, 3.0], alpha=1.5)


# --------------------------------------------------------------------------------------- stages of a log


def test_stages_are_split_and_other_rows_ignored():
    rows = [
        {"step": 1, "stage": "sft", "loss": 1.0},  # an SFT row: no reward
        {"step": 3, "stage": "stage1", "reward/onpolicy_mean": 2.0, "reward/total_mean": 2.0},
        {"step": 2, "stage": "stage1", "reward/onpolicy_mean": 3.0, "reward/total_mean": 3.0},  # out of order
        {"step": 2, "stage": "stage1", "eval/mae": 4.0, "best/mae": 4.0},  # a validation row
        {"step": 4, "stage": "stage1", "reward/total_mean": 5.0},  # an older log: the total only
        {"step": 5, "stage": "stage2", "reward/onpolicy_mean": None, "reward/total_mean": 7.0},
        {"step": 6, "stage": "stage2", "reward/onpolicy_mean": 8.0},
    ]
    out = stage_trends(rows)
    assert [s for s, _ in out] == ["stage1", "stage2"]
    (_, s1), (_, s2) = out
    assert (s1.n, s1.first, s1.last) == (3, 3.0, 5.0)  # 3, 2, 5 in step order
    assert s1.slope == pytest.approx(1.0)  # Σ(x - 1)(y - 10/3) = (-1)(-1/3) + (1)(5/3) = 2, S_xx = 2
    assert (s2.n, s2.slope, s2.word) == (2, 1.0, "too short")
    assert trend_lines(rows)[0].startswith("stage1: on-policy reward 3.000 -> 5.000")  # one unnamed run
    assert trend_lines({"A": rows})[1].startswith("A stage2: ")
    assert trend_lines(None) == [] and trend_lines([{"step": 1, "stage": "sft", "loss": 1.0}]) == []


# ------------------------------------------------------------------------------- a real run, its reports


def _config(model, manifest, out) -> TrainConfig:
    """Two stages of the tiny model (4 and 3 steps), as a `rarl train` run logs them."""
    return TrainConfig(
        output_dir=str(out),
        seed=0,
        model=ModelConfig(name_or_path=str(model), freeze_vision=False),
        data=DataConfig(manifest=str(manifest), sizes=[1, 2]),
        rollout=RolloutConfig(num_generations=2, max_new_tokens=8),
        optim=OptimConfig(lr=1e-3),
        prompts_per_step=2,
        micro_batch_size=4,
        stages=[
            StageConfig(name="stage1", steps=4, reward_kwargs={"weights": [1.0, 0.0, 1.0]}, rmo=False),
            StageConfig(name="stage2", steps=3, reward_kwargs={"weights": [1.0, 1.0, 1.0]}, rmo=False),
        ],
        logging=LoggingConfig(progress=False),
        checkpoint=CheckpointConfig(every=0, save_final_model=False),
    )


def test_a_real_run_gives_per_stage_lines_in_the_reports(tiny_model, manifest, tmp_path):
    run = tmp_path / "run"
    grpo_trainer(_config(tiny_model, manifest, run)).train()
    rows = read_metrics(run / "metrics.jsonl")
    logged = [r["reward/onpolicy_mean"] for r in rows]
    trends = stage_trends(run)  # the real log, as the trainer wrote it
    assert [(s, t.n) for s, t in trends] == [("stage1", 4), ("stage2", 3)]
    assert (trends[0][1].first, trends[0][1].last) == (logged[0], logged[3])
    assert (trends[1][1].first, trends[1][1].last) == (logged[4], logged[6])

    # the same log with hand-chosen rewards: stage1 1, 3, 2, 5 (the series worked above, flat);
    # stage2 1, 2, 3.1: x̄ = 1, ȳ = 6.1 / 3, Σ(x - x̄)(y - ȳ) = 2.1, S_xx = 2 -> slope 1.05, residuals 1/60,
    # -1/30, 1/60, SSE = 1/600, s² = 1/600 (1 df), SE = sqrt(1/1200) = 0.028868, t(0.975, 1 df) = 12.706205
    # -> half-width 0.366797: [0.683203, 1.416797], rises
    for row, value in zip(rows, [1, 3, 2, 5, 1, 2, 3.1], strict=True):
        row["reward/onpolicy_mean"] = row["reward/total_mean"] = float(value)
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    s2 = stage_trends(run)[1][1]
    assert (s2.slope, s2.low, s2.high) == (
        pytest.approx(1.05),
        pytest.approx(0.683203, abs=1e-6),
        pytest.approx(1.416797, abs=1e-6),
    )
    expected = [
        "RARL stage1: on-policy reward 1.000 -> 5.000 (first -> last quarter), slope +1.1/step "
        "[95 % CI -1.1, +3.3], 4 steps: flat",
        "RARL stage2: on-policy reward 1.000 -> 3.100 (first -> last quarter), slope +1.05/step "
        "[95 % CI +0.68, +1.42], 3 steps: rises",
    ]
    curves = {"RARL": run}  # as the demos pass their run folder
    ordinal_report.write_report(tmp_path / "rarl", {}, "t", curves=curves)
    md = (tmp_path / "rarl" / "report.md").read_text()
    section = md[md.index("## Training curves") : md.index("## Scoring policy")]
    assert [line[2:] for line in section.splitlines() if line.startswith("- ")] == expected
    page = (tmp_path / "rarl" / "index.html").read_text()
    assert all(f"<li>{line.replace('>', '&gt;')}</li>" in page for line in expected)

    localization_evaluation.write_localization_report(tmp_path / "vision-r1", {}, title="t", curves=curves)
    md = (tmp_path / "vision-r1" / "report.md").read_text()
    assert [line[2:] for line in md.splitlines() if line.startswith("- ")] == expected

    ordinal_report.write_report(tmp_path / "rarl", {}, "t")  # no curves: no section, no lines
    assert "on-policy reward" not in (tmp_path / "rarl" / "report.md").read_text()

    stream = io.StringIO()  # the end of a run: the same lines, unlabelled by run
    assert print_stage_trends(run, stream) == [line.removeprefix("RARL ") for line in expected]
    assert stream.getvalue().splitlines() == [line.removeprefix("RARL ") for line in expected]
