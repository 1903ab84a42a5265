"""Bad input ends in one `error:` line naming the problem and exit code 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import CONFIGS, assert_clean_error, invoke, run_script, train_overrides

DEMO = CONFIGS / "demo.yaml"


@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ("bogus=1", ["unknown config key 'bogus'"]),
        ("rollout.num_generation=4", ["unknown config key 'rollout.num_generation'"]),
        ("rollout.num_generations=four", ["rollout.num_generations", "expected an integer", "'four'"]),
        ("rmo.trigger=sometimes", ["rmo.trigger", "'sometimes'"]),
        ("rollout.num_generations=2", ["rmo.k (2) must be smaller than rollout.num_generations (2)"]),
        ("stages.7.steps=1", ["stages.7.steps=1", "no list element"]),
        ("rollout.num_generations", ["not of the form key=value"]),
    ],
)
def test_train_bad_override(override: str, fragments: list[str], tmp_path: Path):
    result = invoke("train", "--config", DEMO, f"output_dir={tmp_path / 'run'}", override)
    assert_clean_error(result, *fragments)
    assert not (tmp_path / "run").exists()


def test_train_missing_config_file(tmp_path: Path):
    missing = tmp_path / "nope.yaml"
    assert_clean_error(invoke("train", "--config", missing), "config file not found", str(missing))


def test_sft_missing_config_file(tmp_path: Path):
    missing = tmp_path / "nope.yaml"
    assert_clean_error(invoke("sft", "--config", missing), "config file not found")


def test_train_missing_manifest(tiny_model: Path, manifest: Path, tmp_path: Path):
    gone = tmp_path / "no-such-manifest"
    args = [*train_overrides(tiny_model, manifest, tmp_path / "run"), f"data.manifest={gone}"]
    assert_clean_error(invoke("train", "--config", DEMO, *args), "manifest folder not found", str(gone))


def test_train_model_folder_that_is_not_a_model(manifest: Path, tmp_path: Path):
    empty = tmp_path / "empty-dir"
    empty.mkdir()
    args = [*train_overrides(empty, manifest, tmp_path / "run")]
    assert_clean_error(invoke("train", "--config", DEMO, *args), str(empty), "not a model folder")


def test_sft_model_folder_that_is_not_a_model(manifest: Path, tmp_path: Path):
    empty = tmp_path / "empty-dir"
    empty.mkdir()
    result = invoke(
        "sft", "--config", CONFIGS / "sft-demo.yaml", f"output_dir={tmp_path / 'run'}",
        f"model.name_or_path={empty}", f"data.manifest={manifest}", "steps=1",
    )  # fmt: skip
    assert_clean_error(result, "not a model folder")


def test_prepare_utkface_missing_root(tmp_path: Path):
    out = tmp_path / "utk"
    result = invoke("prepare", "utkface", "--root", "/nonexistent", "--out", out)
    assert_clean_error(result, "utkface", "/nonexistent")
    assert not out.exists()


@pytest.mark.parametrize(
    ("options", "fragments"),
    [
        (["-o", "property=volume"], ["unknown property 'volume'", "count"]),
        (["-o", "num_images=-3"], ["num_images"]),
        (["-o", "colour=red"], ["unknown options", "colour"]),
        (["-o", "num_images"], ["not of the form key=value"]),
        (["-o", "samples_per_size={bogus: 1}"], ["samples_per_size", "bogus"]),
    ],
)
def test_prepare_synthetic_bad_option(options: list[str], fragments: list[str], tmp_path: Path):
    out = tmp_path / "syn"
    assert_clean_error(invoke("prepare", "synthetic", "--out", out, *options), *fragments)
    assert not out.exists()


def test_prepare_unknown_source(tmp_path: Path):
    assert_clean_error(invoke("prepare", "imagenet", "--out", tmp_path / "x"), "unknown source 'imagenet'")


def test_eval_missing_model(manifest: Path, tmp_path: Path):
    out = tmp_path / "eval"
    result = invoke("eval", "--model", "/nonexistent", "--data", manifest, "--sizes", "1", "--out", out)
    assert_clean_error(result, "/nonexistent")
    assert not (out / "results.json").exists()


def test_eval_missing_manifest(tiny_model: Path, tmp_path: Path):
    result = invoke("eval", "--model", tiny_model, "--data", tmp_path / "nope", "--out", tmp_path / "e")
    assert_clean_error(result, "manifest folder not found")


def test_eval_unknown_split(tiny_model: Path, manifest: Path, tmp_path: Path):
    result = invoke(
        "eval", "--model", tiny_model, "--data", manifest, "--split", "dev", "--sizes", "1",
        "--out", tmp_path / "e",
    )  # fmt: skip
    assert_clean_error(result, "no split 'dev'")


def test_rank_nine_images(tiny_model: Path, images: list[Path]):
    result = invoke("rank", "--model", tiny_model, *images[:9], "--rule", "r", "--value-range", "1-9")
    assert_clean_error(result, "1 to 8 images", "got 9")


def test_rank_missing_image(tiny_model: Path, images: list[Path], tmp_path: Path):
    missing = tmp_path / "missing.png"
    result = invoke("rank", "--model", tiny_model, images[0], missing, "--rule", "r", "--value-range", "1-9")
    assert_clean_error(result, "cannot rank 1 of 2 images", str(missing), "(not found)")


def test_rank_bad_value_range(tiny_model: Path, images: list[Path]):
    result = invoke("rank", "--model", tiny_model, images[0], "--rule", "r", "--value-range", "old")
    assert_clean_error(result, "--value-range", "'old'")


def test_ablate_unknown_variant(tmp_path: Path):
    out = tmp_path / "ablate"
    result = invoke("ablate", "--config", DEMO, "--variants", "rarl,bogus", "--out", out)
    assert_clean_error(result, "unknown ablation variant 'bogus'", "no_rmo")
    assert not out.exists()


def test_console_script_error_has_no_traceback(tmp_path: Path):
    """The real process: the red line goes to stderr, stdout stays empty, exit code 2."""
    proc = run_script("ablate", "--config", DEMO, "--variants", "bogus", "--out", tmp_path / "a")
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    assert "unknown ablation variant 'bogus'" in lines[0]


def test_an_unknown_home_in_a_path_is_taken_as_typed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # `~nosuchuser/x` names a folder literally, as a shell leaves it, instead of Path.expanduser's RuntimeError
    monkeypatch.chdir(tmp_path)
    result = invoke("prepare", "synthetic", "--out", "~nosuchuser-rarl/data", "--sizes", "1", "--seed", "0")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "~nosuchuser-rarl" / "data" / "task.json").is_file()
    result = invoke("eval", "--model", "~nosuchuser-rarl/model", "--data", "~nosuchuser-rarl/data")
    assert_clean_error(result, "~nosuchuser-rarl/model")
