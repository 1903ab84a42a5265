"""Issue 24, files a person edited by hand and plug-ins of the wrong shape, through the real commands: each
ends in one `error:` line naming the input, exit code 2, before any model is loaded, with nothing written.

- Vision-R1 manifests (`"size": [0, 0]`, `[Infinity, 56]`, NaN boxes, reversed boxes, a repeated id) through
  `rarl train`, `rarl sft` and `rarl eval`;
- Refine-IQA manifests with a corrupt or truncated image (decoded up front, as the other recipes do);
- reward plug-ins whose `__call__` takes no batch, returns text, or one value for four rows; a `score` of the
  wrong signature; a recipe plug-in whose `__init__` needs an argument; reward settings of the wrong type.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from rarl.recipes.localization.prepare import prepare_localization
from rarl.recipes.quality.prepare import prepare_quality

from .helpers import CONFIGS, assert_clean_error, invoke

NO_MODEL = "/nonexistent/model"  # every check here must fail before a model would be loaded
VISION_R1 = CONFIGS / "vision-r1-tiny.yaml"
REFINE_IQA = CONFIGS / "refine-iqa-tiny.yaml"
SFT = CONFIGS / "sft-demo.yaml"


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hand-loc") / "shapes"
    prepare_localization("synthetic-shapes", out, num_images=8, image_size=56, max_objects=2, seed=5)
    return out


@pytest.fixture(scope="module")
def quality(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hand-iqa") / "scoring"
    prepare_quality("synthetic-quality", out, num_images=12, image_size=56)
    return out


def _edit(folder: Path, out: Path, change) -> Path:
    """A copy of the manifest `folder` with `change(records)` applied to train.jsonl."""
    shutil.copytree(folder, out)
    path = out / "train.jsonl"
    records = [json.loads(x) for x in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(r) + "\n" for r in change(records)))
    return out


def _first(**fields):
    return lambda records: [{**records[0], **fields}, *records[1:]]


def _commands(data: Path, tmp_path: Path, recipe: str = "vision-r1") -> dict[str, list]:
    """The same manifest through train, sft and eval, each with an output folder that must stay absent."""
    config = VISION_R1 if recipe == "vision-r1" else REFINE_IQA
    stage_data = [] if recipe == "vision-r1" else [f"stages.0.manifest={data}"]
    return {
        "train": [
            "train", "--config", config, f"output_dir={tmp_path / 'train'}", f"model.name_or_path={NO_MODEL}",
            f"data.manifest={data}", *stage_data,
        ],
        "sft": [
            "sft", "--config", SFT, f"recipe={recipe}", f"output_dir={tmp_path / 'sft'}",
            f"model.name_or_path={NO_MODEL}", f"data.manifest={data}",
        ],
        "eval": [
            "eval", "--recipe", recipe, "--model", NO_MODEL, "--data", data, "--split", "train",
            "--out", tmp_path / "eval",
        ],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        (_first(size=[0, 0]), ["train.jsonl:1", "'size' must be [width, height] in whole pixels", "[0, 0]"]),
        (_first(size=[float("inf"), 56]), ["train.jsonl:1", "'size' must be", "[inf, 56]"]),
        (_first(boxes=[[float("nan"), 1, 20, 20]]), ["train.jsonl:1", "boxes item 1 must be", "nan"]),
        (
            lambda rs: [{**r, "boxes": [[b[2], b[3], b[0], b[1]] for b in r["boxes"]]} for r in rs],
            ["cannot score: its corners are reversed", "records in train.jsonl hold such boxes"],
        ),
        (lambda rs: [rs[0], {**rs[1], "id": rs[0]["id"]}, *rs[2:]], ["train.jsonl:2: sample id", "line 1"]),
    ],
    ids=["size-0-0", "size-infinity", "nan-box", "reversed-boxes", "repeated-id"],
)
@pytest.mark.parametrize("command", ["train", "sft", "eval"])
def test_a_hand_edited_vision_r1_manifest_is_one_error(shapes, tmp_path, change, fragments, command):
    data = _edit(shapes, tmp_path / "data", change)
    args = _commands(data, tmp_path, "vision-r1")[command]
    assert_clean_error(invoke(*args), str(data / "train.jsonl"), *fragments)
    assert not any((tmp_path / name).exists() for name in ("train", "sft", "eval"))


@pytest.mark.parametrize("command", ["train", "sft", "eval"])
@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_corrupt_refine_iqa_image_is_one_error(quality, tmp_path, command, damage):
    data = _edit(quality, tmp_path / "data", lambda rs: rs)
    record = json.loads((data / "train.jsonl").read_text().splitlines()[1])
    image = data / record["images"][0]
    whole = image.read_bytes()
    image.write_bytes(b"not an image" if damage == "garbage" else whole[: len(whole) // 2])
    why = "not an image file PIL can read" if damage == "garbage" else "image file is truncated"
    args = _commands(data, tmp_path, "refine-iqa")[command]
    assert_clean_error(invoke(*args), "train.jsonl:2:", why, str(image), "1 of")
    assert image.read_bytes() != whole and not (tmp_path / command).exists()


PLUGINS = textwrap.dedent(
    """
    import torch
    from rarl.recipes.localization import LocalizationRecipe
    from rarl.rewards.batch import RewardOutput

    class NoBatch:
        def __call__(self):
            return RewardOutput(torch.zeros(1))

    class ReturnsText:
        def __call__(self, inputs):
            return "great"

    class OneValue:
        def __call__(self, inputs):
            return RewardOutput(torch.zeros(1))

    class OneValueOnRealTargets:  # raises on the placeholder batch, so only the recipe's own samples show it
        def __call__(self, inputs):
            if inputs.targets[0] is None:
                raise ValueError("no target")
            return RewardOutput(torch.zeros(1))

    class Result:
        total = 1.0
        def as_dict(self):
            return {"x": 1.0}

    class ScoreOneArgument:
        def score(self, completion):
            return Result()

    class Typed:
        def __init__(self, strict: bool = False):
            self.strict = strict
        def __call__(self, inputs):
            return RewardOutput(torch.zeros(len(inputs.texts)))

    class RecipeWithArgument(LocalizationRecipe):
        def __init__(self, scale):
            super().__init__()
    """
)


@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ("reward.name={p}:NoBatch", ["NoBatch'", "__call__() must take one argument, the batch"]),
        ("reward.name={p}:ReturnsText", ["ReturnsText' returned str 'great', not a", "RewardOutput"]),
        ("reward.name={p}:OneValue", ["OneValue' returned 1 total(s) for a batch of 4 rows"]),
        (
            "reward.name={p}:OneValueOnRealTargets",
            ["OneValueOnRealTargets' returned 1 total(s) for a batch of 4"],
        ),
        ("reward.name={p}:ScoreOneArgument", ["score(completion) must take (completion, target)", "score 0"]),
        ("recipe={p}:RecipeWithArgument", ["RecipeWithArgument(scale) cannot be created without arguments"]),
    ],
    ids=[
        "call-takes-no-batch",
        "returns-text",
        "one-value-for-four-rows",
        "one-value-on-real-targets",
        "score-signature",
        "recipe-init",
    ],
)
def test_a_plugin_of_the_wrong_shape_is_one_error(shapes, tmp_path, override, fragments):
    plugins = tmp_path / "plugins.py"
    plugins.write_text(PLUGINS)
    args = [
        "train", "--config", VISION_R1, f"output_dir={tmp_path / 'run'}", f"model.name_or_path={NO_MODEL}",
        f"data.manifest={shapes}", "reward.kwargs={}", "stages.0.reward_kwargs={}", override.replace("{p}", str(plugins)),
    ]  # fmt: skip
    assert_clean_error(invoke(*args), str(plugins), *fragments)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        (
            ["reward.kwargs={differentiation: 'false'}"],
            ["reward 'vision-r1': setting differentiation='false' is text", "takes true or false"],
        ),
        (["stages.0.reward_kwargs={step_fraction: '0.5'}"], ["setting step_fraction='0.5' is text"]),
        (["reward.kwargs={weights: '1,1,1'}"], ["setting weights='1,1,1' is text", "a list of numbers"]),
        (
            ["reward.name={p}:Typed", "reward.kwargs={strict: 'no'}", "stages.0.reward_kwargs={}"],
            ["Typed': setting strict='no' is text, but strict takes true or false"],
        ),
    ],
    ids=["bool-as-text", "number-as-text", "list-as-text", "plugin-bool-as-text"],
)
def test_reward_settings_of_the_wrong_type_are_one_error(shapes, tmp_path, overrides, fragments):
    plugins = tmp_path / "plugins.py"
    plugins.write_text(PLUGINS)
    args = [
        "train", "--config", VISION_R1, f"output_dir={tmp_path / 'run'}", f"model.name_or_path={NO_MODEL}",
        f"data.manifest={shapes}", *(o.replace("{p}", str(plugins)) for o in overrides),
    ]  # fmt: skip
    assert_clean_error(invoke(*args), *fragments)
    assert not (tmp_path / "run").exists()


def test_refine_iqa_reward_settings_are_checked_too(quality, tmp_path):
    """`refine-iqa` builds its scoring reward itself (not through build_reward): `pd: 'false'` is refused."""
    args = [
        "train", "--config", REFINE_IQA, f"output_dir={tmp_path / 'run'}", f"model.name_or_path={NO_MODEL}",
        f"data.manifest={quality}", f"stages.0.manifest={quality}", "reward.kwargs={pd: 'false'}",
    ]  # fmt: skip
    assert_clean_error(invoke(*args), "setting pd='false' is text, but pd takes true or false")
