"""Property tests: advantages are finite and group-centred; k3 is non-negative."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rarl.algorithms import group_advantages, kl_k3

SETTINGS = settings(max_examples=150, deadline=None)


@st.composite
def grouped_rewards(draw, min_value=None, max_value=None, width=64):
    group_size = draw(st.integers(1, 8))
    num_groups = draw(st.integers(1, 4))
    elements = st.floats(
        min_value=min_value, max_value=max_value, allow_nan=False, allow_infinity=False, width=width
    )
    values = draw(st.lists(elements, min_size=group_size * num_groups, max_size=group_size * num_groups))
    dtype = torch.float32 if width == 32 else torch.float64
    return torch.tensor(values, dtype=dtype), group_size


@SETTINGS
@given(grouped_rewards(width=32), st.sampled_from(["group", "batch"]))
def test_advantages_finite_for_any_finite_float32_rewards(case, scale):
    rewards, group_size = case
    assert torch.isfinite(group_advantages(rewards, group_size, scale=scale)).all()


@SETTINGS
@given(grouped_rewards(min_value=-100.0, max_value=100.0), st.sampled_from(["float32", "float64"]))
def test_group_advantages_zero_mean_per_group(case, dtype):
    rewards, group_size = case
    adv = group_advantages(rewards.to(getattr(torch, dtype)), group_size, scale="group")
    assert torch.isfinite(adv).all()
    group_sums = adv.double().view(-1, group_size).sum(dim=1)
    assert group_sums.abs().max().item() < 1e-5


@SETTINGS
@given(grouped_rewards(min_value=-100.0, max_value=100.0), st.sampled_from(["group", "batch", "none"]))
def test_advantages_finite_and_shift_invariant(case, scale):
    rewards, group_size = case
    adv = group_advantages(rewards, group_size, scale=scale)
    assert torch.isfinite(adv).all()
    torch.testing.assert_close(
        group_advantages(rewards + 3.0, group_size, scale=scale), adv, atol=1e-6, rtol=1e-6
    )


@SETTINGS
@given(
    st.lists(st.floats(-30.0, 30.0, width=32), min_size=1, max_size=32),
    st.lists(st.floats(-30.0, 30.0, width=32), min_size=1, max_size=32),
)
def test_kl_k3_non_negative(a, b):
    n = min(len(a), len(b))
    logp = torch.tensor([a[:n]])
    ref = torch.tensor([b[:n]])
    k3 = kl_k3(logp, ref)
    assert torch.isfinite(k3).all()
    assert (k3 >= 0).all()
