"""Prompts (paper Table 1), chat messages for N images, and ground-truth answers."""

from __future__ import annotations

import ast
import re

import pytest

from rarl.model.tiny import default_corpus
from rarl.recipes.ordinal.prompts import (
    INSTRUCT_TEMPLATE,
    SYSTEM_PROMPT,
    answer_text,
    build_messages,
    instruct_prompt,
    prompt_corpus,
)
from rarl.recipes.ordinal.readers.ava import AVA_TASK
from rarl.recipes.ordinal.readers.utkface import UTKFACE_TASK
from rarl.recipes.ordinal.schema import OrdinalItem, OrdinalSample
from rarl.recipes.ordinal.synthetic import synthetic_task

TABLE1_SYSTEM = (
    "The user asks a question, and the Assistant solves it. The assistant first thinks about the reasoning "
    "process in the mind and then provides the user with the answer. The reasoning process and answer are "
    "enclosed within <think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning "
    "process here </think> <answer> answer here </answer>."
)


def sample(task, labels, sid="s"):
    return OrdinalSample(sid, task, tuple(OrdinalItem(f"/img/{i}.jpg", v) for i, v in enumerate(labels, 1)))


def test_table1_prompts_verbatim():
    assert SYSTEM_PROMPT == TABLE1_SYSTEM
    assert instruct_prompt(UTKFACE_TASK) == (
        "Analyze each image to determine the age of the person, and if there are multiple images, sort them "
        "in ascending order of age of the person. Output the results as a JSON list of dictionaries in this "
        "format: [{'image_id': number, 'value': value}, ...], where value is the age of the person (0-116). "
        "Ensure the list is sorted correctly with strictly followed syntax."
    )
    assert "where value is the aesthetic score of the photo (1-10)." in instruct_prompt(AVA_TASK)


def test_build_messages_structure():
    s = sample(UTKFACE_TASK, [41, 23, 60])
    msgs = build_messages(s)
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert msgs[0]["content"] == [{"type": "text", "text": TABLE1_SYSTEM}]
    content = msgs[1]["content"]
    assert [p["type"] for p in content] == ["text", "image"] * 3 + ["text"]
    assert [p["text"] for p in content[:-1:2]] == ["Image 1:", "Image 2:", "Image 3:"]
    assert [p["image"] for p in content[1::2]] == ["/img/1.jpg", "/img/2.jpg", "/img/3.jpg"]
    assert content[-1]["text"] == instruct_prompt(UTKFACE_TASK)
    images = ["A", "B", "C"]
    assert [p["image"] for p in build_messages(s, images)[1]["content"][1::2]] == images
    with pytest.raises(ValueError, match="3 items but 2 images"):
        build_messages(s, images[:2])


def test_answer_text_sorted_ascending_with_precision():
    s = sample(UTKFACE_TASK, [41, 23, 60])
    assert answer_text(s) == (
        "<think>Compare the age of the person of each image and sort them in ascending order.</think>"
        "<answer>[{'image_id': 2, 'value': 23}, {'image_id': 1, 'value': 41}, {'image_id': 3, 'value': 60}]"
        "</answer>"
    )
    ava = sample(AVA_TASK, [5.635, 4.2, 7.0])
    assert answer_text(ava, think="t") == (
        "<think>t</think><answer>[{'image_id': 2, 'value': 4.20}, {'image_id': 1, 'value': 5.64}, "
        "{'image_id': 3, 'value': 7.00}]</answer>"
    )
    ties = sample(UTKFACE_TASK, [30, 20, 30])
    assert "[{'image_id': 2, 'value': 20}, {'image_id': 1, 'value': 30}, {'image_id': 3, 'value': 30}]" in (
        answer_text(ties)
    )
    one = sample(UTKFACE_TASK, [7])
    assert answer_text(one) == (
        "<think>Estimate the age of the person in the image.</think>"
        "<answer>[{'image_id': 1, 'value': 7}]</answer>"
    )


@pytest.mark.parametrize("task", [UTKFACE_TASK, AVA_TASK, synthetic_task("count")])
def test_answer_parses_and_matches_labels(task):
    labels = [task.lo + (task.hi - task.lo) * f for f in (0.9, 0.1, 0.5, 0.3)]
    s = sample(task, labels)
    text = answer_text(s)
    m = re.fullmatch(r"<think>(.+)</think><answer>(.+)</answer>", text)
    assert m is not None
    parsed = ast.literal_eval(m.group(2))  # JSON-like with single quotes, as in the prompt
    assert [e["image_id"] for e in parsed] == [2, 4, 3, 1]
    assert [e["value"] for e in parsed] == sorted(task.quantize(v) for v in labels)


def test_answer_scores_full_marks_with_reward_if_available():
    rewards = pytest.importorskip("rarl.rewards")
    if not hasattr(rewards, "RankingAwareReward"):
        pytest.skip("rarl.rewards.RankingAwareReward not available yet")
    for task in (UTKFACE_TASK, AVA_TASK):
        labels = [task.quantize(task.lo + (task.hi - task.lo) * f) for f in (0.7, 0.2, 0.45)]
        s = sample(task, labels)
        r = rewards.RankingAwareReward(delta=task.delta, value_range=task.value_range).score(
            answer_text(s), labels
        )
        for name in ("regression", "length", "consistency", "accuracy", "format"):
            assert getattr(r, name) == pytest.approx(1.0), (task.name, name, r)


def test_prompt_corpus_covers_strings():
    tasks = [UTKFACE_TASK, AVA_TASK]
    corpus = prompt_corpus(tasks)
    assert SYSTEM_PROMPT in corpus and "Image 8:" in corpus
    assert all(instruct_prompt(t) in corpus for t in tasks)
    text = " ".join(corpus)
    for piece in ("<think>", "</answer>", "'image_id'", "'value'", "0123456789", "116", "10.00"):
        assert piece in text
    s = sample(AVA_TASK, [5.5, 6.25])
    assert set(answer_text(s)) <= set(text)  # every character of an answer occurs in the corpus


def test_the_tiny_tokenizer_corpus_holds_table1_as_the_recipe_writes_it():
    """The offline tiny tokenizer (an engine asset every recipe's tiny model shares, so it cannot read the
    recipe) is trained on Table 1's prompts; its copy must say what the recipe's prompts say."""
    corpus = list(default_corpus(0))
    assert SYSTEM_PROMPT in corpus
    age = INSTRUCT_TEMPLATE.replace("[Rule]", "age of the person").replace("[Value_Range]", "0-116")
    assert age in corpus
