"""GRPO policy loss: clipped surrogate plus `beta * KL` (paper Eq. 1; `beta = 0.01` in Sec. 4.1).

Per valid token `t` of rollout `i`:

    ratio_it = exp(logp_it - old_logp_it)
    pg_it    = -min(ratio_it * A_i, clip(ratio_it, 1 - eps_low, 1 + eps_high) * A_i)
    kl_it    = exp(ref_it - logp_it) - (ref_it - logp_it) - 1          (Schulman's k3, as in GRPO)
    loss_it  = pg_it + beta * kl_it

and the token losses are aggregated by name (`LOSS_AGGREGATIONS`):

- `"sequence"` (GRPO): mean over the valid tokens of each sequence, then mean over sequences. Sequences with no
  valid token (empty rows, padding rows) contribute nothing and are not counted.
- `"token"` (DAPO): sum over all valid tokens divided by the number of valid tokens.

Choices where the paper (which gives only Eq. 1-2) is silent:

- The paper does not name the KL estimator; we use k3, the unbiased, always-non-negative estimator of the
  GRPO paper and TRL, computed as `expm1(d) - d` with `d = ref - logp` for accuracy near 0.
- Log ratios (`logp - old_logp` and `ref - logp`) are clamped to [-20, 20] before `exp`, as verl does, so a
  diverged token gives a large finite loss instead of inf/NaN. Within that range the maths is exact.
- Masked positions never enter an `exp`: they are replaced by 0 first, so garbage or `-inf` log-probs at
  padding cannot produce NaN values or gradients.
- `clip_frac` counts valid tokens where clipping changes the objective (and zeroes the gradient):
  `ratio > 1 + eps_high` with `A > 0`, or `ratio < 1 - eps_low` with `A < 0`.
- Computation runs in at least float32 (bf16 log-probs are upcast); `old_logp`, `ref_logp` and `advantages`
  are treated as constants (detached).
- With `ref_logp` given and `beta = 0`, the KL is still measured (no gradient) and reported as `kl`.

Gradient accumulation: with `num_sequences_total` / `num_tokens_total` set to the counts of the FULL batch
(see `loss_normalizers`), each micro-batch loss is its share of the full-batch loss, so the sum of the
micro-batch losses (and of their gradients) equals the loss of the whole batch under either aggregation.
Under data parallelism, the counts are those of the global batch (summed over ranks).

`policy_loss` is the `grpo` (sequence) and `dapo` (token) loss; `rarl.algorithms.losses` registers every
variant by name in `LOSSES` (`algorithm.loss`), Dr. GRPO, GSPO and CISPO beside these two, and reuses the
pieces here (`check_loss_inputs`, `clipped_surrogate`, `kl_penalty`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch

from rarl.utils.registry import Registry

LOG_RATIO_CLAMP = 20.0

SHARE_METRICS: tuple[str, ...] = ("pg_loss", "kl_loss")
"""Metrics of `policy_loss` that are this call's share of the full-batch loss (they add up over micro-batches);
the others are means over the call's valid tokens."""

LossAggregation = Literal["sequence", "token"]


def _k3_from_log_ratio(log_ratio: torch.Tensor) -> torch.Tensor:
    """k3 given `d = ref - logp`: `exp(d) - d - 1`, as `expm1(d) - d`, d clamped to +-LOG_RATIO_CLAMP."""
    d = log_ratio.clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
    return torch.expm1(d) - d


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Schulman's k3 estimator of KL(pi || pi_ref) per token: `exp(ref - logp) - (ref - logp) - 1`.

    logp, ref_logp: [N, T] -> [N, T], >= 0, zero where the two agree. No masking: apply one to the result.
    """
    if logp.shape != ref_logp.shape:
        raise ValueError(f"logp {tuple(logp.shape)} and ref_logp {tuple(ref_logp.shape)} differ in shape")
    return _k3_from_log_ratio(ref_logp - logp)  # [N, T]


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of `x` over positions where `mask` is non-zero.

    x, mask: same shape (e.g. [N, T]); dim=None -> scalar, dim=d -> x with `d` reduced.
    Entries with no valid position give 0 (never NaN); values at masked positions are ignored even if
    inf/NaN.
    """
    if x.shape != mask.shape:
        raise ValueError(f"x {tuple(x.shape)} and mask {tuple(mask.shape)} differ in shape")
    valid = mask.to(torch.bool)
    total = torch.where(valid, x, torch.zeros_like(x))
    if dim is None:
        return total.sum() / valid.sum().clamp_min(1)
    return total.sum(dim=dim) / valid.sum(dim=dim).clamp_min(1)


