"""Refine-IQA's stage-2 reward as a batch reward: answer + format + probability difference (Eq. 1-5).

    reward = build_reward("refine-iqa-score", {"epsilon": 0.5})
    out = reward(RewardInputs(samples, targets=[mos, ...], texts, scorer=policy_scorer, ...))

Per row (a think-mode completion for a sample whose target is its MOS on [0, 5)):

- `answer` (Eq. 1) and `format` from `rarl.rewards.quality`;
- `pd` (Eq. 2-4), only for rows with answer = format = 1 (NaN elsewhere, so `reward/pd` is the mean over the
  rows it applies to): the completion's score is replaced by the ground truth (`substitute_score`), the
  policy scorer gives the teacher-forced probabilities of the tokens that spell its integer digit and first
  decimal under the think prompt, and the same probabilities are read from the fixed no-think answer
  (`ref_template` with the ground-truth score) under the no-think prompt, once per sample;
  `pd = clip(sum_j w_j p_think_j - sum_j w_j p_ref_j, 0, 1)` with `w = digit_weights`;
- `total` (Eq. 5) = l1 * answer + l2 * format (+ l3 * pd where answer = format = 1), `weights = (l1, l2, l3)`;
- `passed` (1 where answer = format = 1, for the `refine_iqa` advantage estimator) and `think_chars` (the
  length of the think block, to watch the "think collapse" the paper describes).

Reading of the paper: a digit's probability is that of the token whose characters include the digit (Qwen2.5
tokenises digits one by one, so it is the digit's own token there). Without a scorer (outside training) or
with `pd=False` the PD term is 0. The authors' released code reads only the first-decimal digit and samples a
no-think rollout per think rollout; `digit_weights=(0, 1)` gives its digit choice, the per-rollout no-think
sampling is not offered.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from rarl.rewards.batch import RewardInputs, RewardOutput
from rarl.rewards.checks import check_settings
from rarl.rewards.quality import (
    final_reward,
    format_score,
    pd_reward,
    score_answer_reward,
    score_format_reward,
    substitute_score,
)
from rarl.rewards.registry import register_reward
from rarl.rewards.tags import think_content
from rarl.utils.numbers import finite_float


def token_at(offsets: Sequence[tuple[int, int]], char: int) -> int | None:
    """Index of the token whose character span [a, b) contains `char` (None if none does)."""
    for k, (a, b) in enumerate(offsets):
        if a <= char < b:
            return k
    return None


def digit_probs(probs: torch.Tensor, offsets: Sequence[tuple[int, int]], chars: Sequence[int]) -> list[float]:
    """Probabilities [T] of the tokens spelling the characters `chars` (0 for a character no token covers)."""
    out = []
    for c in chars:
        k = token_at(offsets, c)
        out.append(float(probs[k]) if k is not None else 0.0)
    return out


@register_reward("refine-iqa-score")
class QualityScoreReward:
    """The Refine-IQA stage-2 batch reward (see the module docstring)."""

    def __init__(
        self,
        epsilon: float = 0.5,
        weights: Sequence[float] = (1.0, 1.0, 1.0),
        digit_weights: Sequence[float] = (1.0, 0.1),
        pd: bool = True,
        think_mode: str = "think",
        ref_mode: str = "no_think",
        ref_template: str = "<answer>{score}</answer>",
    ) -> None:
        settings = dict(locals())
        settings.pop("self")
        check_settings(QualityScoreReward, settings, "refine-iqa-score")  # also when built by refine-iqa
        self.epsilon = finite_float(epsilon, "epsilon")
        if self.epsilon <= 0:
            raise ValueError(f"epsilon must be > 0, got {epsilon}")
        self.weights = tuple(finite_float(w, "weights") for w in weights)
        if len(self.weights) != 3:
            raise ValueError(f"weights must be (l1, l2, l3), got {weights!r}")
        self.digit_weights = tuple(finite_float(w, "digit_weights") for w in digit_weights)
        if len(self.digit_weights) != 2:
            raise ValueError(
                f"digit_weights must be two numbers (integer digit, first decimal), got {digit_weights!r}"
            )
        if not isinstance(ref_template, str) or "{score}" not in ref_template:
            raise ValueError(f"ref_template must contain {{score}}, got {ref_template!r}")
        try:
            ref_template.format(score="1")
        except (KeyError, IndexError, ValueError, AttributeError) as e:
            raise ValueError(
                f"ref_template {ref_template!r} cannot be filled with {{score}} alone ({type(e).__name__}: {e}); "
                "write {{ and }} for literal braces"
            ) from None
        self.pd = bool(pd)
        self.think_mode = think_mode
        self.ref_mode = ref_mode
        self.ref_template = ref_template

    def __call__(self, inputs: RewardInputs) -> RewardOutput:
        n = len(inputs.texts)
        mos = [float(t) for t in inputs.targets]  # [R]
        answer = [score_answer_reward(t, m, self.epsilon) for t, m in zip(inputs.texts, mos)]
        fmt = [score_format_reward(t) for t in inputs.texts]
        passed = [a == 1.0 and f == 1.0 for a, f in zip(answer, fmt)]
        pd = [math.nan] * n
        if self.pd and inputs.scorer is not None and any(passed):
            for r, value in self._pd_rows(inputs, mos, passed).items():
                pd[r] = value
        l1, l2, l3 = self.weights
        totals = [
            final_reward(a, f, 0.0 if math.isnan(p) else p, lambdas=(l1, l2, l3))
            for a, f, p in zip(answer, fmt, pd)
        ]
        think = [float(len(think_content(t) or "")) for t in inputs.texts]
        return RewardOutput(
            torch.tensor(totals),
            {
                "answer": torch.tensor(answer),
                "format": torch.tensor(fmt),
                "pd": torch.tensor(pd),
                "passed": torch.tensor([float(p) for p in passed]),
                "think_chars": torch.tensor(think, dtype=torch.float32),
            },
        )

    def _pd_rows(self, inputs: RewardInputs, mos: list[float], passed: list[bool]) -> dict[int, float]:
        """{row: r_pd} for the passed rows: one scorer call for the think texts, one for the references."""
        rows, texts, spans = [], [], []
        for r, ok in enumerate(passed):
            sub = substitute_score(inputs.texts[r], mos[r]) if ok else None
            if sub is not None:
                rows.append(r)
                texts.append(sub[0])
                spans.append(sub[1])
        if not rows:
            return {}
        scorer: Any = inputs.scorer
        think = scorer.score([inputs.samples[r] for r in rows], texts, mode=self.think_mode)
        refs: dict[str, tuple[int, str, tuple[int, int]]] = {}  # sample id -> (first row, text, spans)
        for r in rows:
            key = str(getattr(inputs.samples[r], "sample_id", r))
            if key not in refs:
                text = self.ref_template.format(score=format_score(mos[r]))
                sub = substitute_score(text, mos[r])
                refs[key] = (r, text, sub[1] if sub is not None else (-1, -1))
        keys = list(refs)
        ref = scorer.score(
            [inputs.samples[refs[k][0]] for k in keys], [refs[k][1] for k in keys], mode=self.ref_mode
        )
        p_ref = {k: digit_probs(ref.probs[i], ref.offsets[i], refs[k][2]) for i, k in enumerate(keys)}
        out = {}
        for i, r in enumerate(rows):
            key = str(getattr(inputs.samples[r], "sample_id", r))
            p_think = digit_probs(think.probs[i], think.offsets[i], spans[i])
            out[r] = pd_reward(p_think, p_ref[key], self.digit_weights)
        return out
