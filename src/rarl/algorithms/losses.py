"""Policy-loss variants of the GRPO family, registered by name in `LOSSES` (`algorithm.loss` in the config).

Every variant is a pure function with one signature, so the update never branches on the name:

    loss, metrics = fn(logp, old_logp, advantages, mask, ref_logp=None, *, clip_eps, clip_eps_high, beta,
                       num_sequences_total, num_tokens_total, max_completion_length, **loss_kwargs)

    logp      [N, T]  log-probs of the completion tokens under the current policy (carries the gradient)
    old_logp  [N, T]  log-probs under the policy that sampled them (constant)
    advantages [N]    one advantage per rollout (constant)
    mask      [N, T]  non-zero at valid completion tokens
    ref_logp  [N, T]  reference log-probs, or None (then beta must be 0)
    num_sequences_total / num_tokens_total: the FULL batch's counts (see `loss_normalizers`); None: this call's
    max_completion_length: the longest completion the rollout may produce (`rollout.max_new_tokens`); None: T
    -> (loss scalar with grad, metrics {"pg_loss", "kl_loss", "kl", "clip_frac", "ratio_mean"} as floats)

`loss == pg_loss + kl_loss` (the shares of this call, which add up over micro-batches); `kl`, `clip_frac` and
`ratio_mean` are means over this call's valid tokens. With the full batch's normalisers, the sum of the
micro-batch losses equals the full-batch loss for every variant (each one's normaliser is a constant of the
batch). A variant reads only the keywords it needs; `algorithm.loss_kwargs` adds variant settings (a
plug-in `file.py:function` must accept the keywords above, e.g. through `**_`).

| name    | importance ratio            | per-token / per-sequence term                  | aggregation                     |
| ------- | --------------------------- | ---------------------------------------------- | ------------------------------- |
| grpo    | token, exp(logp - old)      | clipped surrogate                              | mean per sequence, then mean    |
| dapo    | token                       | clipped surrogate (clip-higher: clip_eps_high) | sum over tokens / tokens        |
| dr_grpo | token                       | clipped surrogate                              | sum over tokens / (N x L_max)   |
| gspo    | sequence, exp(mean log r)   | clipped surrogate of the sequence ratio        | mean over sequences             |
| cispo   | token, capped and detached  | -sg(min(r, 1 + eps_high)) * A * logp           | sum over tokens / tokens        |

The KL term `beta * k3` (see `rarl.algorithms.loss`) is aggregated like the policy term of each variant, as
TRL adds it to the per-token loss before aggregating. An empty `algorithm.loss` means `grpo` when
`algorithm.aggregation` is `sequence` (the default) and `dapo` when it is `token` (`loss_name`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import torch

from rarl.algorithms.loss import (
    LOG_RATIO_CLAMP,
    aggregate_sequence,
    aggregate_token,
    check_loss_inputs,
    clipped_surrogate,
    kl_penalty,
    loss_metrics,
    policy_loss,
    token_ratio,
)
from rarl.utils.registry import Registry

__all__ = [
    "LOSSES",
    "LOSS_KEYWORDS",
    "LossFn",
    "cispo_loss",
    "dapo_loss",
    "dr_grpo_loss",
    "grpo_loss",
    "gspo_loss",
    "loss_call_problem",
    "loss_name",
    "resolve_loss",
]

LossFn = Callable[..., tuple[torch.Tensor, dict[str, float]]]

LOSSES = Registry("loss")
"""Policy losses by name: grpo, dapo, dr_grpo, gspo, cispo; `algorithm.loss` may also name a plug-in."""

LOSS_KEYWORDS: tuple[str, ...] = (
    "clip_eps",
    "clip_eps_high",
    "beta",
    "num_sequences_total",
    "num_tokens_total",
    "max_completion_length",
)
"""The keywords the update passes to every loss (beside the five tensors)."""

Number = float | torch.Tensor | None


def loss_name(loss: str, aggregation: str = "sequence") -> str:
    """The loss `algorithm.loss` names: itself, or for an empty one `grpo` (sequence) / `dapo` (token)."""
    if loss:
        return loss
    return "dapo" if aggregation == "token" else "grpo"


@LOSSES.register("grpo")
def grpo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    ref_logp: torch.Tensor | None = None,
    *,
    clip_eps: float = 0.2,
    clip_eps_high: float | None = None,
    beta: float = 0.01,
    num_sequences_total: Number = None,
    num_tokens_total: Number = None,
    max_completion_length: int | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """GRPO (Shao et al. 2024; the RARL paper's Eq. 1): per-sequence token mean, then mean over sequences.

        r_it = exp(logp_it - old_it)                                      [N, T]
        l_it = -min(r_it A_i, clip(r_it, 1 - eps_low, 1 + eps_high) A_i) + beta k3_it
        L    = (1 / N_seq) sum_i (1 / |o_i|) sum_t l_it

    N_seq = `num_sequences_total` (default: the non-empty rows of this call); empty rows add nothing. TRL's
    `loss_type="grpo"` takes the mean over all rows, empty ones included: the same when no row is empty.
    `policy_loss(..., aggregation="sequence")`; `max_completion_length` is not read.
    """
    return policy_loss(
        logp,
        old_logp,
        advantages,
        mask,
        ref_logp,
        clip_eps=clip_eps,
        clip_eps_high=clip_eps_high,
        beta=beta,
        aggregation="sequence",
        num_sequences_total=num_sequences_total,
        num_tokens_total=num_tokens_total,
    )


@LOSSES.register("dapo")
def dapo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    ref_logp: torch.Tensor | None = None,
    *,
    clip_eps: float = 0.2,
    clip_eps_high: float | None = None,
    beta: float = 0.01,
    num_sequences_total: Number = None,
    num_tokens_total: Number = None,
    max_completion_length: int | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """DAPO (Yu et al. 2025): the token-level mean over the whole batch, with clip-higher.

        l_it as in `grpo_loss` (DAPO's clip-higher: `clip_eps_high` > `clip_eps`, the paper uses 0.28 / 0.2)
        L = sum_i sum_t l_it / sum_i |o_i|                                 (valid tokens only)

    The denominator is `num_tokens_total` (default: this call's valid tokens), TRL's `num_items_in_batch`.
    DAPO's dynamic sampling is `algorithm.dapo_filter`, its overlong shaping a reward matter: not here.
    `policy_loss(..., aggregation="token")`; `max_completion_length` is not read.
    """
    return policy_loss(
        logp,
        old_logp,
        advantages,
        mask,
        ref_logp,
        clip_eps=clip_eps,
        clip_eps_high=clip_eps_high,
        beta=beta,
        aggregation="token",
        num_sequences_total=num_sequences_total,
        num_tokens_total=num_tokens_total,
    )


@LOSSES.register("dr_grpo")
def dr_grpo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    ref_logp: torch.Tensor | None = None,
    *,
    clip_eps: float = 0.2,
    clip_eps_high: float | None = None,
    beta: float = 0.01,
    num_sequences_total: Number = None,
    num_tokens_total: Number = None,
    max_completion_length: int | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Dr. GRPO (Liu et al. 2025, "Understanding R1-Zero-like training"): token sum over a constant.

        l_it as in `grpo_loss`
        L = sum_i sum_t l_it / (N x L_max)                                 (valid tokens only)

    The paper removes GRPO's 1/|o_i| (its length bias) by dividing the token sum by a constant; it does not
    say which, and implementations differ. Ours, like TRL's `loss_type="dr_grpo"` (which divides by the
    micro-batch's rows times `max_completion_length`):

    - N = `num_sequences_total`, the sequences entering the update (default: every row of this call, empty
      ones included, as TRL counts them);
    - L_max = `max_completion_length`: the trainer passes `rollout.max_new_tokens`, a constant of the run, so
      that the scale of a step does not depend on its longest completion (`algorithm.loss_kwargs`
      may set another); None falls back to T, the padded width of the tensors.

    The other half of Dr. GRPO, advantages not divided by the group std, is `algorithm.scale: none`.
    """
    clip_high = check_loss_inputs(
        logp,
        old_logp,
        advantages,
        mask,
        ref_logp,
        clip_eps=clip_eps,
        clip_eps_high=clip_eps_high,
        beta=beta,
        num_sequences_total=num_sequences_total,
        num_tokens_total=num_tokens_total,
    )
    if max_completion_length is not None and not max_completion_length > 0:
        raise ValueError(f"max_completion_length must be > 0 when given, got {max_completion_length}")
    valid = mask.to(torch.bool)  # [N, T]
    logp, ratio = token_ratio(logp, old_logp, valid)  # [N, T] each
    adv = advantages.detach().to(logp.dtype).unsqueeze(1)  # [N, 1]
    pg, is_clipped = clipped_surrogate(ratio, adv, clip_eps, clip_high)  # [N, T] each

    n_seq = logp.shape[0] if num_sequences_total is None else num_sequences_total
    length = logp.shape[1] if max_completion_length is None else max_completion_length
    constant = n_seq * length  # the Dr. GRPO denominator

    def aggregate(values: torch.Tensor) -> torch.Tensor:  # [N, T] -> []
        return torch.where(valid, values, torch.zeros_like(values)).sum() / constant

    pg_loss = aggregate(pg)  # []
    kl_loss, kl = kl_penalty(logp, ref_logp, valid, beta, aggregate)
    return pg_loss + kl_loss, loss_metrics(pg_loss, kl_loss, kl, is_clipped, ratio, valid)


@LOSSES.register("gspo")
def gspo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    ref_logp: torch.Tensor | None = None,
    *,
    clip_eps: float = 3e-4,
    clip_eps_high: float | None = 4e-4,
    beta: float = 0.01,
    num_sequences_total: Number = None,
    num_tokens_total: Number = None,
    max_completion_length: int | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """GSPO (Zheng et al. 2025, "Group Sequence Policy Optimization"): one clipped ratio per sequence.

        s_i = exp((1 / |o_i|) sum_t (logp_it - old_it))                    [N] (length-normalised)
        L   = (1 / N_seq) sum_i -min(s_i A_i, clip(s_i, 1 - eps_low, 1 + eps_high) A_i)
              + beta (1 / N_seq) sum_i (1 / |o_i|) sum_t k3_it

    The gradient of s_i reaches every token of sequence i (through the mean log-ratio); a clipped sequence
    gets none from the policy term. The paper's ranges are small because s_i is a per-token geometric mean:
    it uses eps_low = 3e-4 and eps_high = 4e-4 (this function's defaults; the trainer passes
    `algorithm.clip_eps` / `clip_eps_high`, so set them there). Choices:

    - the sequence term is aggregated as GRPO's (mean over sequences), which is TRL's
      `loss_type="grpo", importance_sampling_level="sequence"` (the setup TRL recommends for GSPO);
      N_seq = `num_sequences_total` (default: non-empty rows; empty rows add nothing);
    - the paper has no KL term; with beta > 0 we add GRPO's per-sequence-mean k3, as TRL does;
    - the mean log-ratio is clamped to +-LOG_RATIO_CLAMP before `exp`; masked positions never enter it;
    - `clip_frac` and `ratio_mean` weight each sequence by its valid tokens (the metrics of every loss are
      means over valid tokens), so a long clipped sequence counts more than a short one.
    """
    clip_high = check_loss_inputs(
        logp,
        old_logp,
        advantages,
        mask,
        ref_logp,
        clip_eps=clip_eps,
        clip_eps_high=clip_eps_high,
        beta=beta,
        num_sequences_total=num_sequences_total,
        num_tokens_total=num_tokens_total,
    )
    valid = mask.to(torch.bool)  # [N, T]
    dtype = torch.promote_types(logp.dtype, torch.float32)
    logp = logp.to(dtype)  # [N, T]
    zero = torch.zeros((), dtype=dtype, device=logp.device)
    log_ratio = torch.where(valid, logp - old_logp.detach().to(dtype), zero)  # [N, T]
    lengths = valid.sum(dim=1)  # [N]
    seq_log_ratio = log_ratio.sum(dim=1) / lengths.clamp_min(1)  # [N]
    seq_ratio = seq_log_ratio.clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP).exp()  # [N]
    adv = advantages.detach().to(dtype)  # [N]
    pg_seq, is_clipped = clipped_surrogate(seq_ratio, adv, clip_eps, clip_high)  # [N] each

    non_empty = lengths > 0  # [N]
    denom = non_empty.sum().clamp_min(1) if num_sequences_total is None else num_sequences_total
    pg_loss = torch.where(non_empty, pg_seq, torch.zeros_like(pg_seq)).sum() / denom  # []
    norms = {"num_sequences_total": num_sequences_total}
    kl_loss, kl = kl_penalty(logp, ref_logp, valid, beta, lambda v: aggregate_sequence(v, valid, **norms))
    per_token = valid.shape  # the sequence values, repeated over each row's tokens for the token-mean metrics
    clipped_tokens = is_clipped.unsqueeze(1).expand(per_token)  # [N, T]
    ratio_tokens = seq_ratio.unsqueeze(1).expand(per_token)  # [N, T]
    return pg_loss + kl_loss, loss_metrics(pg_loss, kl_loss, kl, clipped_tokens, ratio_tokens, valid)


@LOSSES.register("cispo")
def cispo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    ref_logp: torch.Tensor | None = None,
    *,
    clip_eps: float = 0.2,
    clip_eps_high: float | None = None,
    beta: float = 0.01,
    num_sequences_total: Number = None,
    num_tokens_total: Number = None,
    max_completion_length: int | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """CISPO (MiniMax-M1, 2025): REINFORCE with a capped, detached importance weight, token mean.

        r_it = exp(logp_it - old_it)                                      [N, T]
        w_it = sg(min(r_it, 1 + eps_high))                                 (sg: no gradient)
        l_it = -w_it A_i logp_it + beta k3_it
        L    = sum_i sum_t l_it / sum_i |o_i|                              (valid tokens only)

    Unlike PPO/GRPO clipping, no token loses its gradient: a token whose ratio is over the cap still gets
    `-w A grad(logp)` with w capped. Choices:

    - the cap is `1 + clip_eps_high` (or `1 + clip_eps` when that is None), the same reading of the epsilons
      as every other loss here; TRL's `epsilon_high` for `loss_type="cispo"` is the cap itself, so TRL's
      `epsilon_high = e` is our `clip_eps_high = e - 1` (ScaleRL recommends a cap of 5, MiniMax-M1 tunes it);
    - no lower bound (MiniMax-M1 sets eps_low^IS large so that it never acts; TRL has none): `clip_eps` is
      not read; MiniMax-M1's optional token mask (PPO's trust region) is not applied;
    - the value of the loss is `-w A logp` as in TRL (its gradient is the paper's; the value itself depends on
      the log-probs, so `pg_loss` is not comparable with the other losses' surrogate);
    - the KL term is aggregated by the same token mean (TRL adds it per token before aggregating);
    - `clip_frac` counts valid tokens whose weight was capped and whose advantage is non-zero (TRL's
      `cispo_clip_ratio` counts positive advantages only).
    """
    clip_high = check_loss_inputs(
        logp,
        old_logp,
        advantages,
        mask,
        ref_logp,
        clip_eps=clip_eps,
        clip_eps_high=clip_eps_high,
        beta=beta,
        num_sequences_total=num_sequences_total,
        num_tokens_total=num_tokens_total,
    )
    valid = mask.to(torch.bool)  # [N, T]
    logp, ratio = token_ratio(logp, old_logp, valid)  # [N, T] each
    adv = advantages.detach().to(logp.dtype).unsqueeze(1)  # [N, 1]
    weight = ratio.clamp(max=1.0 + clip_high).detach()  # [N, T]
    safe_logp = torch.where(valid, logp, torch.zeros_like(logp))  # [N, T]; padding never enters
    pg = -weight * adv * safe_logp  # [N, T]
    is_clipped = (ratio > 1.0 + clip_high) & (adv != 0)  # [N, T]

    norms = {"num_tokens_total": num_tokens_total}
    pg_loss = aggregate_token(pg, valid, **norms)  # []
    kl_loss, kl = kl_penalty(logp, ref_logp, valid, beta, lambda v: aggregate_token(v, valid, **norms))
    return pg_loss + kl_loss, loss_metrics(pg_loss, kl_loss, kl, is_clipped, ratio, valid)


# ------------------------------------------------------------------------------------------- name -> function


def resolve_loss(spec: str) -> LossFn:
    """The loss registered as `spec`, or the plug-in `file.py:function` it names.

    UnknownName (a ConfigError listing the registered names) for a name nobody registered; ConfigError for a
    plug-in that cannot be loaded or is not callable.
    """
    fn = LOSSES.resolve(spec)
    if not callable(fn):
        raise TypeError(f"loss {spec!r} is not callable (got {type(fn).__name__})")
    return fn


def loss_call_problem(fn: LossFn, loss_kwargs: Mapping[str, Any]) -> str | None:
    """Why the update could not call `fn` with its keywords and `loss_kwargs`, or None when it can.

    Checks the signature only (nothing runs): five positional tensors, every keyword of `LOSS_KEYWORDS`, and
    each key of `loss_kwargs`. `loss_kwargs` may set `max_completion_length`, none of the other keywords.
    """
    taken = sorted(set(loss_kwargs) & set(LOSS_KEYWORDS) - {"max_completion_length"})
    if taken:
        return f"{', '.join(taken)} cannot be set here (the update passes them; clip and beta have settings)"
    length = loss_kwargs.get("max_completion_length")
    if length is not None and (isinstance(length, bool) or not isinstance(length, int) or length < 1):
        return f"max_completion_length must be an integer >= 1, got {length!r}"
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without a signature: nothing to check
        return None
    keywords = dict.fromkeys(LOSS_KEYWORDS) | dict(loss_kwargs)
    try:
        signature.bind(None, None, None, None, None, **keywords)
    except TypeError as e:
        return str(e)
    return None
