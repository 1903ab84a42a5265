"""Vision-R1's shipped demo base: a tiny Qwen2.5-VL that localizes the demo's shapes, built by
`rarl build-base --recipe vision-r1`.

The paper starts from Qwen2.5-VL-7B-Instruct, which already localizes (coarsely on dense scenes). The demo's
stand-in is the folder `SHIPPED_BASE` (`rarl/recipes/localization/demo_base/`, a normal model folder), built by
`build_base`:

1. the offline tiny Qwen2.5-VL (`rarl.model.tiny`) with a wider vision tower than the default tiny model and a
   language-model rope base of 10 (`LocalizationBaseSpec.rope_theta`). Qwen2.5-VL's multimodal rope tells the
   language model an image token's row and column only through two sections of each head's rotary
   frequencies, the slowest ones; at the released base of 1e6 and the tiny head size of 32 they turn by at
   most 0.1 rad (rows) and 5e-4 rad (columns) across the demo's 4 x 4 grid of visual tokens. The released
   models learn where things are in their 32-layer vision tower; the tiny one, trained for minutes, did not,
   and answered every image alike (docs/vision-r1.md has the runs). At base 10 the sections turn by 1.7 and
   0.7 rad across the grid;
2. warm-up images drawn with their own seed (`WARMUP_DATA_SEED`) from the demo's task (`synthetic-shapes`
   with its defaults), disjoint from the demo's images (checked by content hash);
3. supervised training on the reference answers (Qwen's JSON box lists), a cosine schedule;
4. the base's COCO-style scores on the warm-up split's validation images, written with the spec, the weights'
   SHA-256 and the library versions to `rarl_base.json` (`rarl.recipes.base_build`).

`make demo-base-vr1` rewrites the shipped copy; `rarl demo --recipe vision-r1 --base scratch` builds one into
the demo's folder and starts from it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rarl.eval.settings import EvalSettings
from rarl.model.tiny import build_tiny_qwen2_5_vl
from rarl.recipes.base import get_recipe
from rarl.recipes.base_build import build_into, check_disjoint
from rarl.recipes.demo_common import demo_sft_config
from rarl.recipes.localization.prepare import prepare_localization
from rarl.recipes.localization.samples import RECIPE_NAME
from rarl.recipes.runs import evaluate, run_sft
from rarl.utils.config import ConfigError

__all__ = [
    "BASE_SPECS",
    "IMAGE_SIZE",
    "MAX_OBJECTS",
    "SHIPPED_BASE",
    "WARMUP_DATA_SEED",
    "LocalizationBaseSpec",
    "build_base",
    "warmup_data",
]

SHIPPED_BASE = Path(__file__).with_name("demo_base")
"""The shipped base model folder (package data)."""

WARMUP_DATA_SEED = 1000
"""Seed of the warm-up images; the demo refuses it as its own data seed so the two never coincide."""

IMAGE_SIZE = 112
"""The frame of the demo's images and of the base's image processor (16 visual tokens per image)."""

MAX_OBJECTS = 2
"""Shapes per image, 0..MAX_OBJECTS (the `synthetic-shapes` default)."""


@dataclass(frozen=True)
class LocalizationBaseSpec:
    """How the base is built: model size, warm-up data and the supervised schedule."""

    num_layers: int  # decoder layers
    vision_hidden_size: int
    vision_depth: int
    rope_theta: float  # the language model's rope base (module docstring)
    num_images: int  # warm-up images (train/val/test 90/5/5)
    steps: int
    lr: float  # peak learning rate, cosine decay to 0
    warmup_steps: int  # linear warm-up of the learning rate
    batch: int  # samples per step
    val_samples: int  # validation images scored into the record
    max_new_tokens: int


BASE_SPECS: dict[str, LocalizationBaseSpec] = {
    "default": LocalizationBaseSpec(
        num_layers=4,
        vision_hidden_size=128,
        vision_depth=3,
        rope_theta=10.0,
        num_images=4000,
        steps=3000,
        lr=1e-3,
        warmup_steps=20,
        batch=8,
        val_samples=200,
        max_new_tokens=120,
    ),
    "smoke": LocalizationBaseSpec(
        num_layers=2,
        vision_hidden_size=64,
        vision_depth=2,
        rope_theta=10.0,
        num_images=40,
        steps=3,
        lr=1e-3,
        warmup_steps=1,
        batch=4,
        val_samples=2,
        max_new_tokens=48,
    ),
}


def warmup_data(out: Path, spec: LocalizationBaseSpec) -> Path:
    """The warm-up manifest, drawn with `WARMUP_DATA_SEED` from the demo's task into `out`."""
    prepare_localization(
        "synthetic-shapes",
        out,
        seed=WARMUP_DATA_SEED,
        num_images=spec.num_images,
        image_size=IMAGE_SIZE,
        max_objects=MAX_OBJECTS,
        splits=(0.9, 0.05, 0.05),
    )
    return out


