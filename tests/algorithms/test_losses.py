"""Loss variants by name: hand-worked values, gradients, masks, micro-batch accumulation, plug-ins, config."""

import math

import pytest
import torch

from rarl.algorithms import (
    LOSSES,
    cispo_loss,
    dapo_loss,
    dr_grpo_loss,
    grpo_loss,
    gspo_loss,
    loss_normalizers,
    policy_loss,
    resolve_loss,
)
from rarl.train.config import AlgorithmConfig
from rarl.train.policy_update import policy_loss_fn
from rarl.utils.config import ConfigError, from_dict

LN2 = math.log(2.0)
VARIANTS = ["grpo", "dapo", "dr_grpo", "gspo", "cispo"]
METRICS = {"pg_loss", "kl_loss", "kl", "clip_frac", "ratio_mean"}


def _mask(lengths, t):
    return (torch.arange(t).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)).float()


def _random_batch(n=6, t=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    logp = -torch.rand(n, t, generator=gen) * 3
    old_logp = logp + 0.3 * torch.randn(n, t, generator=gen)
    ref_logp = logp + 0.3 * torch.randn(n, t, generator=gen)
    advantages = torch.randn(n, generator=gen)
    mask = _mask([5, 1, 3, 0, 4, 2][:n], t)  # row 3 is empty
    return logp, old_logp, ref_logp, advantages, mask


def test_registry_holds_the_five_variants():
    assert LOSSES.names() == ["cispo", "dapo", "dr_grpo", "grpo", "gspo"]
    assert LOSSES["grpo"] is grpo_loss and LOSSES["cispo"] is cispo_loss


def test_grpo_and_dapo_are_policy_loss_with_their_aggregation():
    logp, old, ref, adv, mask = _random_batch()
    for fn, aggregation in ((grpo_loss, "sequence"), (dapo_loss, "token")):
        got, got_m = fn(logp, old, adv, mask, ref, clip_eps=0.2, clip_eps_high=0.28, beta=0.05)
        want, want_m = policy_loss(
            logp, old, adv, mask, ref, clip_eps=0.2, clip_eps_high=0.28, beta=0.05, aggregation=aggregation
        )
        assert torch.equal(got, want) and got_m == want_m


# ------------------------------------------------------------------------------------------------- dr_grpo


def test_dr_grpo_divides_the_token_sum_by_a_constant():
    """Ratio 1 everywhere: each valid token contributes -A_i; rows of 2 and 1 valid tokens, T = 3."""
    logp = torch.full((2, 3), -1.0, requires_grad=True)
    mask = _mask([2, 1], 3)
    adv = torch.tensor([1.0, 3.0])
    token_sum = -(1.0 * 2 + 3.0 * 1)  # -5
    kw = {"beta": 0.0}
    assert dr_grpo_loss(logp, logp.detach(), adv, mask, **kw)[0].item() == pytest.approx(token_sum / (2 * 3))
    loss, m = dr_grpo_loss(logp, logp.detach(), adv, mask, max_completion_length=10, **kw)
    assert loss.item() == pytest.approx(token_sum / (2 * 10)) and m["pg_loss"] == pytest.approx(-0.25)
    loss, _ = dr_grpo_loss(
        logp, logp.detach(), adv, mask, num_sequences_total=4, max_completion_length=10, **kw
    )
    assert loss.item() == pytest.approx(token_sum / 40)
    # every valid token gets the same weight 1 / (N * L_max), whatever its row's length
    loss.backward()
    torch.testing.assert_close(logp.grad, torch.tensor([[-1.0, -1.0, 0.0], [-3.0, 0.0, 0.0]]) / 40)
    # unlike GRPO (1/|o_i| per row) and DAPO (one token mean)
    assert grpo_loss(logp, logp.detach(), adv, mask, **kw)[0].item() == pytest.approx(-(1.0 + 3.0) / 2)
    assert dapo_loss(logp, logp.detach(), adv, mask, **kw)[0].item() == pytest.approx(token_sum / 3)


def test_dr_grpo_clips_each_token():
    """One token with ratio 2 and A = 1 clipped at 1.2, one with ratio 1/2 and A = -1 clipped at 0.8."""
    logp = torch.zeros(1, 2, requires_grad=True)
    old = torch.tensor([[-LN2, LN2]])
    mask = torch.ones(1, 2)
    loss, m = dr_grpo_loss(logp, old, torch.tensor([1.0]), mask, beta=0.0, max_completion_length=4)
    # token 0: -min(2, 1.2) = -1.2; token 1: A = 1 too: -min(0.5, 0.8) = -0.5; sum / (1 * 4)
    assert loss.item() == pytest.approx((-1.2 - 0.5) / 4)
    assert m["clip_frac"] == pytest.approx(0.5) and m["ratio_mean"] == pytest.approx(1.25)
    loss.backward()  # the clipped token has no gradient; d(-r A)/dlogp = -r A at the other
    torch.testing.assert_close(logp.grad, torch.tensor([[0.0, -0.5 / 4]]))


# ---------------------------------------------------------------------------------------------------- gspo


def _gspo_case():
    """Row 0: 2 tokens, log-ratios (ln 2, 0), A = 1; row 1: 3 tokens at ln 1.1, A = -1; row 2 empty, A = 5."""
    logp = torch.zeros(3, 3, requires_grad=True)
    old = -torch.tensor([[LN2, 0.0, 0.0], [math.log(1.1)] * 3, [0.0, 0.0, 0.0]])
    mask = _mask([2, 3, 0], 3)
    adv = torch.tensor([1.0, -1.0, 5.0])
    return logp, old, adv, mask


def test_gspo_clips_one_length_normalised_ratio_per_sequence():
    logp, old, adv, mask = _gspo_case()
    loss, m = gspo_loss(logp, old, adv, mask, clip_eps=0.2, clip_eps_high=0.2, beta=0.0)
    # row 0: s = exp(ln2 / 2) = sqrt 2 > 1.2, A > 0 -> -1.2 (clipped); row 1: s = 1.1 -> -(1.1 * -1) = 1.1
    assert loss.item() == pytest.approx((-1.2 + 1.1) / 2)  # mean over the 2 non-empty sequences
    assert m["clip_frac"] == pytest.approx(2 / 5)  # row 0's 2 tokens of 5 valid tokens
    assert m["ratio_mean"] == pytest.approx((2 * math.sqrt(2) + 3 * 1.1) / 5)
    # token-level clipping of the same tokens gives another value: row 0 token 0 alone is clipped
    token_level = grpo_loss(logp, old, adv, mask, clip_eps=0.2, beta=0.0)[0].item()
    assert token_level == pytest.approx(((-1.2 - 1.0) / 2 + 1.1) / 2)


def test_gspo_gradient_is_shared_by_the_tokens_of_a_sequence():
    logp, old, adv, mask = _gspo_case()
    loss, _ = gspo_loss(logp, old, adv, mask, clip_eps=0.2, clip_eps_high=0.2, beta=0.0)
    loss.backward()
    # row 0 is clipped: no gradient. Row 1: d/dlogp_t of (-s A) / 2 with s = exp(mean_t log r) -> s / 3 / 2
    expected = torch.zeros(3, 3)
    expected[1] = 1.1 / 3 / 2
    torch.testing.assert_close(logp.grad, expected)


def test_gspo_defaults_are_the_papers_small_epsilons():
    logp = torch.zeros(1, 1)
    old = torch.tensor([[-1e-3]])  # ratio e^0.001 ~ 1.001 > 1 + 4e-4
    loss, m = gspo_loss(logp, old, torch.tensor([1.0]), torch.ones(1, 1), beta=0.0)
    assert loss.item() == pytest.approx(-(1 + 4e-4)) and m["clip_frac"] == 1.0


# --------------------------------------------------------------------------------------------------- cispo


def _cispo_case():
    """Row 0: logp (-1, -2), ratios (1, 2), A = 1; row 1: logp (-0.5), ratio 1/2, A = -2."""
    logp = torch.tensor([[-1.0, -2.0], [-0.5, 0.0]], requires_grad=True)
    old = torch.tensor([[-1.0, -2.0 - LN2], [-0.5 + LN2, 0.0]])
    mask = _mask([2, 1], 2)
    return logp, old, torch.tensor([1.0, -2.0]), mask


def test_cispo_by_hand():
    logp, old, adv, mask = _cispo_case()
    loss, m = cispo_loss(logp, old, adv, mask, clip_eps=0.2, beta=0.0)
    # -w A logp with w = min(r, 1.2), no lower bound: 1 * 1 * 1, 1.2 * 1 * 2, -(0.5 * -2 * -0.5) = -0.5
    assert loss.item() == pytest.approx((1.0 + 2.4 - 0.5) / 3)
    assert m["clip_frac"] == pytest.approx(1 / 3) and m["ratio_mean"] == pytest.approx((1 + 2 + 0.5) / 3)


def test_cispo_gradient_does_not_flow_through_the_ratio():
    logp, old, adv, mask = _cispo_case()
    loss, _ = cispo_loss(logp, old, adv, mask, clip_eps=0.2, beta=0.0)
    loss.backward()
    # d/dlogp = -w A / 3 with w a constant; the capped token (ratio 2, A > 0) keeps a gradient, which
    # PPO-style clipping would zero. Through the ratio, token 0 would get -(r + r logp) A / 3 = 0 instead.
    expected = torch.tensor([[-1.0, -1.2], [1.0, 0.0]]) / 3
    torch.testing.assert_close(logp.grad, expected)


def test_cispo_cap_follows_clip_eps_high():
    logp, old, adv, mask = _cispo_case()
    loss, m = cispo_loss(logp, old, adv, mask, clip_eps=0.2, clip_eps_high=4.0, beta=0.0)
    assert loss.item() == pytest.approx((1.0 + 4.0 - 0.5) / 3) and m["clip_frac"] == 0.0


# ------------------------------------------------------------------------------------------- every variant


@pytest.mark.parametrize(
    ("name", "denominator"),
    [("grpo", 2.0), ("dapo", 3 / 2), ("dr_grpo", 6 / 2), ("gspo", 2.0), ("cispo", 3 / 2)],
)
def test_kl_term_is_aggregated_like_the_policy_term(name, denominator):
    """Row 0: 2 tokens with ref - logp = ln 2 (k3 = 1 - ln 2 each); row 1: 1 token with k3 = 0; T = 3.

    GRPO/GSPO: ((2 (1 - ln2)) / 2 + 0) / 2; DAPO/CISPO: 2 (1 - ln2) / 3; Dr. GRPO: 2 (1 - ln2) / (2 * 3).
    `denominator` is each one's divisor of (1 - ln 2).
    """
    logp = torch.zeros(2, 3)
    ref = torch.tensor([[LN2, LN2, 0.0], [0.0, 0.0, 0.0]])
    loss, m = LOSSES[name](logp, logp, torch.zeros(2), _mask([2, 1], 3), ref, beta=0.5)
    assert m["kl_loss"] == pytest.approx(0.5 * (1 - LN2) / denominator)
    assert m["kl"] == pytest.approx(2 * (1 - LN2) / 3)
    assert loss.item() == pytest.approx(m["pg_loss"] + m["kl_loss"]) and set(m) == METRICS


@pytest.mark.parametrize("name", VARIANTS)
def test_micro_batches_sum_to_the_full_batch(name):
    logp, old, ref, adv, mask = _random_batch()
    kw = {"clip_eps": 0.2, "clip_eps_high": 0.28, "beta": 0.04, "max_completion_length": 7}
    full_logp = logp.clone().requires_grad_(True)
    norms = loss_normalizers(mask)
    full, full_m = LOSSES[name](full_logp, old, adv, mask, ref, **norms, **kw)
    full.backward()

    parts = logp.clone().requires_grad_(True)
    total = torch.zeros(())
    shares = {"pg_loss": 0.0, "kl_loss": 0.0}
    for rows in ([0, 1], [2], [3, 4, 5]):
        idx = torch.tensor(rows)
        loss, m = LOSSES[name](parts[idx], old[idx], adv[idx], mask[idx], ref[idx], **norms, **kw)
        loss.backward()
        total = total + loss.detach()
        for k in shares:
            shares[k] += m[k]
    torch.testing.assert_close(total, full.detach(), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(parts.grad, full_logp.grad, rtol=1e-6, atol=1e-7)
    for k, v in shares.items():
        assert v == pytest.approx(full_m[k], rel=1e-6, abs=1e-7)
    assert full_logp.grad[3].abs().sum() == 0  # the empty row


@pytest.mark.parametrize("name", VARIANTS)
def test_garbage_at_padding_changes_nothing(name):
    logp, old, ref, adv, mask = _random_batch()
    dirty = [t.clone() for t in (logp, old, ref)]
    for t, bad in zip(dirty, (float("nan"), float("-inf"), float("inf"))):
        t[mask == 0] = bad
    clean_in = logp.clone().requires_grad_(True)
    dirty_in = dirty[0].clone().requires_grad_(True)
    clean, clean_m = LOSSES[name](clean_in, old, adv, mask, ref, beta=0.1)
    got, got_m = LOSSES[name](dirty_in, dirty[1], adv, mask, dirty[2], beta=0.1)
    got.backward()
    clean.backward()
    assert torch.isfinite(got) and got.item() == pytest.approx(clean.item(), rel=1e-6)
    assert got_m == pytest.approx(clean_m, rel=1e-6)
    torch.testing.assert_close(dirty_in.grad, clean_in.grad)


@pytest.mark.parametrize("name", VARIANTS)
def test_all_empty_batch_is_zero(name):
    logp = torch.zeros(2, 3, requires_grad=True)
    loss, m = LOSSES[name](logp, logp.detach(), torch.ones(2), torch.zeros(2, 3), beta=0.0)
    loss.backward()
    assert loss.item() == 0.0 and m["clip_frac"] == 0.0 and logp.grad.abs().sum() == 0


@pytest.mark.parametrize("name", VARIANTS)
def test_bad_inputs_are_value_errors(name):
    with pytest.raises(ValueError, match="needs ref_logp"):
        LOSSES[name](torch.zeros(1, 2), torch.zeros(1, 2), torch.ones(1), torch.ones(1, 2), beta=0.1)
    with pytest.raises(ValueError, match="advantages"):
        LOSSES[name](torch.zeros(1, 2), torch.zeros(1, 2), torch.ones(2), torch.ones(1, 2), beta=0.0)


# ---------------------------------------------------------------------------------------- plug-ins, config

PLUGIN = """
import torch


def reinforce(logp, old_logp, advantages, mask, ref_logp=None, *, scale=1.0, **_):
    loss = -scale * (advantages.unsqueeze(1) * logp * mask).sum() / mask.sum()
    return loss, {"pg_loss": float(loss), "kl_loss": 0.0, "kl": 0.0, "clip_frac": 0.0, "ratio_mean": 1.0}


def positional_only(logp, old_logp, advantages, mask, ref_logp=None):
    return logp.sum(), {}
"""


def test_plugin_loss_from_a_file(tmp_path):
    path = tmp_path / "my_loss.py"
    path.write_text(PLUGIN)
    cfg = AlgorithmConfig(loss=f"{path}:reinforce", loss_kwargs={"scale": 2.0})  # plug-ins pass config
    fn = policy_loss_fn(cfg)
    assert fn is resolve_loss(f"{path}:reinforce")
    loss, _ = fn(-torch.ones(1, 2), -torch.ones(1, 2), torch.tensor([3.0]), torch.ones(1, 2), None, scale=2.0)
    assert loss.item() == pytest.approx(6.0)  # -2 * (3 * -1 * 2) / 2

    bad = AlgorithmConfig(loss=f"{path}:positional_only")
    with pytest.raises(ConfigError, match=r"^algorithm\.loss: .*positional_only.*clip_eps"):
        policy_loss_fn(bad)
    with pytest.raises(ConfigError, match=r"^algorithm\.loss: .*no such file"):
        policy_loss_fn(AlgorithmConfig(loss=f"{tmp_path}/missing.py:fn"))
    with pytest.raises(ConfigError, match=r"^algorithm\.loss: .*defines no 'nope'"):
        policy_loss_fn(AlgorithmConfig(loss=f"{path}:nope"))


def test_config_alias_and_errors():
    assert AlgorithmConfig().loss_name == "grpo"
    assert AlgorithmConfig(aggregation="token").loss_name == "dapo"
    assert AlgorithmConfig(loss="gspo").loss_name == "gspo"
    assert AlgorithmConfig(loss="dapo", aggregation="token").loss_name == "dapo"
    assert policy_loss_fn(AlgorithmConfig()) is grpo_loss
    assert policy_loss_fn(AlgorithmConfig(aggregation="token")) is dapo_loss
    cfg = from_dict(AlgorithmConfig, {"loss": "dr_grpo", "loss_kwargs": {"max_completion_length": 64}})
    assert policy_loss_fn(cfg) is dr_grpo_loss

    with pytest.raises(
        ConfigError, match=r"^algorithm\.loss must be one of cispo, dapo, dr_grpo, grpo, gspo"
    ):
        from_dict(AlgorithmConfig, {"loss": "ppo"})
    with pytest.raises(ConfigError, match=r"^algorithm\.aggregation: token .* algorithm\.loss: gspo"):
        AlgorithmConfig(loss="gspo", aggregation="token")
    with pytest.raises(ConfigError, match=r"^algorithm\.loss_kwargs of grpo: .*'window'"):
        AlgorithmConfig(loss_kwargs={"window": 3})
    with pytest.raises(ConfigError, match=r"^algorithm\.loss_kwargs of dapo: beta cannot be set here"):
        AlgorithmConfig(loss="dapo", loss_kwargs={"beta": 0.0})
    with pytest.raises(ConfigError, match=r"^algorithm\.loss_kwargs of dr_grpo: max_completion_length"):
        AlgorithmConfig(loss="dr_grpo", loss_kwargs={"max_completion_length": 0})
