"""Refine-IQA's shipped demo base: a tiny Qwen2.5-VL that perceives the demo's distortions, built by
`rarl build-base --recipe refine-iqa`.

The paper starts from Qwen2.5-VL-7B-Instruct, which already answers quality questions coarsely. The demo's
stand-in is the folder `SHIPPED_BASE` (`rarl/recipes/quality/demo_base/`, a normal model folder), built by
`build_base`:

1. the offline tiny Qwen2.5-VL (`rarl.model.tiny`) with a wider vision tower than the default tiny model
   (`QualityBaseSpec`), its tokenizer trained on the recipe's prompts and answers;
2. warm-up data drawn with their own seed (`WARMUP_DATA_SEED`), disjoint from the demo's images (checked by
   content hash): a synthetic-quality split with the demo's default distortions and a perception split;
3. supervised training in two phases (each a cosine schedule): stage-1 perception questions (no_think), then
   think-mode quality scoring with the perception questions mixed in (each task asked in its own mode), so
   the base scores images in the `<think>..</think><answer>D.DD</answer>` format and still answers the
   perception questions (a phase of one task alone made the base forget the other's format);
4. the scoring labels carry rating noise (`QualityBaseSpec.label_noise`: each warm-up MOS is the exact one
   plus Gaussian noise), as a MOS is a mean of a few subjective opinions: the base learns a spread of scores
   for an image, so a group of sampled answers differs and RL has something to compare and sharpen;
5. the base's scores on the warm-up split's validation samples, with exact labels (SRCC per dataset,
   perception accuracy), written with the spec, the weights' SHA-256 and the library versions to
   `rarl_base.json` (`rarl.recipes.base_build`).

`make demo-base-iqa` rewrites the shipped copy; `rarl demo --recipe refine-iqa --base scratch` builds one into
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
from rarl.recipes.quality.perception import prepare_perception
from rarl.recipes.quality.prepare import prepare_quality
from rarl.recipes.quality.prompts import NO_THINK
from rarl.recipes.runs import evaluate, run_sft
from rarl.utils.config import ConfigError

__all__ = ["BASE_SPECS", "SHIPPED_BASE", "WARMUP_DATA_SEED", "QualityBaseSpec", "build_base", "warmup_data"]

SHIPPED_BASE = Path(__file__).with_name("demo_base")
"""The shipped base model folder (package data)."""

WARMUP_DATA_SEED = 1000
"""Seed of the warm-up images; the demo refuses it as its own data seed so the two never coincide."""

IMAGE_SIZE = 56
"""The frame of the demo's images and of the base's image processor (4 visual tokens per image)."""


@dataclass(frozen=True)
class QualityBaseSpec:
    """How the base is built: model size, warm-up data and the two supervised phases."""

    num_layers: int  # decoder layers
    vision_hidden_size: int
    vision_depth: int
    num_images: int  # warm-up quality images per distortion (train/val/test 80/10/10)
    perception_images: int  # shapes drawn for the perception warm-up
    perception_steps: int  # phase 1: perception questions, no_think
    steps: int  # phase 2: quality scoring, think
    lr: float  # peak learning rate of both phases, cosine decay to 0
    warmup_steps: int  # linear warm-up of the learning rate
    batch: int  # samples per step
    val_samples: int  # per dataset and perception task (the base's reported scores)
    max_new_tokens: int
    label_noise: float = 0.0  # std of the Gaussian noise on the warm-up MOS (scoring phase's labels)


BASE_SPECS: dict[str, QualityBaseSpec] = {
    "default": QualityBaseSpec(
        num_layers=4,
        vision_hidden_size=128,
        vision_depth=3,
        num_images=3000,
        perception_images=600,
        perception_steps=300,
        steps=3000,
        lr=2e-3,
        warmup_steps=20,
        batch=8,
        val_samples=100,
        max_new_tokens=40,
        label_noise=0.5,  # the RARL base's rating noise; an exact MOS falls within 0.5 of a label 68 % of the time
    ),
    "smoke": QualityBaseSpec(
        num_layers=2,
        vision_hidden_size=64,
        vision_depth=2,
        num_images=24,
        perception_images=12,
        perception_steps=2,
        steps=3,
        lr=2e-3,
        warmup_steps=1,
        batch=4,
        val_samples=4,
        max_new_tokens=24,
        label_noise=0.5,
    ),
}


WARMUP_FRACTIONS = "0.8,0.1,0.1"
"""Train / val / test shares of the warm-up splits."""


def warmup_data(out: Path, spec: QualityBaseSpec) -> tuple[Path, Path]:
    """(quality manifest, perception manifest) of the warm-up, drawn with `WARMUP_DATA_SEED` into `out`; the
    quality labels carry `spec.label_noise`."""
    quality, perception = warmup_quality(out / "quality", spec), out / "perception"
    prepare_perception(
        "refine-perception",
        perception,
        seed=WARMUP_DATA_SEED,
        num_images=spec.perception_images,
        image_size=IMAGE_SIZE,
        max_objects=3,
        fractions=WARMUP_FRACTIONS,
    )
    return quality, perception


def warmup_quality(out: Path, spec: QualityBaseSpec, *, clean: bool = False) -> Path:
    """The warm-up's quality manifest at `out`; `clean=True` draws the same images with exact labels."""
    prepare_quality(
        "synthetic-quality",
        out,
        seed=WARMUP_DATA_SEED,
        num_images=spec.num_images,
        image_size=IMAGE_SIZE,
        fractions=WARMUP_FRACTIONS,
        **({"label_noise": spec.label_noise} if spec.label_noise and not clean else {}),
    )
    return out


