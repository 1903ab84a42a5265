"""Slow tier: a small run of `benchmarks/learning.py` (GRPO from the demo's base must raise the format reward)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "learning.py"


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("rarl_learning_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_fit_curves_by_hand():
    bench = _load_benchmark()
    assert bench.ols_slope([0.0, 1.0, 2.0, 3.0]) == pytest.approx(1.0)
    fit = bench.fit_curves([[0.0, 0.1, 0.2, 0.3], [0.0, 0.2, 0.4, 0.6], [0.0, 0.3, 0.6, 0.9]])
    assert fit.slope == pytest.approx(0.2)
    assert fit.low == pytest.approx(0.2 - 4.303 * 0.1 / 3**0.5, rel=1e-3)
    assert fit.first == pytest.approx(0.0) and fit.last == pytest.approx(0.6)


@pytest.mark.slow
def test_grpo_raises_the_format_reward_from_the_demo_base(tmp_path):
    bench = _load_benchmark()
    summary = bench.main(
        ["--out", str(tmp_path), "--variants", "format", "--seeds", "0", "1", "2", "--steps", "10",
         "--batch", "8", "--sizes", "1", "2", "--max-new-tokens", "96"]
    )  # fmt: skip
    fit = summary["fits"]["format"]["reward/format"]
    assert fit["slope"] > 0
    assert fit["last"] > fit["first"] + 0.05
