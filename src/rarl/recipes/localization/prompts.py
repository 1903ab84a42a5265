"""Vision-R1 prompts and reference answers for Qwen2.5-VL.

The prompts are the paper's training and evaluation templates for Qwen2.5-VL (Table 8 of the arXiv version,
2503.18013; the appendix is not in shared/papers):

- object detection: "Locate every item from the category list in the image and output the coordinates in
  JSON format. The category set includes {category list}." The list is joined with ", " in the sample's
  order (COCO: the category id order, as the authors' evaluation lists the 80 names).
- visual grounding and referring expressions share one template: "Locate every {category} in the image and
  output the coordinates in JSON format." with the phrase in place of {category}.
- negative samples are asked exactly like detection (the right answer is `[]`).

The paper's Qwen prompts have no reasoning; mode `think` (an option of this recipe, not in the paper)
appends an instruction to reason in `<think>...</think>` and give the list in `<answer>...</answer>`, which
the reward's parser accepts.

Reference answers (SFT targets, RMO injections) are what Qwen2.5-VL itself writes for grounding: a fenced
JSON list, one object per line, `{"bbox_2d": [x1, y1, x2, y2], "label": ...}`, integer pixels of the frame the
model sees. Corners are rounded to the nearest pixel and kept inside the frame with x1 < x2 and y1 < y2.
Boxes are listed in reading order (top to bottom, then left to right), which gives the model one canonical
order to learn. In `think` mode the list is preceded by a short fixed `<think>` that counts the objects.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rarl.recipes.base import Conversation
from rarl.recipes.localization.samples import LocalizationSample

__all__ = [
    "DETECTION_TEMPLATE",
    "GROUNDING_TEMPLATE",
    "THINK_SUFFIX",
    "answer_json",
    "prompt_text",
    "reference_text",
    "round_box",
    "user_turn",
]

DETECTION_TEMPLATE = (
    "Locate every item from the category list in the image and output the coordinates in JSON format. "
    "The category set includes {categories}."
)
GROUNDING_TEMPLATE = "Locate every {phrase} in the image and output the coordinates in JSON format."
THINK_SUFFIX = (
    " First think about the objects and their positions inside <think> </think>, then give the JSON list "
    "inside <answer> </answer>."
)


def prompt_text(kind: str, categories: Sequence[str], phrase: str | None, think: bool = False) -> str:
    """The user instruction for one sample (see the module docstring)."""
    if kind == "grounding":
        text = GROUNDING_TEMPLATE.format(phrase=phrase)
    else:
        text = DETECTION_TEMPLATE.format(categories=", ".join(categories))
    return text + THINK_SUFFIX if think else text


def user_turn(sample: LocalizationSample, think: bool = False) -> Conversation:
    """One user turn: the frame-sized image, then the paper's instruction (`think`: with `THINK_SUFFIX`)."""
    text = prompt_text(sample.kind, sample.categories, sample.phrase, think=think)
    return [
        {
            "role": "user",
            "content": [{"type": "image", "image": sample.frame_image()}, {"type": "text", "text": text}],
        }
    ]


def round_box(box: Sequence[float], frame: tuple[int, int]) -> list[int]:
    """`box` (x1, y1, x2, y2) as integer pixels inside the (width, height) frame, with x1 < x2, y1 < y2."""
    width, height = frame
    x1 = min(max(round(box[0]), 0), width - 1)
    y1 = min(max(round(box[1]), 0), height - 1)
    x2 = min(max(round(box[2]), x1 + 1), width)
    y2 = min(max(round(box[3]), y1 + 1), height)
    return [int(x1), int(y1), int(x2), int(y2)]


def answer_json(boxes: Sequence[Sequence[float]], labels: Sequence[str], frame: tuple[int, int]) -> str:
    """The fenced JSON list of `boxes` (frame pixels) in reading order, as Qwen2.5-VL writes it."""
    entries: list[dict[str, Any]] = [
        {"bbox_2d": round_box(b, frame), "label": lab} for b, lab in zip(boxes, labels, strict=True)
    ]
    entries.sort(key=lambda e: (e["bbox_2d"][1], e["bbox_2d"][0]))
    if not entries:
        return "```json\n[]\n```"
    lines = ",\n".join("\t" + json.dumps(e, ensure_ascii=False) for e in entries)
    return f"```json\n[\n{lines}\n]\n```"


def reference_text(
    boxes: Sequence[Sequence[float]], labels: Sequence[str], frame: tuple[int, int], think: bool = False
) -> str:
    """The reference answer: `answer_json`, wrapped in a short `<think>` and `<answer>` in think mode."""
    answer = answer_json(boxes, labels, frame)
    if not think:
        return answer
    n = len(boxes)
    thought = (
        "There is nothing to locate." if n == 0 else f"I see {n} object{'s' if n != 1 else ''} to locate."
    )
    return f"<think>{thought}</think>\n<answer>{answer}</answer>"
