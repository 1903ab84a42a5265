"""The vision-r1 recipe: prompts, the coordinate frame through a real processor, reference answers, the
batch reward (per-row equality with `localization_reward`, the staged thresholds, the frame guard), and the
ablation plan as config transformations."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image, ImageDraw

from rarl.recipes import get_recipe
from rarl.recipes.localization import LocalizationRecipe
from rarl.recipes.localization.prompts import round_box
from rarl.recipes.localization.samples import LocalizationSample
from rarl.rewards.batch import PerCompletionReward, RewardInputs, build_reward
from rarl.rewards.localization import localization_reward
from rarl.rewards.localization_batch import (
    LocalizationBatchReward,
    build_localization_reward,
    processor_budget,
)
from rarl.train.config import TrainConfig
from rarl.utils.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[3]


def _sample(tmp_path: Path, size=(200, 150), box=(40.0, 30.0, 120.0, 90.0), **budget) -> LocalizationSample:
    image = Image.new("RGB", size, (10, 10, 10))
    x1, y1, x2, y2 = box
    ImageDraw.Draw(image).rectangle((x1, y1, x2 - 1, y2 - 1), fill=(250, 250, 250))
    path = tmp_path / "img.png"
    image.save(path)
    return LocalizationSample(
        "s1", str(path), "detection", ("square", "circle"), (box,), ("square",), size, **budget
    )


def test_registered_and_prompts_follow_the_paper(tmp_path):
    recipe = get_recipe("vision-r1")
    assert isinstance(recipe, LocalizationRecipe) and recipe.modes == ("default", "think")
    det = _sample(tmp_path)
    (turn,) = recipe.messages(det)
    image_part, text_part = turn["content"]
    assert turn["role"] == "user" and isinstance(image_part["image"], Image.Image)
    assert text_part["text"] == (
        "Locate every item from the category list in the image and output the coordinates in JSON format. "
        "The category set includes square, circle."
    )
    ground = LocalizationSample(
        "g",
        det.image,
        "grounding",
        ("red square",),
        det.boxes,
        ("red square",),
        det.image_size,
        phrase="red square",
    )
    assert recipe.messages(ground)[0]["content"][1]["text"] == (
        "Locate every red square in the image and output the coordinates in JSON format."
    )
    think = recipe.messages(det, "think")[0]["content"][1]["text"]
    assert think.endswith("give the JSON list inside <answer> </answer>.") and "<think>" in think
    with pytest.raises(ConfigError, match="no prompt mode 'cot'"):
        recipe.messages(det, "cot")


def test_frame_mapping_through_the_real_processor(tiny_model, tmp_path):
    """The frame the recipe computes is the one Qwen2.5-VL's processor produces; the processor keeps the
    recipe's frame-sized image as it is; target boxes sit on the object as the model sees it."""
    from rarl.model.processor import load_processor, set_pixel_budget

    processor = load_processor(tiny_model)
    lo, hi = 56 * 56, 28 * 28 * 20
    set_pixel_budget(processor, lo, hi)
    assert processor_budget(processor) == (lo, hi, 28)
    sample = _sample(tmp_path, min_pixels=lo, max_pixels=hi)
    grid = processor.image_processor(images=[sample.load_image()], return_tensors="pt")["image_grid_thw"][0]
    seen = (int(grid[2]) * 14, int(grid[1]) * 14)  # (width, height) the processor made of the original
    assert sample.frame == seen == (140, 84)  # 200x150 scaled into the 15,680-pixel budget
    frame_image = sample.frame_image()
    assert frame_image.size == seen
    again = processor.image_processor(images=[frame_image], return_tensors="pt")["image_grid_thw"][0]
    assert again.tolist() == grid.tolist()  # the processor does not resize the frame-sized image again

    target = LocalizationRecipe().target(sample)
    assert target["frame"] == [140, 84]
    np.testing.assert_allclose(target["boxes"], [[40 * 0.7, 30 * 0.56, 120 * 0.7, 90 * 0.56]])
    bright = np.asarray(frame_image, dtype=float).max(axis=2) > 128  # [H, W]
    ys, xs = np.nonzero(bright)
    found = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]  # the white box as the model sees it
    np.testing.assert_allclose(found, target["boxes"][0], atol=1.5)
    json.dumps(target)  # logged to samples.jsonl: must be JSON
    # more shapes: upscaled to the floor, downscaled to the budget, extreme aspect ratios
    for size in ((30, 20), (56, 56), (300, 40), (41, 250), (640, 480)):
        probe = LocalizationSample("p", sample.image, "negative", ("a",), (), (), size, None, lo, hi)
        grid = processor.image_processor(images=[Image.new("RGB", size)], return_tensors="pt")[
            "image_grid_thw"
        ]
        assert probe.frame == (int(grid[0, 2]) * 14, int(grid[0, 1]) * 14), size


