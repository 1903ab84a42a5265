"""PolicyScorer: teacher-forced log-probs of given texts equal a direct, unbatched forward pass."""

from __future__ import annotations

import torch

from rarl.model.scorer import PolicyScorer

from .conftest import conversation


def _direct_logprobs(policy, conv, text: str) -> torch.Tensor:
    """log p(token | prefix) of `text` + EOS after `conv`, from one plain forward pass of the whole sequence."""
    proc = policy.processor
    images = [p["image"] for m in conv for p in m["content"] if p.get("type") == "image"]
    prompt_text = proc.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
    enc = proc(text=[prompt_text], images=images or None, return_tensors="pt")
    comp = policy.tokenizer(text, add_special_tokens=False)["input_ids"] + [policy.special.eos_id]
    comp = torch.tensor([comp])
    ids = torch.cat([enc["input_ids"], comp], dim=1)
    inputs = {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "mm_token_type_ids": torch.cat([enc["mm_token_type_ids"], torch.zeros_like(comp)], dim=1),
    }
    if images:
        inputs["pixel_values"] = enc["pixel_values"]
        inputs["image_grid_thw"] = enc["image_grid_thw"]
    with torch.no_grad():
        logits = policy.model(**inputs).logits[0].float()  # [L, V]
    p = enc["input_ids"].shape[1]
    logp = torch.log_softmax(logits[p - 1 : -1], dim=-1)  # predicts tokens p .. L-1
    return logp.gather(-1, comp[0].unsqueeze(-1)).squeeze(-1)  # [t]


def test_scorer_matches_a_direct_forward_pass(policy):
    convs = [conversation(1, seed=1), conversation(2, seed=2), conversation(1, seed=3)]
    texts = ["<answer>3.27</answer>", "a longer reply of several tokens", "x"]
    scorer = PolicyScorer(policy, lambda sample, mode: sample, micro_batch_size=2)
    was_training = policy.model.training
    scored = scorer.score(convs, texts)
    assert policy.model.training == was_training  # restored
    assert scored.logprobs.shape == scored.token_ids.shape == scored.mask.shape
    for r, (conv, text) in enumerate(zip(convs, texts)):
        direct = _direct_logprobs(policy, conv, text)
        n = int(scored.mask[r].sum())
        assert n == direct.numel()
        torch.testing.assert_close(scored.logprobs[r, :n], direct, atol=1e-5, rtol=1e-5)
        assert torch.all(scored.logprobs[r, n:] == 0)
        # probabilities are exp(log-probs) on real tokens; offsets spell the text back
        torch.testing.assert_close(scored.probs[r, :n], direct.exp(), atol=1e-5, rtol=1e-5)
        assert "".join(text[a:b] for a, b in scored.offsets[r]) == text
        assert len(scored.offsets[r]) == n - 1  # EOS has no characters


def test_scorer_passes_the_mode_to_the_prompt_builder(policy):
    seen = []

    def messages(sample, mode):
        seen.append(mode)
        return sample

    PolicyScorer(policy, messages).score([conversation(1)], ["ok"], mode="no_think")
    assert seen == ["no_think"]
