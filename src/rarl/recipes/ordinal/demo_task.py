"""The demo's task data: synthetic brightness manifests (1/2/4/8-image samples) at each demo scale.

`rarl demo` (`rarl.recipes.ordinal.demo`) draws its train, val and test splits with `demo_data`; the demo's
pretrained base (`rarl.recipes.ordinal.demo_base`) draws its own warm-up split with `brightness_data` and a
seed of its own, and checks that the two share no image.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from rarl.recipes.ordinal.manifest import load_manifest
from rarl.recipes.ordinal.prepare import prepare


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
    val_every: int = 10  # validation of the RL run every this many steps (eval.every; 0: none)
    val_samples: int = 32  # validation samples per image count (eval.max_samples)


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
        val_every=1,
        val_samples=4,
    ),
}


def brightness_data(
    out: Path,
    *,
    seed: int,
    num_images: int,
    samples_per_size: dict[str, int],
    splits: tuple[float, float, float] = (0.8, 0.1, 0.1),
    label_noise: float = 0.0,
    quiet: bool = False,
) -> Path:
    """A manifest of the demo's task (synthetic brightness, 1/2/4/8-image samples) drawn with `seed` into `out`.

    `label_noise` > 0 records each image's label as its level plus Gaussian noise of that std, rounded and
    clipped to 1..9 (`rarl.recipes.ordinal.synthetic`); the images themselves do not depend on it.
    """
    prepare(
        "synthetic",
        out,
        sizes=(1, 2, 4, 8),
        seed=seed,
        splits=splits,
        samples_per_size=dict(samples_per_size),
        property=PROPERTY,
        num_images=num_images,
        label_noise=label_noise,
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
