"""Runs by recipe name: resolve the recipe a config or command names, then hand it to the engine.

    from rarl.recipes.runs import run_grpo, run_sft, evaluate
    run_grpo(load_config(TrainConfig, "configs/demo.yaml"))        # recipe: from cfg.recipe
    evaluate({"base": "demo-base"}, "runs/demo/data", "runs/eval", EvalSettings(), recipe="rarl")

The engine (`rarl.train`, `rarl.eval`) never imports `rarl.recipes`: its trainers and evaluation driver take
a recipe object. This module is where a recipe name becomes that object (for the CLI, `rarl ablate` and the
recipes' demos) (`get_recipe`, a registered name or a
plug-in `file.py:Name`), and where the recipe's defaults fill what a config left open (`reward.name` empty:
the recipe's `default_reward`), so the resolved config a run saves names them explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rarl.eval.curves import LogSource
from rarl.eval.protocol import evaluate_models
from rarl.eval.settings import EvalSettings
from rarl.recipes.base import Recipe, get_recipe
from rarl.train.config import SFTConfig, TrainConfig
from rarl.train.grpo import GRPOTrainer
from rarl.train.grpo import run_grpo as _run_grpo
from rarl.train.sft import SFTTrainer
from rarl.train.sft import run_sft as _run_sft

__all__ = ["evaluate", "grpo_trainer", "recipe_for", "run_grpo", "run_sft", "sft_trainer"]


def recipe_for(cfg: TrainConfig | SFTConfig) -> Recipe:
    """The recipe `cfg.recipe` names; fills `cfg.reward.name` with the recipe's default when it is empty."""
    recipe = get_recipe(cfg.recipe)
    reward = getattr(cfg, "reward", None)
    if reward is not None and not reward.name:
        reward.name = recipe.default_reward
    return recipe


def grpo_trainer(cfg: TrainConfig, accelerator: Any | None = None) -> GRPOTrainer:
    """A GRPO trainer for the recipe the config names."""
    return GRPOTrainer(cfg, recipe_for(cfg), accelerator=accelerator)


def sft_trainer(cfg: SFTConfig, accelerator: Any | None = None) -> SFTTrainer:
    """An SFT trainer for the recipe the config names."""
    return SFTTrainer(cfg, recipe_for(cfg), accelerator=accelerator)


def run_grpo(
    cfg: TrainConfig, resume: bool = False, stop_at_step: int | None = None, overwrite: bool = False
) -> Path:
    """`rarl train`: a GRPO run of the config's recipe; returns the final model folder."""
    return _run_grpo(cfg, recipe_for(cfg), resume=resume, stop_at_step=stop_at_step, overwrite=overwrite)


def run_sft(cfg: SFTConfig, resume: bool = False, overwrite: bool = False) -> Path:
    """`rarl sft`: an SFT run of the config's recipe; returns the final model folder."""
    return _run_sft(cfg, recipe_for(cfg), resume=resume, overwrite=overwrite)


def evaluate(
    models: dict[str, str],
    manifest_dir: str | Path,
    out: str | Path,
    settings: EvalSettings,
    recipe: str | Recipe = "rarl",
    curves: Mapping[str, LogSource] | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """`rarl eval`: every model evaluated with the named recipe's protocol (see `rarl.eval.protocol`)."""
    resolved = get_recipe(recipe) if isinstance(recipe, str) else recipe
    return evaluate_models(models, manifest_dir, out, settings, resolved, curves=curves, title=title)
