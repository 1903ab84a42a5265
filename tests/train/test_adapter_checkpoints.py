"""Under LoRA a checkpoint holds the trainable adapter tensors only, resumes them exactly, and refuses a
checkpoint that lacks some of this run's adapters."""

from __future__ import annotations

import pytest
import torch
from accelerate import Accelerator
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from rarl.model.loading import LoraSettings, load_policy
from rarl.train.checkpoint import load_checkpoint, save_checkpoint


def _lora(tiny_model):
    accelerator = Accelerator(cpu=True)
    model = accelerator.prepare(load_policy(tiny_model, lora=LoraSettings(r=4, alpha=8)).model)
    return accelerator, model


def test_lora_checkpoint_holds_the_adapters_and_restores_them(tiny_model, tmp_path):
    accelerator, model = _lora(tiny_model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    with torch.no_grad():  # adapters that moved (lora_B starts at zero)
        for p in model.parameters():
            if p.requires_grad:
                p.copy_(torch.randn_like(p))
    saved = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    ckpt = save_checkpoint(accelerator, tmp_path / "run", 1, {"step": 1}, {"seed": 0})
    with safe_open(str(ckpt / "model.safetensors"), framework="pt") as f:
        assert set(f.keys()) == trainable  # no frozen base weight in the checkpoint
    base = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.zero_()
    assert load_checkpoint(accelerator, ckpt) == {"step": 1}
    for n, p in model.named_parameters():
        assert torch.equal(p, saved[n] if p.requires_grad else base[n]), n

    tensors = load_file(str(ckpt / "model.safetensors"))
    dropped = sorted(tensors)[0]
    del tensors[dropped]
    save_file(tensors, str(ckpt / "model.safetensors"))
    with pytest.raises(RuntimeError, match="lacks 1 trainable tensors"):
        load_checkpoint(accelerator, ckpt)


def test_a_full_model_checkpoint_is_still_whole(tiny_model, tmp_path):
    accelerator = Accelerator(cpu=True)
    model = accelerator.prepare(load_policy(tiny_model).model)
    ckpt = save_checkpoint(accelerator, tmp_path / "run", 1, {"step": 1}, {"seed": 0})
    with safe_open(str(ckpt / "model.safetensors"), framework="pt") as f:
        saved = set(f.keys())
    assert saved == set(model.state_dict()) - {"lm_head.weight"}  # every weight (the tied head once)
