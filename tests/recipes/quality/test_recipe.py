"""The refine-iqa recipe's sample-level parts: prompts per mode, reference answers that earn the full reward,
targets, and probability-based inference (Eq. 8) checked against the model's own logits."""

from __future__ import annotations

import pytest
import torch

from rarl.model import load_policy
from rarl.model.scorer import PolicyScorer
from rarl.recipes import get_recipe
from rarl.recipes.quality.evaluation import digit_prefix, probability_scores
from rarl.recipes.quality.reward import QualityTaskReward
from rarl.rewards.batch import RewardInputs
from rarl.rewards.quality import score_format_reward
from rarl.utils.config import ConfigError


@pytest.fixture(scope="module")
def recipe():
    return get_recipe("refine-iqa")


def test_prompts_per_mode(recipe, scoring_manifest, perception_manifest):
    score = recipe.load_samples(str(scoring_manifest), "train")[0]
    think = recipe.messages(score, "think")[0]["content"]
    plain = recipe.messages(score, "no-think")[0]["content"]  # the paper's spelling is accepted
    assert [p["type"] for p in think] == ["image", "text"]
    assert "<think>" in think[-1]["text"] and "<think>" not in plain[-1]["text"]
    assert recipe.resolve_mode(None) == "think"
    with pytest.raises(ConfigError, match="no prompt mode 'reasoning'"):
        recipe.messages(score, "reasoning")
    fr = next(s for s in recipe.load_samples(str(perception_manifest), "train") if s.reference)
    content = recipe.messages(fr, "no_think")[0]["content"]
    assert [p["type"] for p in content] == ["image", "image", "text"]
    assert "undistorted original" in content[-1]["text"]


def test_without_a_mode_each_task_is_asked_and_answered_in_its_own(
    recipe, scoring_manifest, perception_manifest
):
    """A run without a prompt mode (the base's mixed warm-up) asks scoring questions in think mode and
    perception questions in no_think mode, prompt and reference answer alike."""
    score = recipe.load_samples(str(scoring_manifest), "train")[0]
    choice = next(s for s in recipe.load_samples(str(perception_manifest), "train") if s.task != "grounding")
    assert (
        recipe.messages(score)[0]["content"][-1]["text"]
        == recipe.messages(score, "think")[0]["content"][-1]["text"]
    )
    assert recipe.reference_answer(score).startswith("<think>")
    asked = recipe.messages(choice)[0]["content"][-1]["text"]
    assert asked == recipe.messages(choice, "no_think")[0]["content"][-1]["text"] and "<think>" not in asked
    assert recipe.reference_answer(choice) == recipe.reference_answer(choice, "no_think")
    assert recipe.messages(choice, "think")[0]["content"][-1]["text"] != asked  # an explicit mode still rules


def test_reference_answers_earn_the_full_reward(recipe, scoring_manifest, perception_manifest):
    samples = recipe.load_samples(str(scoring_manifest), "train")[:4] + recipe.load_samples(
        str(perception_manifest), "train"
    )
    texts = [recipe.reference_answer(s) for s in samples]
    out = QualityTaskReward()(RewardInputs(samples, [recipe.target(s) for s in samples], texts))
    for s, text, total in zip(samples, texts, out.totals.tolist()):
        if s.task == "score":
            assert score_format_reward(text) == 1.0 and total == 2.0, text  # no scorer: PD 0
            assert recipe.reference_answer(s, "no_think") == f"<answer>{s.mos:.2f}</answer>"
        else:
            assert total == pytest.approx(1.0), (s.task, text)


def test_digit_prefix():
    assert digit_prefix("<think>a</think><answer>3.27</answer>", "think") == (
        "<think>a</think><answer>",
        False,
    )
    assert digit_prefix("<answer>Score: 2.5</answer>", "no_think") == ("<answer>Score: ", False)
    assert digit_prefix("<think>a</think><answer>good</answer>", "think") == (
        "<think>a</think><answer>",
        True,
    )
    assert digit_prefix("<think>a</think> rambling", "think") == ("<think>a</think><answer>", True)
    assert digit_prefix("rambling", "think") == ("<think></think><answer>", True)
    assert digit_prefix("rambling", "no_think") == ("<answer>", True)


def test_probability_inference_matches_the_logits(recipe, tiny_model, scoring_manifest):
    policy = load_policy(tiny_model)
    samples = recipe.load_samples(str(scoring_manifest), "test")[:3]
    prefixes = ["<answer>", "<think>fine</think><answer>", "<answer>Score: "]
    got = probability_scores(PolicyScorer(policy, recipe.messages), samples, prefixes, "think", batch_size=2)
    proc, tok = policy.processor, policy.tokenizer
    digit_ids = [tok.convert_tokens_to_ids(d) for d in "01234"]
    for sample, prefix, q in zip(samples, prefixes, got):
        conv = recipe.messages(sample, "think")
        text = proc.apply_chat_template(conv, tokenize=False, add_generation_prompt=True) + prefix
        enc = proc(text=[text], images=sample.load_images(), return_tensors="pt")
        with torch.no_grad():
            logits = policy.model(**enc).logits[0, -1, digit_ids].double()  # [5]
        expected = float((torch.softmax(logits, 0) * torch.arange(5.0, dtype=torch.float64)).sum() + 0.5)
        assert q == pytest.approx(expected, abs=1e-4)
        assert 0.5 <= q <= 4.5
