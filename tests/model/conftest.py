"""Fixtures for the rarl.model tests: one tiny Qwen2.5-VL per session, conversations with noise images."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rarl.model import Policy, build_tiny_qwen2_5_vl, load_policy

SYSTEM = "You rank images."
INSTRUCT = "Sort the images in ascending order of size."


def noise_image(seed: int, width: int = 56, height: int = 56) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray((rng.random((height, width, 3)) * 255).astype(np.uint8), mode="RGB")


def conversation(n_images: int, seed: int = 0, size: tuple[int, int] = (56, 56)) -> list[dict]:
    """The prompt structure of rarl.recipes.ordinal.prompts.build_messages: "Image i:" <image> ... <instruct>."""
    content: list[dict] = []
    for i in range(n_images):
        content.append({"type": "text", "text": f"Image {i + 1}:"})
        content.append({"type": "image", "image": noise_image(1000 * seed + i, *size)})
    content.append({"type": "text", "text": INSTRUCT})
    return [
        {"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
        {"role": "user", "content": content},
    ]


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture(scope="session")
def policy(tiny_dir: Path) -> Policy:
    """Shared, read-only: tests that change the model must undo it."""
    return load_policy(tiny_dir)


@pytest.fixture
def make_conversation() -> Callable[..., list[dict]]:
    return conversation