# ---------------------------------------------------------------------------------------------------------
# Aggregations: (values [N, T], valid bool [N, T], num_sequences_total, num_tokens_total) -> scalar.
# Each reads only the normaliser it needs, so `**loss_normalizers(mask)` works for both.


def aggregate_sequence(
    values: torch.Tensor,
    valid: torch.Tensor,
    num_sequences_total: float | torch.Tensor | None = None,
    num_tokens_total: float | torch.Tensor | None = None,
) -> torch.Tensor:
    """GRPO: per-sequence mean over valid tokens, summed, divided by the number of non-empty sequences.

    values: [N, T], valid: bool [N, T] -> scalar. `num_sequences_total` replaces the local count of non-empty
    sequences (use the full batch's count when accumulating micro-batches).
    """
    lengths = valid.sum(dim=1)  # [N]
    per_seq = torch.where(valid, values, torch.zeros_like(values)).sum(dim=1) / lengths.clamp_min(1)  # [N]
    denom = (lengths > 0).sum().clamp_min(1) if num_sequences_total is None else num_sequences_total
    return per_seq.sum() / denom


def aggregate_token(
    values: torch.Tensor,
    valid: torch.Tensor,
    num_sequences_total: float | torch.Tensor | None = None,
    num_tokens_total: float | torch.Tensor | None = None,
) -> torch.Tensor:
    """DAPO: sum over all valid tokens divided by the number of valid tokens.

    values: [N, T], valid: bool [N, T] -> scalar. `num_tokens_total` replaces the local token count (use the
    full batch's count when accumulating micro-batches).
    """
    denom = valid.sum().clamp_min(1) if num_tokens_total is None else num_tokens_total
    return torch.where(valid, values, torch.zeros_like(values)).sum() / denom


LOSS_AGGREGATIONS = Registry(
    "loss aggregation",
    {
        "sequence": aggregate_sequence,
        "token": aggregate_token,
    },
)


def loss_normalizers(mask: torch.Tensor) -> dict[str, int]:
    """Full-batch counts for gradient accumulation.

    mask: [N, T] of the whole batch -> {"num_sequences_total": non-empty rows, "num_tokens_total": valid tokens}.
    Pass as `policy_loss(..., **loss_normalizers(full_mask))` for every micro-batch.
    """
    valid = mask.to(torch.bool)
    return {
        "num_sequences_total": int((valid.sum(dim=1) > 0).sum()),
        "num_tokens_total": int(valid.sum()),
    }


def _check_normalizer(name: str, value: float | torch.Tensor | None) -> None:
    if value is not None and not float(value) > 0:
        raise ValueError(f"{name} must be > 0 when given, got {value}")


