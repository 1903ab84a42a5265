"""A recipe plug-in is created and checked when it is loaded (`get_recipe`, `Registry.create`): a class
whose `__init__` needs an argument, one whose creation raises, or one with unusable `modes` is one
ConfigError line naming the plug-in."""

from __future__ import annotations

import textwrap

import pytest

from rarl.recipes.base import get_recipe
from rarl.utils.config import ConfigError

PLUGINS = textwrap.dedent(
    """
    from rarl.recipes.localization import LocalizationRecipe
    from rarl.recipes.base import RecipeBase

    class NeedsArgument(LocalizationRecipe):
        def __init__(self, scale):
            super().__init__()

    class Raises(LocalizationRecipe):
        def __init__(self):
            raise RuntimeError("tokenizer not found")

    class TextModes(LocalizationRecipe):
        modes = "default"

    class NumberName(LocalizationRecipe):
        name = 5

    class Incomplete(RecipeBase):
        pass

    class Fine(LocalizationRecipe):
        def __init__(self, eval_mode=None):
            super().__init__(eval_mode)

    INSTANCE = Fine()

    def make(scale):
        return Fine()
    """
)


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "my_recipes.py"
    path.write_text(PLUGINS)
    return lambda name: f"{path}:{name}"


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        (
            "NeedsArgument",
            "NeedsArgument(scale) cannot be created without arguments (missing a required argument:",
        ),
        ("Raises", "Raises': creating it raised RuntimeError: tokenizer not found"),
        ("TextModes", "TextModes': modes must be a non-empty tuple of mode names, got 'default'"),
        ("NumberName", "NumberName': name must hold text, got 5"),
        ("Incomplete", "Incomplete' lacks load_samples, messages, reference_answer, evaluate"),
        ("make", "make(scale) cannot be created without arguments"),
    ],
)
def test_a_recipe_plugin_of_the_wrong_shape_is_one_line(spec, name, fragment):
    with pytest.raises(ConfigError) as info:
        get_recipe(spec(name))
    message = str(info.value)
    assert fragment in message and spec(name) in message and "\n" not in message, message


def test_good_recipe_plugins_load(spec):
    assert get_recipe(spec("Fine")).name == "vision-r1"
    assert get_recipe(spec("INSTANCE")).modes == ("default", "think")
    assert get_recipe("vision-r1").name == "vision-r1"
