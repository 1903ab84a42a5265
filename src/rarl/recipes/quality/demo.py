"""`rarl demo --recipe refine-iqa`: the Refine-IQA pipeline on a CPU in minutes, with nothing downloaded.

1. a synthetic quality task whose MOS is a known function of distortion severity (`synthetic-quality`:
   MOS = 4.6 - 0.9 k for severity k = 0..5 of underexposure or overexposure, one dataset each) and a stage-1
   perception set drawn from synthetic shapes (`refine-perception`), both at the tiny model's 56x56 frame;
2. the shipped base (`rarl.recipes.quality.demo_base`; `--base scratch` rebuilds it first, `--base DIR` takes
   another): a tiny Qwen2.5-VL trained on warm-up images disjoint from the demo's, on perception questions
   and then think-mode scoring (with noisy MOS labels) mixed with them, so it answers in the
   `<think>..</think><answer>D.DD</answer>` format, answers perception questions, and samples a spread of
   scores per image, as an instruction-tuned VLM scores quality coarsely;
3. from that base, with equal budgets (samples seen in the scoring stage): SFT on the reference answers, and
   Refine-IQA (stage 1: perception, no_think, plain GRPO; stage 2: scoring, think, PD reward, Eq. 6
   advantages, token-level loss, no KL);
4. evaluation of base / SFT / Refine-IQA on the test split: SRCC and PLCC per dataset with 95% bootstrap
   intervals, numeric and probability-based (Eq. 8) inference, think and no_think prompts (Table 3 layout).

The numbers are whatever these runs produce on this machine; nothing is tuned toward a result.
"""

from __future__ import annotations

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
from rarl.recipes.quality.demo_base import IMAGE_SIZE, SHIPPED_BASE, WARMUP_DATA_SEED, build_base
from rarl.recipes.quality.perception import prepare_perception
from rarl.recipes.quality.prepare import prepare_quality
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


@dataclass(frozen=True)
class DemoScale:
    """How big each phase is."""

    base_spec: str  # the base `--base scratch` builds (`rarl.recipes.quality.demo_base.BASE_SPECS`)
    num_images: int  # synthetic quality images per distortion
    perception_images: int
    batch: int  # prompts per RL step = samples per SFT step
    num_generations: int
    stage1_steps: int
    stage2_steps: int
    rl_lr: float
    sft_lr: float
    max_new_tokens: int
    eval_samples: int  # per dataset
    n_boot: int
    val_every: int  # validation of the RL runs every this many steps (eval.every; 0: none)
    val_samples: int  # validation samples per dataset (eval.max_samples)


SCALES: dict[str, DemoScale] = {
    "default": DemoScale(
        base_spec="default",
        num_images=240,
        perception_images=60,
        batch=16,
        num_generations=8,
        stage1_steps=16,
        stage2_steps=64,
        rl_lr=3e-4,  # both chosen on the validation split (benchmarks/iqa_selection.py, docs/refine-iqa.md)
        sft_lr=1e-3,
        max_new_tokens=40,
        eval_samples=48,
        n_boot=1000,
        val_every=16,
        val_samples=16,
    ),
    "smoke": DemoScale(
        base_spec="smoke",
        num_images=24,
        perception_images=8,
        batch=2,
        num_generations=2,
        stage1_steps=1,
        stage2_steps=1,
        rl_lr=2e-4,
        sft_lr=2e-4,
        max_new_tokens=24,
        eval_samples=4,
        n_boot=100,
        val_every=1,
        val_samples=4,
    ),
}


def sft_config(model: str, manifest: Path, out: Path, steps: int, lr: float, batch: int, seed: int) -> Any:
    """An SFT run on the think-mode reference answers."""
    return demo_sft_config(
        model, manifest, out, steps=steps, lr=lr, batch=batch, seed=seed, recipe="refine-iqa", mode="think"
    )


def refine_config(
    model: str,
    scoring: Path,
    perception: Path | None,
    out: Path,
    scale: DemoScale,
    seed: int,
    pd: bool = True,
) -> Any:
    """The Refine-IQA run: stage 1 (perception, no_think) when `perception` is given, then stage 2 (scoring)."""
    stages = []
    if perception is not None and scale.stage1_steps:
        stages.append(
            StageConfig(
                name="perception", steps=scale.stage1_steps, mode="no_think", manifest=str(perception)
            )
        )
    stages.append(
        StageConfig(name="scoring", steps=scale.stage2_steps, mode="think", reward_kwargs={"pd": pd})
    )
    return TrainConfig(
        output_dir=str(out),
        seed=seed,
        recipe="refine-iqa",
        model=ModelConfig(name_or_path=model, freeze_vision=False),
        data=DataConfig(manifest=str(scoring)),
        rollout=RolloutConfig(num_generations=scale.num_generations, max_new_tokens=scale.max_new_tokens),
        reward=RewardConfig(name="refine-iqa"),
        algorithm=AlgorithmConfig(advantage="refine_iqa", eps=1e-4, beta=0.0, aggregation="token"),
        optim=OptimConfig(lr=scale.rl_lr),
        prompts_per_step=scale.batch,
        micro_batch_size=32,
        stages=stages,
        logging=LoggingConfig(progress=True, sample_every=5),
        checkpoint=CheckpointConfig(every=0, keep_last=1),
        eval=EvalConfig(every=scale.val_every, max_samples=scale.val_samples),
    )