def check_loss_inputs(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    ref_logp: torch.Tensor | None,
    *,
    clip_eps: float,
    clip_eps_high: float | None,
    beta: float,
    num_sequences_total: float | torch.Tensor | None = None,
    num_tokens_total: float | torch.Tensor | None = None,
) -> float:
    """ValueError on inputs no policy loss accepts (shapes, clip, beta, normalisers) -> the upper clip.

    logp, old_logp, mask, ref_logp: [N, T]; advantages: [N]. The upper clip is `clip_eps_high`, or `clip_eps`
    when that is None.
    """
    if logp.dim() != 2:
        raise ValueError(f"logp must be [N, T], got shape {tuple(logp.shape)}")
    for name, t in (("old_logp", old_logp), ("mask", mask), ("ref_logp", ref_logp)):
        if t is not None and t.shape != logp.shape:
            raise ValueError(f"{name} shape {tuple(t.shape)} != logp shape {tuple(logp.shape)}")
    if advantages.shape != (logp.shape[0],):
        raise ValueError(f"advantages must be [N]={logp.shape[0]}, got shape {tuple(advantages.shape)}")
    clip_high = clip_eps if clip_eps_high is None else clip_eps_high
    if clip_eps < 0 or clip_high < 0:
        raise ValueError(f"clip_eps ({clip_eps}) and clip_eps_high ({clip_high}) must be >= 0")
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    if beta > 0 and ref_logp is None:
        raise ValueError("beta > 0 needs ref_logp; pass beta=0 to train without the KL term")
    _check_normalizer("num_sequences_total", num_sequences_total)
    _check_normalizer("num_tokens_total", num_tokens_total)
    return clip_high


def clipped_surrogate(
    ratio: torch.Tensor, adv: torch.Tensor, clip_low: float, clip_high: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate as a loss, and where clipping changes it.

    ratio: [N, T] (or [N]), adv: broadcastable to it ([N, 1] or [N]) ->
    (`-min(ratio * A, clip(ratio, 1 - clip_low, 1 + clip_high) * A)`, bool mask of the clipped entries:
    `ratio > 1 + clip_high` with `A > 0`, or `ratio < 1 - clip_low` with `A < 0`), both of ratio's shape.
    """
    surr = ratio * adv
    surr_clipped = ratio.clamp(1.0 - clip_low, 1.0 + clip_high) * adv
    pg = -torch.min(surr, surr_clipped)
    is_clipped = ((ratio > 1.0 + clip_high) & (adv > 0)) | ((ratio < 1.0 - clip_low) & (adv < 0))
    return pg, is_clipped


def kl_penalty(
    logp: torch.Tensor,
    ref_logp: torch.Tensor | None,
    valid: torch.Tensor,
    beta: float,
    aggregate: Callable[[torch.Tensor], torch.Tensor],
) -> tuple[torch.Tensor, float]:
    """The KL term of a policy loss: (`beta * aggregate(k3)` with grad, mean k3 over valid tokens).

    logp: [N, T] in the loss's dtype (carries the gradient); ref_logp: [N, T] or None (then (0, 0.0));
    valid: bool [N, T]; aggregate: [N, T] -> scalar, the loss's own aggregation. With `beta = 0` the KL is
    measured without a gradient and the term is 0.
    """
    zero = torch.zeros((), dtype=logp.dtype, device=logp.device)
    kl_loss = torch.zeros((), dtype=logp.dtype, device=logp.device)  # []
    if ref_logp is None:
        return kl_loss, 0.0
    ref_diff = torch.where(valid, ref_logp.detach().to(logp.dtype) - logp, zero)  # [N, T]
    if beta > 0:
        kl = _k3_from_log_ratio(ref_diff)  # [N, T]
        kl_loss = beta * aggregate(kl)  # []
    else:
        with torch.no_grad():
            kl = _k3_from_log_ratio(ref_diff)  # [N, T]
    return kl_loss, float(masked_mean(kl.detach(), valid))


def token_ratio(
    logp: torch.Tensor, old_logp: torch.Tensor, valid: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(logp upcast to >= float32, token ratio exp(logp - old) with masked positions at 1), both [N, T]."""
    dtype = torch.promote_types(logp.dtype, torch.float32)
    zero = torch.zeros((), dtype=dtype, device=logp.device)
    logp = logp.to(dtype)  # [N, T]
    log_ratio = torch.where(valid, logp - old_logp.detach().to(dtype), zero)  # [N, T]
    return logp, log_ratio.clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP).exp()


