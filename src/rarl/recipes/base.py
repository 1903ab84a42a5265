"""The recipe seam: everything task-specific behind one small interface, chosen by name in config.

The engine (GRPO trainer, SFT trainer, `rarl eval`, `rarl ablate`) knows no task. It asks a recipe to

    samples = recipe.load_samples(manifest, split, sizes)      # the recipe's own sample type
    conversation = recipe.messages(sample, mode)               # HF chat messages with image parts
    text = recipe.reference_answer(sample)                     # SFT target, RMO injection (None: none)
    target = recipe.target(sample)                             # ground truth a reward scores against
    reward = recipe.reward(name, settings, manifest)           # a BatchReward (rarl.rewards.batch)
    results, rows = recipe.evaluate(policy, manifest, settings, name)
    table = recipe.write_report(out, {model: results}, title=..., curves=..., settings=...)

A sample is any object with a `sample_id` (a stable string: RMO memory and logs are keyed by it) whose
images the recipe's `messages` puts in image parts (PIL images or paths). `sizes` selects samples by a
recipe-defined size (RARL: images per sample); a recipe without sizes ignores it.

`RecipeBase` gives the parts most recipes share: prompt modes with a default, the reward built from its
name (`rarl.rewards.batch.build_reward`) with the recipe's task-derived defaults, and a report that writes
`results.json` and a markdown table of one row per model. A new recipe subclasses it, or implements the
protocol from scratch; `register_recipe("name")` makes `recipe: name` work in config, and a plug-in path
`recipe: path/to/file.py:MyRecipe` works without registering (see docs/architecture.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from rarl.rewards.batch import BatchReward, build_reward
from rarl.utils.config import ConfigError
from rarl.utils.registry import Registry

Conversation = list[dict[str, Any]]

__all__ = [
    "RECIPES",
    "Conversation",
    "Recipe",
    "RecipeBase",
    "get_recipe",
    "register_recipe",
]


@runtime_checkable
class Recipe(Protocol):
    """What the engine asks of a task (see the module docstring)."""

    name: str
    modes: tuple[str, ...]
    """Prompt modes the recipe understands; the first is the default."""

    def load_samples(self, manifest: str, split: str, sizes: Sequence[int] | None = None) -> list[Any]: ...

    def messages(self, sample: Any, mode: str | None = None) -> Conversation: ...

    def reference_answer(self, sample: Any) -> str | None: ...

    def target(self, sample: Any) -> Any: ...

    def reward(self, name: str, settings: Mapping[str, Any], manifest: str) -> BatchReward: ...

    def evaluate(
        self, policy: Any, manifest: str, settings: Any, name: str = "model"
    ) -> tuple[Any, list[dict[str, Any]]]: ...

    def write_report(
        self,
        out: Path,
        results: Mapping[str, Any],
        *,
        title: str,
        curves: Mapping[str, list[dict[str, Any]]] | None = None,
        settings: Any = None,
    ) -> str: ...


class RecipeBase:
    """Shared defaults for recipes; subclasses set `name`, `modes` and implement the sample-level methods."""

    name: str = "recipe"
    modes: tuple[str, ...] = ("default",)

    def resolve_mode(self, mode: str | None) -> str:
        """`mode`, or the default mode; a mode the recipe does not know is a ConfigError naming both."""
        if mode is None:
            return self.modes[0]
        if mode not in self.modes:
            raise ConfigError(f"recipe {self.name!r} has no prompt mode {mode!r}; modes: {list(self.modes)}")
        return mode

    def target(self, sample: Any) -> Any:
        return sample.target

    def reward_defaults(self, manifest: str) -> dict[str, Any]:
        """Task-derived reward arguments, passed to the reward's factory where it accepts them."""
        return {}

    def reward(self, name: str, settings: Mapping[str, Any], manifest: str) -> BatchReward:
        return build_reward(name, settings, self.reward_defaults(manifest))

    def write_report(
        self,
        out: Path,
        results: Mapping[str, Any],
        *,
        title: str,
        curves: Mapping[str, list[dict[str, Any]]] | None = None,
        settings: Any = None,
    ) -> str:
        """results.json and report.md with one row per model; `results[model]` maps metric -> number."""
        from rarl.utils.io import atomic_write_text

        out = Path(out)
        metrics = sorted({k for r in results.values() for k in r})
        lines = [
            f"**{title}**",
            "",
            "| Model | " + " | ".join(metrics) + " |",
            "|---|" + "---:|" * len(metrics),
        ]
        for model, row in results.items():
            cells = [f"{row[m]:.4g}" if isinstance(row.get(m), (int, float)) else "-" for m in metrics]
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
        table = "\n".join(lines)
        atomic_write_text(out / "results.json", json.dumps(results, indent=1, default=str) + "\n")
        atomic_write_text(out / "report.md", table + "\n")
        return table


RECIPES = Registry("recipe")
"""Recipe factories (classes) by name. Filled by `register_recipe`."""

RecipeT = TypeVar("RecipeT", bound=Callable[[], Any])


def register_recipe(name: str) -> Callable[[RecipeT], RecipeT]:
    """Class decorator registering a recipe under `name` (a different class under a taken name is an error)."""
    return RECIPES.register(name)


def get_recipe(spec: str) -> Recipe:
    """A recipe instance from a registered name or a plug-in `file.py:Name`; ConfigError otherwise."""
    factory = RECIPES.resolve(spec)
    recipe = factory() if callable(factory) else factory
    required = ("load_samples", "messages", "reference_answer", "target", "reward")
    missing = [m for m in required if not hasattr(recipe, m)]
    if missing:
        raise ConfigError(f"recipe {spec!r} lacks {', '.join(missing)} (see rarl.recipes.base.Recipe)")
    return recipe
