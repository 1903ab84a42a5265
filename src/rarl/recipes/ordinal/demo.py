"""`rarl demo` for the `rarl` recipe: the whole RARL pipeline on a CPU in minutes, with nothing downloaded.

1. load the shipped pretrained base, a tiny Qwen2.5-VL warmed up on a split of its own
   (`rarl.recipes.ordinal.demo_base`; `--base scratch` rebuilds it first, `--base DIR` takes another);
2. generate a synthetic ordinal task (brightness level 1..9) and write 1/2/4/8-image manifests whose test
   split never repeats an image within a size;
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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

log = logging.getLogger("rarl")


@dataclass(frozen=True)
class DemoScale:
    """How big each phase is (`default`: under 10 minutes on 2 CPU cores; `full`: tighter intervals in under an
    hour; `smoke`: well under a minute)."""

    num_images: int
    splits: tuple[float, float, float]  # train/val/test fractions of the images
    samples_per_size: dict[str, int]
    base_spec: str  # the `BASE_SPECS` entry `--base scratch` builds
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
    eval_samples: int
    n_boot: int
    eval_batch_size: int = 64  # prompts per greedy generation batch in the closing evaluation


PROPERTY = "brightness"
"""The demo task: grey level 1..9 of an image, scored by MAE for one image (like age) and Kendall's tau for
2/4/8 images."""

_DEFAULT_SCALE = DemoScale(
    num_images=5400,
    splits=(0.2, 0.2, 0.6),  # test: 3240 images, 360 per level: 300 8-image samples without a repeat
    samples_per_size={"train": 400, "val": 100, "test": 300},
    base_spec="default",
    batch=16,
    num_generations=8,
    stage1_steps=20,
    stage2_steps=20,
    rl_lr=5e-5,  # chosen on the validation split (benchmarks/demo_selection.py, docs/demo.md)
    sft_lr=1e-4,  # chosen on the validation split
    rl_warmup_steps=3,
    rl_beta=0.01,
    rl_negative_scale=0.25,
    max_new_tokens=200,
    eval_samples=300,
    n_boot=1000,
)

SCALES: dict[str, DemoScale] = {
    "default": _DEFAULT_SCALE,
    # 3x the data and training; the default scale's learning rates, not selected again at this scale
    "full": replace(
        _DEFAULT_SCALE,
        num_images=13500,
        splits=(0.2, 0.2, 0.6),  # test: 8100 images, 900 per level: 1000 8-image samples without a repeat
        samples_per_size={"train": 2000, "val": 200, "test": 1000},
        stage1_steps=60,
        stage2_steps=60,
        eval_samples=1000,
    ),
    "smoke": DemoScale(
        num_images=360,
        splits=(0.4, 0.2, 0.4),
        samples_per_size={"train": 40, "val": 4, "test": 8},
        base_spec="smoke",
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
        eval_samples=8,
        n_boot=200,
    ),
}


def brightness_data(
    out: Path,
    *,
    seed: int,
    num_images: int,
    samples_per_size: dict[str, int],
    splits: tuple[float, float, float] = (0.8, 0.1, 0.1),
    quiet: bool = False,
) -> Path:
    """A manifest of the demo's task (synthetic brightness, 1/2/4/8-image samples) drawn with `seed` into `out`."""
    from rarl.data.prepare import prepare

    prepare(
        "synthetic",
        out,
        sizes=(1, 2, 4, 8),
        seed=seed,
        splits=splits,
        samples_per_size=dict(samples_per_size),
        property=PROPERTY,
        num_images=num_images,
        quiet=quiet,
    )
    return out


def demo_data(out: Path, scale: DemoScale, seed: int, *, quiet: bool = False) -> Path:
    """The demo's task data at `scale`, drawn with `seed`, into `out`."""
    return brightness_data(
        out,
        seed=seed,
        num_images=scale.num_images,
        samples_per_size=scale.samples_per_size,
        splits=scale.splits,
        quiet=quiet,
    )


def repeated_images(manifest: Path, split: str = "test", limit: int | None = None) -> dict[int, int]:
    """Per size, how many image uses in the first `limit` samples of `split` repeat an image of that size."""
    from rarl.data.manifest import load_manifest

    seen: dict[int, set[str]] = {}
    repeats: dict[int, int] = {}
    counts: dict[int, int] = {}
    for sample in load_manifest(manifest, split):
        n = sample.n
        if limit is not None and counts.get(n, 0) >= limit:
            continue
        counts[n] = counts.get(n, 0) + 1
        images = seen.setdefault(n, set())
        for path in sample.image_paths:
            repeats[n] = repeats.get(n, 0) + (str(path) in images)
            images.add(str(path))
    return {n: repeats.get(n, 0) for n in sorted(seen)}


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


def resolve_base(base: str | Path, out: Path, scale: DemoScale, seed: int) -> Path:
    """The base model folder: `shipped` (the package's), `scratch` (built into `out/base` now) or a folder."""
    from rarl.recipes.ordinal.demo_base import SHIPPED_BASE, build_base
    from rarl.utils.config import ConfigError

    if str(base) == "shipped":
        if not (SHIPPED_BASE / "model.safetensors").is_file():
            raise ConfigError(
                f"the shipped base is missing from {SHIPPED_BASE}; rebuild it with `make demo-base`"
            )
        return SHIPPED_BASE
    if str(base) == "scratch":
        return build_base(out / "base", scale.base_spec, seed=seed, check_against=out / "data")
    path = Path(base)
    if not (path / "config.json").is_file():
        raise ConfigError(
            f"--base {base}: not a model folder (no config.json); use shipped, scratch or a folder"
        )
    return path


def run_demo(
    out: str | Path = "runs/demo", size: str = "default", seed: int = 0, base: str | Path = "shipped"
) -> dict[str, Any]:
    """Run the demo end to end into `out` (replaced); returns the evaluation results per model.

    `base`: `shipped` (default), `scratch` (rebuild the base first, `rarl build-base`) or a model folder.
    """
    from rarl.recipes.demo_common import DemoPhases, evaluate_demo, fresh_folder, pick_scale
    from rarl.recipes.ordinal.demo_base import WARMUP_DATA_SEED
    from rarl.train.grpo import run_grpo
    from rarl.train.sft import run_sft
    from rarl.utils.config import ConfigError

    scale = pick_scale(SCALES, size)
    if seed == WARMUP_DATA_SEED:
        raise ConfigError(f"--seed {seed} is the base's warm-up data seed; choose another")
    base_dir = None if str(base) == "scratch" else resolve_base(base, Path(out), scale, seed)  # fails early
    out = fresh_folder(out)
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
