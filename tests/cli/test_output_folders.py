"""Commands that fill a whole folder write only into a new, empty or their own folder (issue 24, data loss 1):
`rarl demo` (every recipe), `build-base`, `build-tiny`, `eval` and `ablate` refuse a non-empty folder they did
not write, with one `error:` line and before any work, leaving it as it was; a rerun in their own folder
replaces only what they write there (a `notes.txt` put beside survives).

The demos' phases (minutes of training) are replaced by a stub that writes every entry the demo declares,
so these tests run the real command line, folder handling and marker, not the training."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rarl.recipes.base_build import BASE_INFO
from rarl.recipes.base_build import replace_base_files as _replace_base_files
from rarl.recipes.localization import demo as localization_demo
from rarl.recipes.ordinal import demo as ordinal_demo
from rarl.recipes.quality import demo as quality_demo
from rarl.utils.lock import LOCK_FILE

from .helpers import CONFIGS, assert_clean_error, assert_ok, invoke

DEMOS = {"rarl": ordinal_demo, "vision-r1": localization_demo, "refine-iqa": quality_demo}


def _listing(folder: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


def _foreign(folder: Path) -> dict[str, bytes | None]:
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("keep me")
    (folder / "data").mkdir()  # even an entry with a name the demo uses
    (folder / "data" / "mine.csv").write_text("a,b\n")
    return _listing(folder)


@pytest.fixture
def stub_phases(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Each demo's phases replaced by writing one file into every entry it declares; returns the calls."""
    calls: list[Path] = []

    def fake(module):
        def run_phases(out: Path, *args, **kwargs) -> dict:
            calls.append(out)
            for name in module.DEMO_ENTRIES:
                (out / name).mkdir()
                (out / name / "made.txt").write_text(f"run {len(calls)}")
            return {}

        return run_phases

    for module in DEMOS.values():
        monkeypatch.setattr(module, "_run_phases", fake(module))
    return calls


@pytest.mark.parametrize("recipe", sorted(DEMOS))
def test_demo_refuses_a_folder_it_did_not_write_before_any_work(recipe, tmp_path, stub_phases):
    out = tmp_path / "mine"
    before = _foreign(out)
    result = invoke("demo", "--recipe", recipe, "--out", out, "--size", "smoke")
    assert_clean_error(
        result,
        f"--out {out} is not empty (data, notes.txt) and is not a demo folder (no .rarl-demo.json)",
        "choose an empty or new folder",
    )
    assert stub_phases == []  # no phase ran: no data drawn, no model built
    assert _listing(out) == before


@pytest.mark.parametrize("recipe", sorted(DEMOS))
def test_demo_twice_replaces_only_its_own_entries(recipe, tmp_path, stub_phases):
    out = tmp_path / "demo"
    assert_ok(invoke("demo", "--recipe", recipe, "--out", out, "--size", "smoke"))
    marker = json.loads((out / ".rarl-demo.json").read_text())
    entries = list(DEMOS[recipe].DEMO_ENTRIES)
    assert marker == {"kind": "demo", "recipe": recipe, "entries": entries}
    (out / "notes.txt").write_text("keep me")  # the user's
    (out / entries[0] / "stale.txt").write_text("from the first run")  # inside an entry of the demo's
    assert_ok(invoke("demo", "--recipe", recipe, "--out", out, "--size", "smoke"))  # `make demo` twice
    assert (out / "notes.txt").read_text() == "keep me"
    assert not (out / entries[0] / "stale.txt").exists()
    assert all((out / e / "made.txt").read_text() == "run 2" for e in entries)
    assert sorted(p.name for p in out.iterdir()) == sorted([".rarl-demo.json", "notes.txt", *entries])
    assert not (out / LOCK_FILE).exists()


def test_demo_in_an_empty_folder_and_a_bad_size_writes_nothing(tmp_path, stub_phases):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_ok(invoke("demo", "--out", empty, "--size", "smoke"))
    assert (empty / ".rarl-demo.json").is_file() and (empty / "report" / "made.txt").is_file()
    assert_clean_error(invoke("demo", "--out", tmp_path / "new", "--size", "huge"), "unknown demo size")
    assert not (tmp_path / "new").exists()


def test_demo_refuses_a_base_inside_the_folder_it_replaces(tmp_path, tiny_model, stub_phases):
    out = tmp_path / "demo"
    assert_ok(invoke("demo", "--out", out, "--size", "smoke"))
    shutil.copytree(tiny_model, out / "base", dirs_exist_ok=True)  # as `--base scratch` leaves it
    before = _listing(out)
    result = invoke("demo", "--out", out, "--size", "smoke", "--base", out / "base")
    assert_clean_error(result, f"--base {out / 'base'} is inside", "which the demo replaces")
    assert _listing(out) == before and len(stub_phases) == 1


