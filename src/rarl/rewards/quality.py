"""Refine-IQA Stage-2 quality-scoring rewards and score read-out (paper Eq. 1-5 and 8).

    r_ans   (Eq. 1)    1 if |s_pred - mos| < epsilon, else 0                            score_answer_reward
    r_fmt              1 for exactly `<think>...</think><answer>D.DD</answer>`, else 0  score_format_reward
    r_MODE  (Eq. 2)    sum_j w_j * z_j,  w = (1, 0.1)                                   pd_reward
    r_pd    (Eq. 3-4)  clip(r_think - r_ref, 0, 1)                                      pd_reward
    r_final (Eq. 5)    l1*r_ans + l2*r_fmt, plus l3*r_pd only when r_ans = r_fmt = 1    final_reward
    Q       (Eq. 8)    sum_j j * softmax(P)_j + 0.5 over the digits "0".."4"            expected_score

How we read the paper
---------------------
Where the paper (or its released code) is silent or ambiguous, these are the readings this module implements:

- Answer block. The content of the single `<answer>...</answer>` block (`rarl.rewards.tags.answer_span`):
  zero or several opening or closing tags, or a closing tag before the opening one, and nothing parses. Text before the block (a think block,
  or nothing in the "no-think" mode) is not looked at by `parse_score`.
- Reading a score (`parse_score`, used by r_ans and by evaluation). The answer content, with surrounding
  whitespace allowed, is one ASCII decimal number (`3`, `3.27`, `+3.2`, `.5`; no exponent, no `nan`/`inf`),
  optionally preceded by `Score:` (any case, spaces allowed): the authors' released prompt asks for
  `<answer>Score: ...</answer>`. Anything else in the block (prose, two numbers, units) does not parse.
  Content longer than `MAX_SCORE_CHARS` is not parsed. Values outside [0, 5) still parse; Eq. 1 only
  compares the value with the MOS.
- Answer reward (Eq. 1). `|s_pred - mos| < epsilon` with strict `<`, epsilon = 0.5 by default. It does not
  require the format: a well-placed `Score: 3.2` earns r_ans but not r_fmt.
- Format. The paper's Stage-2 template as specified for this library: `<think>T</think><answer>S</answer>`
  where S is exactly `[0-4].[0-9][0-9]`, a score on [0, 5) with two decimals (no sign, no leading zero, no
  `Score:` prefix, no whitespace inside the answer tags). Whitespace (any `str.isspace()` characters) is
  allowed before `<think>`, between `</think>` and `<answer>`, and after `</answer>`, as in
  `rarl.rewards.parsing` (both read the template with `rarl.rewards.tags.think_answer_template`); nothing
  else may appear outside the two blocks. T may be empty and must not
  contain any of the four tags (each tag occurs exactly once).
- Ground-truth substitution (PD reward, Sec. "The Probability Difference Reward"). "We replace the model's
  predicted score with the ground-truth MOS (with the same digit numbers) and calculate the probability of
  each corresponding ground-truth token." `substitute_score` replaces the number in the answer block (the
  `Score:` prefix and surrounding whitespace are kept) with `format_score(mos)`, the MOS written like a
  formatted answer: two decimals, rounded half-up from its shortest decimal form, and capped at 4.99 so that
  it stays on [0, 5). It returns the new text and the character offsets of the integer digit and of the
  first decimal digit: the M = 2 digits of Eq. 2 (the paper's MOS has M - 1 = 1 decimal place; the second
  decimal of the answer is not scored). The caller maps these offsets to token positions (Qwen tokenises
  each digit as its own token) and reads the teacher-forced probabilities there. The released code instead
  truncates the MOS (`str(mos)[:3]`) and reads a single digit token (the second-to-last digit of the
  sequence); we follow the paper's Eq. 2.
- No-think reference (Eq. 4). The "no-think" output format is fixed, so r_ref is one number per prompt: the
  same digit probabilities read from the no-think prompt followed by `<answer>{format_score(mos)}</answer>`
  (`substitute_score` applied to any no-think completion gives that text).
- PD reward (Eq. 2-4). `pd_reward(p_think, p_ref, weights)` with `weights = (1, 0.1)` (Eq. 2's
  `[1, 0.1, ..., 10**(1-M)]` for M = 2); p_think, p_ref and weights must have the same length M >= 1 and be
  finite (ValueError otherwise: these come from code, not from the model). The result is clipped to [0, 1].
- Final reward (Eq. 5). r_pd is added only when r_ans = r_fmt = 1; lambda1 = lambda2 = lambda3 = 1.
- Score read-out (Eq. 8). `Q = sum_{j=0..4} j * softmax(P)_j + 0.5`, with P the logits of the tokens
  "0".."4" at the position of the integer digit. The `+ 0.5` is in the paper's equation: digit j stands for
  the interval [j, j + 1) of the [0, 5) scale and the expectation is taken over interval midpoints, so Q lies
  in [0.5, 4.5].
- Robustness. `parse_score`, `score_answer_reward`, `score_format_reward` and `substitute_score` never raise
  on any completion (non-`str` completions parse to nothing); bad numeric arguments (epsilon <= 0, a
  non-finite MOS, a MOS outside [0, 5) for substitution) raise ValueError.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

import torch

from rarl.rewards.tags import answer_span, think_answer_template
from rarl.utils.numbers import finite_float

MAX_SCORE_CHARS = 64
"""Answer blocks longer than this (in characters) are not read as a score."""

SCORE_DIGITS: tuple[str, ...] = ("0", "1", "2", "3", "4")
"""The integer-digit tokens whose logits `expected_score` reads, in value order."""

PD_WEIGHTS: tuple[float, float] = (1.0, 0.1)
"""Eq. 2 weights for M = 2 digits: the integer digit and the first decimal digit."""

# A lenient score: optional "Score:" prefix, one ASCII decimal number; group "num" is the number.
_SCORE = re.compile(
    r"\s*(?:score\s*:\s*)?(?P<num>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))\s*", re.IGNORECASE | re.ASCII
)
# The strict answer of the format reward: [0, 5) with exactly two decimals.
_STRICT_SCORE = re.compile(r"[0-4]\.[0-9]{2}", re.ASCII)
_CAP = Decimal("4.99")
_CENT = Decimal("0.01")


# --- reading the answer ---------------------------------------------------------------------------------


def _score_match(completion: object) -> tuple[re.Match[str], int] | None:
    """The lenient score match inside the answer block and the block's start offset, or None."""
    bounds = answer_span(completion)
    if bounds is None:
        return None
    start, end = bounds
    if end - start > MAX_SCORE_CHARS:
        return None
    match = _SCORE.fullmatch(completion, start, end)  # type: ignore[union-attr]
    if match is None or not math.isfinite(float(match.group("num"))):
        return None
    return match, start


