"""The batch reward contract: the per-completion adapter, component means, and rewards named in config
(registered names and `file.py:Name` plug-ins)."""

from __future__ import annotations

import math
import textwrap

import pytest
import torch

from rarl.rewards import RankingAwareReward
from rarl.rewards.batch import PerCompletionReward, RewardInputs, RewardOutput, build_reward, component_means
from rarl.utils.config import ConfigError

GOOD = "<think>t</think><answer>[{'image_id': 1, 'value': 3}]</answer>"


def _inputs(texts, targets, group_size=1):
    return RewardInputs(samples=list(range(len(texts))), targets=targets, texts=texts, group_size=group_size)


def test_adapter_equals_the_per_completion_scores():
    reward = RankingAwareReward(delta=2.0)
    texts = [GOOD, "garbage", GOOD.replace("3", "4")]
    targets = [[3.0], [3.0], [3.0]]
    out = PerCompletionReward(reward)(_inputs(texts, targets))
    expected = [reward.score(t, y) for t, y in zip(texts, targets)]
    assert out.totals.tolist() == pytest.approx([e.total for e in expected])
    assert out.components["regression"].tolist() == pytest.approx([e.regression for e in expected])
    assert set(out.components) == set(expected[0].as_dict()) - {"total"}
    assert out.errors == 0


def test_component_means_skip_rows_a_component_does_not_apply_to():
    out = RewardOutput(
        torch.tensor([1.0, 0.0, 1.0]), {"a": [1.0, None, 0.0], "b": torch.tensor([1.0, 2.0, 3.0])}
    )
    assert math.isnan(float(out.components["a"][1]))
    means = component_means(out.components)
    assert means == {"a": 0.5, "b": 2.0}
    assert math.isnan(component_means({"c": torch.tensor([math.nan])})["c"])


def test_inputs_and_outputs_check_their_shapes():
    with pytest.raises(ValueError, match="3 texts but 2 samples"):
        RewardInputs(samples=[0, 1], targets=[0, 1], texts=["a", "b", "c"])
    with pytest.raises(ValueError, match="groups of 2"):
        _inputs(["a", "b", "c"], [0, 0, 0], group_size=2)
    with pytest.raises(ValueError, match="component 'x'"):
        RewardOutput(torch.zeros(2), {"x": torch.zeros(3)})


def test_build_reward_by_name_with_defaults_only_where_accepted():
    reward = build_reward("rarl", {"weights": [1, 0, 1]}, {"delta": 2.0, "value_range": (0, 9), "unused": 1})
    assert isinstance(reward, PerCompletionReward)
    assert (reward.reward.delta, reward.reward.weights, reward.reward.value_range) == (
        2.0,
        (1.0, 0.0, 1.0),
        (0.0, 9.0),
    )
    # explicit settings win over defaults
    assert build_reward("rarl", {"delta": 5.0}, {"delta": 2.0}).reward.delta == 5.0


def test_build_reward_errors_are_one_line_and_name_the_reward(tmp_path):
    with pytest.raises(ConfigError, match="unknown reward 'nope'; known rewards: .*rarl"):
        build_reward("nope")
    with pytest.raises(ConfigError, match="reward 'rarl' with .*bogus"):
        build_reward("rarl", {"bogus": 1})
    with pytest.raises(ConfigError, match="no such file"):
        build_reward(f"{tmp_path}/missing.py:R")
    bad = tmp_path / "bad.py"
    bad.write_text("raise RuntimeError('broken plug-in')\n")
    with pytest.raises(ConfigError, match="importing .* failed: RuntimeError: broken plug-in"):
        build_reward(f"{bad}:R")
    with pytest.raises(ConfigError, match="defines no 'Missing'"):
        build_reward(f"{tmp_path / 'ok.py'}:Missing") if (tmp_path / "ok.py").write_text("x = 1\n") else None


PLUGIN = textwrap.dedent(
    """
    from dataclasses import dataclass


    @dataclass
    class Score:
        short: float
        delta_seen: float
        total: float

        def as_dict(self):
            return {"short": self.short, "delta_seen": self.delta_seen, "total": self.total}


    class ShortAnswerReward:
        '''1 when the completion has at most `max_chars` characters (a per-completion reward).'''

        def __init__(self, max_chars=10, delta=None):
            self.max_chars = max_chars
            self.delta = delta

        def score(self, completion, labels):
            short = 1.0 if len(completion) <= self.max_chars else 0.0
            return Score(short, float(self.delta), short)
    """
)


def test_a_reward_plugin_named_in_yaml_trains(tiny_model, manifest, tmp_path):
    """`reward.name: my_reward.py:ShortAnswerReward` in a YAML config, kwargs from YAML and a stage override."""
    from rarl.recipes.runs import grpo_trainer
    from rarl.train.config import TrainConfig
    from rarl.train.metrics_log import read_metrics
    from rarl.utils.config import load_config

    (tmp_path / "my_reward.py").write_text(PLUGIN)
    config = tmp_path / "run.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            output_dir: {tmp_path / "run"}
            model: {{name_or_path: {tiny_model}, freeze_vision: false}}
            data: {{manifest: {manifest}, sizes: [1]}}
            rollout: {{num_generations: 2, max_new_tokens: 8}}
            reward:
              name: {tmp_path / "my_reward.py"}:ShortAnswerReward
              kwargs: {{max_chars: 0}}
            prompts_per_step: 2
            stages:
              - {{name: strict, steps: 1}}
              - {{name: lenient, steps: 1, reward_kwargs: {{max_chars: 1000}}}}
            logging: {{progress: false, sample_every: 0}}
            """
        )
    )
    grpo_trainer(load_config(TrainConfig, config)).train()
    rows = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["reward/short"] for r in rows] == [0.0, 1.0]  # the stage's setting overrode reward.kwargs
    assert rows[0]["reward/delta_seen"] == 2.0  # the synthetic task's delta reached the plug-in
