"""`rarl demo --recipe vision-r1`: Vision-R1 on a CPU in minutes, with nothing downloaded.

1. draw a synthetic localization task (0..2 named shapes per 112x112 image, at known boxes) and a separate
   warm-up set of other images;
2. build the offline tiny Qwen2.5-VL with a tokenizer trained on the task's prompts and answers, its image
   processor's budget set to the task's frame (112x112: 16 visual tokens);
3. warm it up into a "base" with a short supervised phase on the warm-up set, so it writes Qwen's JSON box
   lists the way the released Qwen2.5-VL does (it stands in for Qwen2.5-VL-7B-Instruct);
4. from that base, train the paper's comparison rows with equal budgets (samples seen): SFT on the
   ground-truth answers, and Vision-R1 (GRPO with the criterion-driven reward; STEP = 1, the paper's best);
5. evaluate base / SFT / Vision-R1 on the test images, COCO-style (mAP, AP50, AP75, AR@100 with bootstrap
   intervals, failure and negative-sample rates), and print the table; pictures of predictions are drawn.

The numbers are whatever these runs produce on this machine; nothing is tuned toward a result.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rarl.model.tiny import build_tiny_qwen2_5_vl
from rarl.recipes.base import get_recipe
from rarl.recipes.demo_common import DemoPhases, demo_folder, demo_sft_config, evaluate_demo, pick_scale
from rarl.recipes.localization.prepare import prepare_localization
from rarl.recipes.localization.samples import RECIPE_NAME
from rarl.recipes.runs import run_grpo, run_sft
from rarl.train.config import (
    AlgorithmConfig,
    CheckpointConfig,
    DataConfig,
    EvalConfig,
    LoggingConfig,
    ModelConfig,
    OptimConfig,
    RewardConfig,
    RolloutConfig,
    StageConfig,
    TrainConfig,
)

log = logging.getLogger("rarl")


@dataclass(frozen=True)
class DemoScale:
    """How big each phase is (`default` fits 10 minutes on 2 CPU cores; `smoke` well under one)."""

    num_images: int  # task images (split 80/10/10 by image)
    warmup_images: int  # separate images for the warm-up
    image_size: int  # frame side in pixels (a multiple of 28)
    max_objects: int
    warmup_steps: int
    warmup_lr: float
    batch: int  # prompts per RL step = samples per SFT step
    num_generations: int
    rl_steps: int
    rl_lr: float
    sft_lr: float
    beta: float
    max_new_tokens: int
    num_layers: int  # decoder layers of the tiny model
    eval_samples: int | None
    n_boot: int
    val_every: int  # validation of the RL run every this many steps (eval.every; 0: none)
    val_samples: int  # validation images (eval.max_samples)


SCALES: dict[str, DemoScale] = {
    "default": DemoScale(
        num_images=500,
        warmup_images=600,
        image_size=112,
        max_objects=2,
        warmup_steps=150,
        warmup_lr=2e-3,
        batch=8,
        num_generations=4,
        rl_steps=16,
        rl_lr=2e-4,
        sft_lr=2e-4,
        beta=0.02,
        max_new_tokens=96,
        num_layers=4,
        eval_samples=None,
        n_boot=200,
        val_every=4,
        val_samples=24,
    ),
    "smoke": DemoScale(
        num_images=40,
        warmup_images=24,
        image_size=56,
        max_objects=1,
        warmup_steps=3,
        warmup_lr=2e-3,
        batch=2,
        num_generations=2,
        rl_steps=1,
        rl_lr=2e-4,
        sft_lr=2e-4,
        beta=0.02,
        max_new_tokens=48,
        num_layers=2,
        eval_samples=4,
        n_boot=20,
        val_every=1,
        val_samples=4,
    ),
}


def _pixels(scale: DemoScale) -> dict[str, int]:
    """The model's pixel budget: exactly the task's frame."""
    return {"min_pixels": scale.image_size**2, "max_pixels": scale.image_size**2}


def _sft_config(
    model: str, manifest: Path, out: Path, steps: int, lr: float, scale: DemoScale, seed: int
) -> Any:
    return demo_sft_config(
        model,
        manifest,
        out,
        steps=steps,
        lr=lr,
        batch=scale.batch,
        seed=seed,
        recipe=RECIPE_NAME,
        **_pixels(scale),
    )


def _grpo_config(model: str, manifest: Path, out: Path, scale: DemoScale, seed: int) -> Any:
    return TrainConfig(
        output_dir=str(out),
        seed=seed,
        recipe=RECIPE_NAME,
        model=ModelConfig(name_or_path=model, freeze_vision=False, **_pixels(scale)),
        data=DataConfig(manifest=str(manifest)),
        rollout=RolloutConfig(num_generations=scale.num_generations, max_new_tokens=scale.max_new_tokens),
        reward=RewardConfig(name="vision-r1", kwargs={"matcher": "box_only", "overlap": "iou"}),
        algorithm=AlgorithmConfig(beta=scale.beta),
        optim=OptimConfig(lr=scale.rl_lr),
        prompts_per_step=scale.batch,
        micro_batch_size=scale.batch * scale.num_generations,
        stages=[
            StageConfig(name="main", steps=scale.rl_steps, reward_kwargs={"step_fraction": 1.0}, rmo=False)
        ],
        logging=LoggingConfig(progress=True, sample_every=5),
        checkpoint=CheckpointConfig(every=0, keep_last=1),
        eval=EvalConfig(every=scale.val_every, max_samples=scale.val_samples),
    )


DEMO_ENTRIES = ("data", "warmup-data", "tiny-model", "base", "sft", "vision-r1", "report")
"""What the demo writes into its folder; a rerun replaces these and nothing else (`demo_folder`)."""


def run_demo(out: str | Path = "runs/demo-vision-r1", size: str = "default", seed: int = 0) -> dict[str, Any]:
    """Run the demo end to end into `out` (new, empty, or an earlier demo's folder: `demo_folder`); returns the
    evaluation results per model."""
    scale = pick_scale(SCALES, size)
    with demo_folder(out, RECIPE_NAME, DEMO_ENTRIES) as folder:
        return _run_phases(folder, scale, seed)


def _run_phases(out: Path, scale: DemoScale, seed: int) -> dict[str, Any]:
    phases = DemoPhases(total=5)

    phases.start("synthetic shapes task")
    shapes = {"image_size": scale.image_size, "max_objects": scale.max_objects}
    data, warm = out / "data", out / "warmup-data"
    prepare_localization("synthetic-shapes", data, seed=seed, num_images=scale.num_images, **shapes)
    prepare_localization(
        "synthetic-shapes",
        warm,
        seed=seed + 1000,
        num_images=scale.warmup_images,
        splits=(0.9, 0.05, 0.05),
        **shapes,
    )
    phases.done("prepare data")

    phases.start("tiny Qwen2.5-VL")
    recipe = get_recipe(RECIPE_NAME)
    corpus = recipe.corpus(str(warm)) + recipe.corpus(str(data))  # type: ignore[attr-defined]
    tiny = build_tiny_qwen2_5_vl(
        out / "tiny-model", seed=seed, corpus=corpus, image_size=scale.image_size, num_layers=scale.num_layers
    )
    phases.done("build model")

    phases.start("warm-up into a base that writes box lists")
    base = run_sft(
        _sft_config(str(tiny), warm, out / "base", scale.warmup_steps, scale.warmup_lr, scale, seed)
    )
    phases.done("warm-up")

    phases.start(
        f"SFT ({scale.rl_steps} steps x {scale.batch} samples) and Vision-R1 ({scale.rl_steps} steps)"
    )
    sft = run_sft(_sft_config(str(base), data, out / "sft", scale.rl_steps, scale.sft_lr, scale, seed))
    phases.done("sft")
    run_grpo(_grpo_config(str(base), data, out / "vision-r1", scale, seed))
    phases.done("vision-r1")

    phases.start("evaluation (COCO-style, test split)")
    summary = evaluate_demo(
        phases,
        out,
        data,
        base=base,
        sft=sft,
        method="Vision-R1",
        run=out / "vision-r1",
        recipe=RECIPE_NAME,
        scale=scale,
        seed=seed,
        title="Synthetic shapes detection (tiny Qwen2.5-VL, CPU demo)",
    )
    return summary
