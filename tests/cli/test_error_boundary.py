"""Issue 14, "one-line errors on every path": each probe class ends in one `error:` line naming the bad
input and exit code 2, before any model is loaded where the input can be judged without one.

Real files throughout (broken images, model folders with broken weights, malformed COCO files, binary
configs, a file where a folder is expected). Two conditions cannot be made here as they happen to users: a
read-only folder when the tests run as root, and a full disk; for those the failing call is replaced by
one raising the OS error the kernel raises.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from rarl.utils.errors import user_message

from .helpers import CONFIGS, assert_clean_error, invoke, train_overrides

DEMO = CONFIGS / "demo.yaml"
SFT = CONFIGS / "sft-demo.yaml"
NO_MODEL = "/nonexistent/model"  # option checks must fail before any model would be loaded


# ---------------------------------------------------------------------------------------------------- options
@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ("rollout.max_new_tokens=0", ["rollout.max_new_tokens must be >= 1, got 0"]),
        ("optim.lr=-1", ["optim.lr must be a finite number > 0, got -1.0"]),
        ("optim.lr=nan", ["optim.lr: expected a number", "(not a number)"]),
        ("optim.lr=.inf", ["optim.lr must be a finite number > 0, got inf"]),
        ("stages.0.lr=nan", ["stages[0].lr: expected a number"]),
        (
            "rollout.backend=bogus",
            ["rollout.backend must be one of ['hf', 'vllm'] or a plug-in, got 'bogus'"],
        ),
        ("rollout.top_p=0", ["rollout.top_p must be in (0, 1]"]),
        ("reward.name=bogus", ["unknown reward 'bogus'", "rarl"]),
        ("stages.0.reward_kwargs.weights=[1]", ["weights must be three numbers"]),
        ("checkpoint.every=-1", ["checkpoint.every must be >= 0"]),
        ("data.sizes=[]", ["data.sizes must be a non-empty list of positive integers"]),
        ("seed=-1", ["seed must be in 0..4294967295, got -1"]),
        ("output_dir=", ["output_dir must be a folder path"]),
    ],
)
def test_train_options_are_checked_before_the_model(override, fragments, manifest: Path, tmp_path: Path):
    args = [*train_overrides(Path(NO_MODEL), manifest, tmp_path / "run"), override]
    assert_clean_error(invoke("train", "--config", DEMO, *args), *fragments)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (
            ["eval", "--model", NO_MODEL, "--data", "DATA", "--sizes", "0"],
            "--sizes: expected positive integers",
        ),
        (
            ["prepare", "synthetic", "--out", "OUT", "--sizes", "1,x"],
            "--sizes: expected a comma-separated list",
        ),
        (["build-tiny", "--out", "OUT", "--seed", "-1"], "--seed must be in 0..4294967295"),
        (["demo", "--out", "OUT", "--size", "huge"], "--size: unknown demo size 'huge'"),
        (["demo", "--out", "OUT", "--size", "smoke", "--base", "NOPE"], "--base NOPE: not a model folder"),
        (
            ["demo", "--recipe", "vision-r1", "--out", "OUT", "--size", "smoke", "--seed", "1000"],
            "warm-up data seed",
        ),
        (["build-base", "--out", "OUT", "--spec", "huge"], "unknown base spec 'huge'"),
        (["train", "--config", str(DEMO), "--stop-at-step", "0"], "--stop-at-step must be >= 1"),
        (["ablate", "--config", str(DEMO), "--out", "OUT", "--eval-max-samples", "0"], "--eval-max-samples"),
    ],
)
def test_command_options(args: list[str], fragment: str, manifest: Path, tmp_path: Path):
    out = tmp_path / "out"
    args = [str(manifest) if a == "DATA" else str(out) if a == "OUT" else a for a in args]
    assert_clean_error(invoke(*args), fragment)
    assert not out.exists()


def test_sft_negative_steps(manifest: Path, tmp_path: Path):
    result = invoke(
        "sft", "--config", SFT, f"output_dir={tmp_path / 'run'}", f"model.name_or_path={NO_MODEL}",
        f"data.manifest={manifest}", "steps=-1",
    )  # fmt: skip
    assert_clean_error(result, "steps must be >= 0, got -1")


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--n-boot", "0"], "n_boot (--n-boot) must be >= 1, got 0"),
        (["--batch-size", "0"], "batch_size (--batch-size) must be >= 1, got 0"),
        (["--max-new-tokens", "0"], "max_new_tokens (--max-new-tokens) must be >= 1, got 0"),
        (["--sample", "--temperature", "0"], "temperature (--temperature) must be a finite number > 0"),
        (["--max-samples", "0"], "max_samples (--max-samples) must be >= 1, got 0"),
    ],
)
def test_eval_options(flags: list[str], fragment: str, manifest: Path, tmp_path: Path):
    out = tmp_path / "e"
    result = invoke("eval", "--model", NO_MODEL, "--data", manifest, "--sizes", "1", "--out", out, *flags)
    assert_clean_error(result, fragment)
    assert not out.exists()


def test_rank_max_new_tokens(images: list[Path]):
    result = invoke("rank", "--model", NO_MODEL, images[0], "--rule", "r", "--value-range", "1-9",
                    "--max-new-tokens", "0")  # fmt: skip
    assert_clean_error(result, "max_new_tokens (--max-new-tokens) must be >= 1, got 0")


# ---------------------------------------------------------------------------------------------------- images
def _broken(kind: str, like: Path, path: Path) -> Path:
    if kind == "non-image":
        path.write_text("name,label\nthis is a CSV file, not a picture\n")
    elif kind == "zero-byte":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(like.read_bytes()[:200])
    elif kind == "aspect 300":
        Image.new("RGB", (8400, 28)).save(path, "PNG")
    return path


KINDS = {
    "non-image": "not an image file PIL can read",
    "zero-byte": "not an image file PIL can read",
    "truncated": "unreadable image file (image file is truncated)",
    "aspect 300": "aspect ratio above 200 (8400x28, ratio 300)",
}


@pytest.mark.parametrize("kind", KINDS)
def test_rank_bad_image(kind: str, tiny_model: Path, images: list[Path], tmp_path: Path):
    bad = _broken(kind, images[0], tmp_path / "photo.png")
    result = invoke("rank", "--model", tiny_model, images[1], bad, "--rule", "r", "--value-range", "1-9")
    assert_clean_error(result, KINDS[kind], str(bad))


@pytest.fixture
def broken_manifest(manifest: Path, tmp_path: Path, request: pytest.FixtureRequest) -> tuple[Path, Path]:
    """A copy of the manifest whose first train image is broken in the way the test names."""
    copy = tmp_path / "data"
    shutil.copytree(manifest, copy)
    first = json.loads((copy / "train.jsonl").read_text().splitlines()[0])["items"][0]["image"]
    image = copy / first
    _broken(request.param, image, image)
    return copy, image


@pytest.mark.parametrize("broken_manifest", list(KINDS), indirect=True)
@pytest.mark.parametrize("command", ["train", "sft", "eval"])
def test_manifest_with_a_bad_image(command: str, broken_manifest: tuple[Path, Path], tmp_path: Path):
    data, image = broken_manifest
    if command == "train":
        result = invoke("train", "--config", DEMO, *train_overrides(Path(NO_MODEL), data, tmp_path / "run"))
    elif command == "sft":
        result = invoke(
            "sft", "--config", SFT, f"output_dir={tmp_path / 'run'}", f"model.name_or_path={NO_MODEL}",
            f"data.manifest={data}", "data.sizes=[1,2]", "steps=1",
        )  # fmt: skip
    else:
        result = invoke("eval", "--model", NO_MODEL, "--data", data, "--split", "train", "--sizes", "1,2",
                        "--out", tmp_path / "e")  # fmt: skip
    kind = next(k for k in KINDS if image.read_bytes() == _broken(k, image, tmp_path / "x").read_bytes())
    assert_clean_error(result, "train.jsonl:1:", KINDS[kind], str(image), "re-run `rarl prepare`")


# ---------------------------------------------------------------------------------------------------- models
def _model_copy(tiny_model: Path, folder: Path) -> Path:
    folder.mkdir()
    for f in tiny_model.iterdir():
        (folder / f.name).symlink_to(f)
    return folder


@pytest.mark.parametrize(
    ("damage", "fragments"),
    [
        ("random files", ["is not a model folder (no config.json)"]),
        ("random weights", ["cannot load the model's weights", "SafetensorError"]),
        ("truncated weights", ["cannot load the model's weights", "SafetensorError"]),
        ("empty weights", ["cannot load the model's weights", "header too small"]),
        ("no tokenizer", ["cannot load the model's processor and tokenizer"]),
        ("config.json a list", ["config.json holds a JSON list, not a model config object"]),
        ("config.json binary", ["config.json is not a text file"]),
    ],
)
def test_broken_model_folder(damage, fragments, tiny_model: Path, manifest: Path, tmp_path: Path):
    model = tmp_path / "model"
    if damage == "random files":
        model.mkdir()
        (model / "weights.bin").write_bytes(os.urandom(4096))
        (model / "notes.txt").write_text("hello")
    elif damage.startswith("config.json"):
        _model_copy(tiny_model, model)
        (model / "config.json").unlink()
        (model / "config.json").write_bytes(b"[]" if "list" in damage else b"\xd3\xff" + os.urandom(300))
    else:
        _model_copy(tiny_model, model)
        weights = model / "model.safetensors"
        real = weights.resolve().read_bytes()
        weights.unlink()
        if damage == "random weights":
            weights.write_bytes(os.urandom(4096))
        elif damage == "truncated weights":
            weights.write_bytes(real[: len(real) // 3])
        elif damage == "empty weights":
            weights.write_bytes(b"")
        else:
            weights.symlink_to(tiny_model / "model.safetensors")
            for f in [*model.glob("tokenizer*"), model / "chat_template.jinja"]:
                f.unlink()
    out = tmp_path / "e"
    result = invoke("eval", "--model", model, "--data", manifest, "--sizes", "1", "--out", out)
    assert_clean_error(result, str(model), *fragments)
    assert not (out / "results.json").exists()


def test_missing_relative_model_path_is_not_looked_up_on_the_hub(manifest: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # a hub request would fail with another message
    monkeypatch.chdir(tmp_path)
    result = invoke("eval", "--model", "runs/my-model", "--data", manifest, "--sizes", "1", "--out", "e")
    assert_clean_error(result, "model folder not found: no such folder runs/my-model")
    assert "127.0.0.1" not in result.output


# ---------------------------------------------------------------------------------------------------- COCO
GOOD_COCO = {
    "images": [{"id": 1, "file_name": "a.png", "width": 40, "height": 40}],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 10, 10], "iscrowd": 0}],
    "categories": [{"id": 1, "name": "cat"}],
}


def _coco(tmp_path: Path, change) -> Path:
    (tmp_path / "coco").mkdir(exist_ok=True)
    Image.new("RGB", (40, 40)).save(tmp_path / "coco" / "a.png")
    data = json.loads(json.dumps(GOOD_COCO))
    data = change(data) or data
    path = tmp_path / "coco" / "instances.json"
    path.write_text(json.dumps(data))
    return path


COCO_DAMAGE = {
    "annotation without image_id": (
        lambda d: d["annotations"][0].pop("image_id") and None,
        "malformed annotation): instances.json annotations[0] has no 'image_id'",
    ),
    "list ids": (lambda d: d["images"][0].update(id=[1]), "images[0] id is [1], not an integer or string id"),
    "string categories": (lambda d: d.update(categories=["cat"]), "categories[0] is a str, not an object"),
    "top-level list": (lambda d: [d], "not a COCO instances file (the top level is a list"),
}


@pytest.mark.parametrize("source", ["coco-count", "coco"])
@pytest.mark.parametrize("damage", COCO_DAMAGE)
def test_malformed_coco(source: str, damage: str, tmp_path: Path):
    change, fragment = COCO_DAMAGE[damage]
    ann = _coco(tmp_path, change)
    out = tmp_path / "out"
    if source == "coco-count":
        result = invoke("prepare", "coco-count", "--root", ann.parent, "-o", "annotations=instances.json",
                        "--out", out)  # fmt: skip
    else:
        result = invoke("prepare", "coco", "--root", ann, "--out", out)
    assert_clean_error(result, fragment)
    assert not out.exists()


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("count", "got 'count'"),
        ("number of {cat} {category}", "unknown field {cat}"),
        ("number of {category", "got 'number of {category'"),
        ("{0} {category}", "Replacement index 0 out of range"),
        ("[1]", "got [1]"),
    ],
)
def test_bad_rule_template(template: str, fragment: str, tmp_path: Path):
    ann = _coco(tmp_path, lambda d: None)
    result = invoke("prepare", "coco-count", "--root", ann.parent, "-o", "annotations=instances.json",
                    "-o", f"rule_template={template}", "--out", tmp_path / "out")  # fmt: skip
    assert_clean_error(result, "rule_template must be text", fragment)


# ---------------------------------------------------------------------------------------------------- files
def test_prepare_csv_in_windows_ansi(tmp_path: Path):
    Image.new("RGB", (32, 32)).save(tmp_path / "café.png")
    Image.new("RGB", (32, 32), (9, 9, 9)).save(tmp_path / "b.png")
    table = tmp_path / "labels.csv"
    table.write_bytes("path;label\r\ncafé.png;1,5\r\nb.png;2\r\n".encode("cp1252"))
    args = ["prepare", "csv", "--root", table, "-o", "rule=r", "--sizes", "1", "--out", tmp_path / "m"]
    assert_clean_error(invoke(*args), "labels.csv:2: not UTF-8", "-o encoding=cp1252")
    result = invoke(*args, "-o", "encoding=cp1252")
    assert result.exit_code == 0, result.output
    lines = (
        (tmp_path / "m" / "train.jsonl").read_text(encoding="utf-8")
        + (tmp_path / "m" / "test.jsonl").read_text(encoding="utf-8")
        + (tmp_path / "m" / "val.jsonl").read_text(encoding="utf-8")
    )
    assert "café.png" in lines and "1.5" in lines


@pytest.mark.parametrize(
    ("option", "fragment"),
    [
        ("precision=abc", "csv: precision must be an int in 0..10, got 'abc'"),
        ("delta=-1", "csv: delta must be a finite number >= 0, got -1"),
        ("delta=0", "csv: delta must be a number > 0, got 0.0"),
        ("value_type=decimal", "csv: unknown value_type 'decimal'; choose from int, float"),
        ("encoding=klingon", "unknown text encoding 'klingon'"),
    ],
)
def test_prepare_csv_options(option: str, fragment: str, images: list[Path], tmp_path: Path):
    table = tmp_path / "t.csv"
    table.write_text("path,label\n" + "".join(f"{p},{k}\n" for k, p in enumerate(images[:4], 1)))
    result = invoke("prepare", "csv", "--root", table, "-o", "rule=r", "-o", option, "--out", tmp_path / "m")
    assert_clean_error(result, fragment)


def test_binary_config(tmp_path: Path):
    config = tmp_path / "config.yaml"
    config.write_bytes(bytes(range(128, 256)) * 8)
    for command in ("train", "sft", "ablate"):
        assert_clean_error(invoke(command, "--config", config), str(config), "not UTF-8", "save it as UTF-8")


def test_out_that_is_a_file(tiny_model: Path, manifest: Path, tmp_path: Path):
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    assert_clean_error(
        invoke("eval", "--model", tiny_model, "--data", manifest, "--sizes", "1", "--out", afile),
        f"--out {afile} is a file, not a folder",
    )
    assert_clean_error(invoke("build-tiny", "--out", afile), "already exists", str(afile))
    assert_clean_error(invoke("prepare", "synthetic", "--out", afile), "is not a folder", str(afile))
    assert_clean_error(invoke("ablate", "--config", DEMO, "--out", afile), f"--out {afile} is a file")
    assert_clean_error(invoke("demo", "--out", afile / "sub", "--size", "smoke"), "not a folder", str(afile))
    run = afile / "run"
    args = train_overrides(tiny_model, manifest, run)
    assert_clean_error(invoke("train", "--config", DEMO, *args), "is a file, not a folder", str(afile))
    assert afile.read_text() == "keep me"


def test_read_only_output_folder(tiny_model: Path, manifest: Path, tmp_path: Path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() == 0:  # root writes anywhere: refuse writes below `locked` as a read-only mount does
        real_mkdir, real_mkdtemp = Path.mkdir, __import__("tempfile").mkdtemp

        def mkdir(self, *args, **kwargs):
            if locked in self.parents:
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
            return real_mkdir(self, *args, **kwargs)

        def mkdtemp(*args, dir=None, **kwargs):
            if dir is not None and Path(dir) == locked:
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(Path(dir) / ".x.tmp"))
            return real_mkdtemp(*args, dir=dir, **kwargs)

        monkeypatch.setattr(Path, "mkdir", mkdir)
        monkeypatch.setattr("tempfile.mkdtemp", mkdtemp)
    else:
        locked.chmod(0o555)
    eval_out = locked / "eval"
    result = invoke("eval", "--model", tiny_model, "--data", manifest, "--sizes", "1", "--out", eval_out)
    assert_clean_error(result, str(eval_out), "choose")
    result = invoke("prepare", "synthetic", "--out", locked / "m", "-o", "num_images=40")
    assert_clean_error(result, str(locked / "m"), "choose an output folder you can write to" if os.geteuid() == 0
                       else "permission denied")  # fmt: skip
    locked.chmod(0o755)


def test_full_disk_says_so_and_keeps_the_previous_manifest(tmp_path: Path, monkeypatch):
    out = tmp_path / "m"
    first = invoke("prepare", "synthetic", "--out", out, "-o", "num_images=40", "--sizes", "1")
    assert first.exit_code == 0, first.output
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    real_save = Image.Image.save
    calls = {"n": 0}

    def save(self, fp, *args, **kwargs):  # the disk fills up after ten images
        calls["n"] += 1
        if calls["n"] > 10:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save)
    result = invoke(
        "prepare", "synthetic", "--out", out, "-o", "num_images=40", "--sizes", "1", "--seed", "1"
    )
    assert_clean_error(result, "no space left on device", str(out), "free some space")
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no half-written copy left


@pytest.mark.parametrize(
    ("error", "fragment"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "no space left on device"),
        (RuntimeError("Error while serializing: I/O error: No space left on device (os error 28)"),
         "no space left on device"),
        (RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos; [Errno 28]"),
         "no space left on device"),
        (OSError(errno.EROFS, "Read-only file system", "/mnt/x"), "read-only file system: /mnt/x"),
        (PermissionError(errno.EACCES, "Permission denied", "/x"), "permission denied: /x"),
        (NotADirectoryError(errno.ENOTDIR, "Not a directory", "/f/x"), "a part of the path is a file"),
    ],
)  # fmt: skip
def test_file_system_errors_map_to_one_line(error: BaseException, fragment: str):
    message = user_message(error)
    assert message is not None and fragment in message and "\n" not in message


def test_bugs_keep_their_traceback():
    assert user_message(KeyError("x")) is None
    assert user_message(RuntimeError("shape mismatch")) is None
    assert user_message(OSError("image file is truncated")) is None  # no errno: not the file system's


def test_vision_r1_manifest_with_a_truncated_image(tmp_path: Path):
    data = tmp_path / "shapes"
    made = invoke("prepare", "synthetic-shapes", "--out", data, "-o", "num_images=12", "-o", "image_size=56")
    assert made.exit_code == 0, made.output
    record = json.loads((data / "train.jsonl").read_text().splitlines()[0])
    image = data / record["image"] if not Path(record["image"]).is_absolute() else Path(record["image"])
    image.write_bytes(image.read_bytes()[:150])
    out = tmp_path / "e"
    result = invoke("eval", "--recipe", "vision-r1", "--model", NO_MODEL, "--data", data, "--split", "train",
                    "--out", out)  # fmt: skip
    assert_clean_error(result, "train.jsonl", "unreadable image file", str(image.resolve()))
    assert not out.exists()
