"""The refine-iqa per-task reward dispatch: each row of a mixed batch is scored by its own task, and the
refine_iqa advantage gives perception groups plain GRPO advantages and scoring groups Eq. 6."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from rarl.algorithms import group_advantages, refine_iqa_advantages
from rarl.algorithms.estimators import AdvantageInputs, refine_iqa_estimator
from rarl.recipes.quality.reward import QualityTaskReward, choice_index, grounding_reward, parse_box
from rarl.rewards.batch import RewardInputs

OPTIONS = ["blur", "noise", "compression"]


@pytest.mark.parametrize(
    ("text", "index"),
    [
        ("<answer>B</answer>", 1),
        ("<answer> b </answer>", 1),
        ("<answer>(C)</answer>", 2),
        ("<answer>B. noise</answer>", 1),
        ("<answer>noise</answer>", 1),
        ("<think>hm</think><answer>Compression</answer>", 2),
        ("<answer>B. blur</answer>", None),  # letter and text disagree
        ("<answer>D</answer>", None),  # no such option
        ("<answer>A</answer><answer>B</answer>", None),
        ("B", None),  # no answer block
        ("<answer>blurry</answer>", None),
    ],
)
def test_choice_parsing(text, index):
    assert choice_index(text, OPTIONS) == index


def test_grounding_reward_is_the_iou():
    assert grounding_reward("<answer>[0, 0, 10, 10]</answer>", [0, 0, 10, 10]) == pytest.approx(1.0)
    assert grounding_reward("<answer>[0, 0, 10, 10]</answer>", [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert grounding_reward("<answer>[10, 0, 0, 10]</answer>", [0, 0, 10, 10]) == 0.0  # x1 > x2
    assert grounding_reward("[0, 0, 10, 10]", [0, 0, 10, 10]) == 0.0  # no answer block
    assert parse_box("<answer>[1.5,2,3e1,4]</answer>") is None  # no exponents
    assert parse_box("<answer> [1.5, 2, 30, 40] </answer>") == (1.5, 2.0, 30.0, 40.0)


@given(st.text(max_size=80))
def test_perception_rewards_never_raise(text):
    assert choice_index(text, OPTIONS) in (None, 0, 1, 2)
    assert 0.0 <= grounding_reward(text, [0, 0, 4, 4]) <= 1.0


def test_mixed_batch_each_row_by_its_task():
    choice = {"task": "distortion", "options": OPTIONS, "answer": 1}
    box = {"task": "grounding", "box": [0, 0, 10, 10]}
    texts = [
        "<answer>B</answer>",
        "<answer>A</answer>",
        "<answer>[0, 0, 10, 5]</answer>",
        "nothing",
        "<think>ok</think><answer>3.20</answer>",
        "<think>ok</think><answer>1.00</answer>",
    ]
    inputs = RewardInputs(
        samples=list(range(6)), targets=[choice, choice, box, box, 3.3, 3.3], texts=texts, group_size=2
    )
    out = QualityTaskReward()(inputs)  # no scorer: the PD term is 0
    assert out.totals.tolist() == pytest.approx([1.0, 0.0, 0.5, 0.0, 2.0, 1.0])
    c = out.components
    assert c["choice"][:2].tolist() == [1.0, 0.0] and all(math.isnan(v) for v in c["choice"][2:].tolist())
    assert c["iou"][2:4].tolist() == pytest.approx([0.5, 0.0])
    assert c["passed"][4:].tolist() == [1.0, 0.0] and all(math.isnan(v) for v in c["passed"][:4].tolist())
    assert c["answer"][4:].tolist() == [1.0, 0.0] and c["format"][4:].tolist() == [1.0, 1.0]
    assert c["perception_format"][:4].tolist() == [1.0, 1.0, 1.0, 0.0]
    assert c["task/distortion"][:2].tolist() == [1.0, 0.0] and c["task/score"][4:].tolist() == [2.0, 1.0]


def test_perception_only_batch_still_names_passed():
    out = QualityTaskReward()(
        RewardInputs(
            [0, 1],
            [{"task": "severity", "options": ["a", "b"], "answer": 0}] * 2,
            ["<answer>A</answer>", "x"],
            group_size=2,
        )
    )
    assert torch.isnan(out.components["passed"]).all()


def test_refine_iqa_estimator_mixes_plain_grpo_and_eq6():
    rewards = torch.tensor([1.0, 0.0, 0.5, 0.5, 2.0, 1.0, 1.0, 0.0])  # 4 groups of 2
    passed = torch.tensor([math.nan, math.nan, math.nan, math.nan, 1.0, 0.0, 0.0, 0.0])
    adv = refine_iqa_estimator(AdvantageInputs(rewards, 2, components={"passed": passed}), eps=1e-4)
    plain = group_advantages(rewards, 2, scale="group", eps=1e-4)
    eq6 = refine_iqa_advantages(rewards, passed.nan_to_num(0.0) >= 0.5, 2)
    assert torch.allclose(adv[:4], plain[:4])  # perception groups: standard GRPO (an all-equal group gets 0)
    assert adv[2] == 0.0 and adv[3] == 0.0
    assert torch.allclose(adv[4:], eq6[4:])  # scoring groups: Eq. 6
    assert adv[5] == 0.0 and adv[4] > 0  # a passing group never pushes a rollout down
    assert adv[6] > adv[7] and adv[7] < 0  # a failing group shifts every rollout down
