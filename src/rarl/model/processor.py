"""The one place where a Qwen2.5-VL processor is built or loaded.

Why this module exists
----------------------
`Qwen2_5_VLProcessor` declares three sub-processors: `image_processor`, `tokenizer` and `video_processor`.
On transformers 5.x the video processor needs torchvision. Without torchvision:

* constructing `Qwen2_5_VLProcessor(image_processor, tokenizer)` fails inside
  `ProcessorMixin.check_argument_for_proper_class("video_processor", None)`: the base class it checks
  against (`VideoProcessorMixin`) is not importable, and the fallback lookup reads `_extra_content` from a
  dummy `VIDEO_PROCESSOR_MAPPING` (`AttributeError`);
* `AutoProcessor.from_pretrained(folder)` fails the same way, and `save_pretrained` of a processor whose
  `video_processor` is `None` fails on `None._auto_class`.

This project never feeds videos, so the workaround is an image-only subclass: `ImageOnlyQwen2_5_VLProcessor`
drops `video_processor` from its `__init__` signature (transformers derives the sub-processor list from that
signature), so nothing video-related is checked, loaded or saved. It is still a `Qwen2_5_VLProcessor`
(same chat template handling, same `<|image_pad|>` expansion, same `mm_token_type_ids`), and it writes
`"processor_class": "Qwen2_5_VLProcessor"` so the saved folder stays a standard Qwen2.5-VL folder.

`build_processor` (used by the tiny-model builder) and `load_processor` (used by `load_policy`) are the only
entry points; with torchvision installed `load_processor` first tries the stock `AutoProcessor`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from transformers import AutoProcessor, Qwen2_5_VLProcessor
from transformers.utils import is_torchvision_available

logger = logging.getLogger(__name__)

__all__ = ["ImageOnlyQwen2_5_VLProcessor", "build_processor", "load_processor", "set_pixel_budget"]


class ImageOnlyQwen2_5_VLProcessor(Qwen2_5_VLProcessor):
    """A `Qwen2_5_VLProcessor` without a video sub-processor (see the module docstring)."""

    def __init__(
        self, image_processor: Any = None, tokenizer: Any = None, chat_template: str | None = None, **kwargs
    ):
        # `video_processor=None` is dropped by ProcessorMixin: it zips positional sub-processors with
        # `get_attributes()`, which (from this signature) is ["image_processor", "tokenizer"].
        super().__init__(
            image_processor=image_processor,
            tokenizer=tokenizer,
            video_processor=None,
            chat_template=chat_template,
            **kwargs,
        )

    # Saved folders name the stock class, so the stock AutoProcessor loads them where torchvision exists.
    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["processor_class"] = "Qwen2_5_VLProcessor"
        return out

    def save_pretrained(self, save_directory: str | Path, *args: Any, **kwargs: Any) -> list[str]:
        files = super().save_pretrained(save_directory, *args, **kwargs)
        tok_config = Path(save_directory) / "tokenizer_config.json"
        if tok_config.is_file():  # the tokenizer records the class name of the processor that saved it
            data = json.loads(tok_config.read_text(encoding="utf-8"))
            if "processor_class" in data:
                data["processor_class"] = "Qwen2_5_VLProcessor"
                tok_config.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return files


def set_pixel_budget(processor: Any, min_pixels: int | None = None, max_pixels: int | None = None) -> None:
    """Set the image processor's pixel bounds in place (`size = {shortest_edge, longest_edge}`, in pixels).

    Every image is resized (aspect kept, sides multiples of patch_size * merge_size) so that its area lies in
    [min_pixels, max_pixels]; it then costs area / (14 * 14 * 4) visual tokens. With 8 images per prompt this
    is the main knob on sequence length.
    """
    ip = processor.image_processor
    size = dict(ip.size) if ip.size is not None else {}  # SizeDict iterates its non-None items
    if min_pixels is not None:
        size["shortest_edge"] = int(min_pixels)
    if max_pixels is not None:
        size["longest_edge"] = int(max_pixels)
    lo, hi = size.get("shortest_edge"), size.get("longest_edge")
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"min_pixels ({lo}) exceeds max_pixels ({hi})")
    ip.size = type(ip.size)(**size) if ip.size is not None and not isinstance(ip.size, dict) else size


def build_processor(image_processor: Any, tokenizer: Any, chat_template: str) -> Qwen2_5_VLProcessor:
    """Assemble a processor from parts (the tiny-model builder uses this)."""
    return ImageOnlyQwen2_5_VLProcessor(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=chat_template
    )


def load_processor(path: str | Path, **kwargs: Any) -> Qwen2_5_VLProcessor:
    """Load the processor of a Qwen2.5-VL folder (or hub id); `kwargs` go to `from_pretrained`."""
    if is_torchvision_available():
        try:
            return AutoProcessor.from_pretrained(str(path), **kwargs)
        # e.g. a folder saved without a video processor config (the tiny model's)
        except (OSError, ValueError, TypeError, AttributeError) as err:
            logger.info("AutoProcessor failed (%s); loading the image-only processor", err)
    return ImageOnlyQwen2_5_VLProcessor.from_pretrained(str(path), **kwargs)


def prompt_text(policy: Any, messages: list[dict[str, Any]]) -> str:
    """The chat-templated prompt text of `messages`, ending with the assistant turn's opening (every backend
    sends the model this text)."""
    return policy.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
