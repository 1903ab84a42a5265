"""Answer parsing is linear in the completion and never recurses on nesting: hostile completions (a tag
repeated 16,000 times without its closing tag, many opening tags, long digit runs, deeply nested brackets in
the answer list) are read in milliseconds and parse to "no answer" without raising.

Before: the think-length component read `<think>(.*?)</think>` with a regex, quadratic on a completion of
repeated opening tags (16,000 `<think>`: 7.8 s in the issue, 14 s on a loaded 2-core machine); it now reads
the tags with `str.find` (`rarl.rewards.tags`).
"""

from __future__ import annotations

import time

import pytest

from rarl.recipes.quality.reward import QualityTaskReward, choice_index, parse_box
from rarl.rewards import parse_answer, parse_boxes
from rarl.rewards.batch import RewardInputs, build_reward
from rarl.rewards.quality import parse_score, score_format_reward
from rarl.rewards.tags import answer_content, think_answer_template, think_content

HOSTILE = {
    "think-open x16000": "<think>" * 16_000,
    "think-open x16000 then answer": "<think>" * 16_000 + "<answer>3.00</answer>",
    "answer-open x16000": "<answer>" * 16_000 + "[]</answer>",
    "close-before-open x8000": "</answer><answer>" * 8_000,
    "think blocks x16000": "<think>a</think>" * 16_000,
    "digits 100k": "<answer>" + "9" * 100_000 + "</answer>",
    "digits in a value": "<answer>[{'image_id': 1, 'value': " + "9" * 19_000 + "}]</answer>",
    "nested [ x50k": "<answer>" + "[" * 50_000 + "]" * 50_000 + "</answer>",
    "nested [ x9000 quoted": "<answer>" + "[" * 9_000 + "'a'" + "]" * 9_000 + "</answer>",
    "nested ( x9000": "<answer>[" + "(" * 9_000 + "1" + ")" * 9_000 + "]</answer>",
    "nested objects x9000": "<answer>[" + '{"a":' * 9_000 + "1" + "}" * 9_000 + "]</answer>",
    "unary minus x19000": "<answer>['a'," + "-" * 19_000 + "1]</answer>",
    "plus chain x9000": "<answer>['a', " + "1+" * 9_000 + "1]</answer>",
    "fences x16000": "```json\n" * 16_000,
    "spaces 100k": " " * 100_000,
}

PARSERS = {
    "parse_answer": lambda t: parse_answer(t, 2),
    "parse_boxes": lambda t: parse_boxes(t, (56, 56), ["a"]),
    "parse_score": parse_score,
    "score_format_reward": score_format_reward,
    "choice_index": lambda t: choice_index(t, ["blur", "noise"]),
    "parse_box": parse_box,
    "think_content": think_content,
    "answer_content": answer_content,
    "think_answer_template": think_answer_template,
}


@pytest.mark.parametrize("text", list(HOSTILE.values()), ids=list(HOSTILE))
def test_every_parser_reads_hostile_text_quickly(text):
    for name, parse in PARSERS.items():
        start = time.perf_counter()
        parse(text)  # never raises
        elapsed = time.perf_counter() - start
        assert elapsed < 0.5, f"{name}: {elapsed:.2f} s"  # the quadratic pattern took 7.8-14 s here


def test_hostile_text_parses_to_no_answer():
    for key in (
        "nested [ x50k",
        "nested [ x9000 quoted",
        "nested ( x9000",
        "unary minus x19000",
        "plus chain x9000",
    ):
        parsed = parse_answer(HOSTILE[key], 2)
        assert not parsed.entries and not parsed.all_valid, key
    assert not parse_boxes(HOSTILE["nested objects x9000"]).ok
    assert think_content(HOSTILE["think-open x16000"]) is None
    assert answer_content(HOSTILE["answer-open x16000"]) is None


def test_the_batch_rewards_score_a_batch_of_hostile_text_in_well_under_a_second():
    texts = list(HOSTILE.values())
    n = len(texts)
    rewards = {
        "rarl": (build_reward("rarl", {}, {"delta": 2.0, "value_range": (0, 9)}), [[3.0, 4.0]] * n),
        "vision-r1": (
            build_reward("vision-r1", {}),
            [{"boxes": [[0, 0, 9, 9]], "labels": ["a"], "categories": ["a"], "frame": [56, 56]}] * n,
        ),
        "refine-iqa-score": (build_reward("refine-iqa-score", {}), [3.0] * n),
        "refine-iqa": (QualityTaskReward(), [{"task": "distortion", "options": ["a", "b"], "answer": 0}] * n),
    }
    for name, (reward, targets) in rewards.items():
        start = time.perf_counter()
        out = reward(RewardInputs(samples=list(range(n)), targets=targets, texts=texts))
        assert time.perf_counter() - start < 1.0, name
        assert out.errors == 0, name
        if name != "refine-iqa-score":  # "<answer>3.00</answer>" after the opening tags is a right score
            assert float(out.totals.max()) <= 0.0, name
