"""Recipes: one task each (prompts, samples, reference answers, reward, evaluation) on the shared engine.

    recipe = get_recipe("rarl")            # or a plug-in "path/to/file.py:MyRecipe"

Registered: `rarl` (ordinal estimation and ranking, `rarl.recipes.ordinal`), `vision-r1` (localization,
`rarl.recipes.localization`), `refine-iqa` (quality perception and scoring, `rarl.recipes.quality`). See `rarl.recipes.base` for
the interface and docs/architecture.md for a walk-through of adding one.
"""

from rarl.recipes.base import RECIPES, Conversation, Recipe, RecipeBase, get_recipe, register_recipe
from rarl.recipes.localization import LocalizationRecipe
from rarl.recipes.ordinal import OrdinalRecipe
from rarl.recipes.quality import QualityRecipe

__all__ = [
    "RECIPES",
    "Conversation",
    "LocalizationRecipe",
    "OrdinalRecipe",
    "QualityRecipe",
    "Recipe",
    "RecipeBase",
    "get_recipe",
    "register_recipe",
]