def parse_score(completion: str) -> float | None:
    """The score written in the answer block of `completion`, or None when there is none.

    Accepts `<answer> 3.27 </answer>`, `<answer>Score: 3.2</answer>`, with or without a think block before
    it. Never raises.
    """
    found = _score_match(completion)
    if found is None:
        return None
    return float(found[0].group("num"))


def score_answer_reward(completion: str, mos: float, epsilon: float = 0.5) -> float:
    """r_ans, Eq. 1: 1.0 if the answer's score is within `epsilon` (strict) of `mos`, else 0.0.

    Never raises on the completion; raises ValueError for a non-finite `mos` or `epsilon <= 0`.
    """
    mos = finite_float(mos, "mos")
    epsilon = finite_float(epsilon, "epsilon")
    if epsilon <= 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon}")
    pred = parse_score(completion)
    return 1.0 if pred is not None and abs(pred - mos) < epsilon else 0.0


def score_format_reward(completion: str) -> float:
    """r_fmt: 1.0 only for `<think>T</think><answer>D.DD</answer>` (see the module docstring), else 0.0.

    Never raises.
    """
    span = answer_span(completion)
    if span is None or not think_answer_template(completion):
        return 0.0
    answer_ok = _STRICT_SCORE.fullmatch(completion, *span) is not None
    return 1.0 if answer_ok else 0.0


# --- ground-truth substitution for the PD reward ------------------------------------------------------------


def format_score(mos: float) -> str:
    """`mos` written as a formatted answer: two decimals, rounded half-up, capped at 4.99 (e.g. "3.27").

    Rounding works on the shortest decimal form of the float (`repr`), so 2.675 gives "2.68".
    Raises ValueError unless `mos` is a finite number in [0, 5).
    """
    mos = finite_float(mos, "mos")
    if not 0.0 <= mos < 5.0:
        raise ValueError(f"mos must lie in [0, 5), got {mos}")
    value = min(Decimal(repr(mos)).quantize(_CENT, rounding=ROUND_HALF_UP), _CAP)
    return f"{value:.2f}"