def base_scores(model: Path, manifest: Path, s: LocalizationBaseSpec, work: Path, seed: int) -> dict:
    """mAP, AP50, AP75, AR@100, failure rate and negative accuracy (fractions) on the warm-up validation images."""
    recipe = get_recipe(RECIPE_NAME)
    settings = EvalSettings(
        split="val", max_samples=s.val_samples, max_new_tokens=s.max_new_tokens, n_boot=1, seed=seed
    )
    results = evaluate({"base": str(model)}, manifest, work / "val", settings, recipe=recipe)
    flat = recipe.validation_metrics(results["base"])
    return {k: None if math.isnan(v) else round(v, 4) for k, v in flat.items()}


def build_base(
    out: str | Path,
    spec: str = "default",
    *,
    seed: int = 0,
    check_against: Path | None = None,
    work: Path | None = None,
) -> Path:
    """Build Vision-R1's demo base into `out` and return it (`out`: new, empty or an earlier base).

    - `spec`: a key of `BASE_SPECS`;
    - `check_against`: a manifest folder whose images must all differ from the warm-up images (by content);
      by default the demo's own data at this spec's scale is drawn and checked;
    - `work`: where the tiny model, warm-up data and training run go (default: a temporary folder).
    """
    if spec not in BASE_SPECS:
        raise ConfigError(f"unknown base spec {spec!r}; choose from {sorted(BASE_SPECS)}")
    s = BASE_SPECS[spec]

    def train(root: Path) -> tuple[Path, dict[str, Any]]:
        warm = warmup_data(root / "warmup-data", s)
        demo = check_against if check_against is not None else _demo_data(root / "demo-data", s, seed)
        check_disjoint(warm, demo)
        recipe = get_recipe(RECIPE_NAME)
        tiny = build_tiny_qwen2_5_vl(
            root / "tiny-model",
            seed=seed,
            corpus=recipe.corpus(str(warm)),
            image_size=IMAGE_SIZE,
            num_layers=s.num_layers,
            vision_hidden_size=s.vision_hidden_size,
            vision_depth=s.vision_depth,
            rope_theta=s.rope_theta,
        )
        pixels = {"min_pixels": IMAGE_SIZE**2, "max_pixels": IMAGE_SIZE**2}
        cfg = demo_sft_config(
            str(tiny), warm, root / "warm-up", steps=s.steps, lr=s.lr, batch=s.batch, seed=seed,
            recipe=RECIPE_NAME, warmup_steps=s.warmup_steps, scheduler="cosine", **pixels,
        )  # fmt: skip
        trained = Path(run_sft(cfg))
        return trained, {
            "recipe": RECIPE_NAME,
            "spec": asdict(s),
            "seed": seed,
            "warmup_data_seed": WARMUP_DATA_SEED,
            "task": f"synthetic shapes: 0..{MAX_OBJECTS} of square/circle/triangle per {IMAGE_SIZE}px image",
            "disjoint_from": str(demo) if check_against is not None else f"the demo's data (seed {seed})",
            "val_scores": base_scores(trained, warm, s, root, seed),
        }

    command = f"rarl build-base --recipe {RECIPE_NAME} --out {out} --spec {spec} --seed {seed}"
    return build_into(out, train, command, work)


def _demo_data(out: Path, s: LocalizationBaseSpec, seed: int) -> Path:
    """The demo's images at the matching scale (for the disjointness check)."""
    prepare_localization(
        "synthetic-shapes", out, seed=seed, num_images=min(s.num_images, 1000), image_size=IMAGE_SIZE,
        max_objects=MAX_OBJECTS,
    )  # fmt: skip
    return out