def prepare_demo_data(out: Path, scale: DemoScale, seed: int) -> tuple[Path, Path]:
    """(scoring manifest, perception manifest) under `out`."""
    data, perception = out / "data", out / "perception-data"
    prepare_quality("synthetic-quality", data, seed=seed, num_images=scale.num_images, image_size=IMAGE_SIZE)
    prepare_perception(
        "refine-perception",
        perception,
        seed=seed,
        num_images=scale.perception_images,
        image_size=IMAGE_SIZE,
        max_objects=3,
    )
    return data, perception


def benchmark_inputs(
    out: Path, scale: DemoScale, seed: int, base: str | Path = "shipped"
) -> tuple[Path, Path]:
    """(scoring manifest, base model folder) for benchmarks that start where the demo does: the demo's data
    under `out`, and the base `resolve_demo_base` gives for `base` (the shipped one by default)."""
    data, _ = prepare_demo_data(out, scale, seed)
    return data, resolve_demo_base(base, out, scale, seed)


def resolve_demo_base(base: str | Path, out: Path, scale: DemoScale, seed: int) -> Path:
    """The base model folder: `shipped` (the package's), `scratch` (built into `out/base` now) or a folder."""
    return resolve_base(
        base,
        SHIPPED_BASE,
        lambda: build_base(out / "base", scale.base_spec, seed=seed, check_against=out / "data"),
        "make demo-base-iqa",
    )


DEMO_ENTRIES = ("data", "perception-data", "base", "sft", "refine-iqa", "report")
"""What the demo writes into its folder; a rerun replaces these and nothing else (`demo_folder`)."""


def run_demo(
    out: str | Path = "runs/demo-refine-iqa",
    size: str = "default",
    seed: int = 0,
    base: str | Path = "shipped",
) -> dict[str, Any]:
    """Run the demo end to end into `out` (new, empty, or an earlier demo's folder: `demo_folder`); returns the
    evaluation results per model.

    `base`: `shipped` (default), `scratch` (rebuild the base first, `rarl build-base --recipe refine-iqa`) or
    a model folder.
    """
    scale = pick_scale(SCALES, size)
    check_data_seed(seed, WARMUP_DATA_SEED)
    base_dir = None if str(base) == "scratch" else resolve_demo_base(base, Path(out), scale, seed)
    if base_dir is not None:
        check_outside(base_dir, Path(out), DEMO_ENTRIES, "--base")
    with demo_folder(out, "refine-iqa", DEMO_ENTRIES) as folder:
        return _run_phases(folder, scale, seed, base, base_dir)


def _run_phases(
    out: Path, scale: DemoScale, seed: int, base: str | Path, base_dir: Path | None
) -> dict[str, Any]:
    phases = DemoPhases(total=5)
    phases.start("synthetic quality task (MOS = 4.6 - 0.9 x severity) and perception data")
    data, perception = prepare_demo_data(out, scale, seed)
    phases.done("prepare data")

    phases.start("the base: " + ("built from scratch" if base_dir is None else str(base_dir)))
    base_dir = base_dir if base_dir is not None else resolve_demo_base(base, out, scale, seed)
    phases.done("base")

    phases.start(f"SFT baseline ({scale.stage2_steps} steps x {scale.batch} samples)")
    sft = run_sft(
        sft_config(str(base_dir), data, out / "sft", scale.stage2_steps, scale.sft_lr, scale.batch, seed)
    )
    phases.done("sft")

    phases.start(f"Refine-IQA (stage 1: {scale.stage1_steps} steps, stage 2: {scale.stage2_steps})")
    run_grpo(refine_config(str(base_dir), data, perception, out / "refine-iqa", scale, seed))
    phases.done("refine-iqa")

    phases.start("evaluation")
    return evaluate_demo(
        phases,
        out,
        data,
        base=base_dir,
        sft=sft,
        method="Refine-IQA",
        run=out / "refine-iqa",
        recipe="refine-iqa",
        scale=scale,
        seed=seed,
        title="Synthetic quality (tiny Qwen2.5-VL, CPU demo)",
    )
