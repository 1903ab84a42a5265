"""What the memory plan needs to know about a model, from its config alone (no weights).

`model_facts(config, dtype, lora, freeze_vision)` builds `Qwen2_5_VLForConditionalGeneration(config)` on the
meta device (shapes and dtypes, no memory), freezes and adapts it as `rarl.model.loading.load_policy` does
(vision tower frozen, peft LoRA adapters), and reads off exact parameter counts and bytes: tied embeddings
counted once, LoRA adapters in the dtype peft gives them (float32 over a bf16/fp16 base: peft's
`autocast_adapter_dtype`), trainable and frozen parameters apart.

`resolve_model_config(source)` turns a model source into its config without downloading anything: a local
folder's `config.json`, the released Qwen2.5-VL-3B/7B-Instruct hub ids as their published configs
(`rarl.model.full_size`), another hub id from the local hub cache only, `tiny` as the offline tiny model's
config. It also returns the image processor's pixel budget where the source records one.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from peft import get_peft_model
from transformers import AutoConfig, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

from rarl.model.full_size import full_size_config
from rarl.model.loading import ModelLoadError, check_model_source, lora_config, resolve_dtype
from rarl.model.lora_settings import LoraSettings
from rarl.model.tiny import TINY_IMAGE_SIZE, build_tiny_tokenizer, tiny_config

__all__ = [
    "RELEASED",
    "RELEASED_MAX_PIXELS",
    "ModelFacts",
    "ResolvedModel",
    "model_facts",
    "resolve_model_config",
]

RELEASED = {"Qwen/Qwen2.5-VL-3B-Instruct": "3b", "Qwen/Qwen2.5-VL-7B-Instruct": "7b"}
"""Hub ids whose published config `rarl.model.full_size` holds (nothing is downloaded for them)."""
RELEASED_MAX_PIXELS = 12_845_056
"""`max_pixels` of the released models' preprocessor_config.json (16384 * 28 * 28): their image budget when a
run config sets none."""


@dataclass(frozen=True)
class ResolvedModel:
    """A model source's config, where it came from, and its image processor's `max_pixels` (None: unknown)."""

    config: Qwen2_5_VLConfig
    origin: str
    max_pixels: int | None


def _folder_max_pixels(folder: Path) -> int | None:
    """The pixel budget a model folder's preprocessor_config.json records (`max_pixels` or
    `size.longest_edge`), None when it records none or cannot be read."""
    try:
        data = json.loads((folder / "preprocessor_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    size = data.get("size") if isinstance(data.get("size"), dict) else {}
    value = data.get("max_pixels", size.get("longest_edge"))
    return int(value) if isinstance(value, int | float) and value >= 1 else None


def resolve_model_config(source: str) -> ResolvedModel:
    """A model source -> its config (see the module docstring); ModelLoadError naming the source otherwise."""
    if source == "tiny":
        config = tiny_config(build_tiny_tokenizer(seed=0))
        return ResolvedModel(
            config, "the offline tiny Qwen2.5-VL (built by `rarl train`)", TINY_IMAGE_SIZE**2
        )
    path = Path(source).expanduser()
    if not path.exists():
        size = {k.lower(): v for k, v in RELEASED.items()}.get(source.lower())
        if size is not None:
            origin = f"{source}: the published config (rarl.model.full_size)"
            return ResolvedModel(full_size_config(size), origin, RELEASED_MAX_PIXELS)
    checked = check_model_source(source)  # a missing folder, a run folder, a foreign model: one line each
    try:
        config = AutoConfig.from_pretrained(checked, local_files_only=True)
    except (OSError, ValueError) as err:
        first = " ".join(str(err).split())[:200]
        raise ModelLoadError(f"{source}: cannot read the model's config ({first})") from None
    folder = Path(checked).expanduser()
    pixels = _folder_max_pixels(folder) if folder.is_dir() else None
    return ResolvedModel(config, f"{source} (config.json)", pixels)


@dataclass(frozen=True)
class ModelFacts:
    """Exact parameter counts and bytes of a configured policy, and the shapes the byte formulas use."""

    total_params: int
    """Every parameter of the base model, tied embeddings once (the published count), adapters excluded."""
    adapter_params: int
    """LoRA adapter parameters (0 without LoRA)."""
    trainable_params: int
    trainable_tensors: int
    weight_bytes: int
    """Every parameter (base and adapters) in its dtype."""
    base_bytes: int
    """The base model's parameters in the config dtype (what a reference copy holds)."""
    trainable_bytes: int
    frozen_bytes: int
    largest_trainable_bytes: int
    tied_trainable: bool
    """The tied embedding / LM-head matrix is trainable (its two uses' gradients meet in backward)."""
    layer_params: int
    """Parameters of one decoder layer (base)."""
    root_params: int
    """Base parameters outside the decoder layers and vision blocks (embeddings, norms, merger, LM head)."""
    vision_trainable: bool
    param_bytes: int
    """Bytes per base parameter (the config dtype)."""
    adapter_bytes: int
    """Bytes per adapter parameter (0 without LoRA)."""
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    vision_hidden: int
    vision_intermediate: int
    vision_depth: int
    patch_size: int
    merge_size: int
    lora: LoraSettings | None


