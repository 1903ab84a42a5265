"""What the training-curve figure shows: each recipe's reward components with a legend, panels only for the
features a run used, stage boundaries labelled with the reward change, the validation curve; the reports'
and the ablation's figure calls pass the recipe's components."""

from __future__ import annotations

import json
import math

import pytest
import yaml

import rarl.recipes.localization.evaluation as localization_evaluation
import rarl.recipes.ordinal.report as ordinal_report
import rarl.recipes.quality.evaluation as quality_evaluation
from rarl.eval.curves import DEFAULT_PANELS, recipe_curves, reward_changes, stage_boundaries
from rarl.eval.plots import plot_training_curves, training_curves_figure
from rarl.recipes import get_recipe
from rarl.recipes.quality.reward import QualityTaskReward
from rarl.rewards.batch import RewardInputs
from rarl.rewards.localization_batch import COMPONENTS as LOCALIZATION_COMPONENTS
from rarl.rewards.ranking_aware import RewardBreakdown
from rarl.utils.config import ConfigError

# ------------------------------------------------------------------------------------------ helpers


def panels(fig):
    """{title: axes} of the figure's panels."""
    return {ax.get_title(): ax for ax in fig.axes}


def legend(ax):
    """The legend's labels ([] when the panel has no legend)."""
    lg = ax.get_legend()
    return [t.get_text() for t in lg.get_texts()] if lg is not None else []


def curves(ax):
    """{label: (xs, ys)} of the panel's data lines (not the stage lines, not the faint raw curves)."""
    out = {}
    for line in ax.get_lines():
        if not line.get_label().startswith("_"):
            out[line.get_label()] = (list(line.get_xdata()), list(line.get_ydata()))
    return out


def stage_lines(ax):
    """x of every vertical stage line in the panel."""
    vertical = [  # unlabelled (the best/ marker has a legend entry)
        line
        for line in ax.get_lines()
        if list(line.get_ydata()) == [0, 1] and line.get_label().startswith("_")
    ]
    return [float(line.get_xdata()[0]) for line in vertical if len(set(line.get_xdata())) == 1]


def texts(ax):
    return [t.get_text() for t in ax.texts]


ENGINE = {  # what the GRPO trainer logs besides the reward components (step_batch.batch_metrics, update)
    "reward/total_std": 0.5,
    "zero_var_frac_before": 0.5,
    "zero_var_frac_after": 0.5,
    "rmo_mutated_frac": 0.0,
    "reward/onpolicy_mean": 1.0,
    "kept_frac": 1.0,
    "completion_len_mean": 40.0,
    "truncated_frac": 0.0,
    "reward_errors": 0.0,
    "pg_loss": 0.1,
    "kl_loss": 0.0,
    "kl": 0.0,
    "clip_frac": 0.0,
    "ratio_mean": 1.0,
    "loss": 0.1,
    "entropy": 2.0,
    "grad_norm": 0.3,
    "lr": 1e-4,
    "skipped_steps": 0,
    "time/step": 1.0,
}


def engine_rows(components_by_step, stages=("stage1", "stage2"), steps=6, **overrides):
    """`steps` rows as the trainer logs them, with `components_by_step(t)` as the reward/* keys."""
    rows = []
    for t in range(1, steps + 1):
        row = {**ENGINE, **components_by_step(t), "reward/total_mean": 0.1 * t, "step": t}
        row["stage"] = stages[0] if t <= steps // 2 else stages[-1]
        for key, fn in overrides.items():
            row[key] = fn(t)
        rows.append(row)
    return rows


