"""Validation while training (`eval:`): metric rows, the best model folder, isolation from training, resume.

Tiny Qwen2.5-VL runs of the `rarl` recipe. `ScriptedOrdinal` is that recipe with one more validation metric,
`score`, scripted per step (read from the `step-<N>` name a validation passes to `evaluate`), so which step is
best is known in advance while everything else (generation, scoring, logging, saving) is real.
"""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file

from rarl.model import load_policy
from rarl.recipes.ordinal import OrdinalRecipe
from rarl.recipes.runs import grpo_trainer
from rarl.train.checkpoint import checkpoint_root
from rarl.train.eval_config import EvalConfig
from rarl.train.grpo import GRPOTrainer
from rarl.train.metrics_log import read_metrics
from rarl.train.sft import SFTTrainer
from rarl.train.validation import BEST_DIR
from rarl.utils.config import ConfigError, load_config

from .conftest import make_sft_config, make_train_config

SCORES = {1: 0.5, 2: 0.7, 3: 0.9, 4: 0.9}
"""Scripted `score` per step: best at step 3 (step 4 ties it, and only a strictly better value replaces)."""
ORDINAL_METRICS = {"accuracy@1", "fail@1", "tau@2", "fail@2", "tau@4", "fail@4", "tau"}
"""What the `rarl` recipe logs on the synthetic count task's 1/2/4-image validation samples."""


class ScriptedOrdinal(OrdinalRecipe):
    """The `rarl` recipe whose validation also reports `score` = SCORES[step]; its names are known only at
    the first validation (the default of `validation_metric_names`)."""

    def evaluate(self, policy, manifest, settings, name="model"):
        results, rows = super().evaluate(policy, manifest, settings, name)
        return {"sizes": results, "score": SCORES[int(name.removeprefix("step-"))]}, rows

    def validation_metrics(self, results):
        return {**super().validation_metrics(results["sizes"]), "score": results["score"]}

    def validation_metric_names(self, samples, settings):
        return None


def _grpo_config(tiny_model, manifest, out, every: int = 1, best_metric: str | None = "score"):
    """Four GRPO steps (two stages of two), a checkpoint after every step (all kept)."""
    cfg = make_train_config(tiny_model, manifest, out)
    for stage in cfg.stages:
        stage.steps = 2
    cfg.checkpoint.every, cfg.checkpoint.keep_last = 1, 0
    cfg.eval = EvalConfig(every=every, best_metric=best_metric, max_new_tokens=12, batch_size=4)
    return cfg


def _weights(path) -> dict[str, torch.Tensor]:
    """The tensors of a model folder (loaded, so named as in the model) or of a checkpoint folder."""
    if (path / "config.json").is_file():
        return {k: v.detach() for k, v in load_policy(str(path), dtype="float32").model.state_dict().items()}
    return load_file(str(path / "model.safetensors"))


def _same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> list[str]:
    """Keys both hold whose tensors differ (and asserts the two share the model's weights)."""
    common = sorted(set(a) & set(b))
    assert len(common) >= 0.9 * max(len(a), len(b)), (len(common), len(a), len(b))
    return [k for k in common if not torch.equal(a[k], b[k])]


def _eval_rows(out):
    return [r for r in read_metrics(out / "metrics.jsonl") if any(k.startswith("eval/") for k in r)]


@pytest.fixture(scope="module")
def validated(tiny_model, manifest, tmp_path_factory):
    """A 4-step GRPO run validated after every step; returns its trainer and output folder."""
    out = tmp_path_factory.mktemp("validated") / "run"
    trainer = GRPOTrainer(_grpo_config(tiny_model, manifest, out), ScriptedOrdinal())
    trainer.train()
    return trainer, out


