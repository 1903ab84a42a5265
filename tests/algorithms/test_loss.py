"""Policy loss: clipped surrogate, k3 KL, aggregations, micro-batch accumulation, gradients, edge cases."""

import math

import pytest
import torch

from rarl.algorithms import (
    LOSS_AGGREGATIONS,
    kl_k3,
    loss_normalizers,
    masked_mean,
    policy_loss,
)

LN2 = math.log(2.0)


def _random_batch(n=6, t=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    logp = -torch.rand(n, t, generator=gen) * 3
    old_logp = logp + 0.3 * torch.randn(n, t, generator=gen)
    ref_logp = logp + 0.3 * torch.randn(n, t, generator=gen)
    advantages = torch.randn(n, generator=gen)
    lengths = torch.tensor([5, 1, 3, 0, 4, 2])[:n]
    mask = (torch.arange(t).unsqueeze(0) < lengths.unsqueeze(1)).float()
    return logp, old_logp, ref_logp, advantages, mask


# --------------------------------------------------------------------------------------------------- k3 / mean


def test_kl_k3_by_hand():
    logp = torch.zeros(1, 4)
    ref = torch.tensor([[0.0, LN2, -LN2, 1.0]])
    # exp(d) - d - 1 with d = ref - logp: 0, 2 - ln2 - 1, 1/2 + ln2 - 1, e - 2
    expected = torch.tensor([[0.0, 1 - LN2, LN2 - 0.5, math.e - 2]])
    torch.testing.assert_close(kl_k3(logp, ref), expected)
    # only the difference matters
    torch.testing.assert_close(kl_k3(logp - 3.0, ref - 3.0), expected)


def test_kl_k3_shape_mismatch():
    with pytest.raises(ValueError):
        kl_k3(torch.zeros(2, 3), torch.zeros(2, 4))


def test_masked_mean():
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, float("nan"), float("inf")]])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    assert masked_mean(x, mask).item() == pytest.approx(7 / 3)
    torch.testing.assert_close(masked_mean(x, mask, dim=1), torch.tensor([1.5, 4.0]))
    torch.testing.assert_close(masked_mean(x, mask, dim=0), torch.tensor([2.5, 2.0, 0.0]))
    assert masked_mean(x, torch.zeros_like(mask)).item() == 0.0


# --------------------------------------------------------------------------------------------- hand-worked loss


def test_ratio_one_is_minus_mean_advantage_per_sequence():
    logp, _, _, advantages, mask = _random_batch()
    loss, metrics = policy_loss(logp, logp, advantages, mask, beta=0.0)
    non_empty = mask.sum(dim=1) > 0
    torch.testing.assert_close(loss, -advantages[non_empty].mean())
    assert metrics["ratio_mean"] == pytest.approx(1.0)
    assert metrics["clip_frac"] == 0.0
    assert metrics["kl"] == 0.0 and metrics["kl_loss"] == 0.0
    assert metrics["pg_loss"] == pytest.approx(loss.item())


def test_clipped_case_by_hand():
    # row 0, A = +1: ratios 1.5 (clipped to 1.2, counted) and 0.5 (min picks 0.5, not counted)
    # row 1, A = -1: ratios 1.5 (min picks -1.5, not counted) and 0.5 (clipped to 0.8, counted)
    log_ratio = torch.log(torch.tensor([[1.5, 0.5], [1.5, 0.5]]))
    old_logp = torch.full((2, 2), -1.0)
    logp = (old_logp + log_ratio).requires_grad_()
    advantages = torch.tensor([1.0, -1.0])
    mask = torch.ones(2, 2)
    loss, metrics = policy_loss(logp, old_logp, advantages, mask, clip_eps=0.2, beta=0.0)
    # per-token pg: [[-1.2, -0.5], [1.5, 0.8]] -> sequence means -0.85, 1.15 -> 0.15
    assert loss.item() == pytest.approx(0.15)
    assert metrics["clip_frac"] == pytest.approx(0.5)
    assert metrics["ratio_mean"] == pytest.approx(1.0)
    loss.backward()
    # clipped tokens get no gradient; the others d/dlogp (-A * ratio) / (len * N) = -A * ratio / 4
    torch.testing.assert_close(logp.grad, torch.tensor([[0.0, -0.5 / 4], [1.5 / 4, 0.0]]))

    # clip-higher: eps_high = 0.3 moves the upper bound only -> row 0 token 0 becomes -1.3
    loss, _ = policy_loss(logp, old_logp, advantages, mask, clip_eps=0.2, clip_eps_high=0.3, beta=0.0)
    assert loss.item() == pytest.approx(((-1.3 - 0.5) / 2 + (1.5 + 0.8) / 2) / 2)


def test_sequence_and_token_aggregation_differ_on_unequal_lengths():
    # ratio 1, A = [1, -2]; row 0 has 3 tokens (pg -1 each), row 1 has 1 token (pg +2)
    logp = torch.zeros(2, 3)
    advantages = torch.tensor([1.0, -2.0])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    seq, _ = policy_loss(logp, logp, advantages, mask, beta=0.0, aggregation="sequence")
    tok, _ = policy_loss(logp, logp, advantages, mask, beta=0.0, aggregation="token")
    assert seq.item() == pytest.approx((-1.0 + 2.0) / 2)  # 0.5
    assert tok.item() == pytest.approx((-3.0 + 2.0) / 4)  # -0.25


