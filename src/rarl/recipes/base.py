"""The recipe seam: everything task-specific behind one small interface, chosen by name in config.

The engine (GRPO trainer, SFT trainer, `rarl eval`, `rarl ablate`) knows no task. It asks a recipe to

    samples = recipe.load_samples(manifest, split, sizes)      # the recipe's own sample type
    conversation = recipe.messages(sample, mode)               # HF chat messages with image parts
    text = recipe.reference_answer(sample, mode)               # SFT target, RMO injection (None: none)
    target = recipe.target(sample)                             # ground truth a reward scores against
    reward = recipe.reward(name, settings, manifest)           # a BatchReward (rarl.rewards.batch)
    results, rows = recipe.evaluate(policy, manifest, settings, name)
    table = recipe.write_report(out, {model: results}, title=..., curves=..., settings=...)
    path = recipe.model_path("demo-base")                      # named models: the recipe's shipped base

Optional hooks have defaults on `RecipeBase`: `resolve_mode` (the prompt mode or the default one),
`default_reward` (the reward `reward.name` falls back to), `model_path` (`demo-base` -> `shipped_base`),
`prepare_sources` (the `rarl prepare` sources the recipe reads), `ablations` (an `AblationPlan` for
`rarl ablate`, or None) and `demo` (the CPU demo, or a ConfigError saying there is none). Validation while
training (`eval:` in a run config, `rarl.train.validation`) reads `evaluate`'s results through
`validation_metrics` (flat name -> number), `higher_is_better`, `headline_metric` (the default
`eval.best_metric`) and `validation_metric_names` (the names known before the first validation, or None).
A trained model folder records the task through `task_record` (what the recipe's inference reads back).

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

import inspect
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from rarl.eval.curves import LogSource
from rarl.rewards.batch import BatchReward, build_reward
from rarl.train.config import TrainConfig
from rarl.utils.config import ConfigError
from rarl.utils.io import atomic_write_text
from rarl.utils.registry import Registry

Conversation = list[dict[str, Any]]

__all__ = [
    "DEMO_BASE",
    "RECIPES",
    "AblationPlan",
    "PrepareSource",
    "Conversation",
    "Recipe",
    "RecipeBase",
    "get_recipe",
    "register_recipe",
]


DEMO_BASE = "demo-base"
"""The model name that resolves to the recipe's shipped base (`model.name_or_path: demo-base`)."""

PrepareSource = Callable[..., Any]
"""`fn(source, out, *, root, seed, strict, sizes, **options)` -> a summary (with `lines()`) or None."""


@dataclass(frozen=True)
class AblationPlan:
    """A recipe's ablations: config variants, the table rows that read them, and how to render the table."""

    variants: Mapping[str, Callable[[TrainConfig], None]]
    """name -> in-place transformation of a copy of the base config."""
    rows: Sequence[tuple[str, str, str, str]]
    """(section header, row label, variant run, model folder inside that run)."""
    render: Callable[[dict[str, dict[str, dict[str, Any]]], str, Any], str]
    """(sections {header: {task: {label: results}}}, title, eval settings) -> table text."""


