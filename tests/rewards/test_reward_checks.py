"""Rewards are checked when they are built (`rarl.rewards.checks`): settings against the factory's
annotations, the reward's shape, and for plug-ins one call on a probe batch; a batch plug-in's every later
output is checked too. Each failure is one ConfigError line naming the reward."""

from __future__ import annotations

import textwrap

import pytest
import torch

from rarl.rewards.batch import PerCompletionReward, RewardInputs, RewardOutput, build_reward
from rarl.rewards.checks import CheckedReward, check_settings, probe_with_samples
from rarl.rewards.localization_batch import LocalizationBatchReward
from rarl.rewards.probability_difference import QualityScoreReward
from rarl.utils.config import ConfigError

PLUGINS = textwrap.dedent(
    """
    import typing

    import torch
    from rarl.rewards.batch import RewardOutput

    class Good:
        def __call__(self, inputs):
            return RewardOutput(torch.arange(len(inputs.texts), dtype=torch.float32))

    class ReadsTargets:  # fails on the placeholder batch (None targets): judged at the first real call
        def __call__(self, inputs):
            return RewardOutput(torch.tensor([float(t["n"]) for t in inputs.targets]))

    class ReadsTargetsOneValue:
        def __call__(self, inputs):
            return RewardOutput(torch.tensor([float(inputs.targets[0]["n"])]))

    class ReturnsTensor:
        def __call__(self, inputs):
            return torch.zeros(len(inputs.texts))

    class Raises:
        def __call__(self, inputs):
            return {}["missing"]

    class FloatScore:
        def score(self, completion, target):
            return 1.0

    class StarScore:  # *args accepts (completion, target): fine
        def score(self, *args):
            class R:
                total = 0.5
                def as_dict(self):
                    return {"half": 0.5}
            return R()

    class NeedsTwo:
        def __call__(self, inputs, extra):
            return RewardOutput(torch.zeros(len(inputs.texts)))

    class Broken:
        def __init__(self):
            raise RuntimeError("weights not found")

    class Typed:
        def __init__(self, flag: bool = False, scale: float = 1.0, names: list[str] | None = None,
                     mode: "typing.Literal['a', 'b']" = "a", thing: "Unknown" = None):
            pass
        def __call__(self, inputs):
            return RewardOutput(torch.zeros(len(inputs.texts)))
    """
)


@pytest.fixture
def plugins(tmp_path):
    path = tmp_path / "plugins.py"
    path.write_text(PLUGINS)
    return lambda name: f"{path}:{name}"


def _inputs(targets):
    return RewardInputs(samples=list(range(len(targets))), targets=targets, texts=["x"] * len(targets))


def test_a_good_batch_plugin_is_returned_as_it_is(plugins):
    reward = build_reward(plugins("Good"))
    assert type(reward).__name__ == "Good"
    assert reward(_inputs([None] * 3)).totals.tolist() == [0.0, 1.0, 2.0]
    assert isinstance(build_reward(plugins("ReadsTargets")), CheckedReward)  # not judged on placeholders


def test_registered_rewards_are_returned_as_they_were():
    assert isinstance(build_reward("vision-r1", {"differentiation": False}), LocalizationBatchReward)
    assert isinstance(build_reward("rarl", {"weights": [1, 0, 1]}, {"delta": 2.0}), PerCompletionReward)


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("ReturnsTensor", "ReturnsTensor' returned Tensor tensor([0., 0., 0., 0.]), not a"),
        ("FloatScore", "FloatScore': score() returned float 1.0, which has no numeric .total and .as_dict()"),
        ("NeedsTwo", "NeedsTwo': __call__(inputs, extra) must take one argument, the batch"),
        ("Broken", "Broken' with {}: RuntimeError: weights not found"),
    ],
)
def test_plugins_of_the_wrong_shape_fail_when_built(plugins, name, fragment):
    with pytest.raises(ConfigError) as info:
        build_reward(plugins(name))
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_score_with_star_args_is_accepted(plugins):
    out = build_reward(plugins("StarScore"))(_inputs([None, None]))
    assert out.totals.tolist() == [0.5, 0.5] and out.errors == 0