def test_reference_answers_score_full_marks(shapes_56):
    recipe = LocalizationRecipe()
    samples = recipe.load_samples(str(shapes_56), "train", sizes=[1, 2, 4, 8])
    assert {s.kind for s in samples} == {"detection", "grounding", "negative"}
    reward = recipe.reward("vision-r1", {"step_fraction": 0.0}, str(shapes_56))  # the strict thresholds
    for mode in ("default", "think"):
        texts = [recipe.reference_answer(s, mode) for s in samples]
        out = reward(RewardInputs(samples, [recipe.target(s) for s in samples], texts))
        assert out.totals.tolist() == [3.0] * len(samples), mode
        assert out.components["xi0"].unique().tolist() == [0.75]
    empty = next(s for s in samples if s.kind == "negative")
    assert recipe.reference_answer(empty) == "```json\n[]\n```"
    assert round_box([0.2, 3.6, 0.4, 56.9], (56, 56)) == [0, 4, 1, 56]  # inside the frame, never empty


def test_batch_reward_equals_localization_reward_per_row(shapes_56):
    recipe = LocalizationRecipe()
    samples = [s for s in recipe.load_samples(str(shapes_56), "train") if s.kind == "detection"][:3]
    targets = [recipe.target(s) for s in samples]
    texts = [
        recipe.reference_answer(samples[0]),
        '[{"bbox_2d": [1, 1, 20, 20], "label": "circle"}, {"bbox_2d": [0, 0, 99, 5], "label": "x"}]',
        "I cannot see anything.",
    ]
    kwargs = {
        "matcher": "box_and_label",
        "overlap": "giou",
        "precision_over": "matched",
        "weights": [1, 2, 0.5],
    }
    reward = build_localization_reward(kwargs)
    assert isinstance(reward, LocalizationBatchReward)  # a batch reward, not adapted per completion
    out = reward(RewardInputs(samples, targets, texts, progress=0.3))
    for r, (text, t) in enumerate(zip(texts, targets)):
        want = localization_reward(
            text, t["boxes"], t["labels"], t["categories"], tuple(t["frame"]), **kwargs
        )
        assert out.totals[r].item() == pytest.approx(want.total)
        for name in ("format", "recall", "precision"):
            assert out.components[name][r].item() == pytest.approx(getattr(want, name))
        assert out.components["num_predictions"][r].item() == want.num_predictions
        assert out.components["num_matched"][r].item() == want.num_matched
    assert out.errors == 0


def test_staged_thresholds_switch_with_progress(tmp_path):
    sample = _sample(
        tmp_path, size=(112, 112), box=(0.0, 0.0, 50.0, 50.0), min_pixels=112 * 112, max_pixels=112 * 112
    )
    target = LocalizationRecipe().target(sample)
    # IoU 0.64 with the ground truth: a true positive while xi0 = 0.5, not once xi0 = 0.75
    text = '[{"bbox_2d": [0, 0, 40, 40], "label": "square"}]'
    reward = LocalizationBatchReward(step_fraction=0.5)
    rows = [reward(RewardInputs([sample], [target], [text], progress=p)) for p in (0.0, 0.49, 0.5, 1.0)]
    assert [r.components["xi0"].item() for r in rows] == [0.5, 0.5, 0.75, 0.75]
    assert [r.components["recall"].item() for r in rows] == [1.0, 1.0, 0.0, 0.0]
    assert [r.components["true_positives"].item() for r in rows] == [1.0, 1.0, 0.0, 0.0]
    assert rows[0].components["precision"].item() == pytest.approx(0.64)  # between xi1 and xi2: kept as is
    assert rows[2].components["precision"].item() == 0.0
    never = LocalizationBatchReward(step_fraction=1.0)
    assert never(RewardInputs([sample], [target], [text], progress=1.0)).components["xi0"].item() == 0.5
    fixed = LocalizationBatchReward(xi0=0.75)
    assert fixed.thresholds(0.0) == {"xi0": 0.75, "xi1": 0.5, "xi2": 0.75}
    # the same schedule as two stages with per-stage settings
    first, second = (
        build_localization_reward({"xi0": a, "xi1": a, "xi2": b}) for a, b in ((0.5, 0.75), (0.75, 0.9))
    )
    assert first(RewardInputs([sample], [target], [text])).totals.item() == rows[0].totals.item()
    assert second(RewardInputs([sample], [target], [text])).totals.item() == rows[3].totals.item()


def test_reward_settings_errors_count_reward_and_bad_targets(tmp_path):
    with pytest.raises(ConfigError, match="either step_fraction"):
        build_localization_reward({"step_fraction": 0.5, "xi0": 0.6})
    with pytest.raises(ConfigError, match="matcher must be one of"):
        build_localization_reward({"matcher": "label_only"})
    with pytest.raises(ConfigError, match="step_fraction must be a number in"):
        build_localization_reward({"step_fraction": 2})
    with pytest.raises(ConfigError, match="reward 'rarl' scores ordinal answers"):
        LocalizationRecipe().reward("rarl", {}, "")
    sample = _sample(
        tmp_path, size=(112, 112), box=(0.0, 0.0, 50.0, 50.0), min_pixels=112 * 112, max_pixels=112 * 112
    )
    target = LocalizationRecipe().target(sample)
    counted = build_localization_reward({"weights": [1, 0, 1], "count_weight": 1.0})
    texts = ['[{"bbox_2d": [0, 0, 40, 40], "label": "square"}]', "[]", "nonsense", "["]
    out = counted(RewardInputs([sample] * 4, [target] * 4, texts))
    assert out.components["count"].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert out.totals[0].item() == pytest.approx(1 + 0.64 + 1)  # format + precision + count (recall weight 0)
    broken = counted(RewardInputs([sample], [{"boxes": [[5, 5, 1, 1]]}], ["[]"]))
    assert broken.errors == 1 and broken.totals.tolist() == [0.0]


