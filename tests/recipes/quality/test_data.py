"""Refine-IQA data: the IQA readers on fixture files in each dataset's release format (broken rows
included), the [0, 5) MOS mapping, splits, merging, the synthetic quality task and the perception data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rarl.cli import app
from rarl.data.errors import DataError
from rarl.recipes.quality.distortions import DISTORTIONS, SEVERITY_NAMES
from rarl.recipes.quality.iqa_readers import MosScale, read_table
from rarl.recipes.quality.prepare import prepare_quality
from rarl.recipes.quality.samples import load_quality_manifest, load_quality_task
from rarl.recipes.quality.synthetic import synthetic_mos


def _images(folder: Path, names, corrupt=()) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        Image.new("RGB", (40, 30), (10 * k, 80, 160)).save(folder / name)
    for name in corrupt:
        (folder / name).write_bytes(b"\xff\xd8 not really a jpeg")


def _check(summary, read, skipped: dict[str, int]) -> None:
    assert summary.report.read == read
    assert summary.report.skipped == skipped


def test_koniq_csv(tmp_path):
    root = tmp_path / "koniq"
    _images(root / "1024x768", ["10004473376.jpg", "10007357496.jpg", "10009.jpg"], corrupt=["10010.jpg"])
    (root / "koniq10k_scores_and_distributions.csv").write_text(
        '"image_name","c1","c2","c3","c4","c5","c_total","MOS","SD","MOS_zscore"\n'
        '"10004473376.jpg",0,0,25,73,7,105,3.828571429,0.527,77.38392857\n'
        '"10007357496.jpg",0,3,45,47,1,96,3.479166667,0.5800,68.24\n'
        '"10009.jpg",0,0,0,0,96,96,5.0,0.0,100\n'
        '"missing.jpg",0,3,45,47,1,96,3.1,0.58,60\n'
        '"10007357496.jpg",0,3,45,47,1,96,n/a,0.58,60\n'
        '"10004473376.jpg",0,3,45,47,1,96,7.5,0.58,60\n'
        '"10010.jpg",0,3,45,47,1,96,2.0,0.58,60\n'
    )
    s = prepare_quality("koniq", tmp_path / "out", root=root, split="test")
    _check(
        s,
        7,
        {
            "missing image file": 1,
            "unparsable MOS": 1,
            "MOS outside the nominal scale": 1,
            "unreadable image": 1,
        },
    )
    samples = load_quality_manifest(tmp_path / "out", "test")
    mos = {Path(x.images[0]).name: x.mos for x in samples}
    assert mos["10004473376.jpg"] == pytest.approx(5 * (3.828571429 - 1) / 4, abs=1e-4)
    assert mos["10009.jpg"] == 4.99  # the top of the scale stays on [0, 5)
    assert load_quality_task(tmp_path / "out")["scales"]["KonIQ"] == {
        "lo": 1.0,
        "hi": 5.0,
        "higher_better": True,
    }
    with pytest.raises(DataError, match="missing image file: koniq10k_scores_and_distributions.csv:5"):
        prepare_quality("koniq", tmp_path / "strict", root=root, strict=True)


def test_spaq_xlsx_and_csv_export(tmp_path):
    root = tmp_path / "spaq"
    _images(root / "TestImage", ["00001.jpg", "00002.jpg", "00003.jpg"])
    header = ["Image name", "MOS", "Brightness", "Colorfulness", "Contrast", "Noisiness", "Sharpness"]
    rows = [
        ["00001.jpg", 42.5, 40, 50, 60, 30, 20],
        ["00002.jpg", 88.0, 1, 2, 3, 4, 5],
        ["00003.jpg", -4, 1, 2, 3, 4, 5],
    ]
    (root / "mos.csv").write_text(
        "\n".join(",".join(map(str, r)) for r in [header, *rows, ["00009.jpg", 50, 1, 1, 1, 1, 1]]) + "\n"
    )
    s = prepare_quality("spaq", tmp_path / "csv", root=root, file="mos.csv", split="train")
    _check(s, 4, {"MOS outside the nominal scale": 1, "missing image file": 1})
    got = sorted(x.mos for x in load_quality_manifest(tmp_path / "csv", "train"))
    assert got == pytest.approx([2.125, 4.4])
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    for r in [header, *rows]:
        book.active.append(r)
    book.save(root / "MOS and Image attribute scores.xlsx")
    s = prepare_quality("spaq", tmp_path / "xlsx", root=root, split="train")
    _check(s, 3, {"MOS outside the nominal scale": 1})
    assert sorted(x.mos for x in load_quality_manifest(tmp_path / "xlsx", "train")) == pytest.approx(
        [2.125, 4.4]
    )


def test_livec_mat_files(tmp_path):
    import scipy.io

    root = tmp_path / "ChallengeDB_release"
    _images(root / "Images", ["10.bmp", "11.bmp"])
    _images(root / "Images" / "trainingImages", ["t1.bmp"])
    names = np.empty((4, 1), dtype=object)
    for i, n in enumerate(["t1.bmp", "10.bmp", "11.bmp", "gone.bmp"]):
        names[i, 0] = np.array([n])
    (root / "Data").mkdir()
    scipy.io.savemat(root / "Data" / "AllImages_release.mat", {"AllImages_release": names})
    scipy.io.savemat(
        root / "Data" / "AllMOS_release.mat", {"AllMOS_release": np.array([[63.9, 25.3, np.nan, 50.0]])}
    )
    s = prepare_quality("livec", tmp_path / "out", root=root, split="test")
    _check(s, 4, {"unparsable MOS": 1, "missing image file": 1})
    got = {Path(x.images[0]).name: x.mos for x in load_quality_manifest(tmp_path / "out", "test")}
    assert got == pytest.approx({"t1.bmp": 3.195, "10.bmp": 1.265})


def test_kadid_agiqa_csiq_and_generic(tmp_path):
    kadid = tmp_path / "kadid10k"
    _images(kadid / "images", ["I01_01_01.png", "I01_01_02.png"])
    (kadid / "dmos.csv").write_text(
        "dist_img,ref_img,dmos,var\nI01_01_01.png,I01.png,4.57,0.496\nI01_01_02.png,I01.png,,0.5\nI01_01_01.png,I01.png,4.0,0.4\n"
    )
    _check(
        prepare_quality("kadid", tmp_path / "k", root=kadid, split="test"),
        3,
        {"unparsable MOS": 1, "duplicate image": 1},
    )

    agiqa = tmp_path / "agiqa"
    _images(agiqa / "AGIQA-3K", ["AttnGAN_normal_000.jpg"])
    (agiqa / "data.csv").write_text(
        "name,prompt,adj1,adj2,style,mos_quality,std_quality,mos_align,std_align\n"
        "AttnGAN_normal_000.jpg,an astronaut,,,,0.4229,0.3,1.1,0.4\n"
        "AttnGAN_normal_001.jpg,a cat,,,,1.2,0.3,1.1,0.4\n"
    )
    s = prepare_quality("agiqa", tmp_path / "a", root=agiqa, split="test")
    _check(s, 2, {"missing image file": 1})
    assert load_quality_manifest(tmp_path / "a", "test")[0].mos == pytest.approx(0.4229)

    csiq = tmp_path / "csiq"
    _images(csiq / "dst_imgs" / "awgn", ["1600.AWGN.1.png"])
    _images(csiq / "dst_imgs" / "jpeg2000", ["1600.jpeg2000.3.png"])
    (csiq / "csiq_dmos.csv").write_text(
        "image,dst_idx,dst_type,dst_lev,dmos_std,dmos\n1600,1,noise,1,0.011,0.062\n1600,3,jpeg 2000,3,0.02,0.5\n"
        "1600,1,blur,5,0.01,0.9\n"
    )
    s = prepare_quality("csiq", tmp_path / "c", root=csiq, split="test")
    _check(s, 3, {"missing image file": 1})
    got = sorted(x.mos for x in load_quality_manifest(tmp_path / "c", "test"))
    assert got == pytest.approx([2.5, 5 * (1 - 0.062)])  # DMOS: lower is better

    generic = tmp_path / "mine"
    _images(generic, ["a.png", "b.png", "c.png"])
    (generic / "mos.csv").write_text("path,mos\na.png,10\nb.png,30\nc.png,20\nd.png,5\n")
    s = prepare_quality("iqa-csv", tmp_path / "g", root=generic / "mos.csv", mos_range="0-40", split="test")
    assert sorted(x.mos for x in load_quality_manifest(tmp_path / "g", "test")) == [1.25, 2.5, 3.75]
    s = prepare_quality("iqa-csv", tmp_path / "g2", root=generic / "mos.csv", split="test")
    assert any("observed range 5.0..30.0" in n for n in s.report.notes)


def test_mapping_splits_and_merge(tmp_path):
    assert MosScale(0, 1, higher_better=False).rescale(0.0) == 4.99
    assert MosScale(1, 5).rescale(3.0) == 2.5
    with pytest.raises(DataError):
        MosScale(5, 1)
    syn = tmp_path / "syn"
    s = prepare_quality("synthetic-quality", syn, num_images=30, distortions="blur", fractions="0.6,0.2,0.2")
    assert s.counts == {
        "train": {"synthetic-blur": 18},
        "val": {"synthetic-blur": 6},
        "test": {"synthetic-blur": 6},
    }
    samples = load_quality_manifest(syn, "train")
    assert all(x.mos == synthetic_mos(x.meta["severity"]) for x in samples)
    other = tmp_path / "syn2"
    prepare_quality("synthetic-quality", other, num_images=12, distortions="noise")
    merged = prepare_quality("iqa-merge", tmp_path / "merged", manifests=f"{syn},{other}")
    assert merged.counts["train"] == {"synthetic-blur": 18, "synthetic-noise": 9}
    assert set(load_quality_task(tmp_path / "merged")["scales"]) == {"synthetic-blur", "synthetic-noise"}


def test_synthetic_label_noise_keeps_the_images_and_records_the_exact_mos(tmp_path):
    """`label_noise` draws the same images with subjective (noisy) MOS labels, the exact MOS kept in meta."""
    exact = prepare_quality("synthetic-quality", tmp_path / "exact", num_images=60, split="train")
    noisy = prepare_quality(
        "synthetic-quality", tmp_path / "noisy", num_images=60, split="train", label_noise=0.5
    )
    assert exact.counts == noisy.counts
    a, b = (
        load_quality_manifest(tmp_path / "exact", "train"),
        load_quality_manifest(tmp_path / "noisy", "train"),
    )
    for x, y in zip(a, b):
        assert Path(x.images[0]).read_bytes() == Path(y.images[0]).read_bytes()
        assert y.meta["mos_clean"] == x.mos == synthetic_mos(x.meta["severity"])
        assert 0.0 <= y.mos <= 4.99 and round(y.mos, 2) == y.mos
    errors = np.array([y.mos - x.mos for x, y in zip(a, b)])
    assert (errors != 0).mean() > 0.9 and 0.3 < errors.std() < 0.6  # about std 0.5 (clipped at the ends)
    with pytest.raises(DataError, match="label_noise"):
        prepare_quality("synthetic-quality", tmp_path / "bad", num_images=6, label_noise=-1)


def test_bad_inputs_are_one_line_errors(tmp_path):
    with pytest.raises(DataError, match="missing column"):
        (tmp_path / "x.csv").write_text("foo,bar\n1,2\n")
        prepare_quality("kadid", tmp_path / "o", root=tmp_path, file="x.csv")
    with pytest.raises(DataError, match="file not found"):
        read_table(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="unknown quality source"):
        prepare_quality("tid2013", tmp_path / "o")
    with pytest.raises(DataError, match="not a Refine-IQA manifest"):
        load_quality_manifest(tmp_path, "train")


def test_cli_prepare(tmp_path):
    from typer.testing import CliRunner

    result = CliRunner().invoke(
        app, ["prepare", "synthetic-quality", "--out", str(tmp_path / "q"), "-o", "num_images=12"]
    )
    assert result.exit_code == 0, result.output
    assert "synthetic-overexposure" in result.output and "synthetic-underexposure" in result.output
    result = CliRunner().invoke(app, ["prepare", "koniq", "--out", str(tmp_path / "k")])
    assert result.exit_code == 2 and "--root" in result.output


def test_perception_data(perception_manifest):
    samples = load_quality_manifest(perception_manifest, "train")
    tasks = {s.task for s in samples}
    assert tasks >= {"distortion", "severity", "grounding"}
    for s in samples:
        assert len(s.images) == (2 if s.reference else 1)
        dist = np.asarray(Image.open(s.images[-1]).convert("RGB"), dtype=np.int16)
        assert dist.shape == (56, 56, 3)  # stored at the frame the model sees
        if s.task == "distortion":
            assert s.options[s.answer] == s.meta["distortion"].replace("_", " ") and len(s.options) == len(
                DISTORTIONS
            )
        if s.task == "severity":
            assert s.options == SEVERITY_NAMES and s.answer == s.meta["severity"] - 1
        if s.task == "object":
            assert s.options[s.answer] == s.meta["object"]
        if s.task == "grounding" and s.reference:
            # the distortion lies inside the box: pixels outside it equal the original
            orig = np.asarray(Image.open(s.images[0]).convert("RGB"), dtype=np.int16)
            x1, y1, x2, y2 = (int(v) for v in s.box)
            outside = np.ones(orig.shape[:2], bool)
            outside[y1:y2, x1:x2] = False
            assert (orig[outside] == dist[outside]).all()
    ids = {s.meta["source"] for s in samples}
    test_ids = {s.meta["source"] for s in load_quality_manifest(perception_manifest, "test")}
    assert not ids & test_ids  # splits by source image
    summary = json.loads((perception_manifest / "summary.json").read_text())
    assert sum(summary["distortions"].values()) == len(
        {
            s.images[-1]
            for s in samples
            + load_quality_manifest(perception_manifest, "test")
            + load_quality_manifest(perception_manifest, "val")
        }
    )