def loss_metrics(
    pg_loss: torch.Tensor,
    kl_loss: torch.Tensor,
    kl: float,
    clipped: torch.Tensor,
    ratio: torch.Tensor,
    valid: torch.Tensor,
) -> dict[str, float]:
    """The metrics every loss reports; clipped, ratio: [N, T] (a per-sequence value repeated over tokens)."""
    return {
        "pg_loss": float(pg_loss.detach()),
        "kl_loss": float(kl_loss.detach()),
        "kl": kl,
        "clip_frac": float(masked_mean(clipped.to(ratio.dtype), valid)),
        "ratio_mean": float(masked_mean(ratio.detach(), valid)),
    }


def policy_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    ref_logp: torch.Tensor | None = None,
    *,
    clip_eps: float = 0.2,
    clip_eps_high: float | None = None,
    beta: float = 0.01,
    aggregation: LossAggregation = "sequence",
    num_sequences_total: float | torch.Tensor | None = None,
    num_tokens_total: float | torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Clipped GRPO surrogate plus `beta * k3` KL, aggregated by name (the `grpo` and `dapo` losses).

    logp: [N, T] log-probs of the completion tokens under the current policy (carries the gradient).
    old_logp: [N, T] log-probs under the policy that sampled them (equal to `logp` for a single update).
    advantages: [N] one advantage per rollout.
    mask: [N, T] non-zero at valid completion tokens.
    ref_logp: [N, T] log-probs under the reference policy, or None (then `beta` must be 0).
    clip_eps: lower clip `eps_low`; clip_eps_high: upper clip (DAPO clip-higher), defaults to `clip_eps`.
    aggregation: "sequence" (GRPO) or "token" (DAPO), see `LOSS_AGGREGATIONS`.
    num_sequences_total / num_tokens_total: full-batch normalisers for gradient accumulation.
    -> (loss scalar with grad, metrics {"pg_loss", "kl_loss", "kl", "clip_frac", "ratio_mean"} as floats).
    `loss == pg_loss + kl_loss`; `kl`, `clip_frac`, `ratio_mean` are means over this call's valid tokens.
    The other variants (Dr. GRPO, GSPO, CISPO) are in `rarl.algorithms.losses`.
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
    if aggregation not in LOSS_AGGREGATIONS:
        raise ValueError(
            f"unknown loss aggregation {aggregation!r}; expected one of {sorted(LOSS_AGGREGATIONS)}"
        )

    valid = mask.to(torch.bool)  # [N, T]
    logp, ratio = token_ratio(logp, old_logp, valid)  # [N, T] each
    adv = advantages.detach().to(logp.dtype).unsqueeze(1)  # [N, 1]
    pg, is_clipped = clipped_surrogate(ratio, adv, clip_eps, clip_high)  # [N, T] each

    aggregate = LOSS_AGGREGATIONS[aggregation]
    norms = {"num_sequences_total": num_sequences_total, "num_tokens_total": num_tokens_total}
    pg_loss = aggregate(pg, valid, **norms)  # []
    kl_loss, kl_value = kl_penalty(logp, ref_logp, valid, beta, lambda v: aggregate(v, valid, **norms))

    return pg_loss + kl_loss, loss_metrics(pg_loss, kl_loss, kl_value, is_clipped, ratio, valid)


__all__ = [
    "LOG_RATIO_CLAMP",
    "LOSS_AGGREGATIONS",
    "SHARE_METRICS",
    "LossAggregation",
    "aggregate_sequence",
    "aggregate_token",
    "check_loss_inputs",
    "clipped_surrogate",
    "kl_k3",
    "kl_penalty",
    "loss_metrics",
    "loss_normalizers",
    "masked_mean",
    "policy_loss",
    "token_ratio",
]
