"""`rarl demo --recipe vision-r1`: Vision-R1 on a CPU in minutes, with nothing downloaded.

1. draw the synthetic localization task (`synthetic-shapes` with its defaults: 0..2 named shapes per 112x112
   image, at known boxes);
2. the shipped base (`rarl.recipes.localization.demo_base`, a tiny Qwen2.5-VL that writes Qwen's JSON box
   lists and localizes the shapes coarsely; it stands in for Qwen2.5-VL-7B-Instruct); `--base scratch`
   rebuilds it first, `--base DIR` takes another;
3. from that base, train the paper's comparison rows with equal budgets (samples seen): SFT on the
   ground-truth answers, and Vision-R1 (GRPO with the criterion-driven reward; STEP = 1, the paper's best);
4. evaluate base / SFT / Vision-R1 on the test images, COCO-style (mAP, AP50, AP75, AR@100 with bootstrap
   intervals, failure and negative-sample rates, paired verdicts), and print the table; pictures of
   predictions are drawn.

The learning rates are chosen on the validation split (`benchmarks/vr1_selection.py`); the numbers are
whatever these runs produce on this machine.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rarl.recipes.demo_common import (
    DemoPhases,
    check_data_seed,
    check_outside,
    demo_folder,
    demo_sft_config,
    evaluate_demo,
    pick_scale,
    resolve_base,
)
from rarl.recipes.localization.demo_base import (
    IMAGE_SIZE,
    MAX_OBJECTS,
    SHIPPED_BASE,
    WARMUP_DATA_SEED,
    build_base,
)
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
    base_spec: str  # the base `--base scratch` builds (`rarl.recipes.localization.demo_base.BASE_SPECS`)
    batch: int  # prompts per RL step = samples per SFT step
    num_generations: int
    rl_steps: int
    rl_lr: float
    sft_lr: float
    beta: float
    max_new_tokens: int
    eval_samples: int | None
    n_boot: int
    val_every: int  # validation of the RL run every this many steps (eval.every; 0: none)
    val_samples: int  # validation images (eval.max_samples)
    temperature: float = 1.0  # rollout sampling temperature


SCALES: dict[str, DemoScale] = {
    "default": DemoScale(
        num_images=500,
        base_spec="default",
        batch=8,
        num_generations=8,
        rl_steps=120,
        rl_lr=1e-5,  # chosen on the validation split (benchmarks/vr1_selection.py, docs/vision-r1.md)
        sft_lr=1e-5,
        beta=0.02,
        max_new_tokens=96,
        eval_samples=None,
        n_boot=200,
        val_every=20,
        val_samples=24,
    ),
    "smoke": DemoScale(
        num_images=40,
        base_spec="smoke",
        batch=2,
        num_generations=2,
        rl_steps=1,
        rl_lr=2e-4,
        sft_lr=2e-4,
        beta=0.02,
        max_new_tokens=48,
        eval_samples=4,
        n_boot=20,
        val_every=1,
        val_samples=4,
    ),
}


def _pixels(scale: DemoScale) -> dict[str, int]:
    """The model's pixel budget: exactly the task's frame."""
    return {"min_pixels": IMAGE_SIZE**2, "max_pixels": IMAGE_SIZE**2}


def sft_config(
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


def grpo_config(model: str, manifest: Path, out: Path, scale: DemoScale, seed: int) -> Any:
    return TrainConfig(
        output_dir=str(out),
        seed=seed,
        recipe=RECIPE_NAME,
        model=ModelConfig(name_or_path=model, freeze_vision=False, **_pixels(scale)),
        data=DataConfig(manifest=str(manifest)),
        rollout=RolloutConfig(
            num_generations=scale.num_generations,
            max_new_tokens=scale.max_new_tokens,
            temperature=scale.temperature,
        ),
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


def prepare_demo_data(out: Path, scale: DemoScale, seed: int) -> Path:
    """The demo's task (`synthetic-shapes` with its defaults) drawn into `out/data`."""
    check_data_seed(seed, WARMUP_DATA_SEED)
    data = out / "data"
    prepare_localization(
        "synthetic-shapes", data, seed=seed, num_images=scale.num_images, image_size=IMAGE_SIZE,
        max_objects=MAX_OBJECTS,
    )  # fmt: skip
    return data


def resolve_demo_base(base: str | Path, out: Path, scale: DemoScale, seed: int) -> Path:
    """The base model folder: `shipped` (the package's), `scratch` (built into `out/base` now) or a folder."""
    return resolve_base(
        base,
        SHIPPED_BASE,
        lambda: build_base(out / "base", scale.base_spec, seed=seed, check_against=out / "data"),
        "make demo-base-vr1",
    )


DEMO_ENTRIES = ("data", "base", "sft", "vision-r1", "report")
"""What the demo writes into its folder; a rerun replaces these and nothing else (`demo_folder`)."""


def run_demo(
    out: str | Path = "runs/demo-vision-r1",
    size: str = "default",
    seed: int = 0,
    base: str | Path = "shipped",
) -> dict[str, Any]:
    """Run the demo end to end into `out` (new, empty, or an earlier demo's folder: `demo_folder`); returns the
    evaluation results per model. `base`: `shipped` (default), `scratch` (rebuild the base first, `rarl
    build-base --recipe vision-r1`) or a model folder."""
    scale = pick_scale(SCALES, size)
    check_data_seed(seed, WARMUP_DATA_SEED)
    base_dir = None if str(base) == "scratch" else resolve_demo_base(base, Path(out), scale, seed)
    if base_dir is not None:
        check_outside(base_dir, Path(out), DEMO_ENTRIES, "--base")
    with demo_folder(out, RECIPE_NAME, DEMO_ENTRIES) as folder:
        return _run_phases(folder, scale, seed, base, base_dir)


def _run_phases(
    out: Path, scale: DemoScale, seed: int, base: str | Path, base_dir: Path | None
) -> dict[str, Any]:
    phases = DemoPhases(total=5)

    phases.start("synthetic shapes task")
    data = prepare_demo_data(out, scale, seed)
    phases.done("prepare data")

    phases.start("the base: " + ("built from scratch" if base_dir is None else str(base_dir)))
    base_dir = base_dir if base_dir is not None else resolve_demo_base(base, out, scale, seed)
    phases.done("base")

    phases.start(
        f"SFT ({scale.rl_steps} steps x {scale.batch} samples) and Vision-R1 ({scale.rl_steps} steps)"
    )
    sft = run_sft(sft_config(str(base_dir), data, out / "sft", scale.rl_steps, scale.sft_lr, scale, seed))
    phases.done("sft")
    run_grpo(grpo_config(str(base_dir), data, out / "vision-r1", scale, seed))
    phases.done("vision-r1")

    phases.start("evaluation (COCO-style, test split)")
    summary = evaluate_demo(
        phases,
        out,
        data,
        base=base_dir,
        sft=sft,
        method="Vision-R1",
        run=out / "vision-r1",
        recipe=RECIPE_NAME,
        scale=scale,
        seed=seed,
        title="Synthetic shapes detection (tiny Qwen2.5-VL, CPU demo)",
    )
    return summary
