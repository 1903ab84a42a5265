"""`rarl demo` for the `rarl` recipe: the whole RARL pipeline on a CPU in minutes, with nothing downloaded.

1. build the offline tiny Qwen2.5-VL (random weights, its own tokenizer and image processor);
2. generate a synthetic ordinal task (brightness level 1..9) and write 1/2/4/8-image manifests;
3. warm the tiny model up into a "base" with a short supervised phase on a separate warm-up split, so it
   follows the answer format the way a pretrained instruction-tuned VLM does (it stands in for
   Qwen2.5-VL-3B-Instruct, which nobody can download here);
4. from that base, train the paper's comparison rows with equal budgets (samples seen):
   SFT on ground-truth answers, and RARL (stage 1: regression reward; stage 2: full reward with RMO);
5. evaluate base / SFT / RARL on the 1/2/4/8-image test sets and print the paper-style table with bootstrap
   confidence intervals and failure rates, plus a report folder with curves and bar charts.

The numbers are whatever these runs produce on this machine; nothing is tuned toward a result.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("rarl")


@dataclass(frozen=True)
class DemoScale:
    """How big each phase is. `default` took 8 min 48 s on 2 CPU cores (README); `smoke` takes well under a minute."""

    num_images: int
    samples_per_size: dict[str, int]
    warmup_steps: int
    warmup_lr: float
    batch: int  # prompts per RL step = samples per SFT step
    num_generations: int
    stage1_steps: int
    stage2_steps: int
    rl_lr: float
    sft_lr: float
    rl_warmup_steps: int  # linear learning-rate warm-up of the RL run
    rl_beta: float  # KL coefficient of the RL run
    rl_negative_scale: float  # weight of negative advantages (algorithm.advantage_kwargs.negative_scale)
    max_new_tokens: int
    num_layers: int  # decoder layers of the tiny model
    eval_samples: int
    n_boot: int


PROPERTY = "brightness"
"""The demo task: grey level 1..9 of an image, scored by MAE for one image (like age) and Kendall's tau for
2/4/8 images. Of the synthetic properties it is the one the tiny model learns to read within the budget."""

SCALES: dict[str, DemoScale] = {
    "default": DemoScale(
        num_images=900,
        samples_per_size={"train": 400, "val": 40, "test": 100},
        warmup_steps=150,
        warmup_lr=2e-3,
        batch=16,
        num_generations=8,
        stage1_steps=20,
        stage2_steps=20,
        rl_lr=6e-4,
        sft_lr=2e-4,
        rl_warmup_steps=3,
        rl_beta=0.01,
        rl_negative_scale=0.25,
        max_new_tokens=160,
        num_layers=4,
        eval_samples=100,
        n_boot=1000,
    ),
    "smoke": DemoScale(
        num_images=180,
        samples_per_size={"train": 40, "val": 4, "test": 8},
        warmup_steps=4,
        warmup_lr=2e-3,
        batch=4,
        num_generations=4,
        stage1_steps=1,
        stage2_steps=1,
        rl_lr=6e-4,
        sft_lr=2e-4,
        rl_warmup_steps=1,
        rl_beta=0.01,
        rl_negative_scale=0.25,
        max_new_tokens=96,
        num_layers=2,
        eval_samples=8,
        n_boot=200,
    ),
}


def _sft_config(model: str, manifest: Path, out: Path, steps: int, lr: float, batch: int, seed: int) -> Any:
    from rarl.recipes.demo_common import demo_sft_config

    return demo_sft_config(model, manifest, out, steps=steps, lr=lr, batch=batch, seed=seed)


def _rarl_config(model: str, manifest: Path, out: Path, scale: DemoScale, seed: int) -> Any:
    from rarl.train.config import (
        AlgorithmConfig,
        CheckpointConfig,
        DataConfig,
        LoggingConfig,
        ModelConfig,
        OptimConfig,
        RMOConfig,
        RolloutConfig,
        StageConfig,
        TrainConfig,
    )

    return TrainConfig(
        output_dir=str(out),
        seed=seed,
        model=ModelConfig(name_or_path=model, freeze_vision=False),
        data=DataConfig(manifest=str(manifest)),
        rollout=RolloutConfig(num_generations=scale.num_generations, max_new_tokens=scale.max_new_tokens),
        rmo=RMOConfig(k=2),
        algorithm=AlgorithmConfig(
            beta=scale.rl_beta, advantage_kwargs={"negative_scale": scale.rl_negative_scale}
        ),
        optim=OptimConfig(lr=scale.rl_lr, warmup_steps=scale.rl_warmup_steps),
        prompts_per_step=scale.batch,
        micro_batch_size=32,
        stages=[
            StageConfig(
                name="stage1", steps=scale.stage1_steps, reward_kwargs={"weights": [1.0, 0.0, 1.0]}, rmo=False
            ),
            StageConfig(
                name="stage2", steps=scale.stage2_steps, reward_kwargs={"weights": [1.0, 1.0, 1.0]}, rmo=True
            ),
        ],
        logging=LoggingConfig(progress=True, sample_every=5),
        checkpoint=CheckpointConfig(every=0, keep_last=1),
    )


def run_demo(out: str | Path = "runs/demo", size: str = "default", seed: int = 0) -> dict[str, Any]:
    """Run the demo end to end into `out` (replaced); returns the evaluation results per model."""
    from rarl.data.prepare import prepare
    from rarl.model.tiny import build_tiny_qwen2_5_vl
    from rarl.recipes.demo_common import DemoPhases, evaluate_demo, fresh_folder, pick_scale
    from rarl.train.grpo import run_grpo
    from rarl.train.sft import run_sft

    scale = pick_scale(SCALES, size)
    out = fresh_folder(out)
    phases = DemoPhases(total=6)
    phases.start("tiny Qwen2.5-VL")
    tiny = build_tiny_qwen2_5_vl(out / "tiny-model", seed=seed, num_layers=scale.num_layers)
    phases.done("build model")

    phases.start(f"synthetic ordinal task ({PROPERTY})")
    data = out / "data"
    warm = out / "warmup-data"
    prepare(
        "synthetic",
        data,
        sizes=(1, 2, 4, 8),
        seed=seed,
        samples_per_size=dict(scale.samples_per_size),
        property=PROPERTY,
        num_images=scale.num_images,
    )
    prepare(
        "synthetic",
        warm,
        sizes=(1, 2, 4, 8),
        seed=seed + 1000,
        samples_per_size={"train": scale.samples_per_size["train"], "val": 4, "test": 4},
        property=PROPERTY,
        num_images=scale.num_images // 2,
        quiet=True,
    )
    phases.done("prepare data")

    phases.start("warm-up into a format-following base")
    base = run_sft(
        _sft_config(str(tiny), warm, out / "base", scale.warmup_steps, scale.warmup_lr, scale.batch, seed)
    )
    phases.done("warm-up")

    rl_steps = scale.stage1_steps + scale.stage2_steps
    phases.start(f"SFT baseline ({rl_steps} steps x {scale.batch} samples)")
    sft = run_sft(_sft_config(str(base), data, out / "sft", rl_steps, scale.sft_lr, scale.batch, seed))
    phases.done("sft")

    phases.start(f"RARL (stage 1: {scale.stage1_steps} steps, stage 2 with RMO: {scale.stage2_steps})")
    run_grpo(_rarl_config(str(base), data, out / "rarl", scale, seed))
    phases.done("rarl")

    phases.start("evaluation")
    summary = evaluate_demo(
        phases,
        out,
        data,
        base=base,
        sft=sft,
        method="RARL",
        run=out / "rarl",
        recipe="rarl",
        scale=scale,
        seed=seed,
        title=f"Synthetic {PROPERTY} (tiny Qwen2.5-VL, CPU demo)",
    )
    phases.console.print(f"(open {out / 'report' / 'index.html'})")
    return summary
