"""Refine-IQA prompts and reference answers, in the "think" and "no_think" modes.

The paper's prompts are in its supplement, which we do not have; these are ours, written to its
description:

- scoring, think (stage 2): think first in `<think>..</think>`, then the score on [0, 5) with two decimals
  in `<answer>..</answer>` (the format `rarl.rewards.quality.score_format_reward` checks);
- scoring, no_think (the PD reference and the "w/o think" evaluation): the score alone in `<answer>..</answer>`,
  the fixed output the PD reward's reference is read from (`<answer>3.27</answer>`);
- perception (stage 1, usually no_think): a multiple-choice question answered with the option's letter, or a
  box `[x1, y1, x2, y2]` in pixels of the image, in `<answer>..</answer>`; full-reference questions say that
  the first image is the undistorted original.

Reference answers (the SFT target and RMO's injected answer) follow the same format; the think text of a
scoring reference is a short sentence naming the quality level the MOS falls in, the only "reasoning" the
labels support.
"""

from __future__ import annotations

from rarl.recipes.quality.distortions import SEVERITY_NAMES
from rarl.recipes.quality.samples import SCORE_TASK, QualitySample
from rarl.rewards.quality import format_score

THINK = "think"
NO_THINK = "no_think"
MODES: tuple[str, ...] = (THINK, NO_THINK)
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

QUALITY_LEVELS: tuple[str, ...] = ("bad", "poor", "fair", "good", "excellent")
"""Level of each unit interval of the [0, 5) scale (Q-Align's five levels)."""

SCORE_QUESTION = (
    "What is your overall rating on the quality of this picture? The rating should be a float between 0 and 5, "
    "rounded to two decimal places, with 0 representing very poor quality and 5 representing excellent quality."
)
THINK_SUFFIX = (
    " First output the thinking process in <think> </think> tags and then output the final answer with only "
    "the score in <answer> </answer> tags."
)
NO_THINK_SUFFIX = " Output only the final answer with the score in <answer> </answer> tags."
CHOICE_SUFFIX = {
    THINK: " First output the thinking process in <think> </think> tags and then output the letter of the "
    "right option in <answer> </answer> tags.",
    NO_THINK: " Output only the letter of the right option in <answer> </answer> tags.",
}
BOX_SUFFIX = {
    THINK: " First output the thinking process in <think> </think> tags and then output the box as "
    "[x1, y1, x2, y2] in pixels in <answer> </answer> tags.",
    NO_THINK: " Output only the box as [x1, y1, x2, y2] in pixels in <answer> </answer> tags.",
}
REFERENCE_INTRO = "The first image is the undistorted original and the second is a distorted version of it. "
QUESTIONS = {
    "distortion": "Which distortion has been applied to a region of the {which} image?",
    "severity": "How severe is the distortion applied to a region of the {which} image?",
    "object": "Which object of the {which} image has been distorted?",
    "grounding": "Locate the distorted region of the {which} image.",
}


def quality_level(mos: float) -> str:
    """The quality level word of a score on [0, 5)."""
    return QUALITY_LEVELS[min(max(int(mos), 0), len(QUALITY_LEVELS) - 1)]


def prompt_text(sample: QualitySample, mode: str) -> str:
    """The user text of `sample` in `mode` (after its image parts)."""
    if sample.task == SCORE_TASK:
        return SCORE_QUESTION + (THINK_SUFFIX if mode == THINK else NO_THINK_SUFFIX)
    which = "second" if sample.reference else "this"
    text = (REFERENCE_INTRO if sample.reference else "") + QUESTIONS[sample.task].format(which=which)
    if sample.task == "grounding":
        return text + BOX_SUFFIX[mode]
    choices = " ".join(f"{LETTERS[i]}. {opt}" for i, opt in enumerate(sample.options))
    return f"{text} Options: {choices}." + CHOICE_SUFFIX[mode]


def reference_text(sample: QualitySample, mode: str) -> str:
    """The ground-truth answer of `sample` written as the mode asks (SFT target, RMO injection)."""
    if sample.task == SCORE_TASK:
        score = format_score(float(sample.mos))  # type: ignore[arg-type]
        answer = f"<answer>{score}</answer>"
        if mode != THINK:
            return answer
        return f"<think>The overall quality of the image is {quality_level(float(score))}.</think>{answer}"
    if sample.task == "grounding":
        box = ", ".join(str(round(v)) for v in sample.box)  # type: ignore[union-attr]
        answer = f"<answer>[{box}]</answer>"
        why = "The distorted region is where the image differs from a clean rendering."
    else:
        answer = f"<answer>{LETTERS[sample.answer]}</answer>"  # type: ignore[index]
        detail = sample.options[sample.answer]  # type: ignore[index]
        why = f"The answer is {detail}."
    return f"<think>{why}</think>{answer}" if mode == THINK else answer


def severity_options() -> tuple[str, ...]:
    """The severity candidates, in order."""
    return tuple(SEVERITY_NAMES)
