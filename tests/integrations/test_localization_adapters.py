"""Vision-R1's reward through the TRL and verl adapters: the same numbers as the pure reward, hand-worked."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from rarl.integrations.trl import make_trl_localization_reward, training_progress
from rarl.integrations.verl import compute_localization_score
from rarl.rewards import localization_reward
from rarl.utils.config import ConfigError

# One 100x100 frame, two ground-truth boxes.
TARGET = {
    "kind": "detection",
    "boxes": [[0, 0, 50, 50], [50, 50, 100, 100]],
    "labels": ["cat", "dog"],
    "categories": ["cat", "dog"],
    "frame": [100, 100],
}
# Box 1 exact (IoU 1); box 2 shifted by 10 px: IoU = 40*40 / (2*50*50 - 40*40) = 1600/3400 = 0.4706.
ANSWER = '```json\n[{"bbox_2d": [0, 0, 50, 50], "label": "cat"}, {"bbox_2d": [60, 60, 110, 100], "label": "dog"}]\n```'
ANSWER_INSIDE = ANSWER.replace("110, 100", "100, 100")  # clipped to the frame: IoU 40*40/(50*50) = 0.64


def call_like_trl(reward_func, targets, completions, trainer_state=None):
    return reward_func(
        prompts=["p"] * len(completions),
        completions=completions,
        completion_ids=[[1]] * len(completions),
        trainer_state=trainer_state,
        log_metric=lambda name, value: None,
        target=targets,
    )


def test_trl_matches_the_pure_reward_on_a_hand_worked_case():
    reward_func = make_trl_localization_reward()
    out = call_like_trl(reward_func, [TARGET, json.dumps(TARGET)], [ANSWER_INSIDE, ANSWER])
    # ANSWER_INSIDE: format 1; IoUs 1 and 0.64; xi0 0.5 -> 2 true positives, recall 2/2 = 1 (f(1) = 1);
    # precision = (f(1) + f(0.64)) / M = (1 + 0.64) / 2 = 0.82 -> total 2.82
    assert out[0] == pytest.approx(1 + 1 + 0.82)
    # ANSWER: box 2 leaves the 100x100 frame, so the entry is invalid and format is 0; the rest as the pure
    # reward scores it
    pure = localization_reward(ANSWER, TARGET["boxes"], TARGET["labels"], TARGET["categories"], (100, 100))
    assert out[1] == pytest.approx(pure.total)
    assert pure.format == 0.0


def test_trl_thresholds_follow_trainer_state():
    reward_func = make_trl_localization_reward(step_fraction=0.5)
    early = SimpleNamespace(global_step=10, max_steps=100)
    late = SimpleNamespace(global_step=60, max_steps=100)
    # At xi0 = 0.75 (advanced phase) the IoU-0.64 box is no longer a true positive: recall f(1/2) = 0 (< xi1
    # = 0.75), precision (1 + 0) / 2 = 0.5 -> total 1.5; before the switch 2.82 as above.
    assert call_like_trl(reward_func, [TARGET], [ANSWER_INSIDE], early)[0] == pytest.approx(2.82)
    assert call_like_trl(reward_func, [TARGET], [ANSWER_INSIDE], late)[0] == pytest.approx(1.5)
    assert training_progress(None) == 0.0
    assert training_progress(SimpleNamespace(global_step=5, max_steps=0)) == 0.0


def test_trl_row_without_target_is_not_scored_and_bad_targets_are_named():
    reward_func = make_trl_localization_reward()
    assert call_like_trl(reward_func, [None, TARGET], ["[]", ANSWER_INSIDE])[0] is None
    with pytest.raises(ValueError, match=r"lacks \['frame'\]"):
        call_like_trl(reward_func, [{k: v for k, v in TARGET.items() if k != "frame"}], ["[]"])
    with pytest.raises(ValueError, match="not JSON"):
        call_like_trl(reward_func, ["{boxes"], ["[]"])
    with pytest.raises(ConfigError, match="matcher"):
        make_trl_localization_reward(matcher="label_only")


def test_verl_matches_trl_and_reads_numpy_rows():
    parquet_like = {**TARGET, "boxes": np.array(TARGET["boxes"]), "frame": np.array([100, 100])}
    score = compute_localization_score("coco", ANSWER_INSIDE, parquet_like, {"index": 3})
    assert score == pytest.approx({"score": 2.82, "format": 1.0, "recall": 1.0, "precision": 0.82})
    advanced = compute_localization_score(
        "coco",
        ANSWER_INSIDE,
        json.dumps(TARGET),
        {"progress": 0.9},
        step_fraction=0.5,
        sandbox_fusion_url=None,
    )
    assert advanced["score"] == pytest.approx(1.5)
    with pytest.raises(ConfigError, match="overlap"):
        compute_localization_score("coco", "[]", TARGET, None, overlap="dice")


def test_empty_answer_on_a_negative_sample():
    negative = {**TARGET, "boxes": [], "labels": []}
    assert compute_localization_score("coco", "[]", negative)["score"] == pytest.approx(3.0)
    assert compute_localization_score("coco", "[]", TARGET)["score"] == 0.0  # nothing found: nothing earned
