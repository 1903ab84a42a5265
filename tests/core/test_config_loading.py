from pathlib import Path

import pytest

from rarl.train.config import SFTConfig, TrainConfig
from rarl.utils.config import ConfigError, apply_overrides, load_config, to_dict

CONFIGS = sorted(Path(__file__).resolve().parents[2].joinpath("configs").glob("*.yaml"))


def test_defaults_follow_the_paper():
    cfg = TrainConfig()
    assert cfg.recipe == "rarl"
    assert cfg.optim.lr == 1e-6
    assert cfg.prompts_per_step == 64
    assert cfg.rollout.temperature == 1.0
    assert cfg.algorithm.beta == 0.01
    assert cfg.algorithm.advantage == "grpo"
    assert cfg.rmo.k == 2
    assert cfg.rollout.num_generations == 8


PAPER_CONFIGS = [
    p for p in CONFIGS if p.name.split("-")[0] in ("utkface", "coco", "ava") or p.name == "demo.yaml"
]


@pytest.mark.parametrize("path", PAPER_CONFIGS, ids=[p.name for p in PAPER_CONFIGS])
def test_shipped_rarl_configs_spell_out_the_two_stage_curriculum(path):
    cfg = load_config(TrainConfig, path)
    assert cfg.recipe == "rarl"
    assert [s.reward_kwargs["weights"] for s in cfg.stages] == [[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]]
    assert [s.rmo for s in cfg.stages] == [False, True]


def test_old_reward_weights_key_still_reads_as_reward_kwargs(tmp_path):
    p = tmp_path / "old.yaml"
    p.write_text("stages:\n  - name: s1\n    steps: 2\n    reward_weights: [1, 0, 1]\n")
    cfg = load_config(TrainConfig, p)
    assert cfg.stages[0].reward_kwargs == {"weights": [1.0, 0.0, 1.0]}
    assert cfg.stages[0].reward_weights is None
    both = tmp_path / "both.yaml"
    both.write_text(
        "stages:\n  - name: s1\n    reward_weights: [1, 0, 1]\n    reward_kwargs: {weights: [1, 1, 1]}\n"
    )
    with pytest.raises(ConfigError, match="give the weights once"):
        load_config(TrainConfig, both)


def test_moved_keys_say_where_they_went():
    with pytest.raises(ConfigError, match=r"'reward.delta' has moved: write reward.kwargs.delta"):
        load_config(TrainConfig, None, ["reward.delta=3"])
    with pytest.raises(ConfigError, match=r"'rmo.std_eps' has moved: write algorithm.std_eps"):
        load_config(TrainConfig, None, ["rmo.std_eps=1e-3"])


def test_yaml_and_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("output_dir: x\nrollout:\n  num_generations: 4\nstages:\n  - name: a\n    steps: 3\n")
    cfg = load_config(
        TrainConfig, p, ["optim.lr=3e-5", "stages.0.steps=7", "model.lora={r: 4}", "data.sizes=[1,2]"]
    )
    assert cfg.rollout.num_generations == 4
    assert cfg.optim.lr == 3e-5
    assert cfg.stages[0].steps == 7 and cfg.stages[0].name == "a"
    assert cfg.model.lora is not None and cfg.model.lora.r == 4 and cfg.model.lora.alpha == 32
    assert cfg.data.sizes == [1, 2]


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match="rollout.num_generation'"):
        load_config(TrainConfig, None, ["rollout.num_generation=4"])
    with pytest.raises(ConfigError, match="unknown config key 'bogus'"):
        load_config(TrainConfig, None, ["bogus=1"])


def test_wrong_type_is_named():
    with pytest.raises(ConfigError, match="rollout.num_generations: expected an integer"):
        load_config(TrainConfig, None, ["rollout.num_generations=four"])
    with pytest.raises(ConfigError, match="rmo.trigger"):
        load_config(TrainConfig, None, ["rmo.trigger=sometimes"])
    with pytest.raises(ConfigError, match="model.freeze_vision: expected true/false"):
        load_config(TrainConfig, None, ["model.freeze_vision=3"])


def test_validation_messages():
    with pytest.raises(ConfigError, match="num_generations must be >= 2"):
        load_config(TrainConfig, None, ["rollout.num_generations=1"])
    with pytest.raises(ConfigError, match="rmo.k"):
        load_config(TrainConfig, None, ["rollout.num_generations=2", "rmo.k=2", "stages.0.rmo=true"])


def test_stage_names_must_be_unique():
    with pytest.raises(ConfigError, match="names must be unique"):
        load_config(TrainConfig, None, ["stages=[{name: a}, {name: a}]"])


def test_malformed_override_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides({}, ["novalue"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(TrainConfig, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(TrainConfig, bad)


def test_round_trip_through_dict():
    cfg = load_config(TrainConfig, None, ["stages.0.rmo=true", "stages.0.reward_kwargs={weights: [1, 0, 1]}"])
    again = load_config(TrainConfig, None, [])
    assert to_dict(cfg) != to_dict(again)
    from rarl.utils.config import from_dict

    assert to_dict(from_dict(TrainConfig, to_dict(cfg))) == to_dict(cfg)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_recipes_load_and_validate(path):
    cls = SFTConfig if "sft" in path.name else TrainConfig
    cfg = load_config(cls, path)
    assert cfg.output_dir