def write_run(folder, rows, config):
    """A run folder as the trainer leaves it: metrics.jsonl and config.yaml."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    return folder


# ------------------------------------------------------------------------------- recipe components


def _quality_reward_keys():
    """The components the Refine-IQA reward returns on a batch mixing every task."""
    targets = [
        3.2,
        {"task": "distortion", "options": ["noise", "blur"], "answer": 0},
        {"task": "severity", "options": ["mild", "severe"], "answer": 1},
        {"task": "object", "options": ["cat", "dog"], "answer": 0},
        {"task": "grounding", "box": [0.0, 0.0, 10.0, 10.0]},
    ]
    texts = [
        "<think>sharp</think><answer>3.2</answer>",
        *["<answer>A</answer>"] * 3,
        "<answer>[0, 0, 5, 5]</answer>",
    ]
    out = QualityTaskReward(pd=False)(RewardInputs(samples=[None] * 5, targets=targets, texts=texts))
    return set(out.components)


RECIPE_REWARD_KEYS = {
    "rarl": lambda: set(RewardBreakdown(*[0.0] * 7).as_dict()) - {"total"},
    "vision-r1": lambda: set(LOCALIZATION_COMPONENTS),
    "refine-iqa": _quality_reward_keys,
}


@pytest.mark.parametrize("name", sorted(RECIPE_REWARD_KEYS))
def test_each_recipe_names_components_its_reward_returns(name):
    components = get_recipe(name).curve_components
    assert components and len(set(components)) == len(components)
    assert set(components) <= RECIPE_REWARD_KEYS[name]()


@pytest.mark.parametrize("name", sorted(RECIPE_REWARD_KEYS))
def test_each_recipe_components_are_plotted_with_a_legend(name):
    """Every key the reward logs is in the rows; the panel holds the recipe's components, each labelled."""
    logged = sorted(RECIPE_REWARD_KEYS[name]())
    rows = engine_rows(lambda t: {f"reward/{k}": 0.01 * t + i / 10 for i, k in enumerate(logged)})
    components = get_recipe(name).curve_components
    panel = panels(training_curves_figure(rows, components=components))["Reward components"]
    assert legend(panel) == list(components)
    first = logged.index(components[0])
    assert curves(panel)[components[0]] == ([1, 2, 3, 4, 5, 6], [0.01 * t + first / 10 for t in range(1, 7)])


def test_a_single_component_still_gets_a_legend_and_no_components_means_every_logged_one(training_log):
    rows = engine_rows(lambda t: {"reward/format": 1.0})
    assert legend(panels(training_curves_figure(rows, components=("format",)))["Reward components"]) == [
        "format"
    ]
    # the recipe names a component this run did not log: left out, not an empty line
    fig = training_curves_figure(rows, components=("reward/format", "recall"))
    assert legend(panels(fig)["Reward components"]) == ["format"]
    # no components given: every reward/<name> but the totals, in the order the log has them
    fig = training_curves_figure(training_log())
    assert legend(panels(fig)["Reward components"]) == ["regression", "format", "ranking"]
    assert legend(panels(fig)["Total reward (on-policy)"]) == []  # one line, the title says what it is


# --------------------------------------------------------------------------------- features off/on


def test_panels_of_features_that_are_off_are_dropped():
    rows = engine_rows(lambda t: {"reward/format": 1.0})  # RMO never mutated, beta 0, no filter, 1 iteration
    fig = training_curves_figure(rows, components=("format",))
    assert list(panels(fig)) == [
        "Total reward (on-policy)",
        "Reward components",
        "Zero-variance groups",
        "Loss",
        "Completion length (tokens)",
    ]
    assert legend(panels(fig)["Zero-variance groups"]) == []  # only the share before RMO: after equals it
    assert list(curves(panels(fig)["Zero-variance groups"])) == ["zero_var_frac_before"]
    # an old run without those keys at all: the same figure
    features = ("rmo_mutated_frac", "kl", "kept_frac", "clip_frac")
    old = [{k: v for k, v in r.items() if k not in features} for r in rows]
    assert list(panels(training_curves_figure(old, components=("format",)))) == list(panels(fig))


def test_panels_of_features_that_are_on_are_drawn():
    on = {
        "rmo_mutated_frac": lambda t: 0.0 if t <= 3 else 0.5,  # RMO in stage 2 only
        "zero_var_frac_after": lambda t: 0.5 if t <= 3 else 0.25,
        "reward/injected_mean": lambda t: 2.0,
        "kl": lambda t: 0.001 * t,
        "kept_frac": lambda t: 0.75,
        "clip_frac": lambda t: 0.1,
        "reward_errors": lambda t: float(t == 2),
    }
    fig = training_curves_figure(engine_rows(lambda t: {"reward/format": 1.0}, **on), components=("format",))
    p = panels(fig)
    assert list(p) == [
        "Total reward (on-policy)",
        "Reward components",
        "Zero-variance groups",
        "Groups mutated by RMO",
        "Rollouts kept by the filter",
        "KL to reference",
        "Clipped ratio share",
        "Loss",
        "Completion length (tokens)",
        "Reward errors",
    ]
    assert legend(p["Total reward (on-policy)"]) == ["on-policy total", "RMO-injected answers"]
    assert legend(p["Zero-variance groups"]) == ["zero_var_frac_before", "zero_var_frac_after"]
    assert curves(p["Groups mutated by RMO"])["rmo_mutated_frac"][1] == [0, 0, 0, 0.5, 0.5, 0.5]