def substitute_score(completion: str, mos: float) -> tuple[str, tuple[int, int]] | None:
    """Replace the predicted score in `completion` by the ground truth, for the teacher-forced PD pass.

    Returns `(text, (i_int, i_dec))`: `text` is `completion` with the number in its answer block (as read by
    `parse_score`) replaced by `format_score(mos)`; `text[i_int]` is the ground truth's integer digit and
    `text[i_dec]` its first decimal digit (`i_dec == i_int + 2`), the M = 2 digits whose token
    probabilities enter Eq. 2. If `completion` passes `score_format_reward`, so does `text`. Returns None
    when the completion has no readable score. Never raises on the completion; raises ValueError for a
    `mos` outside [0, 5) (see `format_score`).
    """
    truth = format_score(mos)
    found = _score_match(completion)
    if found is None:
        return None
    match, _ = found
    start, end = match.span("num")
    text = completion[:start] + truth + completion[end:]  # type: ignore[index]
    return text, (start, start + 2)


# --- probability-difference and final rewards -------------------------------------------------------------


def pd_reward(
    p_think: Sequence[float], p_ref: Sequence[float], weights: Sequence[float] = PD_WEIGHTS
) -> float:
    """r_pd, Eq. 2-4: `clip(sum_j w_j * p_think[j] - sum_j w_j * p_ref[j], 0, 1)`.

    p_think, p_ref: [M] probabilities of the ground-truth digit tokens (integer digit first) in the think
    rollout and in the no-think reference; weights: [M] (default `(1, 0.1)`, M = 2).
    Raises ValueError when the three lengths differ, M is 0, or a value is not finite.
    """
    think = _finite_list(p_think, "p_think")
    ref = _finite_list(p_ref, "p_ref")
    w = _finite_list(weights, "weights")
    if not len(think) == len(ref) == len(w) or not w:
        raise ValueError(
            "p_think, p_ref and weights must have the same length M >= 1, "
            f"got {len(think)}, {len(ref)} and {len(w)}"
        )
    r_think = sum(wj * pj for wj, pj in zip(w, think))
    r_ref = sum(wj * pj for wj, pj in zip(w, ref))
    return min(max(r_think - r_ref, 0.0), 1.0)


def final_reward(
    r_ans: float, r_fmt: float, r_pd: float, lambdas: Sequence[float] = (1.0, 1.0, 1.0)
) -> float:
    """r_final, Eq. 5: `l1*r_ans + l2*r_fmt + l3*r_pd` when `r_ans == r_fmt == 1`, else `l1*r_ans + l2*r_fmt`.

    Raises ValueError unless `lambdas` holds three finite numbers.
    """
    lam = _finite_list(lambdas, "lambdas")
    if len(lam) != 3:
        raise ValueError(f"lambdas must be three numbers (lambda1, lambda2, lambda3), got {lambdas!r}")
    l1, l2, l3 = lam
    total = l1 * r_ans + l2 * r_fmt
    if r_ans == 1 and r_fmt == 1:
        total += l3 * r_pd
    return total


# --- inference read-out ------------------------------------------------------------------------------------


def expected_score(digit_logits: torch.Tensor) -> torch.Tensor:
    """Q, Eq. 8: the expected integer digit under a softmax over the logits of "0".."4", plus 0.5.

    digit_logits: [..., 5] (logits of `SCORE_DIGITS` in order) -> [...] in [0.5, 4.5].
    Computed in at least float32; the result dtype is `promote_types(dtype, float32)` (bf16/fp16 logits
    give float32 scores, float64 stays float64).
    """
    if digit_logits.dim() == 0 or digit_logits.shape[-1] != len(SCORE_DIGITS):
        raise ValueError(f"digit_logits must have shape [..., 5], got {tuple(digit_logits.shape)}")
    dtype = torch.promote_types(digit_logits.dtype, torch.float32)
    probs = torch.softmax(digit_logits.to(dtype), dim=-1)  # [..., 5]
    levels = torch.arange(len(SCORE_DIGITS), dtype=dtype, device=digit_logits.device)  # [5]
    return (probs * levels).sum(dim=-1) + 0.5  # [...]


# --- helpers -----------------------------------------------------------------------------------------------


def _finite_list(values: Sequence[float], name: str) -> list[float]:
    if isinstance(values, (str, bytes)):
        raise ValueError(f"{name} must be a sequence of numbers, got {values!r}")
    try:
        items = list(values)
    except TypeError:
        raise ValueError(f"{name} must be a sequence of numbers, got {values!r}") from None
    return [finite_float(v, name) for v in items]


__all__ = [
    "MAX_SCORE_CHARS",
    "PD_WEIGHTS",
    "SCORE_DIGITS",
    "expected_score",
    "final_reward",
    "format_score",
    "parse_score",
    "pd_reward",
    "score_answer_reward",
    "score_format_reward",
    "substitute_score",
]
