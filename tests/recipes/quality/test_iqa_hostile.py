"""Refine-IQA tables as users' files come: short and long CSV rows, a field past the csv module's limit, a
0-byte or truncated LIVE-C `.mat`, MOS stored as text in the `.mat`, a MOS of +-1e308 and negative nominal
ranges. Each is read, reported, or refused with one `error:` line naming the file; never a traceback, never
a NaN score."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image
from tests.cli.helpers import assert_clean_error, assert_ok, invoke

from rarl.recipes.quality.iqa_readers import MosScale
from rarl.recipes.quality.samples import load_quality_manifest

NAMES = ["a.png", "b.png", "c.png", "d.png"]


def _images(folder: Path, names=NAMES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        Image.new("RGB", (40, 32), (40 * k, 80, 160)).save(folder / name)
    return folder


def _samples(out: Path) -> list:
    return load_quality_manifest(out, "test")  # every test here prepares one test split (-o split=test)


def _koniq(tmp_path: Path, body: str) -> Path:
    root = tmp_path / "koniq"
    _images(root / "1024x768")
    (root / "koniq10k_scores_and_distributions.csv").write_text(body)
    return root


def test_koniq_short_and_long_rows_are_reported(tmp_path):
    body = (
        "c1,image_name,MOS\n"
        "1\n"  # short: no image name (the cell would be None)
        "1,a.png\n"  # short: no MOS
        "1,b.png,3.0,extra,cells\n"  # long: the extra cells are dropped
        "1,c.png,5.0\n"
        "1,d.png,1.0\n"
    )
    out = tmp_path / "out"
    assert_ok(invoke("prepare", "koniq", "--root", _koniq(tmp_path, body), "--out", out, "-o", "split=test"))
    report = json.loads((out / "summary.json").read_text())["report"]
    assert report["skipped"] == {"no image name": 1, "unparsable MOS": 1}
    assert report["examples"] == {
        "no image name": ["koniq10k_scores_and_distributions.csv:2"],
        "unparsable MOS": ["koniq10k_scores_and_distributions.csv:3 ('')"],
    }
    scores = {s.sample_id: s.mos for s in _samples(out)}
    assert scores == {"KonIQ/b.png": 2.5, "KonIQ/c.png": 4.99, "KonIQ/d.png": 0.0}  # 5 (m - 1) / 4, capped


def test_koniq_all_rows_short_is_one_line(tmp_path):
    out = tmp_path / "out"
    root = _koniq(tmp_path, "c1,image_name,MOS\n1\n2\n")
    assert_clean_error(
        invoke("prepare", "koniq", "--root", root, "--out", out), "empty dataset", "no image name"
    )
    assert not out.exists()


def test_a_field_past_the_csv_limit_is_one_line(tmp_path):
    out = tmp_path / "out"
    root = _koniq(tmp_path, "image_name,MOS\na.png,2\n" + "a" * 200_000 + ",3\n")
    table = root / "koniq10k_scores_and_distributions.csv"
    result = invoke("prepare", "koniq", "--root", root, "--out", out)
    assert_clean_error(result, f"{table}:3: not a usable CSV line (a field longer than 131072 characters)")
    assert not out.exists()


def _livec(tmp_path: Path, mos: object, names: object = None, empty: str = "") -> Path:
    root = tmp_path / "livec"
    (root / "Data").mkdir(parents=True)
    _images(root / "Images")
    if names is None:
        names = np.empty((len(NAMES), 1), dtype=object)
        for k, n in enumerate(NAMES):
            names[k, 0] = n
    for key, value in (("AllMOS_release", mos), ("AllImages_release", names)):
        path = root / "Data" / f"{key}.mat"
        if key == empty:
            path.write_bytes(b"")
        else:
            scipy.io.savemat(path, {key: value})
    return root


@pytest.mark.parametrize("empty", ["AllMOS_release", "AllImages_release"])
def test_a_zero_byte_mat_file_is_one_line(empty, tmp_path):
    out = tmp_path / "out"
    root = _livec(tmp_path, np.array([[10.0, 20.0, 30.0, 40.0]]), empty=empty)
    result = invoke("prepare", "livec", "--root", root, "--out", out)
    assert_clean_error(result, f"livec: {root / 'Data' / empty}.mat is not a readable .mat file", "truncated")
    assert not out.exists()


def test_a_mat_file_without_the_variable_is_one_line(tmp_path):
    out = tmp_path / "out"
    root = _livec(tmp_path, np.array([[10.0, 20.0, 30.0, 40.0]]))
    scipy.io.savemat(root / "Data" / "AllMOS_release.mat", {"scores": np.ones(4)})
    result = invoke("prepare", "livec", "--root", root, "--out", out)
    assert_clean_error(result, "AllMOS_release.mat has no variable 'AllMOS_release' (found ['scores'])")


def test_mos_stored_as_text_in_the_mat_file(tmp_path):
    """A cell array of texts "10", "50", ... is read as numbers; a text that is no number is reported."""
    mos = np.empty((1, 4), dtype=object)
    for k, text in enumerate(["10", "50", "not a number", "90"]):
        mos[0, k] = text
    out = tmp_path / "out"
    root = _livec(tmp_path, mos)
    assert_ok(invoke("prepare", "livec", "--root", root, "--out", out, "-o", "split=test"))
    report = json.loads((out / "summary.json").read_text())["report"]
    assert report["skipped"] == {"unparsable MOS": 1}
    assert report["examples"]["unparsable MOS"] == ["AllMOS_release[2] ('not a number')"]
    assert {s.sample_id: s.mos for s in _samples(out)} == {
        "LIVE-C/a.png": 0.5,  # 5 * 10 / 100
        "LIVE-C/b.png": 2.5,
        "LIVE-C/d.png": 4.5,
    }


def test_a_struct_for_the_mos_is_one_line(tmp_path):
    out = tmp_path / "out"
    root = _livec(tmp_path, {"a": 1, "b": 2})
    assert_clean_error(
        invoke("prepare", "livec", "--root", root, "--out", out), "4 image names but 1 MOS values"
    )


def _iqa_csv(tmp_path: Path, rows: list[tuple[str, str]]) -> Path:
    folder = _images(tmp_path / "iqa")
    (folder / "mos.csv").write_text("path,mos\n" + "".join(f"{p},{m}\n" for p, m in rows))
    return folder / "mos.csv"


def test_a_mos_of_1e308_gives_finite_scores(tmp_path):
    """Observed range -1e308..1e308: hi - lo overflows a float; the scores are computed on halves."""
    table = _iqa_csv(tmp_path, [("a.png", "-1e308"), ("b.png", "0"), ("c.png", "1e308"), ("d.png", "5e307")])
    out = tmp_path / "out"
    assert_ok(invoke("prepare", "iqa-csv", "--root", table, "--out", out, "-o", "split=test"))
    scores = {s.sample_id: s.mos for s in _samples(out)}
    assert scores == {"mos/a.png": 0.0, "mos/b.png": 2.5, "mos/c.png": 4.99, "mos/d.png": 3.75}
    assert all(math.isfinite(v) for v in scores.values())
    assert MosScale(-1e308, 1e308).rescale(0.0) == 2.5


@pytest.mark.parametrize("typed", ["-1-10", "-1,10", "[-1,10]", "-1..10"])
def test_a_negative_mos_range(typed, tmp_path):
    """The nominal scale -1..10: MOS 4.5 is 5 * 5.5 / 11 = 2.5, MOS -1 is 0."""
    table = _iqa_csv(tmp_path, [("a.png", "-1"), ("b.png", "4.5"), ("c.png", "10"), ("d.png", "-0.45")])
    out = tmp_path / "out"
    result = invoke(
        "prepare", "iqa-csv", "--root", table, "--out", out, "-o", f"mos_range={typed}", "-o", "split=test"
    )
    assert_ok(result)
    assert {s.sample_id: s.mos for s in _samples(out)} == {
        "mos/a.png": 0.0,
        "mos/b.png": 2.5,
        "mos/c.png": 4.99,
        "mos/d.png": 0.25,
    }
    assert json.loads((out / "task.json").read_text())["scales"]["mos"]["lo"] == -1.0
