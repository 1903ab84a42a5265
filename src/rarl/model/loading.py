"""Loading a Qwen2.5-VL policy (released checkpoint or the offline tiny one) and its reference model.

`load_policy` goes through `Qwen2_5_VLForConditionalGeneration.from_pretrained` and the processor loader
in `rarl.model.processor` for every source: a hub id, a downloaded folder, or a folder written by
`build_tiny_qwen2_5_vl`. Optional pieces: LoRA adapters on the language model (peft), a frozen vision
tower, gradient checkpointing, and the image pixel budget.

The reference model for the KL term: with LoRA it is the same module with adapters disabled
(`policy.reference()`), so no second copy is held; without LoRA, `make_reference(policy)` deep-copies and
freezes the model once, at the start of training.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from peft import LoraConfig, get_peft_model
from torch import nn
from transformers import AutoConfig, Qwen2_5_VLForConditionalGeneration

from rarl.model.image_features import install_shared_image_features, shared_image_features
from rarl.model.lora_settings import LoraSettings
from rarl.model.processor import load_processor, set_pixel_budget
from rarl.model.special_tokens import SpecialTokens
from rarl.utils.errors import UserError
from rarl.utils.io import user_path

__all__ = [
    "LoraSettings",
    "Policy",
    "check_model_source",
    "is_peft_model",
    "load_for_inference",
    "load_policy",
    "make_reference",
    "not_a_model_folder",
    "resolve_dtype",
    "unwrap_model",
]

DTypeName = Literal["float32", "bfloat16", "float16", "auto"]
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class ModelLoadError(ValueError, UserError):
    """A model folder or hub id that cannot be loaded as a Qwen2.5-VL policy (the message names it)."""


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype | str:
    """'float32' | 'bfloat16' | 'float16' | torch.dtype -> torch.dtype; 'auto' stays 'auto'."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        return "auto"
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {[*_DTYPES, 'auto']}, got {dtype!r}")
    return _DTYPES[dtype]


def is_peft_model(model: Any) -> bool:
    """Whether `model` is a peft-wrapped model (LoRA adapters), also inside a DDP wrapper (`.module`)."""
    inner = getattr(model, "module", model)
    return hasattr(inner, "peft_config") and callable(getattr(inner, "get_base_model", None))


def unwrap_model(model: nn.Module) -> nn.Module:
    """The underlying `Qwen2_5_VLForConditionalGeneration` of a plain or peft-wrapped model."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


@dataclass
class Policy:
    """A loaded policy: model (peft-wrapped with LoRA), processor, tokenizer, and its special token ids."""

    model: nn.Module
    processor: Any | None
    tokenizer: Any | None
    name_or_path: str
    lora: LoraSettings | None = None
    ref_model: nn.Module | None = None
    """Frozen reference for runs without LoRA (set by `make_reference`)."""
    special: SpecialTokens | None = field(default=None)

    def __post_init__(self) -> None:
        if self.special is None:
            config = unwrap_model(self.model).config
            if self.tokenizer is not None:
                self.special = SpecialTokens.from_tokenizer(self.tokenizer, config.text_config.vocab_size)
            else:
                self.special = SpecialTokens.from_config(config)

    @property
    def is_lora(self) -> bool:
        return self.lora is not None

    @property
    def config(self) -> Any:
        return unwrap_model(self.model).config

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @contextmanager
    def reference(self, ref_model: nn.Module | None = None) -> Iterator[nn.Module]:
        """Yield the reference model for the KL term.

        With LoRA: the policy itself with adapters disabled for the duration of the block (no copy).
        Without LoRA: `ref_model`, else `self.ref_model` (from `make_reference`).
        """
        if self.is_lora:
            with self.model.disable_adapter():
                yield self.model
            return
        ref = ref_model if ref_model is not None else self.ref_model
        if ref is None:
            raise ValueError(
                "no reference model: without LoRA call make_reference(policy) once before training"
            )
        yield ref


def make_reference(policy: Policy) -> nn.Module:
    """Deep-copy the (non-LoRA) policy model, freeze it, put it in eval mode, and attach it as `ref_model`."""
    if policy.is_lora:
        raise ValueError("a LoRA policy needs no copy: use policy.reference(), which disables the adapters")
    ref = copy.deepcopy(policy.model)
    ref.requires_grad_(False)
    ref.eval()
    if shared_image_features(policy.model) is not None:
        install_shared_image_features(ref)  # its own cache (the copy's would alias the policy's entries)
    if hasattr(ref, "activation_checkpointing_disable"):  # transformers >= 5 name
        ref.activation_checkpointing_disable()
    elif hasattr(ref, "gradient_checkpointing_disable"):
        ref.gradient_checkpointing_disable()
    policy.ref_model = ref
    return ref


NOT_TRAINED_FOLDERS = ("tiny-model",)
"""Model folders a run folder may hold that are not what it trained (`model.name_or_path: tiny` builds its
starting point there)."""
RUN_TRACES = ("config.yaml", "metrics.jsonl", "checkpoints")
"""What a training run writes into its folder besides model folders (`rarl.train.run_folder`)."""
CHECKPOINT_NAME = re.compile(r"step-\d+")
"""A checkpoint folder's name (`<run>/checkpoints/step-00000010`)."""