def test_every_step_is_validated_and_best_holds_the_best_steps_weights(validated):
    trainer, out = validated
    rows = _eval_rows(out)
    assert [r["step"] for r in rows] == [1, 2, 3, 4]  # the end of the run (step 4) once, not twice
    assert [r["eval/score"] for r in rows] == [SCORES[s] for s in (1, 2, 3, 4)]
    assert [r["best/score"] for r in rows] == [0.5, 0.7, 0.9, 0.9]
    assert [r["best/step"] for r in rows] == [1, 2, 3, 3]  # the tie at step 4 keeps step 3
    assert [r["stage"] for r in rows] == ["stage1", "stage1", "stage2", "stage2"]
    for r in rows:
        assert {k.removeprefix("eval/") for k in r} >= ORDINAL_METRICS
        assert 0 <= r["eval/fail@4"] <= 1 and -1 <= r["eval/tau"] <= 1 and r["time/eval"] > 0
    assert trainer.validator.state_dict() == {"last_step": 4, "best_value": 0.9, "best_step": 3}

    best = _weights(out / BEST_DIR)
    at_step_3 = _weights(checkpoint_root(out) / "step-00000003")
    assert _same_tensors(best, at_step_3) == []
    assert _same_tensors(best, _weights(out / "final")) != []  # step 4 moved the weights on: not vacuous
    assert (out / BEST_DIR / "config.json").is_file()


def test_validation_leaves_training_unchanged(validated, tiny_model, manifest, tmp_path):
    """The same config without `eval` trains to exactly the same weights (and logs the same step rows)."""
    _, out = validated
    plain = tmp_path / "plain"
    GRPOTrainer(_grpo_config(tiny_model, manifest, plain, every=0), ScriptedOrdinal()).train()
    assert _same_tensors(_weights(plain / "final"), _weights(out / "final")) == []
    assert not (plain / BEST_DIR).exists() and _eval_rows(plain) == []

    def steps(folder):
        return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in read_metrics(folder)]

    with_eval = [r for r in steps(out / "metrics.jsonl") if "loss" in r]
    assert with_eval == steps(plain / "metrics.jsonl")


def test_resume_validates_the_same_steps_and_keeps_the_best(validated, tiny_model, manifest, tmp_path):
    _, straight = validated
    out = tmp_path / "resumed"
    first = GRPOTrainer(_grpo_config(tiny_model, manifest, out), ScriptedOrdinal())
    first.train(stop_at_step=3)
    assert first.validator.state_dict() == {"last_step": 3, "best_value": 0.9, "best_step": 3}
    second = GRPOTrainer(_grpo_config(tiny_model, manifest, out), ScriptedOrdinal())
    second.train(resume=True)
    assert second.validator.state_dict() == {"last_step": 4, "best_value": 0.9, "best_step": 3}

    def no_time(rows):
        return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows]

    assert no_time(_eval_rows(out)) == no_time(_eval_rows(straight))
    assert _same_tensors(_weights(out / BEST_DIR), _weights(straight / BEST_DIR)) == []
    assert _same_tensors(_weights(out / "final"), _weights(straight / "final")) == []


def test_sft_validates_every_n_steps_and_at_the_end(tiny_model, manifest, tmp_path):
    cfg = make_sft_config(tiny_model, manifest, tmp_path / "sft", steps=3)
    cfg.eval = EvalConfig(every=2, best_metric="fail@1", max_new_tokens=12)
    trainer = SFTTrainer(cfg, OrdinalRecipe())
    final = trainer.train()
    rows = _eval_rows(tmp_path / "sft")
    assert [r["step"] for r in rows] == [2, 3]
    assert all({k.removeprefix("eval/") for k in r} >= ORDINAL_METRICS for r in rows)
    assert rows[0]["best/step"] == 2  # the first finite value is the best so far
    best_step = trainer.validator.state.best_step
    assert best_step == (3 if rows[1]["eval/fail@1"] < rows[0]["eval/fail@1"] else 2)
    assert rows[1]["best/step"] == best_step
    if best_step == 3:  # saved from the same weights as final/
        assert _same_tensors(_weights(tmp_path / "sft" / BEST_DIR), _weights(final)) == []
    assert (tmp_path / "sft" / BEST_DIR / "config.json").is_file()

    cfg.eval, cfg.steps = EvalConfig(), 1  # --overwrite replaces the run, its best/ included
    SFTTrainer(cfg, OrdinalRecipe()).train(overwrite=True)
    assert not (tmp_path / "sft" / BEST_DIR).exists() and _eval_rows(tmp_path / "sft") == []