def test_build_base_refuses_a_foreign_folder_and_replaces_only_its_files(tmp_path):
    out = tmp_path / "mine"
    before = _foreign(out)
    result = invoke("build-base", "--out", out, "--spec", "smoke")
    assert_clean_error(result, f"--out {out} is not empty", "not a base folder (no rarl_base.json)")
    assert _listing(out) == before

    # a base folder: the new build's files replace the old ones; files the old build listed but the new one
    # does not write go; the user's notes stay
    base, trained = tmp_path / "base", tmp_path / "trained"
    base.mkdir()
    trained.mkdir()
    (base / BASE_INFO).write_text(json.dumps({"files": ["config.json", "old-shard.bin", "../escape"]}))
    for name, text in {"config.json": "old", "old-shard.bin": "old", "notes.txt": "keep me"}.items():
        (base / name).write_text(text)
    (tmp_path / "escape").write_text("outside")
    (trained / "config.json").write_text("new")
    (trained / "model.safetensors").write_text("new")
    assert _replace_base_files(base, trained) == ["config.json", "model.safetensors"]
    assert sorted(p.name for p in base.iterdir()) == sorted(
        [BASE_INFO, "config.json", "model.safetensors", "notes.txt"]
    )
    assert (base / "config.json").read_text() == "new" and (base / "notes.txt").read_text() == "keep me"
    assert (tmp_path / "escape").read_text() == "outside"  # a hand-edited list names nothing outside


def test_build_tiny_refuses_a_foreign_folder_and_rebuilds_its_own(tmp_path, tiny_model):
    out = tmp_path / "mine"
    before = _foreign(out)
    assert_clean_error(invoke("build-tiny", "--out", out), f"--out {out} is not empty", "rarl_tiny.json")
    assert _listing(out) == before
    again = tmp_path / "tiny"
    shutil.copytree(tiny_model, again)
    (again / "notes.txt").write_text("keep me")
    assert_ok(invoke("build-tiny", "--out", again))
    assert (again / "notes.txt").read_text() == "keep me"
    assert (again / "model.safetensors").read_bytes() == (tiny_model / "model.safetensors").read_bytes()


def test_eval_refuses_a_foreign_folder_and_reruns_in_its_own(tmp_path, tiny_model, manifest):
    args = ["--model", tiny_model, "--data", manifest, "--sizes", "1", "--max-samples", "2"]
    args += ["--max-new-tokens", "8", "--n-boot", "10", "--batch-size", "2"]
    mine = tmp_path / "mine"
    before = _foreign(mine)
    assert_clean_error(
        invoke("eval", *args, "--out", mine), f"--out {mine} is not empty", "not a report folder"
    )
    assert _listing(mine) == before
    report = tmp_path / "report"
    assert_ok(invoke("eval", *args, "--out", report))
    assert json.loads((report / ".rarl-report.json").read_text())["kind"] == "report"
    (report / "notes.txt").write_text("keep me")
    assert_ok(invoke("eval", *args, "--out", report))  # its own folder: evaluated again
    assert (report / "notes.txt").read_text() == "keep me" and (report / "predictions.jsonl").is_file()
    # a report folder written before folders were marked is recognised by its predictions and report
    (report / ".rarl-report.json").unlink()
    assert_ok(invoke("eval", *args, "--out", report))


def test_ablate_refuses_a_foreign_folder(tmp_path):
    out = tmp_path / "mine"
    before = _foreign(out)
    result = invoke("ablate", "--config", CONFIGS / "demo.yaml", "--out", out)
    assert_clean_error(result, f"--out {out} is not empty", "not an ablation folder")
    assert _listing(out) == before


def test_demo_folder_in_use_by_another_process_is_refused(tmp_path, stub_phases):
    out = tmp_path / "demo"
    assert_ok(invoke("demo", "--out", out, "--size", "smoke"))
    before = _listing(out)
    code = "import sys\nfrom rarl.utils.lock import acquire\nacquire(sys.argv[1], 'demo')\nprint('held', flush=True)\n"
    holder = subprocess.Popen(
        [sys.executable, "-c", code + "sys.stdin.read()\n", str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = invoke("demo", "--out", out, "--size", "smoke")
        assert_clean_error(result, f"--out {out} is in use by another demo (pid {holder.pid} ")
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert len(stub_phases) == 1
    assert {k: v for k, v in _listing(out).items() if k != LOCK_FILE} == before


def test_a_hand_edited_marker_names_nothing_outside_the_folder(tmp_path, stub_phases):
    out = tmp_path / "demo"
    assert_ok(invoke("demo", "--out", out, "--size", "smoke"))
    (tmp_path / "outside").write_text("keep me")
    marker = json.loads((out / ".rarl-demo.json").read_text())
    marker["entries"] += ["../outside", str(tmp_path / "outside"), "..", ".", "", 5]
    (out / ".rarl-demo.json").write_text(json.dumps(marker))
    assert_ok(invoke("demo", "--out", out, "--size", "smoke"))
    assert (tmp_path / "outside").read_text() == "keep me" and len(stub_phases) == 2