def test_several_runs_keep_a_feature_one_of_them_used(tmp_path, training_log):
    runs = {"RARL": training_log(), "w.o. RMO": training_log(drop=("rmo_mutated_frac",))}
    for row in runs["w.o. RMO"]:
        row["kl"] = 0.0
    fig = training_curves_figure(runs, components=("regression", "format"))
    p = panels(fig)
    assert list(curves(p["Groups mutated by RMO"])) == ["RARL"]
    assert list(curves(p["KL to reference"])) == ["RARL", "w.o. RMO"]
    assert "Reward components: regression" in p and "Reward components: format" in p
    assert all(legend(ax) == [] for ax in fig.axes)  # one figure legend names the runs
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["RARL", "w.o. RMO"]


# ---------------------------------------------------------------------------------- stage boundaries

RARL_CONFIG = {
    "reward": {"name": "rarl", "kwargs": {"delta": 5.0}},
    "stages": [
        {"name": "stage1", "steps": 3, "reward_kwargs": {"weights": [1.0, 0.0, 1.0]}, "rmo": False},
        {"name": "stage2", "steps": 3, "reward_kwargs": {"weights": [1.0, 1.0, 1.0]}, "rmo": True},
    ],
}


def test_stage_boundary_labelled_with_the_reward_change_from_the_run_folder(tmp_path, assert_png):
    rows = engine_rows(lambda t: {"reward/regression": 0.5, "reward/format": 1.0})
    run = write_run(tmp_path / "run", rows, RARL_CONFIG)
    for source in (run, run / "metrics.jsonl"):  # the folder, or the log beside its config.yaml
        fig = training_curves_figure(source, components=("regression", "format"))
        for title, ax in panels(fig).items():
            assert stage_lines(ax) == [4.0], title
            if title in ("Total reward (on-policy)", "Reward components"):
                assert texts(ax) == ["stage2: reward changes\nweights: [1, 0, 1] → [1, 1, 1]"]
            else:
                assert texts(ax) == ["stage2: reward changes"], title
    assert_png(plot_training_curves(run, tmp_path / "curves.png", components=("regression", "format")))


def test_stage_boundary_without_a_reward_change_or_without_a_config(tmp_path):
    rows = engine_rows(lambda t: {"reward/format": 1.0}, stages=("warmup", "main"))
    same = {"reward": {"kwargs": {"weights": [1, 1, 1]}}, "stages": [{"name": "warmup"}, {"name": "main"}]}
    for source, config in ((write_run(tmp_path / "same", rows, same), None), (rows, None), (rows, same)):
        fig = training_curves_figure(source, config=config)
        for ax in fig.axes:
            assert stage_lines(ax) == [4.0] and texts(ax) == ["stage main"]
    # a config given with rows (a mapping or a YAML path) labels the change as the folder's would
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(RARL_CONFIG))
    rows = engine_rows(lambda t: {"reward/format": 1.0})
    for config in (RARL_CONFIG, tmp_path / "c.yaml"):
        ax = panels(training_curves_figure(rows, config=config))["Loss"]
        assert texts(ax) == ["stage2: reward changes"]


def test_reward_changes_read_stage_settings_over_the_base_ones():
    # Refine-IQA's demo: stage 2 turns the PD term on explicitly (the reward's default is on)
    stages = [{"name": "perception", "reward_kwargs": {}}, {"name": "scoring", "reward_kwargs": {"pd": True}}]
    config = {"reward": {"kwargs": {}}, "stages": stages}
    assert reward_changes(config, "perception", "scoring") == ("pd: default → True",)
    # an old config's reward_weights is the stage's weights; base kwargs both stages share are no change
    stages = [{"name": "a", "reward_weights": [1, 0, 1]}, {"name": "b", "reward_kwargs": {}}]
    old = {"reward": {"kwargs": {"delta": 5, "weights": [1, 1, 1]}}, "stages": stages}
    assert reward_changes(old, "a", "b") == ("weights: [1, 0, 1] → [1, 1, 1]",)
    assert reward_changes(old, "a", "unknown") == () and reward_changes(None, "a", "b") == ()
    rows = [{"step": 1, "stage": "a"}, {"step": 2, "stage": "b"}, {"step": 3, "stage": "a"}]
    marks = stage_boundaries(rows, old)
    assert [(b.step, b.stage, b.reward_change) for b in marks] == [
        (2.0, "b", "reward changes"),
        (3.0, "a", "reward changes"),
    ]
    assert marks[1].detail == ("weights: [1, 1, 1] → [1, 0, 1]",)


