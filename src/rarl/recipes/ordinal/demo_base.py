"""The demo's pretrained base: a tiny Qwen2.5-VL warmed up on a split of its own, shipped with the package.

The paper starts SFT and RARL from a pretrained instruction-tuned model (Qwen2.5-VL-3B/7B-Instruct). The demo's
stand-in is the folder `SHIPPED_BASE` (`rarl/recipes/ordinal/demo_base/`, a normal model folder that
`from_pretrained` loads), built by `build_base`:

1. the offline tiny Qwen2.5-VL (`rarl.model.tiny`) with `BaseSpec.num_layers` decoder layers, random weights;
2. a synthetic brightness warm-up split drawn with its own seed (`WARMUP_DATA_SEED`), so none of its images is
   one of the demo's train, val or test images (checked by content hash against the demo's data);
3. supervised training on the reference answers of 1-, 2-, 4- and 8-image samples (cosine schedule), whose
   labels carry rating noise (`BaseSpec.label_noise`: each image's label is its level plus Gaussian noise,
   rounded), so the base learns a spread over neighbouring values, as a pretrained model is unsure of a
   rating, instead of one exact answer that sampling at temperature 1 would always repeat;
4. the base's own scores on the warm-up split's validation samples against the clean levels, written with
   the spec, the weights' SHA-256 and the library versions to `rarl_base.json` in the folder.

Rebuild it with `rarl build-base --out DIR` (`make demo-base` rewrites the shipped copy); `rarl demo --base
scratch` builds one into the demo's folder and starts from it. The same command on the same machine and
library versions gives the same weights (the build is deterministic on CPU); other CPUs or versions may differ
in the last floating-point bits and so in the trained weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rarl.eval.settings import EvalSettings
from rarl.model.tiny import build_tiny_qwen2_5_vl
from rarl.recipes.base_build import (
    BASE_INFO,
    build_into,
    check_disjoint,
    manifest_image_digests,
    read_base_info,
    sha256_file,
)
from rarl.recipes.demo_common import demo_sft_config
from rarl.recipes.ordinal.demo_task import SCALES, brightness_data, demo_data
from rarl.recipes.runs import evaluate as evaluate_models
from rarl.recipes.runs import run_sft
from rarl.utils.config import ConfigError

__all__ = [
    "BASE_INFO",
    "BASE_SPECS",
    "SHIPPED_BASE",
    "WARMUP_DATA_SEED",
    "BaseSpec",
    "build_base",
    "manifest_image_digests",
    "read_base_info",
    "sha256_file",
    "warmup_data",
]

SHIPPED_BASE = Path(__file__).with_name("demo_base")
"""The shipped base model folder (package data)."""

WARMUP_DATA_SEED = 1000
"""Seed of the warm-up split's images; the demo refuses it as its own data seed so the two never coincide."""


@dataclass(frozen=True)
class BaseSpec:
    """How the base is built: model size, warm-up data and the supervised schedule."""

    num_layers: int  # decoder layers of the tiny model
    steps: int
    lr: float  # peak learning rate, cosine decay to 0
    warmup_steps: int  # linear warm-up of the learning rate
    batch: int  # samples per step (1-, 2-, 4- and 8-image samples mixed)
    num_images: int  # warm-up images drawn (train/val/test 80/10/10)
    train_samples_per_size: int
    val_samples_per_size: int  # the base's reported scores (warm-up val split)
    max_new_tokens: int
    label_noise: float = 0.0  # std of the Gaussian noise on the warm-up labels (levels), before rounding


BASE_SPECS: dict[str, BaseSpec] = {
    "default": BaseSpec(
        num_layers=6,
        steps=2000,
        lr=2e-3,
        warmup_steps=20,
        batch=16,
        num_images=6000,
        train_samples_per_size=4000,
        val_samples_per_size=100,
        max_new_tokens=200,
        label_noise=0.5,  # about one label in three is one level off
    ),
    "smoke": BaseSpec(
        num_layers=2,
        steps=4,
        lr=2e-3,
        warmup_steps=1,
        batch=4,
        num_images=180,
        train_samples_per_size=40,
        val_samples_per_size=4,
        max_new_tokens=96,
    ),
}