def test_frame_guard_stops_a_mismatched_run(tiny_model, tmp_path):
    from rarl.model.processor import load_processor

    processor = load_processor(tiny_model)  # the tiny model's own budget: every image becomes 56x56
    sample = _sample(tmp_path, size=(112, 112), min_pixels=112 * 112, max_pixels=112 * 112)
    target = LocalizationRecipe().target(sample)
    scorer = SimpleNamespace(policy=SimpleNamespace(processor=processor))
    reward = LocalizationBatchReward()
    with pytest.raises(ConfigError, match="shows a 112x112 frame as 56x56"):
        reward(RewardInputs([sample], [target], ["[]"], scorer=scorer))
    fits = _sample(
        tmp_path, size=(56, 56), box=(5.0, 5.0, 20.0, 20.0), min_pixels=56 * 56, max_pixels=56 * 56
    )
    out = reward(RewardInputs([fits], [LocalizationRecipe().target(fits)], ["[]"], scorer=scorer))
    assert out.totals.tolist() == [0.0]  # scored (no guard error): the empty answer misses the box


def test_ablation_plan_transforms_configs():
    recipe = LocalizationRecipe()
    plan = recipe.ablations()
    base = load_config(TrainConfig, REPO / "configs" / "vision-r1-tiny.yaml")
    assert {row[2] for row in plan.rows} <= set(plan.variants)
    settings = {}
    for name, apply in plan.variants.items():
        cfg = copy.deepcopy(base)
        apply(cfg)
        settings[name] = cfg.stages[0].reward_kwargs
        for stage in cfg.stages:  # every variant builds a valid reward
            assert isinstance(
                recipe.reward(cfg.reward.name, {**cfg.reward.kwargs, **stage.reward_kwargs}, ""),
                LocalizationBatchReward,
            )
    assert (
        settings["precision_only"]["weights"] == [1.0, 0.0, 1.0]
        and settings["precision_only"]["count_weight"] == 1.0
    )
    assert settings["recall_only"]["weights"] == [1.0, 1.0, 0.0]
    assert settings["step_1_3"]["step_fraction"] == pytest.approx(1 / 3)
    assert settings["step_1_2"]["step_fraction"] == 0.5 and settings["step_1"]["step_fraction"] == 1.0
    assert (
        settings["box_and_label"]["matcher"] == "box_and_label"
        and settings["box_only"]["matcher"] == "box_only"
    )
    assert settings["vision_r1"] == base.stages[0].reward_kwargs
    row = {"mAP": 0.4, "AP50": 0.5, "AP75": 0.3, "AR100": 0.6, "failure_rate": 0.1, "n_detection": 5}
    sections = {"": {"shapes": {"Baseline": row}}, "Matcher (Table 3)": {"shapes": {"Box-only": row}}}
    table = plan.render(sections, "Ablations on shapes", None)
    assert "| *Matcher (Table 3)* |" in table and "| Box-only | 40.0 | 50.0 | 30.0 | 60.0 | 10.0 |" in table


def test_configs_load():
    for name in ("vision-r1-qwen2.5-vl-7b.yaml", "vision-r1-tiny.yaml"):
        cfg = load_config(TrainConfig, REPO / "configs" / name)
        assert cfg.recipe == "vision-r1" and cfg.reward.name == "vision-r1"
        assert cfg.algorithm.beta == 0.2 and cfg.rollout.temperature == 1.0
        recipe = get_recipe(cfg.recipe)
        for stage in cfg.stages:
            recipe.reward(cfg.reward.name, {**cfg.reward.kwargs, **stage.reward_kwargs}, "")
    paper = load_config(TrainConfig, REPO / "configs" / "vision-r1-qwen2.5-vl-7b.yaml")
    assert paper.optim.lr == 1e-6 and paper.rollout.num_generations == 4
    assert load_config(TrainConfig, REPO / "configs" / "vision-r1-tiny.yaml").model.name_or_path == "tiny"


def test_recipe_builds_the_batch_reward_and_plugin_path_works():
    assert isinstance(LocalizationRecipe().reward("vision-r1", {}, ""), LocalizationBatchReward)
    plugin = build_reward("rarl.rewards.localization_batch:LocalizationBatchReward", {"step_fraction": 0.5})
    assert isinstance(plugin, LocalizationBatchReward) and not isinstance(plugin, PerCompletionReward)