def test_a_threshold_switch_inside_a_stage_is_marked_with_its_values(tmp_path, recorded, assert_png):
    # Vision-R1 with step_fraction 1/2: one stage, the thresholds step up from 0.5 to 0.75 at step 4
    schedule = get_recipe("vision-r1").curve_schedule
    assert set(schedule) <= set(LOCALIZATION_COMPONENTS)  # logged by the reward as reward/xi0, ...
    xi = {"xi0": (0.5, 0.75), "xi2": (0.75, 0.9)}  # xi2 is not in the schedule: not in the label
    rows = engine_rows(
        lambda t: {"reward/format": 1.0, **{f"reward/{k}": v[t > 3] for k, v in xi.items()}},
        stages=("main",),
    )
    marks = stage_boundaries(rows, None, schedule)
    assert [(b.step, b.stage, b.within) for b in marks] == [(4.0, "main", True)]
    assert marks[0].detail == ("xi0: 0.5 → 0.75",)
    assert stage_boundaries(rows, None) == []  # without the schedule: no mark
    ax = panels(training_curves_figure(rows, components=("format",), schedule=schedule))["Reward components"]
    assert stage_lines(ax) == [4.0]
    assert texts(ax) == ["within stage main: reward changes\nxi0: 0.5 → 0.75"]
    # the Vision-R1 report passes the recipe's schedule
    localization_evaluation.write_localization_report(tmp_path / "r", {}, title="t", curves={"run": rows})
    assert recorded[-1]["schedule"] == schedule
    assert recorded[-1] == recipe_curves(get_recipe("vision-r1"))
    assert recorded[-1]["panels"] == localization_evaluation.CURVE_PANELS
    assert_png(tmp_path / "r" / "training_curves.png")
    # and says under the figure where the threshold stepped up, or that it never did
    assert "- run: xi0 0.5 from step 1, 0.75 from step 4\n" in (tmp_path / "r" / "report.md").read_text()
    flat = engine_rows(lambda t: {"reward/xi0": 0.5})
    assert localization_evaluation.threshold_lines({"Vision-R1": flat, "SFT": engine_rows(lambda t: {})}) == [
        "Vision-R1: xi0 0.5 throughout (6 steps; the thresholds never stepped up)"
    ]


def test_the_vision_r1_figure_has_boxes_per_answer_on_their_own_scale():
    # format, recall, precision, count share the [0, 1] panel; the mean boxes an answer lists get their own
    logged = {f"reward/{k}": 0.5 for k in LOCALIZATION_COMPONENTS}
    rows = engine_rows(
        lambda t: {**logged, "reward/num_predictions": 0.5 * t, "reward/true_positives": 0.25 * t}
    )
    fig = training_curves_figure(rows, **recipe_curves(get_recipe("vision-r1")))
    p = panels(fig)
    assert legend(p["Reward components"]) == ["format", "recall", "precision", "count"]
    boxes = p["Boxes per answer (mean)"]
    assert legend(boxes) == ["num_predictions", "true_positives"]
    assert curves(boxes)["num_predictions"] == ([1, 2, 3, 4, 5, 6], [0.5 * t for t in range(1, 7)])
    assert list(p).index("Boxes per answer (mean)") == list(p).index("Reward components") + 1


def test_a_bad_config_beside_the_log_is_ignored_and_a_bad_one_given_is_an_error(tmp_path):
    run = write_run(tmp_path / "run", engine_rows(lambda t: {"reward/format": 1.0}), {})
    (run / "config.yaml").write_text("stages: [unclosed\n")
    assert texts(panels(training_curves_figure(run))["Loss"]) == ["stage2"]
    with pytest.raises(ConfigError, match="nope.yaml"):
        training_curves_figure(run, config=tmp_path / "nope.yaml")
    with pytest.raises(ValueError, match="one run"):
        training_curves_figure({"a": run, "b": run}, config=RARL_CONFIG)


# ------------------------------------------------------------------------------------- validation


