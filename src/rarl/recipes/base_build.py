"""What every recipe's shipped demo base shares: the folder it is built into, its record, its disjointness check.

A recipe's demo starts from a base model shipped with the package (`demo-base`), the stand-in for the paper's
pretrained Qwen2.5-VL. Each recipe builds its own (`rarl build-base --recipe NAME`: a tiny Qwen2.5-VL trained on
a warm-up split of its own); this module holds the parts that do not depend on the task:

- `build_into(out, recipe, train)`: claims `out` (new, empty, or an earlier base: the marker `rarl_base.json`),
  runs `train(work_dir)` in a temporary folder under a lock, copies the trained model files into `out`
  (deleting only files an earlier build listed; the task record then names no warm-up manifest, which was
  in the temporary folder) and writes the record: the recipe's own facts, the weights'
  SHA-256, the training time, the library versions and the files written;
- `check_disjoint(warm, demo)`: refuses a warm-up split that shares an image (by content) with the demo's data;
- `read_base_info(folder)`: a base folder's record.

The same command on the same machine and library versions gives the same weights (CPU training here is
deterministic); other CPUs or versions may differ in the last floating-point bits.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import tokenizers
import torch
import transformers
from PIL import Image

from rarl.model.task_file import read_model_task, write_model_task
from rarl.utils.io import atomic_write_json
from rarl.utils.lock import FolderLock
from rarl.utils.output_folder import check_claimable

__all__ = [
    "BASE_INFO",
    "build_into",
    "check_disjoint",
    "manifest_image_digests",
    "read_base_info",
    "replace_base_files",
    "sha256_file",
]

BASE_INFO = "rarl_base.json"
"""How the base was built and how it scores, written into the model folder."""

Train = Callable[[Path], tuple[Path, dict[str, Any]]]
"""`train(work_dir) -> (trained model folder, the recipe's facts for the record)`."""


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest_image_digests(manifest: Path, ignore_flat: bool = False) -> set[str]:
    """SHA-256 of every image file in a manifest folder's `images/` tree (the synthetic sources write there);
    `ignore_flat`: leave out images of one colour (a severe over- or underexposure can saturate two different
    pictures to the same flat frame, which carries nothing of either)."""
    paths = sorted((Path(manifest) / "images").rglob("*.png"))
    return {sha256_file(p) for p in paths if not (ignore_flat and _flat(p))}


def _flat(path: Path) -> bool:
    with Image.open(path) as image:
        return all(lo == hi for lo, hi in image.convert("RGB").getextrema())


def check_disjoint(warm: Path, demo: Path, ignore_flat: bool = False) -> None:
    """Refuse a warm-up split that shares an image (by content) with the demo's data (`manifest_image_digests`)."""
    shared = manifest_image_digests(warm, ignore_flat) & manifest_image_digests(demo, ignore_flat)
    if shared:
        raise RuntimeError(f"{len(shared)} warm-up image(s) also in the demo data {demo}")


def build_into(out: str | Path, train: Train, command: str, work: Path | None = None) -> Path:
    """Build a base with `train` into `out` (see the module docstring) and return `out`.

    `out` is a new or empty folder, or a base folder (it has `rarl_base.json`): its model files are replaced,
    other files kept; any other non-empty folder is refused before the build. `work`: where the build's
    intermediate folders go (default: a temporary folder, removed after).
    """
    out = Path(out)
    check_claimable(out, "base", marker=BASE_INFO)  # a foreign folder is refused before the build
    t0 = time.perf_counter()
    with FolderLock(out, "build-base", "--out"), tempfile.TemporaryDirectory(prefix="rarl-base-") as tmp:
        check_claimable(out, "base", marker=BASE_INFO)
        root = Path(work) if work is not None else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        trained, facts = train(root)
        train_seconds = time.perf_counter() - t0
        files = replace_base_files(out, trained)
        if work is None:  # the temporary work folder, and the warm-up data in it, are gone after the build
            _forget_manifest(out)
        info = {
            "command": command,
            **facts,
            "model_sha256": sha256_file(out / "model.safetensors"),
            "train_seconds": round(train_seconds, 1),
            "versions": _versions(),
            "files": files,
        }
        atomic_write_json(out / BASE_INFO, info)
    return out


def replace_base_files(out: Path, trained: Path) -> list[str]:
    """Copy the trained model folder's files into `out`; files an earlier build listed (rarl_base.json
    `files`) and this one does not write are deleted, nothing else; returns the names written."""
    try:
        old = read_base_info(out) or {}
    except (OSError, ValueError):
        old = {}
    written = sorted(p.name for p in trained.iterdir() if p.is_file())
    listed = old.get("files") if isinstance(old, dict) and isinstance(old.get("files"), list) else []
    for name in listed:
        plain = isinstance(name, str) and name not in ("", ".", "..") and "/" not in name
        if plain and name not in written and ((out / name).is_file() or (out / name).is_symlink()):
            (out / name).unlink()
    for name in written:
        shutil.copy2(trained / name, out / name)
    return written


def _forget_manifest(out: Path) -> None:
    """The base's task record (`rarl_task.json`) without the path of its warm-up data."""
    record = read_model_task(out)
    if record is not None and record.manifest is not None:
        write_model_task(out, replace(record, manifest=None))


def _versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
    }


def read_base_info(model_dir: str | Path) -> dict[str, Any] | None:
    """The `rarl_base.json` of a base folder, or None when it has none."""
    path = Path(model_dir) / BASE_INFO
    return json.loads(path.read_text()) if path.is_file() else None
