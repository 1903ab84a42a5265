"""`rarl demo` for the `rarl` recipe: the whole RARL pipeline on a CPU in minutes, with nothing downloaded.

1. load the shipped pretrained base, a tiny Qwen2.5-VL warmed up on a split of its own
   (`rarl.recipes.ordinal.demo_base`; `--base scratch` rebuilds it first, `--base DIR` takes another);
2. generate a synthetic ordinal task (brightness level 1..9) and write 1/2/4/8-image manifests whose test
   split never repeats an image within a size (`rarl.recipes.ordinal.demo_task`);
3. from the base, train the paper's comparison rows with equal budgets (samples seen): SFT on ground-truth
   answers, and RARL (stage 1: regression reward; stage 2: full reward with RMO), with the learning rates
   chosen on the validation split (`benchmarks/demo_selection.py`, docs/learning.md);
4. evaluate base / SFT / RARL on the 1/2/4/8-image test sets and print the paper-style table with bootstrap
   confidence intervals, failure rates and one verdict line per column, plus a report folder with curves and
   bar charts.

The numbers are whatever these runs produce on this machine; nothing is tuned on the test split.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rarl.recipes import demo_common
from rarl.recipes.demo_common import (
    DemoPhases,
    check_data_seed,
    check_outside,
    demo_folder,
    demo_sft_config,
    evaluate_demo,
    pick_scale,
)
from rarl.recipes.ordinal.demo_base import SHIPPED_BASE, WARMUP_DATA_SEED, build_base
from rarl.recipes.ordinal.demo_task import PROPERTY, SCALES, DemoScale, demo_data, repeated_images
from rarl.recipes.runs import run_grpo, run_sft
from rarl.train.config import (
    AlgorithmConfig,
    CheckpointConfig,
    DataConfig,
    EvalConfig,
    LoggingConfig,
    ModelConfig,
    OptimConfig,
    RMOConfig,
    RolloutConfig,
    StageConfig,
    TrainConfig,
)

log = logging.getLogger("rarl")


def _sft_config(model: str, manifest: Path, out: Path, steps: int, lr: float, batch: int, seed: int) -> Any:
    return demo_sft_config(model, manifest, out, steps=steps, lr=lr, batch=batch, seed=seed)


def _rarl_config(model: str, manifest: Path, out: Path, scale: DemoScale, seed: int) -> Any:
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
        eval=EvalConfig(every=scale.val_every, max_samples=scale.val_samples, batch_size=64),
    )


def resolve_base(base: str | Path, out: Path, scale: DemoScale, seed: int) -> Path:
    """The base model folder: `shipped` (the package's), `scratch` (built into `out/base` now) or a folder."""
    return demo_common.resolve_base(
        base,
        SHIPPED_BASE,
        lambda: build_base(out / "base", scale.base_spec, seed=seed, check_against=out / "data"),
        "make demo-base",
    )


DEMO_ENTRIES = ("data", "base", "sft", "rarl", "report")
"""What the demo writes into its folder; a rerun replaces these and nothing else (`demo_folder`)."""


def run_demo(
    out: str | Path = "runs/demo", size: str = "default", seed: int = 0, base: str | Path = "shipped"
) -> dict[str, Any]:
    """Run the demo end to end into `out` (new, empty, or an earlier demo's folder: `demo_folder`); returns the
    evaluation results per model.

    `base`: `shipped` (default), `scratch` (rebuild the base first, `rarl build-base`) or a model folder.
    """
    scale = pick_scale(SCALES, size)
    check_data_seed(seed, WARMUP_DATA_SEED)
    base_dir = None if str(base) == "scratch" else resolve_base(base, Path(out), scale, seed)  # fails early
    if base_dir is not None:
        check_outside(base_dir, Path(out), DEMO_ENTRIES, "--base")
    with demo_folder(out, "rarl", DEMO_ENTRIES) as folder:
        return _run_phases(folder, scale, seed, base, base_dir)


def _run_phases(
    out: Path, scale: DemoScale, seed: int, base: str | Path, base_dir: Path | None
) -> dict[str, Any]:
    phases = DemoPhases(total=5)

    phases.start(f"synthetic ordinal task ({PROPERTY})")
    data = demo_data(out / "data", scale, seed)
    repeats = repeated_images(data, "test", limit=scale.eval_samples)
    phases.console.print(
        f"test split: {scale.eval_samples} samples per size evaluated; images repeated within a size: "
        + ", ".join(f"{n}-img {k}" for n, k in repeats.items())
    )
    phases.done("prepare data")

    phases.start(f"pretrained base ({base})")
    base_dir = base_dir or resolve_base(base, out, scale, seed)
    phases.console.print(f"base: {base_dir}")
    phases.done("base")

    rl_steps = scale.stage1_steps + scale.stage2_steps
    phases.start(f"SFT baseline ({rl_steps} steps x {scale.batch} samples)")
    sft = run_sft(_sft_config(str(base_dir), data, out / "sft", rl_steps, scale.sft_lr, scale.batch, seed))
    phases.done("sft")

    phases.start(f"RARL (stage 1: {scale.stage1_steps} steps, stage 2 with RMO: {scale.stage2_steps})")
    run_grpo(_rarl_config(str(base_dir), data, out / "rarl", scale, seed))
    phases.done("rarl")

    phases.start("evaluation")
    summary = evaluate_demo(
        phases,
        out,
        data,
        base=base_dir,
        sft=sft,
        method="RARL",
        run=out / "rarl",
        recipe="rarl",
        scale=scale,
        seed=seed,
        title=f"Synthetic {PROPERTY} (tiny Qwen2.5-VL, CPU demo)",
    )
    summary["test_repeats"] = repeats
    phases.console.print(f"(open {out / 'report' / 'index.html'})")
    return summary