@pytest.mark.parametrize("aggregation", ["sequence", "token"])
def test_kl_term_by_hand(aggregation):
    # ref - logp = ln 2 on every valid token: k3 = 1 - ln 2 everywhere, so both aggregations give it
    logp = torch.zeros(2, 3)
    ref = torch.full((2, 3), LN2)
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    advantages = torch.tensor([1.0, -2.0])
    base, _ = policy_loss(logp, logp, advantages, mask, beta=0.0, aggregation=aggregation)
    loss, metrics = policy_loss(logp, logp, advantages, mask, ref_logp=ref, beta=0.1, aggregation=aggregation)
    assert metrics["kl"] == pytest.approx(1 - LN2)
    assert metrics["kl_loss"] == pytest.approx(0.1 * (1 - LN2))
    assert loss.item() == pytest.approx(base.item() + 0.1 * (1 - LN2))
    assert loss.item() == pytest.approx(metrics["pg_loss"] + metrics["kl_loss"])


def test_beta_zero_with_ref_reports_kl_without_adding_it():
    logp = torch.zeros(1, 2, requires_grad=True)
    ref = torch.full((1, 2), LN2)
    loss, metrics = policy_loss(
        logp, logp.detach(), torch.tensor([1.0]), torch.ones(1, 2), ref_logp=ref, beta=0.0
    )
    assert metrics["kl"] == pytest.approx(1 - LN2)
    assert metrics["kl_loss"] == 0.0
    assert loss.item() == pytest.approx(-1.0)


# ------------------------------------------------------------------------------------------------- gradients


def test_gradient_at_ratio_one_is_minus_a_over_len_sequence():
    logp0, _, ref, advantages, mask = _random_batch()
    logp = logp0.clone().requires_grad_()
    loss, _ = policy_loss(logp, logp0, advantages, mask, ref_logp=logp0, beta=0.04, aggregation="sequence")
    loss.backward()
    lengths = mask.sum(dim=1)
    n_seq = int((lengths > 0).sum())
    expected = -advantages.unsqueeze(1) / lengths.clamp_min(1).unsqueeze(1) / n_seq * mask
    torch.testing.assert_close(logp.grad, expected)


def test_gradient_single_sequence_is_minus_a_over_len():
    logp = torch.zeros(1, 4, requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 0]])
    loss, _ = policy_loss(logp, logp.detach(), torch.tensor([0.6]), mask, beta=0.0)
    loss.backward()
    torch.testing.assert_close(logp.grad, torch.tensor([[-0.2, -0.2, -0.2, 0.0]]))


def test_gradient_at_ratio_one_token_aggregation():
    logp0, _, _, advantages, mask = _random_batch()
    logp = logp0.clone().requires_grad_()
    loss, _ = policy_loss(logp, logp0, advantages, mask, beta=0.0, aggregation="token")
    loss.backward()
    torch.testing.assert_close(logp.grad, -advantages.unsqueeze(1) * mask / mask.sum())


def test_kl_gradient_pushes_towards_reference():
    logp = torch.zeros(1, 2, requires_grad=True)
    ref = torch.tensor([[LN2, -LN2]])
    loss, _ = policy_loss(logp, logp.detach(), torch.zeros(1), torch.ones(1, 2), ref_logp=ref, beta=1.0)
    loss.backward()
    # d/dlogp k3 = 1 - exp(ref - logp), averaged over 2 tokens: (1 - 2) / 2, (1 - 1/2) / 2
    torch.testing.assert_close(logp.grad, torch.tensor([[-0.5, 0.25]]))


# --------------------------------------------------------------------------------------- micro-batch accumulation


@pytest.mark.parametrize("aggregation", ["sequence", "token"])
def test_micro_batches_sum_to_full_batch(aggregation):
    logp0, old_logp, ref_logp, advantages, mask = _random_batch()
    kwargs = {"beta": 0.05, "clip_eps": 0.2, "clip_eps_high": 0.28, "aggregation": aggregation}

    full_logp = logp0.clone().requires_grad_()
    full, _ = policy_loss(full_logp, old_logp, advantages, mask, ref_logp=ref_logp, **kwargs)
    full.backward()

    norms = loss_normalizers(mask)
    assert norms == {"num_sequences_total": 5, "num_tokens_total": 15}
    micro_logp = logp0.clone().requires_grad_()
    total = torch.zeros(())
    for rows in (slice(0, 2), slice(2, 4), slice(4, 6)):
        part, _ = policy_loss(
            micro_logp[rows],
            old_logp[rows],
            advantages[rows],
            mask[rows],
            ref_logp=ref_logp[rows],
            **kwargs,
            **norms,
        )
        part.backward()
        total = total + part.detach()
    torch.testing.assert_close(total, full.detach())
    torch.testing.assert_close(micro_logp.grad, full_logp.grad)