def test_a_metric_the_recipe_does_not_produce_is_a_one_line_error_at_start(tiny_model, manifest, tmp_path):
    cfg = _grpo_config(tiny_model, manifest, tmp_path / "bad", best_metric="mae@1")
    with pytest.raises(ConfigError) as info:
        grpo_trainer(cfg)  # before any model is loaded: the recipe names its metrics up front
    message = str(info.value)
    assert "\n" not in message
    assert "eval.best_metric" in message and "'mae@1'" in message
    assert "accuracy@1, fail@1, fail@2, fail@4, tau, tau@2, tau@4" in message
    assert not (tmp_path / "bad").exists()


def test_a_metric_unknown_until_the_first_validation_fails_there_in_one_line(tiny_model, manifest, tmp_path):
    cfg = make_sft_config(tiny_model, manifest, tmp_path / "late", steps=1)
    cfg.eval = EvalConfig(every=1, best_metric="scor", max_new_tokens=4)
    trainer = SFTTrainer(cfg, ScriptedOrdinal())  # names not known up front: accepted here
    with pytest.raises(ConfigError) as info:
        trainer.train()
    message = str(info.value)
    assert "\n" not in message and "'scor'" in message and "score" in message and "tau@2" in message


def test_eval_section_loads_from_yaml_and_rejects_bad_values(tmp_path):
    from rarl.train.config import TrainConfig

    path = tmp_path / "run.yaml"
    path.write_text("eval: {every: 5, max_samples: 8, split: test, best_metric: tau@2, batch_size: 2}\n")
    cfg = load_config(TrainConfig, path)
    assert (cfg.eval.every, cfg.eval.max_samples, cfg.eval.split, cfg.eval.best_metric) == (
        5,
        8,
        "test",
        "tau@2",
    )
    assert load_config(TrainConfig).eval.every == 0  # off unless asked for
    for override, key in (("eval.every=-1", "eval.every"), ("eval.batch_size=0", "eval.batch_size")):
        with pytest.raises(ConfigError, match=key):
            load_config(TrainConfig, overrides=[override])


def test_recipes_name_their_headline_metrics_and_directions():
    from rarl.recipes.localization import LocalizationRecipe
    from rarl.recipes.quality import QualityRecipe

    ordinal, loc, quality = OrdinalRecipe(), LocalizationRecipe(), QualityRecipe()
    assert (ordinal.headline_metric, loc.headline_metric, quality.headline_metric) == ("tau", "mAP", "srcc")
    assert not ordinal.higher_is_better("mae@1") and ordinal.higher_is_better("tau@4")
    assert not ordinal.higher_is_better("fail@2") and ordinal.higher_is_better("accuracy@1")
    assert loc.higher_is_better("mAP") and not loc.higher_is_better("ref_failure_rate")
    assert quality.higher_is_better("koniq/think/srcc") and not quality.higher_is_better("koniq/think/fail")
    # localization: a detection result without ground-truth boxes has an undefined mAP (NaN), not a missing one
    flat = loc.validation_metrics(
        {"mAP": None, "AP50": 0.5, "AP75": 0.25, "AR100": 1.0, "failure_rate": 0.0, "negative_acc": 1.0,
         "n_detection": 2, "n_negative": 2, "n_grounding": 0}
    )  # fmt: skip
    assert math.isnan(flat.pop("mAP"))
    assert flat == {"AP50": 0.5, "AP75": 0.25, "AR100": 1.0, "failure_rate": 0.0, "negative_acc": 1.0}