@runtime_checkable
class Recipe(Protocol):
    """What the engine asks of a task (see the module docstring)."""

    name: str
    modes: tuple[str, ...]
    """Prompt modes the recipe understands; the first is the default."""
    default_reward: str
    """The registered reward `reward.name` falls back to when a config names none."""
    headline_metric: str
    """The validation metric `eval.best_metric` falls back to (empty: none; the config must name one)."""
    curve_components: tuple[str, ...]
    """The reward components the training-curve figure plots (`reward/<name>`; empty: every one logged)."""
    curve_schedule: tuple[str, ...]
    """Reward settings logged per step (`reward/<name>`) whose change inside a stage the figure marks."""
    curve_validation: tuple[str, ...]
    """Validation metrics the figure plots (names or shell patterns; empty: every one logged)."""
    curve_panels: tuple[tuple[str, tuple[str, ...]], ...]
    """The figure's (title, keys) panels (empty: `rarl.eval.curves.DEFAULT_PANELS`)."""
    images_per_sample: int | None
    """The most images one prompt holds, for `rarl plan` (None: the largest of the config's `sizes`)."""

    def resolve_mode(self, mode: str | None) -> str: ...

    def model_path(self, name: str) -> str: ...

    def prepare_sources(self) -> Mapping[str, PrepareSource]: ...

    def ablations(self) -> AblationPlan | None: ...

    def demo(self, out: str | Path, size: str = "default", seed: int = 0, **options: Any) -> Any: ...

    def build_base(self, out: str | Path, spec: str = "default", seed: int = 0) -> Path: ...

    def load_samples(self, manifest: str, split: str, sizes: Sequence[int] | None = None) -> list[Any]: ...

    def messages(self, sample: Any, mode: str | None = None) -> Conversation: ...

    def reference_answer(self, sample: Any, mode: str | None = None) -> str | None: ...

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
        curves: Mapping[str, LogSource] | None = None,
        settings: Any = None,
    ) -> str: ...

    def validation_metrics(self, results: Any) -> dict[str, float]: ...

    def higher_is_better(self, metric: str) -> bool: ...

    def validation_metric_names(self, samples: Sequence[Any], settings: Any) -> list[str] | None: ...

    def task_record(self, manifest: str, samples: Sequence[Any]) -> dict[str, Any]: ...


class RecipeBase:
    """Shared defaults for recipes; subclasses set `name`, `modes` and implement the sample-level methods."""

    name: str = "recipe"
    modes: tuple[str, ...] = ("default",)
    default_reward: str = ""
    shipped_base: Path | None = None
    """The folder `demo-base` resolves to (None: the recipe ships no base)."""
    headline_metric: str = ""
    """The default `eval.best_metric` (empty: a config that validates must name one)."""
    curve_components: tuple[str, ...] = ()
    """The reward components the training-curve figure plots, as logged (`reward/<name>`); empty: every one."""
    curve_schedule: tuple[str, ...] = ()
    """Reward settings logged per step (`reward/<name>`) that a schedule changes inside a stage (e.g.
    Vision-R1's thresholds); the training-curve figure marks where they change."""
    curve_validation: tuple[str, ...] = ()
    """The validation metrics the training-curve figure plots (`eval/<name>`, names or shell patterns such as
    `*/think/srcc`); empty: every one logged."""
    curve_panels: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """The training-curve figure's (title, keys) panels, for a recipe that logs a quantity on a scale of its
    own (Vision-R1's boxes per answer); empty: `rarl.eval.curves.DEFAULT_PANELS`."""
    images_per_sample: int | None = None
    """The most images one prompt of the recipe holds, which `rarl plan` sizes activations for (None: the
    largest of the config's `data.sizes` and stage `sizes`, what a `rarl` sample holds)."""

    def resolve_mode(self, mode: str | None) -> str:
        """`mode`, or the default mode; a mode the recipe does not know is a ConfigError naming both."""
        if mode is None:
            return self.modes[0]
        if mode not in self.modes:
            raise ConfigError(f"recipe {self.name!r} has no prompt mode {mode!r}; modes: {list(self.modes)}")
        return mode

    def target(self, sample: Any) -> Any:
        return sample.target

    def model_path(self, name: str) -> str:
        """`demo-base` -> the recipe's shipped base folder; any other name (a folder, a hub id) as is."""
        if name != DEMO_BASE:
            return name
        if self.shipped_base is None:
            raise ConfigError(f"recipe {self.name!r} ships no {DEMO_BASE!r}; name a model folder instead")
        return str(self.shipped_base)

    def prepare_sources(self) -> Mapping[str, PrepareSource]:
        """The `rarl prepare` sources this recipe reads, by name (none by default)."""
        return {}

    def ablations(self) -> AblationPlan | None:
        """The recipe's ablation plan for `rarl ablate` (None: it has none)."""
        return None

    def demo(self, out: str | Path, size: str = "default", seed: int = 0, **options: Any) -> Any:
        """The recipe's CPU demo; a recipe without one says so."""
        raise ConfigError(f"recipe {self.name!r} has no demo")

    def build_base(self, out: str | Path, spec: str = "default", seed: int = 0) -> Path:
        """Build the recipe's demo base into `out` (`rarl build-base --recipe NAME`); a recipe without one
        says so."""
        raise ConfigError(f"recipe {self.name!r} has no demo base to build")

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
        curves: Mapping[str, LogSource] | None = None,
        settings: Any = None,
    ) -> str:
        """results.json and report.md with one row per model; `results[model]` maps metric -> number."""
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

    def validation_metrics(self, results: Any) -> dict[str, float]:
        """Flat headline numbers of one `evaluate` result, logged as `eval/<name>`: here every number of a
        (nested) mapping, nested names joined with `/`; None and NaN stand for an undefined value."""
        return flat_numbers(results)

    def higher_is_better(self, metric: str) -> bool:
        """Whether a larger value of a validation metric is better: here False for names that read as an
        error, a loss or a failure (mae, mse, rmse, loss, error, fail...), True otherwise."""
        name = metric.lower()
        return not any(word in name for word in LOWER_IS_BETTER_WORDS)

    def validation_metric_names(self, samples: Sequence[Any], settings: Any) -> list[str] | None:
        """The names `validation_metrics` will return for these validation samples and settings, known
        before any model runs (a bad `eval.best_metric` then fails at trainer start); None: not known until
        the first validation."""
        return None

    def task_record(self, manifest: str, samples: Sequence[Any]) -> dict[str, Any]:
        """The task facts a trained model folder records (`rarl_task.json`'s `task`, `rarl.model.task_file`),
        from the manifest a stage trained on and its samples (with those of earlier stages); the recipe's
        inference commands read them back. JSON-ready values; here none."""
        return {}


