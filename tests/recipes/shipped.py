"""What every recipe's shipped demo base must be, checked the same way for each."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rarl.recipes.base_build import BASE_INFO, sha256_file


def shipped_base_record(folder: Path) -> dict[str, Any]:
    """The base's record (`rarl_base.json`), after checking that the folder is at most 10 MB, holds a model
    folder's files and the weights whose SHA-256 the record names."""
    info = json.loads((folder / BASE_INFO).read_text())
    assert sum(p.stat().st_size for p in folder.iterdir()) <= 10 * 1024 * 1024
    for name in ("config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja"):
        assert (folder / name).is_file(), name
    assert sha256_file(folder / "model.safetensors") == info["model_sha256"]
    return info