def _is_model_folder(path: Path) -> bool:
    return (path / "config.json").is_file()


def _model_subfolders(run: Path) -> list[str]:
    """The model folders inside a run folder, `final` first, then `best`, then the others (stage folders)."""
    try:
        names = sorted(p.name for p in run.iterdir() if p.is_dir() and _is_model_folder(p))
    except OSError:
        return []
    first = [n for n in ("final", "best") if n in names]
    return first + [n for n in names if n not in first and n not in NOT_TRAINED_FOLDERS]


def _few(folder: Path, names: list[str], most: int = 4) -> str:
    """Up to `most` of the paths `folder/name`, and how many more."""
    shown = ", ".join(str(folder / n) for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def not_a_model_folder(path: str | Path) -> str:
    """Why `path` (an existing file or folder without config.json) is not a model folder, pointing at the
    model it leads to when it is a run folder (its `final/`, else `best/` or a stage folder), a folder of runs
    (a demo's), a checkpoint of a run, or a file inside a model folder."""
    path = Path(path)
    if not path.is_dir():
        if _is_model_folder(path.parent):
            return f"{path} is a file of the model folder {path.parent}; give the folder"
        return f"{path} is a file, not a model folder"
    in_checkpoints = CHECKPOINT_NAME.fullmatch(path.name) and path.parent.name == "checkpoints"
    if in_checkpoints or (path.name == "checkpoints" and (path.parent / "config.yaml").is_file()):
        run = path.parent.parent if in_checkpoints else path.parent
        what = "a training checkpoint" if in_checkpoints else "the checkpoints folder of a run"
        if _is_model_folder(run / "final"):
            return f"{path} is {what}, not a model folder; the run's model is {run / 'final'}"
        return f"{path} is {what}, not a model folder; resume the run in {run} (`--resume`) to finish it"
    models = _model_subfolders(path)
    if any((path / name).exists() for name in RUN_TRACES):
        if "final" in models:
            also = [f"{n}/" for n in models[1:]]
            return f"{path} is a run folder; its model is {path / 'final'}" + (
                f" (or {', '.join(also)})" if also else ""
            )
        if models:
            unfinished = f"{path} is a run folder without final/ (the run has not finished)"
            return f"{unfinished}; its models: {_few(path, models)}"
        return (
            f"{path} is a run folder with no model saved yet (no final/); "
            "resume the run (`--resume`) to finish it"
        )
    try:
        runs = sorted(
            p.name + "/final" for p in path.iterdir() if p.is_dir() and _is_model_folder(p / "final")
        )
    except OSError:
        runs = []
    if runs or models:
        return f"{path} is not a model folder (no config.json); models in it: {_few(path, runs + models)}"
    return f"{path} is not a model folder (no config.json)"


def check_model_source(name_or_path: str | Path) -> str:
    """Fail early, in one line, on a missing folder or a folder that is not a Qwen2.5-VL model (a run
    folder's message names its model folder); returns the source to load."""
    text = str(name_or_path)
    path = user_path(text)
    if path.exists():
        if not path.is_dir():
            raise ModelLoadError(not_a_model_folder(path))
        config_file = path / "config.json"
        if not config_file.is_file():
            raise ModelLoadError(not_a_model_folder(path))
        try:
            config = json.loads(config_file.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise ModelLoadError(f"{config_file} is not a text file (not UTF-8 JSON)") from None
        except json.JSONDecodeError as err:
            raise ModelLoadError(f"{config_file} is not valid JSON ({err.msg})") from None
        if not isinstance(config, dict):
            raise ModelLoadError(
                f"{config_file} holds a JSON {type(config).__name__}, not a model config object"
            )
        model_type = config.get("model_type")
        if model_type != "qwen2_5_vl":
            raise ModelLoadError(
                f"{path} holds a {model_type!r} model, not Qwen2.5-VL (model_type 'qwen2_5_vl')"
            )
        return str(path)
    looks_local = text.startswith(("/", ".", "~")) or "\\" in text or text.count("/") != 1
    if looks_local:
        raise ModelLoadError(f"model folder not found: no such folder {path}")
    try:  # a hub id such as Qwen/Qwen2.5-VL-3B-Instruct, from the local hub cache only (never the network)
        model_type = AutoConfig.from_pretrained(text, local_files_only=True).model_type
    except (OSError, ValueError):
        raise ModelLoadError(
            f"model folder not found: no such folder {path} (nor a hub id {text!r} in the local hub cache; "
            "download it first, e.g. `hf download`, or give the folder's path)"
        ) from None
    if model_type != "qwen2_5_vl":
        raise ModelLoadError(f"{text} is a {model_type!r} model, not Qwen2.5-VL (model_type 'qwen2_5_vl')")
    return text


@contextmanager
def _load_errors(source: str, what: str) -> Iterator[None]:
    """Turn a failure to read the model's `what` (a truncated or empty safetensors file, random bytes, a
    missing tokenizer, ...) into one `ModelLoadError` naming the folder. transformers, safetensors and
    tokenizers raise many types for bad files, so any exception counts; an OSError that is not about the
    files' content (a full disk, a permission) is passed on as it is."""
    try:
        yield
    except ModelLoadError:
        raise
    except (PermissionError, MemoryError):
        raise
    except Exception as err:
        if isinstance(err, OSError) and err.errno is not None:
            raise
        first = " ".join(str(err).split()) or type(err).__name__
        raise ModelLoadError(
            f"{source}: cannot load the model's {what} ({type(err).__name__}: {first[:300]})"
        ) from None


def lora_config(lora: LoraSettings) -> LoraConfig:
    """peft's LoraConfig for the settings: the adapters `load_policy` puts on the language model."""
    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_regex(),
        bias="none",
        task_type="CAUSAL_LM",
    )


def _apply_lora(model: nn.Module, lora: LoraSettings) -> nn.Module:
    return get_peft_model(model, lora_config(lora))


def load_for_inference(name_or_path: str | Path) -> Policy:
    """A model folder or hub id loaded for evaluation or scoring, in the dtype its weights are stored in
    (`dtype="auto"`): a bf16 3B folder takes its 7.5 GB, not the 15 GB of a float32 copy, and the tiny
    float32 models stay float32."""
    return load_policy(name_or_path, dtype="auto")


def load_policy(
    name_or_path: str | Path,
    *,
    dtype: DTypeName | torch.dtype = "float32",
    attn_implementation: str = "sdpa",
    lora: LoraSettings | None = None,
    freeze_vision: bool = True,
    gradient_checkpointing: bool = False,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    device: str | torch.device | None = None,
    share_image_features: bool = True,
) -> Policy:
    """Load a Qwen2.5-VL policy.

    Args:
        name_or_path: a local model folder (released checkpoint or `build_tiny_qwen2_5_vl` output) or a hub id.
        dtype: parameter dtype; "auto" keeps the checkpoint's.
        attn_implementation: "sdpa", "eager" or "flash_attention_2".
        lora: adapters on the language model's linear layers; `None` trains all unfrozen weights.
        freeze_vision: freeze the vision tower including the merger (`model.model.visual`).
        gradient_checkpointing: recompute activations in the backward pass (non-reentrant).
        min_pixels, max_pixels: image area bounds for the image processor (None keeps the folder's value).
        device: move the model there (None leaves it on CPU).
        share_image_features: encode each distinct image once per forward pass, and once across passes
            while the vision tower is frozen (`rarl.model.image_features`; outputs unchanged).
    """
    torch_dtype = resolve_dtype(dtype)
    source = check_model_source(name_or_path)
    with _load_errors(source, "weights"):
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(
            source, dtype=torch_dtype, attn_implementation=attn_implementation, local_files_only=True
        )
    with _load_errors(source, "processor and tokenizer"):
        processor = load_processor(source)
        set_pixel_budget(processor, min_pixels, max_pixels)
        tokenizer = processor.tokenizer
        SpecialTokens.from_tokenizer(tokenizer, model.config.text_config.vocab_size)
    tokenizer.padding_side = "left"
    if device is not None:
        model.to(device)
    if freeze_vision:
        model.model.visual.requires_grad_(False)
    if gradient_checkpointing:  # non-reentrant: works with frozen inputs (LoRA, frozen vision) as is
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5 name
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if lora is not None:
        model = _apply_lora(model, lora)
    if share_image_features:
        install_shared_image_features(model)
    return Policy(
        model=model, processor=processor, tokenizer=tokenizer, name_or_path=str(name_or_path), lora=lora
    )