LOWER_IS_BETTER_WORDS = ("mae", "mse", "loss", "error", "fail")
"""`RecipeBase.higher_is_better`: a metric whose name contains one of these is better when lower."""


def flat_numbers(results: Any, prefix: str = "") -> dict[str, float]:
    """Every number (not bool) of a nested mapping as `{"a/b": float}`; None values become NaN; lists and
    other values are left out. A non-mapping gives `{}`."""
    out: dict[str, float] = {}
    if not isinstance(results, Mapping):
        return out
    for key, value in results.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flat_numbers(value, name + "/"))
        elif value is None:
            out[name] = math.nan
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = float(value)
    return out


RECIPES = Registry("recipe")
"""Recipe factories (classes) by name. Filled by `register_recipe`."""

RecipeT = TypeVar("RecipeT", bound=Callable[[], Any])


def register_recipe(name: str) -> Callable[[RecipeT], RecipeT]:
    """Class decorator registering a recipe under `name` (a different class under a taken name is an error)."""
    return RECIPES.register(name)


def get_recipe(spec: str) -> Recipe:
    """A recipe instance from a registered name or a plug-in `file.py:Name`; ConfigError otherwise.

    The recipe is created without arguments (`Registry.create`: a class whose `__init__` needs one is a
    ConfigError naming it), then checked for every method of the protocol and for `name`, `modes` (a
    non-empty list of mode names) and `default_reward` (text).
    """
    recipe = RECIPES.create(spec)
    missing = [m for m in RECIPE_METHODS if not callable(getattr(recipe, m, None))]
    missing += [a for a in RECIPE_ATTRIBUTES if not hasattr(recipe, a)]
    if missing:
        raise ConfigError(
            f"recipe {spec!r} lacks {', '.join(missing)} (see rarl.recipes.base.Recipe; RecipeBase has defaults)"
        )
    modes = recipe.modes
    if isinstance(modes, str) or not isinstance(modes, Sequence) or not modes:
        raise ConfigError(f"recipe {spec!r}: modes must be a non-empty tuple of mode names, got {modes!r}")
    for attr, value in (
        ("name", recipe.name),
        ("default_reward", recipe.default_reward),
        *(("modes", m) for m in modes),
    ):
        if not isinstance(value, str):
            raise ConfigError(f"recipe {spec!r}: {attr} must hold text, got {value!r}")
    return recipe


RECIPE_METHODS = tuple(
    name for name, member in vars(Recipe).items() if not name.startswith("_") and inspect.isfunction(member)
)
"""Every method of the `Recipe` protocol; `get_recipe` checks a recipe has them all."""
RECIPE_ATTRIBUTES = ("name", "modes", "default_reward")
