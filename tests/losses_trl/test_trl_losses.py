"""The loss variants against TRL 1.16's GRPO loss on the same random tensors (`make test-trl`, .venv-trl).

TRL computes its loss inside the method `GRPOTrainer._compute_loss(model, inputs)`, after a forward pass
(`_get_per_token_logps_and_entropies`) and before logging; no smaller function takes per-token log-probs,
advantages and masks. So each case calls that method, unchanged, on the smallest object it reads: a
`GRPOTrainer` made without `__init__`, holding the settings the method reads, a one-process stand-in for the
accelerator's gather/reduce, and the forward pass replaced by the given log-probs. Losses and gradients
(with respect to the log-probs) must agree within 1e-6.

TRL's names for ours: grpo -> `loss_type="grpo"`; dapo -> `"dapo"` (normalised by `num_items_in_batch`, the
batch's valid tokens); dr_grpo -> `"dr_grpo"` (rows x `max_completion_length`); gspo -> `"grpo"` with
`importance_sampling_level="sequence"`; cispo -> `"cispo"` with `epsilon_high` = our `1 + clip_eps_high`. TRL
has all five. Its KL bias correction (`use_bias_correction_kl`, on by default, multiplies the k3 term by the
importance ratio) is turned off: our KL term is GRPO's plain k3. TRL's grpo and gspo average over every row,
empty ones included: ours over `num_sequences_total`, given here as the number of rows.
"""

from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch

grpo_trainer = pytest.importorskip("trl.trainer.grpo_trainer")  # not installed: the whole tier skips

from rarl.algorithms import LOSSES  # noqa: E402

pytestmark = pytest.mark.trl

N, T = 8, 12
BETA = 0.04


class _OneProcess:
    """What `_compute_loss` asks of the accelerator, for one process."""

    num_processes = 1

    def gather(self, x):
        return x

    gather_for_metrics = gather

    def reduce(self, x, reduction="sum"):
        return x


def trl_loss(logp, old, adv, mask, ref, *, loss_type, eps_low, eps_high, level="token", max_len=None):
    cls = grpo_trainer.GRPOTrainer
    trainer = cls.__new__(cls)  # no __init__: no model, data or config to build
    settings = {
        "loss_type": loss_type,
        "importance_sampling_level": level,
        "epsilon_low": eps_low,
        "epsilon_high": eps_high,
        "beta": BETA,
        "max_completion_length": max_len,
        "top_entropy_quantile": 1.0,
        "off_policy_mask_threshold": None,
        "use_vllm": False,
        "vllm_importance_sampling_correction": False,
        "aux_loss_enabled": False,
        "_entropy_bonus_enabled": False,
        "current_gradient_accumulation_steps": 1,
        "args": SimpleNamespace(use_bias_correction_kl=False, delta=None, steps_per_generation=1),
        "model": SimpleNamespace(training=True),
        "accelerator": _OneProcess(),
        "_metrics": {"train": defaultdict(list), "eval": defaultdict(list)},
    }
    trainer.__dict__.update(settings)
    logp = logp.clone().requires_grad_(True)
    trainer._get_per_token_logps_and_entropies = lambda *a, **k: (logp, torch.zeros_like(logp), None)
    inputs = {
        "prompt_ids": torch.zeros(N, 1, dtype=torch.long),
        "prompt_mask": torch.ones(N, 1, dtype=torch.long),
        "completion_ids": torch.zeros(N, T, dtype=torch.long),
        "completion_mask": mask,
        "advantages": adv,
        "old_per_token_logps": old,
        "ref_per_token_logps": ref,
        "num_items_in_batch": mask.sum(),
    }
    loss = cls._compute_loss(trainer, None, inputs)
    loss.backward()
    return loss.detach(), logp.grad


def ours(name, logp, old, adv, mask, ref, **kw):
    logp = logp.clone().requires_grad_(True)
    loss, _ = LOSSES[name](logp, old, adv, mask, ref, beta=BETA, **kw)
    loss.backward()
    return loss.detach(), logp.grad


def batch(noise, seed=0):
    gen = torch.Generator().manual_seed(seed)
    logp = -torch.rand(N, T, generator=gen) * 3
    old = logp + noise * torch.randn(N, T, generator=gen)
    ref = logp + 0.3 * torch.randn(N, T, generator=gen)
    adv = torch.randn(N, generator=gen)
    lengths = torch.tensor([12, 1, 7, 0, 9, 3, 12, 5])  # one empty row, two full ones
    mask = (torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)).float()
    return logp, old, adv, mask, ref


# name, noise of old_logp, TRL's call, ours
CASES = {
    "grpo": (0.3, {"loss_type": "grpo", "eps_low": 0.2, "eps_high": 0.2}, {"num_sequences_total": N}),
    "dapo": (0.3, {"loss_type": "dapo", "eps_low": 0.2, "eps_high": 0.28}, {"clip_eps_high": 0.28}),
    "dr_grpo": (
        0.3,
        {"loss_type": "dr_grpo", "eps_low": 0.2, "eps_high": 0.2, "max_len": 16},
        {"max_completion_length": 16},
    ),
    "gspo": (
        1e-3,  # sequence ratios within 1e-3 of 1: some clipped at 3e-4 / 4e-4, some not
        {"loss_type": "grpo", "eps_low": 3e-4, "eps_high": 4e-4, "level": "sequence"},
        {"clip_eps": 3e-4, "clip_eps_high": 4e-4, "num_sequences_total": N},
    ),
    "cispo": (0.3, {"loss_type": "cispo", "eps_low": 0.2, "eps_high": 1.28}, {"clip_eps_high": 0.28}),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_loss_and_gradient_equal_trl(name, seed):
    noise, trl_kw, our_kw = CASES[name]
    tensors = batch(noise, seed)
    trl_value, trl_grad = trl_loss(*tensors, **trl_kw)
    value, grad = ours(name, *tensors, **{"clip_eps": 0.2, **our_kw})
    loss_diff = float((value - trl_value).abs())
    grad_diff = float((grad - trl_grad).abs().max())
    print(
        f"\n{name} seed {seed}: loss {float(value):+.6f}, max |diff| loss {loss_diff:.2e}, grad {grad_diff:.2e}"
    )
    assert loss_diff <= 1e-6 and grad_diff <= 1e-6
    assert float(trl_grad.abs().sum()) > 0


def test_gspo_case_clips_some_sequences_and_not_others():
    logp, old, adv, mask, _ = batch(1e-3)
    lengths = mask.sum(1).clamp_min(1)
    s = (((logp - old) * mask).sum(1) / lengths).exp()[mask.sum(1) > 0]
    outside = ((s < 1 - 3e-4) | (s > 1 + 4e-4)).float().mean()
    assert 0 < float(outside) < 1