def _dtype(config: Qwen2_5_VLConfig, dtype: str | torch.dtype) -> torch.dtype:
    """The parameter dtype `load_policy(dtype=...)` gives: 'auto' keeps the checkpoint's (bf16 if none)."""
    resolved = resolve_dtype(dtype)
    if resolved != "auto":
        return resolved  # type: ignore[return-value]
    recorded = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    if isinstance(recorded, str):
        recorded = getattr(torch, recorded, None)
    return recorded if isinstance(recorded, torch.dtype) else torch.bfloat16


def _meta_model(config: Qwen2_5_VLConfig, dtype: torch.dtype) -> Any:
    previous = torch.get_default_dtype()
    try:
        torch.set_default_dtype(dtype)
        with torch.device("meta"):
            return Qwen2_5_VLForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(previous)


def model_facts(
    config: Qwen2_5_VLConfig,
    dtype: str | torch.dtype = "bfloat16",
    lora: LoraSettings | None = None,
    freeze_vision: bool = True,
) -> ModelFacts:
    """Build the configured policy on the meta device and count it (see the module docstring)."""
    torch_dtype = _dtype(config, dtype)
    model = _meta_model(config, torch_dtype)
    base = list(model.parameters())  # shared (tied) tensors once
    layer_params = sum(p.numel() for p in model.model.language_model.layers[0].parameters())
    in_blocks = {id(p) for p in model.model.language_model.layers.parameters()}
    in_blocks |= {id(p) for p in model.model.visual.blocks.parameters()}
    root_params = sum(p.numel() for p in base if id(p) not in in_blocks)
    embedding = model.get_input_embeddings().weight
    tied = model.get_output_embeddings().weight is embedding
    if freeze_vision:
        model.model.visual.requires_grad_(False)
    if lora is not None:
        with warnings.catch_warnings(), torch.device("meta"):
            warnings.simplefilter("ignore")
            model = get_peft_model(model, lora_config(lora))  # the adapters load_policy adds
    params = list(model.parameters())
    base_ids = {id(p) for p in base}
    adapters = [p for p in params if id(p) not in base_ids]
    trainable = [p for p in params if p.requires_grad]
    text, vision = config.text_config, config.vision_config
    heads = text.num_attention_heads
    return ModelFacts(
        total_params=sum(p.numel() for p in base),
        adapter_params=sum(p.numel() for p in adapters),
        trainable_params=sum(p.numel() for p in trainable),
        trainable_tensors=len(trainable),
        weight_bytes=sum(p.numel() * p.element_size() for p in params),
        base_bytes=sum(p.numel() * p.element_size() for p in base),
        trainable_bytes=sum(p.numel() * p.element_size() for p in trainable),
        frozen_bytes=sum(p.numel() * p.element_size() for p in params if not p.requires_grad),
        largest_trainable_bytes=max((p.numel() * p.element_size() for p in trainable), default=0),
        tied_trainable=tied and embedding.requires_grad,
        layer_params=layer_params,
        root_params=root_params,
        vision_trainable=any(p.requires_grad for p in _vision_params(model)),
        param_bytes=torch.empty((), dtype=torch_dtype, device="meta").element_size(),
        adapter_bytes=adapters[0].element_size() if adapters else 0,
        hidden=text.hidden_size,
        intermediate=text.intermediate_size,
        layers=text.num_hidden_layers,
        heads=heads,
        kv_heads=text.num_key_value_heads,
        head_dim=getattr(text, "head_dim", None) or text.hidden_size // heads,
        vocab=text.vocab_size,
        vision_hidden=vision.hidden_size,
        vision_intermediate=vision.intermediate_size,
        vision_depth=vision.depth,
        patch_size=vision.patch_size,
        merge_size=vision.spatial_merge_size,
        lora=lora,
    )


def _vision_params(model: Any) -> list[torch.nn.Parameter]:
    """The vision tower's parameters (adapters included) of a plain or peft-wrapped model."""
    for name, module in model.named_modules():
        if name.endswith("model.visual"):
            return list(module.parameters())
    return []
