"""Fixtures of the `rarl` recipe's tests: tiny datasets in the real on-disk formats (UTKFace, AVA, COCO, CSV;
they live in data_fixtures.py, which the tests also import helpers from), and synthetic results shaped like
the paper's Table 2 (UTKFace), shared by the table, plot and report tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rarl.recipes.ordinal.scoring import SizeResult

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # also under --import-mode=importlib
    sys.path.insert(0, _HERE)

from data_fixtures import ava_root, coco_root, table_dir, utk_root  # noqa: E402, F401


def make_result(
    size: int, value: float, fail: float = 0.0, n: int = 500, half_width: float = 0.02
) -> SizeResult:
    metric = "mae" if size == 1 else "tau"
    hw = 0.15 if size == 1 else half_width
    return SizeResult(size, metric, value, value - hw, value + hw, fail, n, {})


@pytest.fixture
def paper_rows() -> dict[str, dict[int, SizeResult]]:
    table = {
        "Qwen2.5-VL-3B": (6.95, 0.712, 0.704, 0.693),
        "+ SFT": (5.51, 0.771, 0.756, 0.748),
        "+ RARL": (4.02, 0.843, 0.831, 0.806),
    }
    fails = {"Qwen2.5-VL-3B": 0.031, "+ SFT": 0.004, "+ RARL": 0.0}
    return {
        name: {s: make_result(s, v, fails[name]) for s, v in zip((1, 2, 4, 8), vals, strict=True)}
        for name, vals in table.items()
    }
