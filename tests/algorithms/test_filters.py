"""DAPO dynamic-sampling filter and group-mask expansion."""

import pytest
import torch

from rarl.algorithms import dapo_keep_mask, expand_group_mask


def test_dapo_keep_mask_drops_zero_variance_groups():
    rewards = torch.tensor([0.5, 0.5, 0.5, 0.2, 0.9, 0.4, 0.30000001, 0.3, 0.3])
    assert dapo_keep_mask(rewards, 3).tolist() == [False, True, False]


def test_expand_group_mask():
    keep = torch.tensor([True, False, True])
    assert expand_group_mask(keep, 2).tolist() == [True, True, False, False, True, True]
    rewards = torch.arange(6.0)
    assert rewards[expand_group_mask(keep, 2)].tolist() == [0.0, 1.0, 4.0, 5.0]


def test_expand_group_mask_rejects_2d():
    with pytest.raises(ValueError):
        expand_group_mask(torch.ones(2, 2, dtype=torch.bool), 2)
