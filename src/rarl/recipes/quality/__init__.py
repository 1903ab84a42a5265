"""The `refine-iqa` recipe: image quality perception and scoring with Qwen2.5-VL (Refine-IQA paper).

Two stages on the shared engine, each a stage of one run config (`configs/refine-iqa-*.yaml`):

- **Stage 1, perception** (`mode: no_think`, `manifest:` a folder from `rarl prepare refine-perception`):
  distortion type, severity, distorted object (multiple choice) and distortion-area grounding (IoU), each
  with a full-reference (original + distorted) and a no-reference variant, mixed at random in a batch; the
  reward dispatches per row on its task (`reward.name: refine-iqa`, `rarl.recipes.quality.reward`).
- **Stage 2, scoring** (`mode: think`, a scoring manifest from the IQA readers): Eq. 1-5 with the
  probability-difference reward (`rarl.rewards.probability_difference`), whose no-think reference is this
  recipe's `no_think` prompt; the modified advantage of Eq. 6 is `algorithm.advantage: refine_iqa`.

Samples are `QualitySample`s (`rarl.recipes.quality.samples`); prompts and reference answers are in
`prompts`; the evaluation (SRCC / PLCC per dataset with numeric and probability-based inference, and the
perception accuracies) in `evaluation`; the ablations (Tables 5-6) in `ablations`; the CPU demo in `demo`.

Validation while training (`eval:`) logs, for scoring samples, `<dataset>/<mode>/srcc`, `.../plcc` (numeric
inference), `.../srcc_prob`, `.../plcc_prob` (Eq. 8) and `.../fail` per dataset and evaluation mode, and `srcc`
and `plcc`, the numeric means over datasets in the first evaluation mode (`srcc` is the headline); for
perception samples `perception/<task>` (accuracy, or mean IoU for grounding; `description` when whole images
are asked every choice question).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rarl.data.errors import DataError
from rarl.eval.curves import DEFAULT_PANELS, LogSource
from rarl.recipes.base import Conversation, RecipeBase, register_recipe
from rarl.recipes.quality.ablations import ABLATIONS
from rarl.recipes.quality.demo import run_demo
from rarl.recipes.quality.demo_base import SHIPPED_BASE
from rarl.recipes.quality.demo_base import build_base as build_quality_base
from rarl.recipes.quality.evaluation import _cap, description_outcomes, evaluate_quality, write_quality_report
from rarl.recipes.quality.perception import prepare_perception
from rarl.recipes.quality.prepare import QUALITY_SOURCES, prepare_quality
from rarl.recipes.quality.prompts import MODES, NO_THINK, THINK, prompt_text, reference_text
from rarl.recipes.quality.reward import REWARD_NAME, QualityTaskReward
from rarl.recipes.quality.samples import (
    RECIPE_NAME,
    SCORE_TASK,
    QualitySample,
    load_quality_manifest,
    load_quality_task,
)
from rarl.rewards.batch import BatchReward, build_reward
from rarl.utils.config import ConfigError

__all__ = ["QualityRecipe", "QualitySample", "QualityTaskReward"]

_ALIASES = {"no-think": NO_THINK, "nothink": NO_THINK}


@register_recipe(RECIPE_NAME)
class QualityRecipe(RecipeBase):
    """Refine-IQA's quality perception (stage 1) and quality scoring (stage 2) tasks."""

    name = RECIPE_NAME
    modes = MODES
    default_reward = REWARD_NAME
    headline_metric = "srcc"
    shipped_base = SHIPPED_BASE
    images_per_sample = 2  # a full-reference perception question shows the original and the distorted image
    curve_validation = ("srcc", "plcc", "*/think/srcc", "*/think/srcc_prob", "perception/*")
    """The headline means, and per dataset the think-mode numeric and probability-based SRCC."""
    curve_components = (  # the scoring reward's terms (stage 2), each perception task's reward (stage 1)
        "answer",
        "format",
        "pd",
        "task/distortion",
        "task/severity",
        "task/object",
        "task/grounding",
        "perception_format",
    )
    curve_panels = (  # the think length (characters, Table 5's "think collapse") on a scale of its own
        *DEFAULT_PANELS[:2],
        ("Think length (characters)", ("reward/think_chars",)),
        *DEFAULT_PANELS[2:],
    )

    def __init__(self, eval_modes: Sequence[str] = (THINK, NO_THINK)) -> None:
        """`eval_modes`: the prompt modes the scoring evaluation answers in (paper Table 3: both)."""
        self.eval_modes = tuple(self.resolve_mode(m) for m in eval_modes)

    def resolve_mode(self, mode: str | None) -> str:
        """`think` (default) or `no_think` (`no-think` is accepted too)."""
        return super().resolve_mode(_ALIASES.get(mode, mode) if mode is not None else None)

    def load_samples(
        self, manifest: str, split: str, sizes: Sequence[int] | None = None
    ) -> list[QualitySample]:
        """The split's samples, every image checked to exist (`sizes` is ignored)."""
        if not manifest:
            raise DataError(
                "data.manifest is empty: point it at a folder written by a Refine-IQA `rarl prepare`"
            )
        return load_quality_manifest(manifest, split)

    def messages(self, sample: QualitySample, mode: str | None = None) -> Conversation:
        """One user turn: the image(s) (original first for full-reference questions), then the question, in
        `mode`; without one, each task's own mode (`task_mode`), as `reference_answer` answers it, so one run
        (the base's warm-up) can train scoring and perception questions mixed in a batch."""
        text = prompt_text(sample, self.task_mode(sample, mode))
        content: list[dict[str, Any]] = [{"type": "image", "image": image} for image in sample.load_images()]
        content.append({"type": "text", "text": text})
        return [{"role": "user", "content": content}]

    def reference_answer(self, sample: QualitySample, mode: str | None = None) -> str:
        """The ground truth in the mode's format. The engine asks without a mode and gets the think form for
        scoring questions (stage 2) and the no_think form for perception questions (stage 1)."""
        return reference_text(sample, self.task_mode(sample, mode))

    def task_mode(self, sample: QualitySample, mode: str | None) -> str:
        """`mode`, else the sample's own: think for scoring questions (stage 2), no_think for perception
        questions (stage 1)."""
        if mode is None:
            mode = THINK if sample.task == SCORE_TASK else NO_THINK
        return self.resolve_mode(mode)

    def target(self, sample: QualitySample) -> Any:
        """The MOS on [0, 5) for scoring questions, a dict with the task for perception questions."""
        return sample.target

    def reward(self, name: str, settings: Mapping[str, Any], manifest: str) -> BatchReward:
        """`refine-iqa` (per-task dispatch) or `refine-iqa-score` (scoring only); others by name."""
        if name == REWARD_NAME:
            return QualityTaskReward(**dict(settings))
        if name == "rarl":
            raise ConfigError(
                "reward 'rarl' scores ordinal answers: set reward.name: refine-iqa for this recipe"
            )
        return build_reward(name, settings)

    def evaluate(
        self, policy: Any, manifest: str, settings: Any, name: str = "model"
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Scoring SRCC/PLCC per dataset (numeric and Eq. 8) and perception accuracies on `settings.split`."""
        samples = self.load_samples(manifest, settings.split)
        return evaluate_quality(policy, samples, settings, self.messages, name=name, modes=self.eval_modes)

    def validation_metrics(self, results: Mapping[str, Any]) -> dict[str, float]:
        """Flat SRCC / PLCC / failure numbers per dataset and mode, their means, and perception scores."""
        out: dict[str, float] = {}
        scoring = results.get("scoring", {})
        for mode, datasets in scoring.items():
            for dataset, r in datasets.items():
                key = f"{dataset}/{mode}"
                out[f"{key}/srcc"], out[f"{key}/plcc"] = r["numeric"]["srcc"], r["numeric"]["plcc"]
                out[f"{key}/srcc_prob"], out[f"{key}/plcc_prob"] = r["prob"]["srcc"], r["prob"]["plcc"]
                out[f"{key}/fail"] = r["numeric"]["failure_rate"]
        first = scoring.get(self.eval_modes[0], {})
        for name in ("srcc", "plcc") if first else ():
            out[name] = sum(float(r["numeric"][name]) for r in first.values()) / len(first)
        for task, r in results.get("perception", {}).items():
            out[f"perception/{task}"] = r["overall"]["value"]
        return {k: float(v) for k, v in out.items()}

    def higher_is_better(self, metric: str) -> bool:
        """Failure rates are better lower; SRCC, PLCC and perception scores higher."""
        return not metric.endswith("/fail")

    def validation_metric_names(self, samples: Sequence[QualitySample], settings: Any) -> list[str]:
        """The names `validation_metrics` gives for these samples (capped as `evaluate` caps them)."""
        names: list[str] = []
        datasets = sorted({s.dataset for s in samples if s.task == SCORE_TASK})
        for mode in self.eval_modes:
            for d in datasets:
                names += [f"{d}/{mode}/{m}" for m in ("srcc", "plcc", "srcc_prob", "plcc_prob", "fail")]
        names += ["srcc", "plcc"] if datasets else []
        perception = _cap(
            [s for s in samples if s.task != SCORE_TASK], lambda s: s.task, settings.max_samples
        )
        tasks = {s.task for s in perception}
        if description_outcomes(perception, [0.0] * len(perception)):
            tasks.add("description")
        return names + [f"perception/{t}" for t in sorted(tasks)]

    def task_record(self, manifest: str, samples: Sequence[QualitySample]) -> dict[str, Any]:
        """The manifest's task.json (kind, source, MOS scales) and the question types trained on (`tasks`);
        `rarl score` reads the record's prompt mode back."""
        return {**load_quality_task(manifest), "tasks": sorted({s.task for s in samples})}

    def write_report(
        self,
        out: Path,
        results: Mapping[str, Any],
        *,
        title: str,
        curves: Mapping[str, LogSource] | None = None,
        settings: Any = None,
    ) -> str:
        """results.json and report.md in the paper's Table 3 (and Tables 1-2) layout; returns the tables."""
        table = write_quality_report(
            out,
            results,
            title=title,
            curves=curves,
            n_boot=getattr(settings, "n_boot", 1000),
            seed=getattr(settings, "seed", 0),
        )
        print(table)
        return table

    def prepare_sources(self) -> dict[str, Any]:
        """`rarl prepare` sources: the IQA datasets (scoring) and refine-perception (stage 1)."""
        return {**dict.fromkeys(QUALITY_SOURCES, _prepare_scoring), "refine-perception": _prepare_perception}

    def ablations(self) -> Any:
        """The recipe's ablation plan (Tables 5-6) for `rarl ablate`."""
        return ABLATIONS

    def demo(
        self, out: str | Path, size: str = "default", seed: int = 0, base: str | Path = "shipped"
    ) -> dict[str, Any]:
        """The CPU demo: the shipped base, synthetic quality task, base vs SFT vs Refine-IQA."""
        return run_demo(out, size=size, seed=seed, base=base)

    def build_base(self, out: str | Path, spec: str = "default", seed: int = 0) -> Path:
        """The demo's base: a tiny Qwen2.5-VL trained on perception questions, then think-mode scoring."""
        return build_quality_base(out, spec, seed=seed)

    def corpus(self, manifest: str, split: str = "train", limit: int = 400) -> list[str]:
        """Prompts and reference answers of up to `limit` samples: text for the tiny model's tokenizer."""
        out: list[str] = []
        for sample in self.load_samples(manifest, split)[:limit]:
            for mode in MODES:
                out.append(prompt_text(sample, mode))
                out.append(reference_text(sample, mode))
        return out


def _prepare_scoring(source: str, out: Path, *, sizes: Any = None, **kwargs: Any) -> Any:
    """`prepare_quality` behind the uniform prepare signature (`sizes` does not apply: one image each)."""
    return prepare_quality(source, out, **kwargs)


def _prepare_perception(source: str, out: Path, *, sizes: Any = None, **kwargs: Any) -> Any:
    """`prepare_perception` behind the uniform prepare signature."""
    return prepare_perception(source, out, **kwargs)