def test_isolated_leaves_rng_streams_mode_flags_and_feature_cache_as_they_were(tiny_model, manifest):
    """What a validation runs inside (`isolated`) leaves no trace: a generation with a frozen vision tower (so
    the shared image-feature cache keeps what it encodes) changes none of what training reads afterwards."""
    import random

    import numpy as np

    from rarl.eval.protocol import generate_answers
    from rarl.eval.settings import EvalSettings
    from rarl.model.image_features import shared_image_features
    from rarl.train.validation import isolated

    policy = load_policy(str(tiny_model), dtype="float32", freeze_vision=True)
    model = policy.model
    cache = shared_image_features(model)
    recipe = OrdinalRecipe()
    samples = recipe.load_samples(str(manifest), "val", [1, 2])
    settings = EvalSettings(max_new_tokens=4, progress=False)
    generate_answers(policy, samples[:1], settings, recipe.messages)  # something cached before
    cached = list(cache.cache)
    model.train()
    model.model.visual.eval()  # a mix of flags, to be restored module by module
    flags = {name: m.training for name, m in model.named_modules()}
    rng = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    with isolated(model, torch.device("cpu")):
        assert not model.training and not torch.is_grad_enabled()
        generate_answers(policy, samples, settings, recipe.messages)
        assert len(cache.cache) > len(cached)  # the validation's images went through the tower
        torch.rand(3), np.random.rand(3), random.random()  # and it drew from every global stream
    assert list(cache.cache) == cached
    assert {name: m.training for name, m in model.named_modules()} == flags
    assert torch.equal(torch.get_rng_state(), rng[0])
    assert np.array_equal(np.random.get_state()[1], rng[1]) and random.getstate() == rng[2]


def _perception(out):
    from rarl.recipes.quality.perception import prepare_perception

    prepare_perception(
        "refine-perception", out, num_images=16, image_size=56, max_objects=3, reference="both"
    )


def _scoring(out):
    from rarl.recipes.quality.prepare import prepare_quality

    prepare_quality("synthetic-quality", out, num_images=24, image_size=56)


def _shapes(out):
    from rarl.recipes.localization.prepare import prepare_localization

    prepare_localization(
        "synthetic-shapes", out, num_images=24, image_size=56, max_objects=2, grounding_fraction=0.25
    )


@pytest.mark.parametrize(
    ("recipe_name", "build"),
    [("refine-iqa", _scoring), ("refine-iqa", _perception), ("vision-r1", _shapes), ("rarl", None)],
    ids=["refine-iqa-scoring", "refine-iqa-perception", "vision-r1", "rarl"],
)
def test_names_known_at_start_are_the_names_a_validation_logs(
    recipe_name, build, tiny_model, manifest, tmp_path
):
    """Each recipe's `validation_metric_names` (what a bad best_metric is checked against before any model
    runs) is exactly what `validation_metrics` makes of its real evaluation of those samples."""
    from rarl.eval.settings import EvalSettings
    from rarl.recipes.base import get_recipe

    recipe = get_recipe(recipe_name)
    data = manifest
    if build is not None:
        data = tmp_path / "data"
        build(data)
    settings = EvalSettings(
        split="test", sizes=(1, 2, 4), max_samples=3, max_new_tokens=8, n_boot=1, progress=False
    )
    names = recipe.validation_metric_names(recipe.load_samples(str(data), "test", [1, 2, 4]), settings)
    results, _ = recipe.evaluate(load_policy(str(tiny_model), dtype="float32"), str(data), settings, "step-1")
    metrics = recipe.validation_metrics(results)
    assert (recipe.headline_metric in names) == (build is not _perception)  # no SRCC without scoring samples
    assert sorted(metrics) == sorted(names)
    assert all(isinstance(v, float) for v in metrics.values())


