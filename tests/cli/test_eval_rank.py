"""`rarl eval` writes the full report; `rarl rank` answers for user images without crashing."""

from __future__ import annotations

import json
from pathlib import Path

from .helpers import assert_clean_error, assert_ok, invoke


def test_eval_writes_the_report(tiny_model: Path, manifest: Path, tmp_path: Path):
    out = tmp_path / "eval"
    result = invoke(
        "eval", "--model", f"base={tiny_model}", "--model", f"again={tiny_model}", "--data", manifest,
        "--sizes", "1,2", "--max-samples", "2", "--n-boot", "50", "--max-new-tokens", "16", "--out", out,
    )  # fmt: skip
    assert_ok(result)
    for name in ("results.json", "table.md", "report.md", "index.html", "predictions.jsonl"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    pngs = list(out.glob("*.png"))
    assert pngs and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)

    results = json.loads((out / "results.json").read_text())
    assert set(results["models"]) == {"base", "again"}
    for per_size in results["models"].values():
        assert set(per_size) == {"1", "2"}
        for cell in per_size.values():
            assert cell["n"] == 2 and 0.0 <= cell["failure_rate"] <= 1.0
    # the same greedy model twice gives the same numbers
    assert results["models"]["base"] == results["models"]["again"]

    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 2 * 2  # models x sizes x max-samples
    assert {(r["model"], r["n"]) for r in rows} == {(m, n) for m in ("base", "again") for n in (1, 2)}
    assert all(isinstance(r["completion"], str) and len(r["labels"]) == r["n"] for r in rows)

    table = (out / "table.md").read_text()
    assert "base" in table and "again" in table
    assert "base" in result.output  # the rich table is printed too


def test_rank_prints_an_answer(tiny_model: Path, images: list[Path]):
    result = invoke(
        "rank", "--model", tiny_model, images[0], images[1],
        "--rule", "number of squares", "--value-range", "1-9", "--max-new-tokens", "16",
    )  # fmt: skip
    assert_ok(result)
    assert "answer:" in result.output
    # random weights never produce the answer format: the parse failure is reported, not raised
    assert "could not be parsed" in result.output
    assert "Traceback" not in result.output


def test_eval_keeps_the_models_it_could_evaluate(tiny_model: Path, manifest: Path, tmp_path: Path):
    """A model folder that fails to load costs only its own row: the others are written, the exit code is 2."""
    out = tmp_path / "eval"
    result = invoke(
        "eval", "--model", f"good={tiny_model}", "--model", f"broken={tmp_path / 'missing'}", "--data", manifest,
        "--sizes", "1", "--max-samples", "2", "--n-boot", "20", "--max-new-tokens", "8", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    last = " ".join(result.output.strip().split("error:")[-1].split())
    assert (
        result.output.count("error:") == 1
        and "1 of 2 models could not be loaded" in last
        and "broken" in last
    )
    results = json.loads((out / "results.json").read_text())
    assert set(results["models"]) == {"good"}
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert {r["model"] for r in rows} == {"good"}


def test_unknown_recipe_is_one_line(tmp_path: Path):
    result = invoke("demo", "--recipe", "nope", "--out", tmp_path / "d")
    assert_clean_error(result, "unknown recipe 'nope'", "rarl")
    assert not (tmp_path / "d").exists()