def _phase(
    model: str, manifest: Path, out: Path, steps: int, mode: str | None, s: QualityBaseSpec, seed: int
) -> Path:
    """One supervised phase of the build (a cosine schedule after `warmup_steps`); `mode` None asks each
    question in its task's own mode."""
    cfg = demo_sft_config(
        model, manifest, out, steps=steps, lr=s.lr, batch=s.batch, seed=seed, recipe="refine-iqa", mode=mode,
        warmup_steps=s.warmup_steps, scheduler="cosine",
    )  # fmt: skip
    return Path(run_sft(cfg))


def base_scores(
    model: Path, quality: Path, perception: Path, s: QualityBaseSpec, work: Path, seed: int
) -> dict:
    """Think-mode SRCC (numeric and probability-based) per dataset on the warm-up quality split's validation
    samples, and the perception accuracy per task on the perception split's."""
    recipe = get_recipe("refine-iqa")
    settings = EvalSettings(
        split="val", max_samples=s.val_samples, max_new_tokens=s.max_new_tokens, n_boot=200, seed=seed
    )
    scores: dict[str, float] = {}
    for name, manifest in (("quality", quality), ("perception", perception)):
        results = evaluate({"base": str(model)}, manifest, work / f"val-{name}", settings, recipe=recipe)
        flat = recipe.validation_metrics(results["base"])
        for key, value in flat.items():
            wanted = key.endswith(("/think/srcc", "/think/srcc_prob", "/think/fail")) or key.startswith(
                "perception/"
            )
            if wanted:  # an undefined correlation (constant answers) is recorded as null
                scores[key] = None if math.isnan(value) else round(value, 4)
    return scores


def build_base(
    out: str | Path,
    spec: str = "default",
    *,
    seed: int = 0,
    check_against: Path | None = None,
    work: Path | None = None,
) -> Path:
    """Build Refine-IQA's demo base into `out` and return it (`out`: new, empty or an earlier base).

    - `spec`: a key of `BASE_SPECS`;
    - `check_against`: a quality manifest folder whose images must all differ from the warm-up images (by
      content); by default the demo's own data at this spec's scale is drawn and checked;
    - `work`: where the tiny model, warm-up data and training runs go (default: a temporary folder).
    """
    if spec not in BASE_SPECS:
        raise ConfigError(f"unknown base spec {spec!r}; choose from {sorted(BASE_SPECS)}")
    s = BASE_SPECS[spec]

    def train(root: Path) -> tuple[Path, dict[str, Any]]:
        quality, perception = warmup_data(root / "warmup-data", s)
        demo = check_against if check_against is not None else _demo_data(root / "demo-data", spec, seed)
        check_disjoint(quality, demo, ignore_flat=True)
        recipe = get_recipe("refine-iqa")
        corpus = [t for m in (quality, perception) for t in recipe.corpus(str(m), "train", limit=200)]
        tiny = build_tiny_qwen2_5_vl(
            root / "tiny-model",
            seed=seed,
            corpus=corpus,
            num_layers=s.num_layers,
            vision_hidden_size=s.vision_hidden_size,
            vision_depth=s.vision_depth,
        )
        perceiving = _phase(str(tiny), perception, root / "perception", s.perception_steps, NO_THINK, s, seed)
        mixed = root / "warmup-data" / "mixed"
        prepare_quality("iqa-merge", mixed, manifests=[str(quality), str(perception)])
        trained = _phase(str(perceiving), mixed, root / "scoring", s.steps, None, s, seed)
        clean = warmup_quality(root / "warmup-clean" / "quality", s, clean=True) if s.label_noise else quality
        return trained, {
            "recipe": "refine-iqa",
            "spec": asdict(s),
            "seed": seed,
            "warmup_data_seed": WARMUP_DATA_SEED,
            "task": "synthetic quality (MOS = 4.6 - 0.9 x severity"
            + (f", training labels with noise std {s.label_noise:g}" if s.label_noise else "")
            + ") and perception questions",
            "disjoint_from": str(demo) if check_against is not None else f"the demo's data (seed {seed})",
            "val_scores": base_scores(trained, clean, perception, s, root, seed),
        }

    command = f"rarl build-base --recipe refine-iqa --out {out} --spec {spec} --seed {seed}"
    return build_into(out, train, command, work)


def _demo_data(out: Path, spec: str, seed: int) -> Path:
    """The demo's quality images at the matching scale (for the disjointness check)."""
    from_scale = BASE_SPECS[spec].num_images  # the demo draws no more images per distortion than this
    prepare_quality("synthetic-quality", out, seed=seed, num_images=from_scale, image_size=IMAGE_SIZE)
    return out
