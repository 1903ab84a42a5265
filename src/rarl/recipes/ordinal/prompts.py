"""Prompts of the paper's Table 1, chat messages for N images, and ground-truth answer texts.

The system and instruct prompts are verbatim from Table 1, with `[Rule]` and `[Value_Range]` filled in
from the task. Choices where the paper is silent:
- each image part is preceded by a text part "Image i:" (i = 1..N, presentation order), so the image_id
  the model must write is unambiguous; the instruct text follows the last image;
- the ground-truth answer is `<think>T</think><answer>[...]</answer>` with no whitespace between the
  blocks, entries sorted ascending by value (ties by image_id), values written at the task's precision
  in the single-quote style of the prompt: `[{'image_id': 2, 'value': 23}, {'image_id': 1, 'value': 41}]`;
- the default think text T is one short fixed sentence (a tiny model has to generate it in the demo).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from rarl.recipes.ordinal.schema import OrdinalSample, OrdinalTask

if TYPE_CHECKING:
    from PIL import Image

SYSTEM_PROMPT = (
    "The user asks a question, and the Assistant solves it. The assistant first thinks about the reasoning "
    "process in the mind and then provides the user with the answer. The reasoning process and answer are "
    "enclosed within <think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning "
    "process here </think> <answer> answer here </answer>."
)
"""Table 1, system prompt."""

INSTRUCT_TEMPLATE = (
    "Analyze each image to determine the [Rule], and if there are multiple images, sort them in ascending "
    "order of [Rule]. Output the results as a JSON list of dictionaries in this format: "
    "[{'image_id': number, 'value': value}, ...], where value is the [Rule] ([Value_Range]). Ensure the "
    "list is sorted correctly with strictly followed syntax."
)
"""Table 1, instruct prompt, with its `[Rule]` and `[Value_Range]` placeholders."""

IMAGE_LABEL = "Image {i}:"
"""Text part placed before the i-th image (1-based)."""

THINK_SINGLE = "Estimate the {rule} in the image."
THINK_MULTI = "Compare the {rule} of each image and sort them in ascending order."
MAX_IMAGES = 8


def instruct_prompt(task: OrdinalTask) -> str:
    """Table 1's instruct prompt with `[Rule]` and `[Value_Range]` filled in from `task`."""
    return INSTRUCT_TEMPLATE.replace("[Rule]", task.rule).replace("[Value_Range]", task.range_text())


def build_messages(
    sample: OrdinalSample, images: Sequence[Image.Image | str] | None = None
) -> list[dict[str, Any]]:
    """HF chat messages: the system prompt, then one user turn "Image 1:" <img> ... "Image N:" <img> <instruct>.

    Image parts are `{"type": "image", "image": x}` with x the given PIL images (or paths), by default the
    sample's image paths; this is the structure `processor.apply_chat_template` expects.
    """
    if images is None:
        images = sample.image_paths
    if len(images) != sample.n:
        raise ValueError(f"sample {sample.sample_id}: {sample.n} items but {len(images)} images given")
    content: list[dict[str, Any]] = []
    for i, image in enumerate(images, 1):
        content.append({"type": "text", "text": IMAGE_LABEL.format(i=i)})
        content.append({"type": "image", "image": image})
    content.append({"type": "text", "text": instruct_prompt(sample.task)})
    return [
        {"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]},
        {"role": "user", "content": content},
    ]


def default_think(sample: OrdinalSample) -> str:
    """The short fixed reasoning text used in ground-truth answers."""
    template = THINK_SINGLE if sample.n == 1 else THINK_MULTI
    return template.format(rule=sample.task.rule)


def format_answer_list(task: OrdinalTask, entries: Iterable[tuple[int, float]]) -> str:
    """`[{'image_id': i, 'value': v}, ...]` for (image_id, value) pairs, in the given order."""
    body = ", ".join(f"{{'image_id': {i}, 'value': {task.format_value(v)}}}" for i, v in entries)
    return f"[{body}]"


def answer_text(sample: OrdinalSample, think: str | None = None) -> str:
    """The ground-truth completion: `<think>...</think><answer>[...]</answer>`, ascending by value."""
    task = sample.task
    entries = sorted(
        ((i, task.quantize(label)) for i, label in enumerate(sample.labels, 1)), key=lambda e: (e[1], e[0])
    )
    think = default_think(sample) if think is None else think
    return f"<think>{think}</think><answer>{format_answer_list(task, entries)}</answer>"


def prompt_corpus(tasks: Iterable[OrdinalTask], max_images: int = MAX_IMAGES) -> list[str]:
    """Every fixed string the prompts and answers are built from, for training a tiny tokenizer.

    The system prompt; per task its instruct prompt, both think texts and an answer with values spread
    over the range; the "Image i:" labels; the digits and answer punctuation.
    """
    corpus = [SYSTEM_PROMPT]
    corpus.extend(IMAGE_LABEL.format(i=i) for i in range(1, max_images + 1))
    for task in tasks:
        corpus.append(instruct_prompt(task))
        corpus.append(THINK_SINGLE.format(rule=task.rule))
        corpus.append(THINK_MULTI.format(rule=task.rule))
        k = max(2, max_images)
        values = [task.lo + (task.hi - task.lo) * j / (k - 1) for j in range(k)]
        answer = format_answer_list(task, zip(range(1, k + 1), values, strict=True))
        corpus.append(f"<think>{THINK_MULTI.format(rule=task.rule)}</think><answer>{answer}</answer>")
    corpus.append("<think></think><answer></answer>")
    corpus.append("[{'image_id': , 'value': }, ]")
    corpus.append("0 1 2 3 4 5 6 7 8 9 . - 0123456789")
    return corpus
