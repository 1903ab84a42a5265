"""`rarl prepare -o key=value`: every source's options are checked against their declared types
(`rarl.data.options`) before anything is read or written, so a value of the wrong type or range is one
`error:` line naming the source and the option (exit 2, no folder written), never a traceback."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
from PIL import Image
from tests.cli.helpers import assert_clean_error, assert_ok, invoke

from rarl.data.errors import DataError
from rarl.data.options import (
    check_options,
    flag,
    fractions,
    integer,
    names,
    parse_option_items,
    parse_range,
    text,
)
from rarl.recipes import RECIPES, get_recipe
from rarl.recipes.localization.prepare import SOURCE_OPTIONS as LOCALIZATION_OPTIONS
from rarl.recipes.localization.prepare import source_options
from rarl.recipes.ordinal.prepare import SOURCE_OPTIONS as ORDINAL_OPTIONS
from rarl.recipes.ordinal.prepare import SOURCES
from rarl.recipes.quality.perception import PERCEPTION_OPTIONS, prepare_perception
from rarl.recipes.quality.prepare import QUALITY_SOURCES
from rarl.recipes.quality.prepare import SOURCE_OPTIONS as QUALITY_OPTIONS

# --- the option types, by hand ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("0-100", (0.0, 100.0)),
        ("-1-10", (-1.0, 10.0)),  # a negative low end, written as the old syntax
        ("-1,10", (-1.0, 10.0)),
        ("-5--1", (-5.0, -1.0)),
        ("0..1e3", (0.0, 1000.0)),
        ("2.5:4", (2.5, 4.0)),
        ("[-1, 10]", (-1.0, 10.0)),  # the text of a flow list
        ([-1, 10], (-1.0, 10.0)),  # what YAML makes of -o mos_range=[-1,10]
    ],
)
def test_a_range_takes_signs_and_every_separator(typed, expected):
    assert parse_range(typed, "mos_range") == expected


@pytest.mark.parametrize("typed", ["nan-10", "0-1e400", "5-1", "3-3", "5", 5, [1], "-1e308,1e308", "a-b"])
def test_a_range_refuses_what_is_not_a_finite_interval(typed):
    with pytest.raises(DataError, match="mos_range must be a range lo,hi of finite numbers with lo < hi"):
        parse_range(typed, "mos_range")


def test_values_are_converted_to_what_the_reader_takes():
    declared = {"splits": fractions(3), "n": integer(lo=1), "flag": flag(), "cats": names(), "name": text()}
    typed = {"splits": "0.8,0.1,0.1", "n": "1e3", "flag": "yes", "cats": " a, b ,", "name": 5}
    assert check_options("src", typed, declared) == {
        "splits": [0.8, 0.1, 0.1],
        "n": 1000,
        "flag": True,
        "cats": ["a", "b"],
        "name": "5",
    }
    assert check_options("src", {"n": None}, declared) == {}  # None: not given, the default applies


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("splits", "nan,1,1", "splits must be 3 finite numbers >= 0"),
        ("splits", [0.5, 0.5], "splits must be 3 finite numbers"),
        ("splits", "inf,1,1", "splits must be 3 finite numbers"),
        ("n", 1.5, "n must be an int >= 1, got 1.5"),
        ("n", 0, "n must be an int >= 1, got 0"),
        ("n", True, "n must be an int >= 1, got True"),
        ("n", "1" * 400, "n must be an int >= 1"),
        ("n", 10**400, "n must be an int >= 1, got 1000"),
        ("flag", "maybe", "flag must be true or false, got 'maybe'"),
        ("cats", 5, "cats must be a comma-separated list of names"),
        ("cats", "", "cats must be a comma-separated list of names"),
        ("name", 1.0, "name must be text, got 1.0 (quote text"),
        ("name", [1], "name must be text"),
        ("colour", "red", "unknown options ['colour']; known: ['cats', 'flag', 'n', 'name', 'splits']"),
    ],
)
def test_a_value_of_the_wrong_type_or_range_names_the_option(key, value, says):
    declared = {"splits": fractions(3), "n": integer(lo=1), "flag": flag(), "cats": names(), "name": text()}
    with pytest.raises(DataError) as e:
        check_options("src", {key: value}, declared)
    assert str(e.value).startswith("src: ") and says in str(e.value)


def test_option_items_of_the_command_line():
    assert parse_option_items(["splits=0.8,0.1,0.1", "n=5", "cats=[a, b]", "rule=[unclosed", "empty="]) == {
        "splits": "0.8,0.1,0.1",
        "n": 5,
        "cats": ["a", "b"],
        "rule": "[unclosed",  # text YAML cannot read as a value stays text
        "empty": "",
    }
    for items, says in [
        (["num_images"], "-o 'num_images' is not of the form key=value"),
        (["=5"], "is not of the form key=value"),
        (["root=/data"], "-o root=...: root is an argument of rarl prepare itself; use --root"),
        (["seed=1"], "use --seed"),
        (["n=5", "n=6"], "-o n is given twice (-o n=5 and -o n=6); give it once"),
        (["x=" + "[" * 5000 + "]" * 5000], "-o x: the value is nested too deeply"),
    ]:
        with pytest.raises(DataError, match=None) as e:
            parse_option_items(items)
        assert says in str(e.value)


# --- declarations match the readers ------------------------------------------------------------------------


def test_every_source_declares_exactly_its_readers_options():
    for source, src in SOURCES.items():
        assert set(ORDINAL_OPTIONS[source]) == set(src.options()), source
    for source, options in LOCALIZATION_OPTIONS.items():
        assert set(options) == set(source_options(source)), source
    for source, options in QUALITY_OPTIONS.items():
        if QUALITY_SOURCES.get(source) is not None:  # the dataset readers: their keywords, plus the split
            params = inspect.signature(QUALITY_SOURCES[source]).parameters
            keywords = {p for p, v in params.items() if v.kind is v.KEYWORD_ONLY} - {"strict"}
            assert set(options) - {"split", "fractions"} == keywords, source
    params = inspect.signature(prepare_perception).parameters
    keywords = {p for p, v in params.items() if v.kind is v.KEYWORD_ONLY} - {"root", "seed", "strict"}
    assert set(PERCEPTION_OPTIONS) == keywords
    every = {key for name in RECIPES.names() for key in get_recipe(name).prepare_sources()}
    declared = set(ORDINAL_OPTIONS) | set(LOCALIZATION_OPTIONS) | set(QUALITY_OPTIONS) | {"refine-perception"}
    assert every == declared


# --- the command line, every source --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small valid inputs for the sources that need a root: images, a COCO file, box JSONL, tables."""
    base = tmp_path_factory.mktemp("options")
    images = base / "images"
    images.mkdir()
    for k in range(4):
        Image.new("RGB", (40, 40), (40 * k, 90, 160)).save(images / f"im{k}.png")
    coco = {
        "images": [{"id": k, "file_name": f"im{k}.png", "width": 40, "height": 40} for k in range(4)],
        "annotations": [{"id": k, "image_id": k, "category_id": 1, "bbox": [4, 4, 20, 20]} for k in range(4)],
        "categories": [{"id": 1, "name": "cat"}],
    }
    (base / "instances.json").write_text(json.dumps(coco))
    count = base / "count"
    (count / "annotations").mkdir(parents=True)
    (count / "annotations" / "instances_val.json").write_text(json.dumps(coco))
    rows = [
        {"image": str(images / f"im{k}.png"), "boxes": [[2, 2, 30, 30]], "labels": ["cat"]} for k in range(4)
    ]
    (base / "boxes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    refs = [
        {"image": str(images / f"im{k}.png"), "expression": "the cat", "bbox": [2, 2, 30, 30]}
        for k in range(4)
    ]
    (base / "refs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in refs))
    (base / "labels.csv").write_text(
        "path,label,rule\n" + "".join(f"{images}/im{k}.png,{k},x\n" for k in range(4))
    )
    (base / "mos.csv").write_text("path,mos\n" + "".join(f"{images}/im{k}.png,{k}\n" for k in range(4)))
    return {"images": images, "coco": base / "instances.json", "count": count, "boxes": base / "boxes.jsonl",
            "refs": base / "refs.jsonl", "csv": base / "labels.csv", "mos": base / "mos.csv"}  # fmt: skip


BAD_OPTIONS = [
    # (source, root key, options, what the one line says)
    ("coco", "coco", ["splits=x"], "coco: splits must be 3 finite numbers >= 0"),
    ("coco", "coco", ["splits=[0.8,0.1]"], "coco: splits must be 3 finite numbers"),
    ("coco", "coco", ["categories=5"], "coco: categories must be a comma-separated list of names"),
    ("coco", "coco", ["workers=x"], "coco: workers must be an int >= 1, got 'x'"),
    ("coco", "coco", ["workers=-1"], "coco: workers must be an int >= 1, got -1"),
    ("coco", "coco", ["max_instances=1.5"], "coco: max_instances must be an int >= 0, got 1.5"),
    ("coco", "coco", ["negatives=maybe"], "coco: negatives must be true or false"),
    ("coco", "coco", ["min_pixels=-5"], "coco: min_pixels must be an int >= 1, got -5"),
    ("coco", "coco", ["max_pixels=1e400"], "coco: max_pixels must be an int >= 1, got '1e400'"),
    ("coco", "coco", ["images_dir=[a]"], "coco: images_dir must be a path, got ['a']"),
    ("refcoco", "refs", ["box_format=5"], "refcoco: unknown box_format 5; choose from xyxy, xywh"),
    ("boxes-jsonl", "boxes", ["categories={a: 1}"], "boxes-jsonl: categories must be a comma-separated list"),
    ("synthetic-shapes", None, ["image_size=x"], "synthetic-shapes: image_size must be an int in 28..4096"),
    ("synthetic-shapes", None, ["image_size=1e9"], "synthetic-shapes: image_size must be an int in 28..4096"),
    ("synthetic-shapes", None, ["grounding_fraction=nan"], "grounding_fraction must be a finite number in 0..1"),
    ("synthetic-shapes", None, ["grounding_fraction=x"], "grounding_fraction must be a finite number in 0..1"),
    ("synthetic-shapes", None, ["num_images=[1]"], "num_images must be an int >= 1, got [1]"),
    ("coco-count", "count", ["categories=5"], "coco-count: categories must be a comma-separated list"),
    ("coco-count", "count", ["splits=0.8,0.1"], "coco-count: splits must be 3 finite numbers"),
    ("coco-count", "count", ["include_zero=x"], "coco-count: include_zero must be true or false"),
    ("coco-count", "count", ["annotations=[a]"], "coco-count: annotations must be a path"),
    ("coco-count", "count", ["samples_per_size={train: x}"], "coco-count: samples_per_size must be an int >= 1"),
    ("csv", "csv", ["value_range=5-1"], "csv: value_range must be a range lo,hi of finite numbers with lo < hi"),
    ("csv", "csv", ["value_range=[nan,3]"], "csv: value_range must be a range"),
    ("csv", "csv", ["precision=x"], "csv: precision must be an int in 0..10, got 'x'"),
    ("csv", "csv", ["encoding=[x]"], "csv: encoding must be text"),
    ("jsonl", "csv", ["metric=5"], "jsonl: unknown metric 5; choose from mae, accuracy, srcc, plcc"),
    ("utkface", "images", ["recursive=maybe"], "utkface: recursive must be true or false"),
    ("ava", "images", ["ava_file=[a]"], "ava: ava_file must be a path"),
    ("synthetic", None, ["label_noise=nan"], "synthetic: label_noise must be a finite number >= 0, got 'nan'"),
    ("synthetic", None, ["levels=10"], "synthetic: levels must be an int in 2..9, got 10"),
    ("synthetic", None, ["quiet=maybe"], "synthetic: quiet must be true or false"),
    ("koniq", "images", ["images=[a]"], "koniq: images must be a path, got ['a']"),
    ("koniq", "images", ["manifests=x"], "koniq: unknown options ['manifests']"),
    ("livec", "images", ["fractions=nan,1,1"], "livec: fractions must be 3 finite numbers"),
    ("iqa-csv", "mos", ["higher_better=maybe"], "iqa-csv: higher_better must be true or false"),
    ("iqa-csv", "mos", ["mos_range=nan-10"], "iqa-csv: mos_range must be a range lo,hi"),
    ("iqa-csv", "mos", ["name=[x]"], "iqa-csv: name must be text"),
    ("synthetic-quality", None, ["distortions=5"], "synthetic-quality: distortions must be a comma-separated list of names among blur"),
    ("synthetic-quality", None, ["distortions=[noise, fog]"], "distortions must be a comma-separated list"),
    ("synthetic-quality", None, ["fractions=nan,1,1"], "synthetic-quality: fractions must be 3 finite numbers"),
    ("synthetic-quality", None, ["image_size=x"], "synthetic-quality: image_size must be an int in 28..4096"),
    ("synthetic-quality", None, ["split=5"], "synthetic-quality: unknown split 5; choose from train, val, test"),
    ("iqa-merge", None, ["manifests=5"], "iqa-merge: manifests must be a comma-separated list of paths (e.g. dir1,dir2 or [dir1, dir2]), got 5"),
    ("iqa-merge", None, ["manifests="], "iqa-merge: manifests must be a comma-separated list of paths (e.g. dir1,dir2 or [dir1, dir2]), got ''"),
    ("iqa-merge", None, ["manifests=a,b", "split=test"], "iqa-merge: unknown options ['split']"),
    ("refine-perception", None, ["tasks=5"], "refine-perception: tasks must be a comma-separated list of names among distortion"),
    ("refine-perception", None, ["tasks=[distortion, 5]"], "refine-perception: tasks must be"),
    ("refine-perception", None, ["fractions=nan,1,1"], "refine-perception: fractions must be 3 finite numbers"),
    ("refine-perception", None, ["min_box_side=-1"], "refine-perception: min_box_side must be an int >= 1, got -1"),
    ("refine-perception", None, ["min_box_side=x"], "refine-perception: min_box_side must be an int >= 1"),
    ("refine-perception", None, ["min_pixels=x"], "refine-perception: min_pixels must be an int >= 1"),
    ("refine-perception", None, ["min_options=1"], "refine-perception: min_options must be an int >= 2, got 1"),
    ("refine-perception", None, ["min_pixels=5000", "max_pixels=100"], "refine-perception: min_pixels 5000 > max_pixels 100"),
    ("refine-perception", None, ["max_pixels=1"], "refine-perception: min_pixels 12544 > max_pixels 1"),
    ("refine-perception", None, ["images_from=5"], "refine-perception: unknown images_from 5; choose from"),
    ("refine-perception", None, ["images_dir=x"], "refine-perception: unknown options ['images_dir']"),
    ("refine-perception", "coco", ["images_from=coco", "max_images=-1"], "max_images must be an int >= 0"),
    ("synthetic", None, ["root=/data"], "-o root=...: root is an argument of rarl prepare itself; use --root"),
    ("synthetic", None, ["num_images=5", "num_images=6"], "-o num_images is given twice"),
]  # fmt: skip


@pytest.mark.parametrize(("source", "root", "options", "says"), BAD_OPTIONS, ids=lambda v: str(v)[:40])
def test_a_bad_option_is_one_line_and_writes_nothing(source, root, options, says, inputs, tmp_path):
    out = tmp_path / "out"
    args = ["prepare", source, "--out", out, *(["--root", inputs[root]] if root else [])]
    result = invoke(*args, *[x for kv in options for x in ("-o", kv)])
    assert_clean_error(result, says)
    assert not out.exists()


def test_split_fractions_as_typed_on_the_command_line(inputs, tmp_path):
    """`-o splits=0.5,0.25,0.25` (the text YAML leaves it) is three fractions, not the characters of a text."""
    out = tmp_path / "coco"
    result = invoke("prepare", "coco", "--root", inputs["coco"], "--out", out, "-o", "splits=0.5,0.25,0.25")
    assert_ok(result)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["splits"] == [0.5, 0.25, 0.25]
    assert {s: sum(c.values()) for s, c in summary["samples"].items()} == {"train": 2, "val": 1, "test": 1}


def test_paths_the_user_types_never_raise(inputs, tmp_path):
    """--root through a link loop, `~nosuchuser/...` (no home folder to expand): one line each."""
    out = tmp_path / "out"
    loop = tmp_path / "loop"
    loop.symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(loop)
    assert_clean_error(
        invoke("prepare", "coco", "--root", loop, "--out", out), "coco: file not found", "loop"
    )
    result = invoke("prepare", "boxes-jsonl", "--root", "~nosuchuser-rarl/boxes.jsonl", "--out", out)
    assert_clean_error(result, "boxes-jsonl: file not found", "~nosuchuser-rarl/boxes.jsonl")
    result = invoke(
        "prepare", "coco", "--root", inputs["coco"], "-o", "images_dir=~nosuchuser-rarl/x", "--out", out
    )
    assert_clean_error(result, "coco: images folder not found: ~nosuchuser-rarl/x")
    result = invoke("prepare", "utkface", "--root", "~nosuchuser-rarl", "--out", out)
    assert_clean_error(result, "utkface: folder not found: ~nosuchuser-rarl")
    result = invoke("prepare", "koniq", "--root", "~nosuchuser-rarl", "--out", out)
    assert_clean_error(result, "file not found", "~nosuchuser-rarl")
    assert not out.exists()