def warmup_data(out: Path, spec: BaseSpec, *, clean: bool = False, quiet: bool = True) -> Path:
    """The warm-up manifest (brightness, 1/2/4/8 images) drawn with `WARMUP_DATA_SEED` into `out`.

    Its labels carry `spec.label_noise`; `clean=True` draws the same images labelled with their levels.
    """
    samples = {"train": spec.train_samples_per_size, "val": spec.val_samples_per_size, "test": 4}
    return brightness_data(
        out,
        seed=WARMUP_DATA_SEED,
        num_images=spec.num_images,
        samples_per_size=samples,
        label_noise=0.0 if clean else spec.label_noise,
        quiet=quiet,
    )


def base_scores(results: dict[int, Any]) -> dict[str, float]:
    """`{"1-img mae": ..., "1-img fail": ..., "2-imgs tau": ..., ...}` from one model's per-size results."""
    scores: dict[str, float] = {}
    for size, r in sorted(results.items()):
        label = "1-img" if size == 1 else f"{size}-imgs"
        scores[f"{label} {r.metric}"] = round(float(r.value), 4)
        scores[f"{label} fail"] = round(float(r.failure_rate), 4)
    return scores


def build_base(
    out: str | Path,
    spec: str = "default",
    *,
    seed: int = 0,
    check_against: Path | None = None,
    work: Path | None = None,
) -> Path:
    """Build the demo's base into `out` and return it.

    `out` is a new or empty folder, or a base folder (it has `rarl_base.json`): its model files are replaced,
    other files kept; any other non-empty folder is refused before the build (`rarl.recipes.base_build`).

    - `spec`: a key of `BASE_SPECS`;
    - `check_against`: a demo manifest folder whose images must all differ from the warm-up images (by
      content); by default the demo's own data at this spec's scale is drawn and checked;
    - `work`: where the tiny model, warm-up data and training run go (default: a temporary folder).
    """
    if spec not in BASE_SPECS:
        raise ConfigError(f"unknown base spec {spec!r}; choose from {sorted(BASE_SPECS)}")
    s = BASE_SPECS[spec]

    def train(root: Path) -> tuple[Path, dict[str, Any]]:
        tiny = build_tiny_qwen2_5_vl(root / "tiny-model", seed=seed, num_layers=s.num_layers)
        warm = warmup_data(root / "warmup-data", s)
        demo_manifest = (
            check_against if check_against is not None else _demo_data(root / "demo-data", spec, seed)
        )
        check_disjoint(warm, demo_manifest)
        cfg = demo_sft_config(
            str(tiny), warm, root / "sft", steps=s.steps, lr=s.lr, batch=s.batch, seed=seed,
            warmup_steps=s.warmup_steps, scheduler="cosine",
        )  # fmt: skip
        trained = Path(run_sft(cfg))
        scored = warmup_data(root / "warmup-clean", s, clean=True) if s.label_noise > 0 else warm
        settings = EvalSettings(split="val", max_new_tokens=s.max_new_tokens, n_boot=200, seed=seed)
        results = evaluate_models({"base": str(trained)}, scored, root / "val-eval", settings)["base"]
        return trained, {
            "spec": asdict(s),
            "seed": seed,
            "warmup_data_seed": WARMUP_DATA_SEED,
            "task": "synthetic brightness, levels 1..9"
            + (f", training labels with noise std {s.label_noise:g}" if s.label_noise > 0 else ""),
            "disjoint_from": str(demo_manifest)
            if check_against is not None
            else f"the demo's data (seed {seed})",
            "val_scores": base_scores(results),
        }

    return build_into(out, train, f"rarl build-base --out {out} --spec {spec} --seed {seed}", work)


def _demo_data(out: Path, spec: str, seed: int) -> Path:
    """The demo's own data at the matching scale (for the disjointness check)."""
    return demo_data(out, SCALES["smoke" if spec == "smoke" else "default"], seed, quiet=True)
