"""Refine-IQA's stage-2 batch reward on the real tiny Qwen2.5-VL: the PD term is the difference of
teacher-forced probabilities of the ground-truth digits under the think and no-think prompts."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch
from PIL import Image

from rarl.model import load_policy
from rarl.model.scorer import PolicyScorer
from rarl.rewards.batch import RewardInputs
from rarl.rewards.probability_difference import QualityScoreReward, digit_probs, token_at


@dataclass(frozen=True)
class Shot:
    sample_id: str
    level: int


def messages(sample: Shot, mode: str | None) -> list[dict]:
    image = Image.new("RGB", (56, 56), (sample.level,) * 3)
    ask = "Rate the quality." if mode == "think" else "Rate the quality. Answer directly."
    return [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": ask}]}]


@pytest.fixture(scope="module")
def scorer(tiny_model):
    return PolicyScorer(load_policy(tiny_model), messages)


def test_token_lookup_by_character():
    offsets = [(0, 3), (3, 4), (4, 6)]
    assert [token_at(offsets, c) for c in (0, 2, 3, 5, 6)] == [0, 0, 1, 2, None]
    assert digit_probs(torch.tensor([0.1, 0.2, 0.3]), offsets, [3, 9]) == [pytest.approx(0.2), 0.0]


def test_pd_is_the_think_minus_no_think_digit_probability(scorer):
    a, b = Shot("a", 40), Shot("b", 200)
    texts = [
        "<think>sharp</think><answer>3.12</answer>",  # |3.12 - 3.3| < 0.5 and in format: PD applies
        "<think>blurry</think><answer>1.00</answer>",  # wrong score: answer 0, no PD
        "no tags at all",  # nothing parses
        "<think></think><answer>0.90</answer>",  # right (mos 0.8), PD applies, another sample
    ]
    inputs = RewardInputs(
        samples=[a, a, a, b], targets=[3.3, 3.3, 3.3, 0.8], texts=texts, group_size=1, scorer=scorer
    )
    out = QualityScoreReward()(inputs)
    # negated digit weights flip the difference's sign before clipping, so one of the two is > 0
    swapped = QualityScoreReward(digit_weights=(-1.0, -0.1))(inputs)
    assert out.components["answer"].tolist() == [1.0, 0.0, 0.0, 1.0]
    assert out.components["format"].tolist() == [1.0, 1.0, 0.0, 1.0]
    assert out.components["passed"].tolist() == [1.0, 0.0, 0.0, 1.0]
    assert math.isnan(out.components["pd"][1]) and math.isnan(out.components["pd"][2])
    assert out.components["think_chars"].tolist() == [5.0, 6.0, 0.0, 0.0]

    # by hand: substitute the ground truth, score it, read the digit tokens' probabilities
    for row, (sample, think_text, ref_text) in {
        0: (a, "<think>sharp</think><answer>3.30</answer>", "<answer>3.30</answer>"),
        3: (b, "<think></think><answer>0.80</answer>", "<answer>0.80</answer>"),
    }.items():
        t = scorer.score([sample], [think_text], mode="think")
        r = scorer.score([sample], [ref_text], mode="no_think")
        ti, ri = think_text.index("</answer>") - 4, ref_text.index("</answer>") - 4  # the integer digit
        p_think = [float(t.probs[0, token_at(t.offsets[0], c)]) for c in (ti, ti + 2)]
        p_ref = [float(r.probs[0, token_at(r.offsets[0], c)]) for c in (ri, ri + 2)]
        raw = p_think[0] + 0.1 * p_think[1] - p_ref[0] - 0.1 * p_ref[1]
        raw_swapped = -raw
        assert max(raw, raw_swapped) > 1e-6  # the check below is not 0 == 0
        for reward_out, value in ((out, raw), (swapped, raw_swapped)):
            expected = min(max(value, 0.0), 1.0)
            assert float(reward_out.components["pd"][row]) == pytest.approx(expected, rel=1e-4, abs=1e-9)
            assert float(reward_out.totals[row]) == pytest.approx(2.0 + expected, rel=1e-6)
    assert out.totals.tolist()[1:3] == [1.0, 0.0]


def test_without_a_scorer_or_with_pd_off_only_answer_and_format_count(scorer):
    inputs = RewardInputs(
        samples=[Shot("a", 1)], targets=[2.0], texts=["<think>t</think><answer>2.10</answer>"]
    )
    out = QualityScoreReward()(inputs)
    assert out.totals.tolist() == [2.0] and math.isnan(out.components["pd"][0])
    inputs.scorer = scorer
    assert QualityScoreReward(pd=False)(inputs).totals.tolist() == [2.0]


def test_bad_settings_are_errors():
    with pytest.raises(ValueError, match="epsilon"):
        QualityScoreReward(epsilon=0)
    with pytest.raises(ValueError, match="digit_weights"):
        QualityScoreReward(digit_weights=(1.0,))
    with pytest.raises(ValueError, match="score"):
        QualityScoreReward(ref_template="<answer></answer>")
