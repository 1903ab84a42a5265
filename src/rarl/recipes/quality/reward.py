"""The Refine-IQA batch reward with a per-task dispatch (`reward.name: refine-iqa`).

One batch may mix tasks (stage 1 mixes the perception tasks at random); each row is scored by its own task:

    score        (stage 2)  Eq. 1-5 through `QualityScoreReward` ("refine-iqa-score"): answer, format,
                            probability difference, passed, think_chars
    distortion,             multiple choice: 1 if the answer names the right option (its letter, "B. noise",
    severity, object        or the option text, any case), else 0
    grounding               IoU of the answered box `[x1, y1, x2, y2]` with the ground truth (0 when no box
                            parses); `rarl.rewards.localization.pairwise_overlap`

Targets are `recipe.target(sample)`: the MOS (a float) for scoring rows, a dict with `task` for the others.
Components (NaN on rows a component does not apply to): the scoring reward's, plus `choice` (choice rows),
`iou` (grounding rows), `perception_format` (1 where a perception answer block parsed) and `task/<name>` (the
reward of each task's rows, to see each task's curve in a mixed batch). The perception rows' total is the task
reward alone, as in the paper ("the model receives a reward 1 only if its output matches the correct
answer"; grounding "is computed as the IoU").

Reward settings (`reward.kwargs`, each stage's `reward_kwargs`) go to the scoring reward (`epsilon`,
`weights`, `digit_weights`, `pd`, `think_mode`, `ref_mode`, `ref_template`).
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

import numpy as np
import torch

from rarl.recipes.quality.prompts import LETTERS
from rarl.recipes.quality.samples import CHOICE_TASKS, PERCEPTION_TASKS
from rarl.rewards.batch import RewardInputs, RewardOutput
from rarl.rewards.localization import pairwise_overlap
from rarl.rewards.probability_difference import QualityScoreReward
from rarl.rewards.registry import register_reward
from rarl.rewards.tags import answer_content

log = logging.getLogger("rarl")

REWARD_NAME = "refine-iqa"
MAX_ANSWER_CHARS = 200
_NUMBER = r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*"
_BOX = re.compile(r"\s*\[" + ",".join([_NUMBER] * 4) + r"\]\s*", re.ASCII)
_LETTER = re.compile(r"\s*\(?([A-Za-z])\)?(?:[.:)]\s*(.*?))?\s*", re.DOTALL)

__all__ = [
    "REWARD_NAME",
    "QualityTaskReward",
    "answer_block",
    "choice_reward",
    "grounding_reward",
    "parse_box",
]


def answer_block(completion: object) -> str | None:
    """The content of the only `<answer>..</answer>` block (None when there is not exactly one, or when it is
    longer than `MAX_ANSWER_CHARS`); `rarl.rewards.tags.answer_content`."""
    return answer_content(completion, MAX_ANSWER_CHARS)


def choice_index(completion: object, options: list[str]) -> int | None:
    """The option index the answer block names (a letter, "B. text", or an option's text), or None."""
    content = answer_block(completion)
    if content is None:
        return None
    lowered = [o.strip().lower() for o in options]
    text = content.strip().lower()
    if text in lowered:
        return lowered.index(text)
    match = _LETTER.fullmatch(content)
    if match is None:
        return None
    k = LETTERS.find(match.group(1).upper())
    if not 0 <= k < len(options):
        return None
    rest = (match.group(2) or "").strip().lower().rstrip(".")
    if rest and rest != lowered[k]:
        return None  # "B. blur" when B is noise: contradictory, not an answer
    return k


def choice_reward(completion: object, options: list[str], answer: int) -> float:
    """1.0 if the answer block names option `answer`, else 0.0. Never raises on the completion."""
    return 1.0 if choice_index(completion, options) == answer else 0.0


def parse_box(completion: object) -> tuple[float, float, float, float] | None:
    """The box `[x1, y1, x2, y2]` in the answer block (finite, x1 < x2 and y1 < y2), or None."""
    content = answer_block(completion)
    if content is None:
        return None
    match = _BOX.fullmatch(content)
    if match is None:
        return None
    x1, y1, x2, y2 = (float(v) for v in match.groups())
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)) or not (x1 < x2 and y1 < y2):
        return None
    return x1, y1, x2, y2


def grounding_reward(completion: object, box: list[float]) -> float:
    """IoU of the answered box with `box` (0.0 when none parses). Never raises on the completion."""
    pred = parse_box(completion)
    if pred is None:
        return 0.0
    return float(pairwise_overlap(np.array([pred]), np.array([box], dtype=np.float64))[0, 0])


@register_reward(REWARD_NAME)
class QualityTaskReward:
    """Per-task dispatch over a mixed batch (see the module docstring)."""

    def __init__(self, **score_kwargs: Any) -> None:
        self.score_reward = QualityScoreReward(**score_kwargs)

    def __call__(self, inputs: RewardInputs) -> RewardOutput:
        n = len(inputs.texts)
        totals = [0.0] * n
        comps: dict[str, list[float]] = {}
        errors = 0

        def put(name: str, row: int, value: float) -> None:
            comps.setdefault(name, [math.nan] * n)[row] = value

        score_rows = [r for r, t in enumerate(inputs.targets) if not isinstance(t, dict)]
        if score_rows:
            sub = RewardInputs(
                samples=[inputs.samples[r] for r in score_rows],
                targets=[inputs.targets[r] for r in score_rows],
                texts=[inputs.texts[r] for r in score_rows],
                step=inputs.step,
                stage=inputs.stage,
                progress=inputs.progress,
                scorer=inputs.scorer,
            )
            out = self.score_reward(sub)
            errors += out.errors
            for i, r in enumerate(score_rows):
                totals[r] = float(out.totals[i])
                put("task/score", r, totals[r])
                for name, values in out.components.items():
                    put(name, r, float(values[i]))
        for r, target in enumerate(inputs.targets):
            if not isinstance(target, dict):
                continue
            task = target.get("task")
            text = inputs.texts[r]
            try:
                if task in CHOICE_TASKS:
                    value = choice_reward(text, list(target["options"]), int(target["answer"]))
                    put("choice", r, value)
                elif task == "grounding":
                    value = grounding_reward(text, list(target["box"]))
                    put("iou", r, value)
                else:
                    raise ValueError(f"unknown task {task!r}; expected one of {PERCEPTION_TASKS}")
                put("perception_format", r, 0.0 if answer_block(text) is None else 1.0)
            except (KeyError, TypeError, ValueError) as e:
                errors += 1
                log.warning("refine-iqa reward: %s on row %d (task %r); scored 0", e, r, task)
                value = 0.0
            totals[r] = value
            put(f"task/{task}", r, value)
        comps.setdefault("passed", [math.nan] * n)  # the refine_iqa estimator's condition (NaN: not scored)
        return RewardOutput(torch.tensor(totals), {k: torch.tensor(v) for k, v in comps.items()}, errors)
