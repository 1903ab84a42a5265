"""One prompt prefill shared by the G rows of a group: the pieces the log-prob passes and generation use.

The G rows of a GRPO group hold the same prompt (images included). Instead of running that prompt G times,
run it once per distinct prompt with a KV cache, copy the cache to the group's rows, and continue each row
from there with the 3-D rope positions the prompt ended on. Qwen2.5-VL's positions come from the model's
own `get_rope_index`, so the continuation sees exactly the positions a full pass would give it.

- `distinct_prompts(prompts, groups)`: one row per distinct group id, and the row -> distinct-prompt map;
- `prompt_positions(model, prompts)`: the 3-D rope positions of left-padded prompt rows;
- `prefill(model, prompts, positions, upto)`: the forward pass with a cache over the first `upto` columns;
- `copy_rows(cache, rows)`: the cache expanded (or reordered) to the given rows;
- `cache_keyword(model)`, `output_cache(out)`: the name a KV cache goes in and comes out by, which
  transformers renamed from `past_key_values` to `cache` within 5.x (the old name warns, then goes).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import torch
from torch import Tensor, nn

from rarl.model.batch import PromptBatch

__all__ = [
    "cache_dropped",
    "cache_keyword",
    "copy_rows",
    "distinct_prompts",
    "output_cache",
    "prefill",
    "prompt_positions",
]


def distinct_prompts(prompts: PromptBatch, groups: Tensor) -> tuple[PromptBatch, Tensor]:
    """prompts: n rows, equal `groups` [n] meaning equal prompts -> (u distinct rows, row map [n] in 0..u-1).

    The distinct rows are the first row of each group, in order of the group ids.
    """
    n = len(prompts)
    _, inv = torch.unique(groups.cpu(), return_inverse=True)  # [n] -> 0..u-1
    u = int(inv.max()) + 1 if n else 0
    first = torch.full((u,), n, dtype=torch.long).scatter_reduce(0, inv, torch.arange(n), "amin")  # [u]
    return prompts.select(first), inv.to(prompts.device)


def _rope_model(model: nn.Module) -> nn.Module:
    """The submodule that owns `get_rope_index` (Qwen2.5-VL's inner model), under any wrapper."""
    for module in model.modules():
        if callable(getattr(module, "get_rope_index", None)):
            return module
    raise TypeError(f"{type(model).__name__} has no get_rope_index: prompt sharing needs a Qwen2.5-VL model")


def prompt_positions(model: nn.Module, prompts: PromptBatch) -> Tensor:
    """The 3-D rope positions of left-padded prompt rows: [3, n, P] (0 on padding)."""
    mask = prompts.attention_mask
    if prompts.pixel_values is None:
        pos = (mask.cumsum(-1) - 1).clamp(min=0)  # [n, P]
        return pos.unsqueeze(0).expand(3, -1, -1)
    pos, _ = _rope_model(model).get_rope_index(
        prompts.input_ids,
        mm_token_type_ids=prompts.mm_token_type_ids,
        image_grid_thw=prompts.image_grid_thw,
        attention_mask=mask,
    )
    return pos  # [3, n, P]


@functools.cache
def _takes_cache(cls: type) -> bool:
    return "cache" in inspect.signature(cls.forward).parameters


def cache_keyword(model: nn.Module) -> str:
    """The keyword the model's forward and `generate` take a KV cache by: `cache` where this transformers
    has it (the inner Qwen2.5-VL model's forward names it), else `past_key_values`."""
    return "cache" if _takes_cache(type(_rope_model(model))) else "past_key_values"


def output_cache(out: Any) -> Any:
    """The KV cache a forward pass with `use_cache=True` returned, by its name in this transformers."""
    return out.cache if "cache" in getattr(out, "__dataclass_fields__", {}) else out.past_key_values


def cache_dropped(model: nn.Module) -> bool:
    """Whether the model's layers would drop a KV cache: gradient checkpointing in training mode."""
    return model.training and any(getattr(m, "gradient_checkpointing", False) for m in model.modules())


def prefill(model: nn.Module, prompts: PromptBatch, positions: Tensor, upto: int | None = None) -> Any:
    """Forward pass over the prompt columns [:upto] with a KV cache; returns the model output.

    Only the last position goes through the LM head (`logits_to_keep=1`): out.logits [u, 1, V] predicts the
    token after column upto-1, `output_cache(out)` is the cache. Image placeholders must all lie before
    `upto` (a prompt ends with text, so `upto = P - 1` keeps every image).
    """
    upto = prompts.prompt_length if upto is None else upto
    inputs = {
        "input_ids": prompts.input_ids[:, :upto],
        "attention_mask": prompts.attention_mask[:, :upto],
        "mm_token_type_ids": prompts.mm_token_type_ids[:, :upto],
        "position_ids": positions[..., :upto],
        "use_cache": True,
        "logits_to_keep": 1,
    }
    if prompts.pixel_values is not None:
        inputs["pixel_values"] = prompts.pixel_values
        inputs["image_grid_thw"] = prompts.image_grid_thw
    return model(**inputs)


def copy_rows(cache: Any, rows: Tensor) -> Any:
    """Every layer's keys and values [u, H, P, D] -> [len(rows), H, P, D], in place on `cache`; returns it.

    `index_select`, whose backward (index_add) is deterministic on CPU, not the cache's own
    `batch_select_indices` (advanced indexing, whose accumulating backward is not: two identical training
    runs differed by 1e-6 in the vision tower's weights).
    """
    for layer in cache.layers:
        layer.keys = layer.keys.index_select(0, rows)
        layer.values = layer.values.index_select(0, rows)
    return cache
