"""Encode each distinct image once: shared across the G rollouts of a prompt, and across passes when frozen.

A GRPO step shows the vision tower the same images many times: every prompt is repeated G times for
generation, and each of the reference, old-policy and update passes sees those B*G rows again. The vision
tower's output for one image does not depend on the other images in the batch (Qwen2.5-VL attends within
each image only), so `SharedImageFeatures` replaces the model's `get_image_features` with one that

- splits the batch's patches into images (`image_grid_thw` gives each image's t*h*w patches), keys each by its
  grid and the bytes of its patches, and runs the vision tower once on the distinct images of the call,
  handing every repeat the same feature tensor (with a trainable tower, autograd sums the repeats' gradients,
  which is what the repeated computation gave);
- while no parameter of the vision tower requires grad (`freeze_vision`, the default; LoRA on the language
  side only), also keeps the features of the last `capacity` images, so the next pass over the same images
  (generation -> reference -> old -> update, all within a step) does not run the tower at all. The weights
  of a frozen tower never change, so a kept feature never goes stale (code that edits a frozen tower's
  weights by hand must call `clear()`).

Outputs are unchanged up to the floating-point order of the batched matmuls (log-probs within 1e-5 in
float32; `tests/model/test_image_features.py`). Installed by `load_policy` (and on the reference copy);
`counts` tells how many images were asked for and how many went through the tower.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from transformers.modeling_outputs import BaseModelOutputWithPooling

__all__ = ["FeatureCounts", "SharedImageFeatures", "install_shared_image_features", "shared_image_features"]

DEFAULT_CAPACITY = 4096
"""Images whose features are kept across passes (a step of 64 prompts x 8 images needs 512)."""


@dataclass
class FeatureCounts:
    """Images asked for (one per image placeholder block in the batch) and images run through the tower."""

    requested: int = 0
    encoded: int = 0


class SharedImageFeatures:
    """Stands in for `Qwen2_5_VLModel.get_image_features` on one model instance (see the module docstring)."""

    def __init__(self, inner: nn.Module, capacity: int = DEFAULT_CAPACITY) -> None:
        self.inner = inner
        self.capacity = capacity
        self.cache: OrderedDict[tuple[Any, ...], Tensor] = OrderedDict()
        self.counts = FeatureCounts()

    def tower_frozen(self) -> bool:
        """True when no vision parameter can change (so features may be kept across calls)."""
        return not any(p.requires_grad for p in self.inner.visual.parameters())

    def clear(self) -> None:
        """Forget every kept feature."""
        self.cache.clear()

    def __call__(self, pixel_values: Tensor, image_grid_thw: Tensor | None = None, **kwargs: Any) -> Any:
        """The model's image features [sum_i tokens_i, D] as a tuple per image (the original's `pooler_output`)."""
        original = type(self.inner).get_image_features
        if image_grid_thw is None:
            return original(self.inner, pixel_values, image_grid_thw, **kwargs)
        patches = image_grid_thw.prod(-1).tolist()  # [I] patches per image
        chunks = torch.split(pixel_values, patches)  # I x [p_i, C*T*P*P]
        keys = [_key(chunk, grid) for chunk, grid in zip(chunks, image_grid_thw.tolist(), strict=True)]
        keep = self.tower_frozen()
        todo: list[int] = []  # first occurrence of each image the tower must encode in this call
        seen: set[tuple[Any, ...]] = set()
        for i, key in enumerate(keys):
            if key not in seen and not (keep and key in self.cache):
                todo.append(i)
            seen.add(key)
        fresh: dict[tuple[Any, ...], Tensor] = {}
        outputs = None
        if todo:
            outputs = original(
                self.inner, torch.cat([chunks[i] for i in todo]), image_grid_thw[todo], **kwargs
            )
            pooled = outputs.pooler_output if hasattr(outputs, "pooler_output") else outputs[1]
            fresh = {keys[i]: feat for i, feat in zip(todo, pooled, strict=True)}
        features = tuple(fresh[k] if k in fresh else self.cache[k] for k in keys)
        if keep:
            for key, feat in fresh.items():
                self.cache[key] = feat.detach()
            for key in keys:
                self.cache.move_to_end(key)
            while len(self.cache) > self.capacity:
                self.cache.popitem(last=False)
        self.counts.requested += len(keys)
        self.counts.encoded += len(todo)
        # last_hidden_state (per patch, before merging) would only hold the encoded images: not returned
        return BaseModelOutputWithPooling(last_hidden_state=None, pooler_output=features)


def _key(chunk: Tensor, grid: list[int]) -> tuple[Any, ...]:
    """An image's identity: its grid, dtype and a digest of its patch bytes."""
    data = chunk.detach().contiguous().cpu()
    digest = hashlib.blake2b(data.view(torch.uint8).numpy().tobytes(), digest_size=16).digest()
    return (tuple(grid), str(data.dtype), digest)


def _inner(model: nn.Module) -> nn.Module | None:
    """The Qwen2_5_VLModel (holding `visual`) inside a plain, peft- or accelerate-wrapped model."""
    for module in model.modules():  # the one whose child is the tower (the outer class only delegates to it)
        if "visual" in module._modules and hasattr(type(module), "get_image_features"):
            return module
    return None


def install_shared_image_features(
    model: nn.Module, capacity: int = DEFAULT_CAPACITY
) -> SharedImageFeatures | None:
    """Give `model` a fresh `SharedImageFeatures` (replacing any it had, e.g. from a deep copy); returns it."""
    inner = _inner(model)
    if inner is None:
        return None
    shared = SharedImageFeatures(inner, capacity)
    inner.get_image_features = shared  # type: ignore[method-assign]  # an instance attribute: no state dict change
    return shared


def shared_image_features(model: nn.Module) -> SharedImageFeatures | None:
    """The `SharedImageFeatures` installed on `model`, if any."""
    inner = _inner(model)
    found = None if inner is None else inner.__dict__.get("get_image_features")
    return found if isinstance(found, SharedImageFeatures) else None
