"""The Vision-R1 batch reward: `localization_reward` (Eq. 3-8) on every row, with the staged progression.

    reward = build_localization_reward({"step_fraction": 0.5, "matcher": "box_only"})   # reward.name: vision-r1
    out = reward(RewardInputs(samples, targets, texts, progress=0.6, ...))
    out.totals                      # [R] w_format * format + w_recall * recall + w_precision * precision
    out.components["xi0"]           # [R] 0.75 here: past half of the run, the advanced thresholds apply

Each row's target is the recipe's `target(sample)`: a JSON-ready dict with the ground-truth boxes mapped
into the frame the model sees, their labels, the allowed categories and that frame's (width, height).

Settings (config `reward.kwargs`, overridden per stage by `stages[i].reward_kwargs`):

- `xi0`, `xi1`, `xi2`: fixed thresholds (Eq. 5, 6, 8). Absent: the initial phase's (0.5, 0.5, 0.75).
- `step_fraction`: the paper's STEP as a fraction of the whole run (Sec. 3.3, Table 5): the thresholds are
  `staged_thresholds(progress, step_fraction)`, i.e. (0.5, 0.5, 0.75) before it and (0.75, 0.75, 0.9) from
  it on, where `progress` is the fraction of the run's optimizer steps done before the batch. 1 never
  switches (the paper's best for Qwen2.5-VL-7B). It cannot be combined with explicit `xi*`. The same
  schedule can be written as two stages whose `reward_kwargs` give the two threshold sets, e.g.
  `stages: [{name: beginner, steps: 500, reward_kwargs: {xi0: 0.5, xi1: 0.5, xi2: 0.75}},
  {name: advanced, steps: 500, reward_kwargs: {xi0: 0.75, xi1: 0.75, xi2: 0.9}}]` (STEP = 1/2).
- `differentiation`, `matcher` ("box_only" | "box_and_label", Table 3), `overlap` ("iou" | "giou"),
  `precision_over` ("predictions" | "matched"), `weights` (w_format, w_recall, w_precision): passed to
  `localization_reward` as they are (see `rarl.rewards.localization`).
- `count_weight` (default 0): adds `count_weight * count`, where `count` is 1 when the answer parses and
  lists exactly as many boxes as the ground truth. The paper's Table 4 "precision only" row replaces the
  recall reward by this binary prediction-count reward (`weights: [1, 0, 1], count_weight: 1`).

Logged components (`reward/<name>`): format, recall, precision, count, num_predictions, num_matched,
true_positives, xi0. A target that cannot be scored (a recipe bug) scores 0 in every component and is
counted in `errors`, as `PerCompletionReward` does; no completion string can make the reward raise.

Name: registered as `reward.name: vision-r1` (`rarl.rewards.REWARDS`), which is what the `vision-r1`
recipe builds. TRL and verl reach the same scoring through `rarl.integrations` (`make_trl_localization_reward`,
`compute_localization_score`).

Frame guard: when the trainer passes a scorer (it always does), the reward checks once per frame size
that the policy's image processor keeps the recipe's frame as it is (its pixel budget contains the frame);
otherwise the model would answer in another frame than the one the reward scores in, and the run stops
with a ConfigError naming both frames and the setting to change.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from rarl.data.boxes import resized_frame
from rarl.rewards.batch import RewardInputs, RewardOutput, build_reward
from rarl.rewards.localization import (
    BEGINNER_THRESHOLDS,
    LocalizationBreakdown,
    localization_reward,
    staged_thresholds,
)
from rarl.rewards.registry import register_reward
from rarl.utils.config import ConfigError

log = logging.getLogger("rarl")

__all__ = [
    "COMPONENTS",
    "REWARD_NAME",
    "LocalizationBatchReward",
    "build_localization_reward",
    "processor_budget",
]

REWARD_NAME = "vision-r1"
"""`reward.name` under which the recipe builds this reward."""

COMPONENTS = (
    "format",
    "recall",
    "precision",
    "count",
    "num_predictions",
    "num_matched",
    "true_positives",
    "xi0",
)


def build_localization_reward(settings: Mapping[str, Any] | None = None) -> LocalizationBatchReward:
    """The reward from config settings; a bad setting is a one-line ConfigError naming it."""
    reward = build_reward(REWARD_NAME, settings)
    assert isinstance(reward, LocalizationBatchReward)
    return reward


def processor_budget(processor: Any) -> tuple[int, int, int] | None:
    """(min_pixels, max_pixels, factor) of a Qwen2.5-VL processor (or its image processor); None if unknown.

    `factor` is patch_size * merge_size (28 for Qwen2.5-VL): frame sides are multiples of it.
    """
    ip = getattr(processor, "image_processor", processor)
    size = getattr(ip, "size", None)
    get = size.get if isinstance(size, Mapping) else (lambda k, d=None: getattr(size, k, d))
    lo = get("shortest_edge", None) or getattr(ip, "min_pixels", None)
    hi = get("longest_edge", None) or getattr(ip, "max_pixels", None)
    patch, merge = getattr(ip, "patch_size", None), getattr(ip, "merge_size", None)
    if not all(isinstance(v, int) and v > 0 for v in (lo, hi, patch, merge)):
        return None
    return int(lo), int(hi), int(patch) * int(merge)  # type: ignore[arg-type]


def seen_frame(frame: Sequence[int], budget: tuple[int, int, int]) -> tuple[int, int]:
    """The frame the processor makes of an image already resized to `frame` (equal when the budget holds it)."""
    lo, hi, factor = budget
    return resized_frame(int(frame[0]), int(frame[1]), lo, hi, factor)


@register_reward(REWARD_NAME)
class LocalizationBatchReward:
    """Vision-R1's criterion-driven reward over a batch (see the module docstring for the settings)."""

    def __init__(
        self,
        xi0: float | None = None,
        xi1: float | None = None,
        xi2: float | None = None,
        step_fraction: float | None = None,
        differentiation: bool = True,
        matcher: str = "box_only",
        overlap: str = "iou",
        precision_over: str = "predictions",
        weights: Sequence[float] = (1.0, 1.0, 1.0),
        count_weight: float = 0.0,
    ) -> None:
        explicit = {k: v for k, v in (("xi0", xi0), ("xi1", xi1), ("xi2", xi2)) if v is not None}
        if step_fraction is not None and explicit:
            raise ConfigError(
                f"vision-r1 reward: give either step_fraction ({step_fraction}) or fixed thresholds "
                f"{sorted(explicit)}, not both"
            )
        if step_fraction is not None:  # out of [0, 1]: ValueError, a ConfigError through build_reward
            staged_thresholds(0.0, step_fraction)
        if (
            isinstance(count_weight, bool)
            or not isinstance(count_weight, (int, float))
            or not (math.isfinite(count_weight) and count_weight >= 0)
        ):
            raise ConfigError(f"vision-r1 reward: count_weight must be a number >= 0, got {count_weight!r}")
        base = dict(zip(("xi0", "xi1", "xi2"), BEGINNER_THRESHOLDS, strict=True))
        self.fixed = {**base, **explicit} if step_fraction is None else None
        self.step_fraction = step_fraction
        self.count_weight = float(count_weight)
        self.options: dict[str, Any] = {
            "differentiation": bool(differentiation),
            "matcher": matcher,
            "overlap": overlap,
            "precision_over": precision_over,
            "weights": tuple(weights),
        }
        # every argument checked once, on a trivial case (localization_reward raises ValueError on bad ones)
        localization_reward("[]", [], [], ["x"], (1, 1), **self.thresholds(0.0), **self.options)
        self._checked_frames: set[tuple[int, int]] = set()
        self._budget: tuple[int, int, int] | None = None

    def __repr__(self) -> str:
        when = f"step_fraction={self.step_fraction}" if self.fixed is None else f"{self.fixed}"
        return f"LocalizationBatchReward({when}, {self.options}, count_weight={self.count_weight})"

    def thresholds(self, progress: float) -> dict[str, float]:
        """{xi0, xi1, xi2} at `progress` (fraction of the run done)."""
        if self.fixed is not None:
            return dict(self.fixed)
        xi0, xi1, xi2 = staged_thresholds(min(1.0, max(0.0, float(progress))), float(self.step_fraction))  # type: ignore[arg-type]
        return {"xi0": xi0, "xi1": xi1, "xi2": xi2}

    def score_one(self, text: str, target: Mapping[str, Any], progress: float = 0.0) -> LocalizationBreakdown:
        """One completion against one target (the recipe's `target(sample)`).

        Not named `score`: `build_reward` (plug-in path) would then adapt it per completion and drop `progress`.
        """
        return localization_reward(
            text,
            target["boxes"],
            target["labels"],
            target["categories"],
            tuple(target["frame"]),  # type: ignore[arg-type]
            **self.thresholds(progress),
            **self.options,
        )

    def __call__(self, inputs: RewardInputs) -> RewardOutput:
        self._check_frames(inputs)
        xi = self.thresholds(inputs.progress)
        rows: list[dict[str, float]] = []
        totals: list[float] = []
        errors = 0
        for text, target in zip(inputs.texts, inputs.targets, strict=True):
            try:
                b = self.score_one(text, target, inputs.progress)
                n_gt = len(target["boxes"])
            except Exception as e:  # a malformed target must not end a long run
                errors += 1
                log.warning("vision-r1 reward raised %s on a target (%s); scored 0", type(e).__name__, e)
                rows.append(dict.fromkeys(COMPONENTS, 0.0))
                totals.append(0.0)
                continue
            # parsed with exactly G entries; for G = 0 only the parsed empty list has recall 1
            count = float(b.num_predictions == n_gt and (n_gt > 0 or b.recall == 1.0))
            rows.append(
                {
                    "format": b.format,
                    "recall": b.recall,
                    "precision": b.precision,
                    "count": count,
                    "num_predictions": float(b.num_predictions),
                    "num_matched": float(b.num_matched),
                    "true_positives": float(b.num_true_positives),
                    "xi0": xi["xi0"],
                }
            )
            totals.append(b.total + self.count_weight * count)
        components = {name: torch.tensor([r[name] for r in rows], dtype=torch.float32) for name in COMPONENTS}
        return RewardOutput(torch.tensor(totals, dtype=torch.float32), components, errors)

    def _check_frames(self, inputs: RewardInputs) -> None:
        """ConfigError when the policy's processor would show a target's frame at another size."""
        scorer = inputs.scorer
        policy = getattr(scorer, "policy", None)
        processor = getattr(policy, "processor", None)
        if processor is None:
            return
        if self._budget is None:
            self._budget = processor_budget(processor)
            if self._budget is None:
                return
        for target in inputs.targets:
            try:
                frame = tuple(int(v) for v in target["frame"])
            except (KeyError, TypeError, ValueError):
                continue  # a malformed target: scored 0 and counted in errors by __call__
            if frame in self._checked_frames:
                continue
            seen = seen_frame(frame, self._budget)
            if seen != frame:
                lo, hi, _ = self._budget
                raise ConfigError(
                    f"the model's image processor (min_pixels {lo}, max_pixels {hi}) shows a "
                    f"{frame[0]}x{frame[1]} frame as {seen[0]}x{seen[1]}, so rewards would be scored in the wrong "
                    "frame: set model.min_pixels/max_pixels to the manifest's task.json min_pixels/max_pixels "
                    "(or prepare the data with the model's budget)"
                )
            self._checked_frames.add(frame)  # type: ignore[arg-type]