def test_a_plugin_that_needs_real_targets_is_probed_on_the_recipes_samples(plugins):
    """The placeholder probe cannot judge a reward that reads targets; the trainer's samples can."""
    good = build_reward(plugins("ReadsTargets"))
    probe_with_samples(good, plugins("ReadsTargets"), [{"n": 1}, {"n": 2}, {"n": 3}], lambda s: s)
    assert good(_inputs([{"n": 4}, {"n": 5}])).totals.tolist() == [4.0, 5.0]
    bad = build_reward(plugins("ReadsTargetsOneValue"))  # passes the placeholder probe (it raises there)
    with pytest.raises(
        ConfigError, match=r"ReadsTargetsOneValue' returned 1 total\(s\) for a batch of 4 rows"
    ):
        probe_with_samples(bad, plugins("ReadsTargetsOneValue"), [{"n": 1}, {"n": 2}], lambda s: s)
    with pytest.raises(ConfigError, match=r"returned 1 total\(s\) for a batch of 3 rows"):  # and at a step
        bad(_inputs([{"n": 1}] * 3))
    raises = build_reward(plugins("Raises"))
    with pytest.raises(ConfigError, match=r"Raises' raised KeyError: 'missing' on a batch of 2 rows"):
        probe_with_samples(raises, plugins("Raises"), [{"n": 1}], lambda s: s)
    with pytest.raises(
        ConfigError, match=r"Raises' raised KeyError: 'missing' on a batch of 1 rows .*RARL_DEBUG"
    ):
        raises(_inputs([None]))


def test_registered_rewards_are_not_probed_with_samples():
    calls = []

    class Spy:
        def __call__(self, inputs):
            calls.append(inputs)
            return RewardOutput(torch.zeros(len(inputs.texts)))

    probe_with_samples(Spy(), "vision-r1", [object()], lambda s: None)
    assert calls == []


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        (
            {"flag": "false"},
            "setting flag='false' is text, but flag takes true or false (write true or false",
        ),
        ({"flag": 0}, "setting flag=0 is a number, but flag takes true or false"),
        ({"scale": "2"}, "setting scale='2' is text, but scale takes a number"),
        ({"scale": True}, "setting scale=True is true or false, but scale takes a number"),
        ({"names": "a,b"}, "setting names='a,b' is text, but names takes a list of text items or null"),
        ({"names": ["a", 1]}, "setting names=['a', 1] is a list"),
        ({"mode": "c"}, "setting mode='c' is text, but mode takes one of 'a', 'b'"),
    ],
)
def test_settings_are_checked_against_annotations(plugins, settings, fragment):
    with pytest.raises(ConfigError) as info:
        build_reward(plugins("Typed"), settings)
    assert fragment in str(info.value), str(info.value)


def test_settings_that_fit_pass(plugins):
    build_reward(plugins("Typed"), {"flag": True, "scale": 2, "names": ["a"], "mode": "b", "thing": object()})
    build_reward(plugins("Typed"), {"names": None, "scale": 0.5})


def test_the_paper_rewards_refuse_text_for_true_or_false():
    with pytest.raises(ConfigError, match="differentiation='false' is text"):
        build_reward("vision-r1", {"differentiation": "false"})
    with pytest.raises(ConfigError, match="pd='false' is text"):
        QualityScoreReward(pd="false")  # refine-iqa builds it directly, with the stage's settings
    with pytest.raises(ConfigError, match="delta='2' is text"):
        build_reward("rarl", {"delta": "2"})
    check_settings(
        LocalizationBatchReward, {"weights": (1, 0, 1), "xi0": None, "count_weight": 1}, "vision-r1"
    )