def test_micro_batches_without_normalizers_do_not_sum_to_full_batch():
    logp, old_logp, _, advantages, mask = _random_batch()
    full, _ = policy_loss(logp, old_logp, advantages, mask, beta=0.0, aggregation="token")
    parts = [
        policy_loss(logp[r], old_logp[r], advantages[r], mask[r], beta=0.0, aggregation="token")[0]
        for r in (slice(0, 3), slice(3, 6))
    ]
    assert not torch.allclose(sum(parts), full)


# ------------------------------------------------------------------------------------------------- edge cases


@pytest.mark.parametrize("aggregation", ["sequence", "token"])
def test_empty_rows_and_garbage_padding_give_no_nan(aggregation):
    logp0 = torch.tensor([[-1.0, -2.0, float("-inf")], [float("nan"), float("-inf"), float("inf")]])
    logp = logp0.clone().requires_grad_()
    old = torch.tensor([[-1.2, -1.8, float("nan")], [0.0, float("nan"), -5.0]])
    ref = torch.tensor([[-0.9, -2.1, float("inf")], [float("-inf"), 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 0], [0, 0, 0]])
    loss, metrics = policy_loss(
        logp, old, torch.tensor([0.5, -1.0]), mask, ref_logp=ref, aggregation=aggregation
    )
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(logp.grad).all()
    assert (logp.grad[1] == 0).all() and (logp.grad[0, 2] == 0)
    assert all(math.isfinite(v) for v in metrics.values())
    alone, _ = policy_loss(
        logp0[:1, :2], old[:1, :2], torch.tensor([0.5]), mask[:1, :2], ref_logp=ref[:1, :2]
    )
    torch.testing.assert_close(loss.detach(), alone, msg="an empty row must not change the loss")


def test_all_empty_batch_is_zero():
    logp = torch.zeros(2, 3, requires_grad=True)
    loss, metrics = policy_loss(logp, logp.detach(), torch.ones(2), torch.zeros(2, 3), ref_logp=logp.detach())
    loss.backward()
    assert loss.item() == 0.0 and (logp.grad == 0).all()
    assert metrics == {"pg_loss": 0.0, "kl_loss": 0.0, "kl": 0.0, "clip_frac": 0.0, "ratio_mean": 0.0}


def test_extreme_log_ratio_stays_finite():
    logp = torch.tensor([[200.0, -200.0]], requires_grad=True)
    old = torch.zeros(1, 2)
    loss, _ = policy_loss(logp, old, torch.tensor([-1.0]), torch.ones(1, 2), ref_logp=old, beta=0.01)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logp.grad).all()


def test_bf16_inputs_upcast():
    logp = torch.zeros(2, 3, dtype=torch.bfloat16, requires_grad=True)
    loss, _ = policy_loss(
        logp, logp.detach(), torch.tensor([1.0, -1.0]), torch.ones(2, 3), ref_logp=logp.detach()
    )
    assert loss.dtype == torch.float32
    loss.backward()
    assert logp.grad.dtype == torch.bfloat16


def test_metrics_are_floats():
    logp, old_logp, ref_logp, advantages, mask = _random_batch()
    _, metrics = policy_loss(logp, old_logp, advantages, mask, ref_logp=ref_logp)
    assert set(metrics) == {"pg_loss", "kl_loss", "kl", "clip_frac", "ratio_mean"}
    assert all(type(v) is float for v in metrics.values())


def test_old_logp_ref_and_advantages_are_constants():
    logp = torch.zeros(1, 2, requires_grad=True)
    old = torch.zeros(1, 2, requires_grad=True)
    ref = torch.full((1, 2), 0.1, requires_grad=True)
    adv = torch.ones(1, requires_grad=True)
    loss, _ = policy_loss(logp, old, adv, torch.ones(1, 2), ref_logp=ref)
    loss.backward()
    assert old.grad is None and ref.grad is None and adv.grad is None
    assert logp.grad is not None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"beta": 0.01}, "ref_logp"),  # beta > 0 without a reference
        ({"beta": -0.1}, "beta"),
        ({"beta": 0.0, "aggregation": "seq-mean"}, "aggregation"),
        ({"beta": 0.0, "clip_eps": -0.1}, "clip_eps"),
        ({"beta": 0.0, "num_tokens_total": 0}, "num_tokens_total"),
    ],
)
def test_policy_loss_rejects_bad_arguments(kwargs, match):
    logp = torch.zeros(2, 3)
    with pytest.raises(ValueError, match=match):
        policy_loss(logp, logp, torch.zeros(2), torch.ones(2, 3), **kwargs)


def test_policy_loss_rejects_bad_shapes():
    logp = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="advantages"):
        policy_loss(logp, logp, torch.zeros(2, 3), torch.ones(2, 3), beta=0.0)
    with pytest.raises(ValueError, match="mask"):
        policy_loss(logp, logp, torch.zeros(2), torch.ones(2, 4), beta=0.0)
    with pytest.raises(ValueError, match="logp"):
        policy_loss(torch.zeros(6), torch.zeros(6), torch.zeros(6), torch.ones(6), beta=0.0)


def test_aggregation_registry():
    assert set(LOSS_AGGREGATIONS) == {"sequence", "token"}