def test_validation_rows_get_their_own_panel_with_markers(training_log):
    rows = training_log()
    rows += [
        {
            "step": 10,
            "stage": 1,
            "eval/tau@4": 0.5,
            "eval/fail@4": 0.25,
            "eval/mae@1": 12.0,
            "best/tau@4": 0.5,
        },
        {
            "step": 20,
            "stage": 2,
            "eval/tau@4": 0.71,
            "eval/fail@4": 0.125,
            "eval/mae@1": 9.5,
            "eval/srcc": None,
            "best/step": 20,
        },
        {"step": 29, "stage": 2, "eval/tau@4": 0.8, "eval/fail@4": 0.0, "eval/mae@1": 8.0, "time/eval": 3.0},
    ]
    p = panels(training_curves_figure(rows))
    # the ones on [-1, 1] share a panel; a dotted line marks the step best/ holds (its last best/step)
    assert legend(p["Validation"]) == ["tau@4", "fail@4", "best/ (step 20)"]
    best = [ln for ln in p["Validation"].get_lines() if ln.get_label() == "best/ (step 20)"]
    assert len(best) == 1 and list(best[0].get_xdata()) == [20, 20] and best[0].get_linestyle() == ":"
    assert curves(p["Validation"])["tau@4"] == ([10, 20, 29], [0.5, 0.71, 0.8])
    assert curves(p["Validation: mae@1"]) == {  # every validation panel marks best/'s step
        "mae@1": ([10, 20, 29], [12.0, 9.5, 8.0]),
        "best/ (step 20)": ([20, 20], [0, 1]),
    }
    for ax in (p["Validation"], p["Validation: mae@1"]):
        metric_lines = [ln for ln in ax.get_lines() if not ln.get_label().startswith(("_", "best/"))]
        assert {ln.get_marker() for ln in metric_lines} == {"o"}
    assert stage_lines(p["Validation"]) == [15.0]
    assert not any("best" in t or "time" in t for t in p)
    assert "Validation" not in panels(training_curves_figure(training_log()))  # no eval rows: no panel


def test_the_recipe_chooses_which_validation_metrics_are_plotted(training_log):
    # Refine-IQA logs five metrics per dataset and mode; the figure keeps the means and think-mode SRCCs
    metrics = {}
    for ds in ("noise", "blur"):
        for mode in ("think", "no_think"):
            for m in ("srcc", "plcc", "srcc_prob", "plcc_prob", "fail"):
                metrics[f"eval/{ds}/{mode}/{m}"] = 0.5
    rows = training_log() + [{"step": 5, "stage": 1, "eval/srcc": 0.4, "eval/plcc": 0.45, **metrics}]
    chosen = recipe_curves(get_recipe("refine-iqa"))["validation"]
    p = panels(training_curves_figure(rows, validation=chosen))
    assert legend(p["Validation"]) == [  # in the order logged
        "srcc",
        "plcc",
        "noise/think/srcc",
        "noise/think/srcc_prob",
        "blur/think/srcc",
        "blur/think/srcc_prob",
    ]
    assert len(legend(panels(training_curves_figure(rows))["Validation"])) == 22  # no choice: every metric
    assert recipe_curves(object()) == {
        "panels": DEFAULT_PANELS,
        "components": (),
        "schedule": (),
        "validation": (),
    }


# ---------------------------------------------------------------------------------- the callers


@pytest.fixture
def recorded(monkeypatch):
    """The keyword arguments each report module's figure call passes (the figure is still drawn)."""
    calls = []

    def record(*args, **kwargs):
        calls.append(kwargs)
        return plot_training_curves(*args, **kwargs)

    for module in (ordinal_report, localization_evaluation, quality_evaluation):
        monkeypatch.setattr(module, "plot_training_curves", record)
    return calls


def test_each_recipe_report_passes_its_components(tmp_path, recorded, training_log, assert_png):
    curves_in = {"run": training_log()}
    ordinal_report.write_report(tmp_path / "rarl", {}, "t", curves=curves_in)
    localization_evaluation.write_localization_report(tmp_path / "vision-r1", {}, title="t", curves=curves_in)
    quality_evaluation.write_quality_report(tmp_path / "refine-iqa", {}, title="t", curves=curves_in)
    assert [c["components"] for c in recorded] == [
        get_recipe(name).curve_components for name in ("rarl", "vision-r1", "refine-iqa")
    ]
    for name in ("rarl", "vision-r1", "refine-iqa"):
        assert_png(tmp_path / name / "training_curves.png")


def test_old_call_signature_and_panels_still_work(tmp_path, training_log, assert_png):
    rows = training_log()
    custom = (("Reward", ("reward/total_mean", "reward/format")), ("KL", ("kl",)))
    fig = training_curves_figure(rows, panels=custom)
    assert list(panels(fig)) == ["Reward", "KL"] and legend(panels(fig)["Reward"]) == [
        "on-policy total",
        "format",
    ]
    assert_png(plot_training_curves(rows, tmp_path / "c.png", ("kl", "loss"), smooth=0.5, title="t"))
    assert list(panels(training_curves_figure(rows, ("kl", "loss")))) == ["KL to reference", "Loss"]
    assert math.isclose(curves(panels(fig)["KL"])["kl"][1][1], 0.001)
