"""The `vision-r1` recipe: object detection and visual grounding with Qwen2.5-VL (Vision-R1 paper).

Samples are `LocalizationSample`s read from a manifest written by `prepare_localization` (sources `coco`,
`refcoco`, `boxes-jsonl`, `synthetic-shapes`; `prepare`, with the readers in `readers` and `synthetic`, the
sample types and manifest I/O in `samples`). The prompt is the paper's Qwen2.5-VL template (`prompts`), the
reference answer the ground truth as Qwen's fenced JSON list, the reward `LocalizationBatchReward` (Eq. 3-8
with the staged progression; `reward.name: vision-r1`), the evaluation COCO-style mAP / AP50 / AP75 / AR@100
and referring accuracy at IoU 0.5 (`evaluation`, `metrics`; pictures in `drawing`), and the ablations the
paper's Tables 3-5 (`ablations`).

The coordinate frame
--------------------
Qwen2.5-VL answers in absolute pixels of the image as its processor resized it (`smart_resize`: sides
multiples of 28, area within [min_pixels, max_pixels]). The recipe fixes that frame per sample from the
pixel budget in the manifest's task.json (`sample.frame`; set when the data is prepared, default the
Qwen2.5-VL processor defaults) and

- shows the model the image already resized to the frame (`sample.frame_image()`), so the processor keeps it
  as it is whenever its own budget contains the frame (the Qwen2.5-VL-7B budget contains every frame of the
  default budget);
- gives the reward the ground truth mapped into the frame (`target(sample)`: boxes, labels, categories,
  frame), and SFT / RMO the reference answer in the same frame;
- maps predictions back to original pixels for evaluation, from the frame the evaluated model's processor
  actually produces (a warning names any difference).

During training the batch reward checks the policy's processor budget against every frame it scores and
stops with a ConfigError when they disagree (e.g. the tiny model's 56x56 budget against a 112x112 task): set
`model.min_pixels` / `model.max_pixels` to the task's values, or prepare the data with the model's budget.

Reward settings (`reward.kwargs`, each stage's `reward_kwargs`): see `rarl.rewards.localization_batch`
(`xi0`/`xi1`/`xi2` or `step_fraction`, `matcher`, `overlap`, `precision_over`, `differentiation`, `weights`,
`count_weight`).

Validation while training (`eval:`) logs `mAP` (the headline), `AP50`, `AP75`, `AR100` and `failure_rate` when
the validation samples hold detection or negative questions, `negative_acc` with negatives, and `ref_acc` and
`ref_failure_rate` with grounding questions (fractions in [0, 1]; an undefined value, e.g. mAP without any
ground-truth box, is logged as null).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markdown import Markdown

from rarl.data.errors import DataError
from rarl.eval.curves import LogSource
from rarl.recipes.base import Conversation, RecipeBase, register_recipe
from rarl.recipes.localization.ablations import ABLATIONS
from rarl.recipes.localization.demo import run_demo
from rarl.recipes.localization.demo_base import SHIPPED_BASE
from rarl.recipes.localization.demo_base import build_base as build_localization_base
from rarl.recipes.localization.evaluation import (
    CURVE_PANELS,
    evaluate_localization,
    write_localization_report,
)
from rarl.recipes.localization.metrics import DETECTION_METRICS
from rarl.recipes.localization.prepare import LOCALIZATION_SOURCES, prepare_localization
from rarl.recipes.localization.prompts import prompt_text, reference_text, user_turn
from rarl.recipes.localization.samples import (
    RECIPE_NAME,
    LocalizationSample,
    load_localization_manifest,
    load_localization_task,
)
from rarl.rewards.batch import BatchReward, build_reward
from rarl.rewards.localization_batch import REWARD_NAME, LocalizationBatchReward
from rarl.utils.config import ConfigError

__all__ = ["LocalizationBatchReward", "LocalizationRecipe", "LocalizationSample"]


@register_recipe(RECIPE_NAME)
class LocalizationRecipe(RecipeBase):
    """Vision-R1's object localization task (detection, grounding, negatives) for Qwen2.5-VL."""

    name = RECIPE_NAME
    modes = ("default", "think")
    default_reward = REWARD_NAME
    headline_metric = "mAP"
    images_per_sample = 1  # one image per question, whatever `sizes` says
    shipped_base = SHIPPED_BASE
    curve_components = ("format", "recall", "precision", "count")
    curve_panels = CURVE_PANELS  # the boxes per answer get a panel of their own
    curve_schedule = (
        "xi0",
    )  # the logged threshold of the progressive rule: `step_fraction` switches mid-stage

    def __init__(self, eval_mode: str | None = None) -> None:
        """`eval_mode`: the prompt mode `evaluate` asks in (None: the default mode, the paper's prompts)."""
        self.eval_mode = self.resolve_mode(eval_mode)

    def load_samples(
        self, manifest: str, split: str, sizes: Sequence[int] | None = None
    ) -> list[LocalizationSample]:
        """The split's samples (`sizes` is ignored: a localization sample is always one image); a missing or
        unusable image is a `DataError` naming it, before any model is loaded."""
        if not manifest:
            raise DataError("data.manifest is empty: point it at a folder written by prepare_localization")
        return load_localization_manifest(manifest, split, check_files=True)

    def messages(self, sample: LocalizationSample, mode: str | None = None) -> Conversation:
        """One user turn: the frame-sized image, then the paper's instruction."""
        return user_turn(sample, think=self.resolve_mode(mode) == "think")

    def reference_answer(self, sample: LocalizationSample, mode: str | None = None) -> str:
        """The ground truth as Qwen's fenced JSON list in the frame (wrapped in think/answer in `think` mode).

        The engine (SFT targets, RMO injections) asks without a mode, so it gets the plain list, which the
        reward also accepts as a well-formed answer in a `think` stage.
        """
        think = self.resolve_mode(mode) == "think"
        return reference_text(sample.frame_boxes(), sample.labels, sample.frame, think=think)

    def target(self, sample: LocalizationSample) -> dict[str, Any]:
        """What the reward scores against (JSON-ready): frame boxes (G, 4), labels, categories, frame (W, H)."""
        return {
            "kind": sample.kind,
            "boxes": sample.frame_boxes(),
            "labels": list(sample.labels),
            "categories": list(sample.categories),
            "frame": list(sample.frame),
        }

    def reward(self, name: str, settings: Mapping[str, Any], manifest: str) -> BatchReward:
        """`LocalizationBatchReward` for `vision-r1`; any other registered or plug-in reward by name."""
        if name == "rarl":
            raise ConfigError(
                "reward 'rarl' scores ordinal answers, not boxes: set reward.name: vision-r1 for this recipe"
            )
        return build_reward(name, settings)

    def evaluate(
        self, policy: Any, manifest: str, settings: Any, name: str = "model"
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """COCO-style detection metrics and referring accuracy on `settings.split` (see `evaluation`)."""
        mode = self.eval_mode
        return evaluate_localization(
            policy, manifest, settings, name=name, messages_fn=lambda sample: self.messages(sample, mode)
        )

    def validation_metrics(self, results: Mapping[str, Any]) -> dict[str, float]:
        """The headline numbers of `evaluate`'s results for the kinds of question validated (None: NaN)."""
        names = _metric_names(
            bool(results.get("n_detection")),
            bool(results.get("n_negative")),
            bool(results.get("n_grounding")),
        )
        return {m: math.nan if results.get(m) is None else float(results[m]) for m in names}

    def task_record(self, manifest: str, samples: Sequence[LocalizationSample]) -> dict[str, Any]:
        """The manifest's task.json (categories, the pixel budget of the frame, source) and the question
        kinds trained on (`kinds`), recorded in a trained model folder."""
        return {**load_localization_task(manifest).to_dict(), "kinds": sorted({s.kind for s in samples})}

    def higher_is_better(self, metric: str) -> bool:
        """Failure rates are better lower; mAP, AP, AR and accuracies higher."""
        return not metric.endswith("failure_rate")

    def validation_metric_names(self, samples: Sequence[LocalizationSample], settings: Any) -> list[str]:
        """The names `validation_metrics` gives for the (capped) samples `evaluate` answers."""
        kinds = {s.kind for s in samples[: settings.max_samples]}
        return _metric_names(bool(kinds - {"grounding"}), "negative" in kinds, "grounding" in kinds)

    def write_report(
        self,
        out: Path,
        results: Mapping[str, Any],
        *,
        title: str,
        curves: Mapping[str, LogSource] | None = None,
        settings: Any = None,
    ) -> str:
        """results.json, report.md (the paper's Table 1/4 layout) and example pictures; returns the table."""
        table = write_localization_report(out, results, title=title, curves=curves, settings=settings)
        Console().print(Markdown(table))
        return table

    def prepare_sources(self) -> dict[str, Any]:
        """`rarl prepare` sources: coco, refcoco, boxes-jsonl, synthetic-shapes (one image per sample)."""
        return dict.fromkeys(LOCALIZATION_SOURCES, _prepare)

    def ablations(self) -> Any:
        """The recipe's ablation plan (Tables 3, 4 and 5) for `rarl ablate`."""
        return ABLATIONS

    def demo(
        self, out: str | Path, size: str = "default", seed: int = 0, base: str | Path = "shipped"
    ) -> dict[str, Any]:
        """The CPU demo: the shipped base, synthetic shapes, base vs SFT vs Vision-R1 (COCO-style table)."""
        return run_demo(out, size=size, seed=seed, base=base)

    def build_base(self, out: str | Path, spec: str = "default", seed: int = 0) -> Path:
        """The demo's base: a tiny Qwen2.5-VL trained to write box lists for the demo's shapes."""
        return build_localization_base(out, spec, seed=seed)

    def corpus(self, manifest: str, split: str = "train", limit: int = 400) -> list[str]:
        """Prompts and reference answers of up to `limit` samples: text for the tiny model's tokenizer."""
        out: list[str] = []
        for sample in self.load_samples(manifest, split)[:limit]:
            out.append(prompt_text(sample.kind, sample.categories, sample.phrase))
            out.append(self.reference_answer(sample))
            out.append(self.reference_answer(sample, "think"))
        return out


def _metric_names(detection: bool, negative: bool, grounding: bool) -> list[str]:
    """Validation metric names for the kinds of question present (detection counts negatives too)."""
    names = [*DETECTION_METRICS, "failure_rate"] if detection else []
    names += ["negative_acc"] if negative else []
    return names + (["ref_acc", "ref_failure_rate"] if grounding else [])


def _prepare(source: str, out: Path, *, sizes: Any = None, **kwargs: Any) -> Any:
    """`prepare_localization` behind the uniform prepare signature (`sizes` does not apply: one image each)."""
    return prepare_localization(source, out, **kwargs)