def test_recipes_flatten_their_results_into_headline_numbers():
    from rarl.recipes.ordinal.scoring import SizeResult
    from rarl.recipes.quality import QualityRecipe

    def size(n, metric, value, fail):
        return SizeResult(size=n, metric=metric, value=value, ci_low=0, ci_high=0, failure_rate=fail, n=4)

    ordinal = OrdinalRecipe().validation_metrics({1: size(1, "mae", 3.0, 0.5), 2: size(2, "tau", 0.2, 0.0),
                                                  4: size(4, "tau", 0.6, 0.25)})  # fmt: skip
    assert ordinal == {"mae@1": 3.0, "fail@1": 0.5, "tau@2": 0.2, "fail@2": 0.0, "tau@4": 0.6, "fail@4": 0.25,
                       "tau": pytest.approx(0.4)}  # fmt: skip

    def dataset(srcc, plcc, fail):
        return {
            "numeric": {"srcc": srcc, "plcc": plcc, "failure_rate": fail},
            "prob": {"srcc": 0.1, "plcc": 0.2},
        }

    results = {
        "scoring": {"think": {"a": dataset(0.5, 0.4, 0.25), "b": dataset(0.7, 0.2, 0.0)},
                    "no_think": {"a": dataset(0.9, 0.9, 0.0)}},
        "perception": {"grounding": {"overall": {"value": 0.3, "ci": [0, 1], "n": 4}, "by_type": {"noise": 0.3}}},
    }  # fmt: skip
    quality = QualityRecipe().validation_metrics(results)
    # the headline means are over the datasets of the first evaluation mode (think), numeric inference
    assert quality["srcc"] == pytest.approx(0.6) and quality["plcc"] == pytest.approx(0.3)
    assert quality["a/think/fail"] == 0.25 and quality["a/no_think/srcc"] == 0.9
    assert quality["b/think/srcc_prob"] == 0.1 and quality["perception/grounding"] == 0.3
    assert len(quality) == 3 * 5 + 2 + 1


DDP_WORKER = """
import json, sys
from pathlib import Path
import torch
sys.path.insert(0, {conftest_dir!r})
from conftest import make_train_config
from rarl.recipes.ordinal import OrdinalRecipe
from rarl.train.eval_config import EvalConfig
from rarl.train.grpo import GRPOTrainer


class Scripted(OrdinalRecipe):
    def evaluate(self, policy, manifest, settings, name="model"):
        step = int(name.removeprefix("step-"))
        if step == 2 and self.fail:
            raise RuntimeError("validation broke")
        results, rows = super().evaluate(policy, manifest, settings, name)
        return {{"sizes": results, "score": {{1: 0.5, 2: 0.9}}[step]}}, rows

    def validation_metrics(self, results):
        return {{**super().validation_metrics(results["sizes"]), "score": results["score"]}}

    def validation_metric_names(self, samples, settings):
        return None


torch.set_num_threads(1)
model, manifest, out = (Path(a) for a in sys.argv[1:4])
report = {{}}
for fail in (False, True):
    cfg = make_train_config(model, manifest, out / ("fails" if fail else "run"))
    cfg.prompts_per_step = 4  # two prompts per rank
    cfg.eval = EvalConfig(every=1, best_metric="score", max_new_tokens=8)
    recipe = Scripted()
    recipe.fail = fail
    trainer = GRPOTrainer(cfg, recipe)
    try:
        trainer.train()
        report["state"] = trainer.validator.state_dict()
    except Exception as e:
        report["error"] = f"{{type(e).__name__}}: {{e}}"
rank = trainer.accelerator.process_index
(out / f"rank{{rank}}.json").write_text(json.dumps(report))
"""


@pytest.mark.slow
def test_two_processes_validate_on_the_main_one_and_stay_in_step(tiny_model, manifest, tmp_path):
    """Under DDP the main process validates and every rank learns the outcome: the same best step on both
    ranks, one best/ folder, and an error in the main process's validation raised on every rank (no hang)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    here = Path(__file__).resolve().parent
    worker = tmp_path / "worker.py"
    worker.write_text(DDP_WORKER.format(conftest_dir=str(here)))
    config = here.parents[1] / "configs" / "accelerate" / "cpu-2proc.yaml"
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config), "--main_process_port", "0",
        str(worker), str(tiny_model), str(manifest), str(tmp_path),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for report in reports:
        assert report["state"] == {"last_step": 2, "best_value": 0.9, "best_step": 2}
    assert reports[0]["error"] == "RuntimeError: validation broke"
    assert reports[1]["error"].startswith("TrainingAborted: validation at step 2 failed on the main process")
    rows = _eval_rows(tmp_path / "run")
    assert [(r["step"], r["eval/score"], r["best/step"]) for r in rows] == [(1, 0.5, 1), (2, 0.9, 2)]
    assert (tmp_path / "run" / BEST_DIR / "config.json").is_file()
