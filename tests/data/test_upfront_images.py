"""Up-front image check (issue 14, data loss 5): a manifest whose images went missing or bad since
`rarl prepare` is refused when training or SFT starts, before any model is loaded, naming the manifest line
(file:line) of the first bad image, how many are bad, and how to fix it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rarl.data.errors import DataError
from rarl.data.validate import find_bad_images, image_file_problem
from rarl.recipes import get_recipe
from rarl.recipes.ordinal.manifest import load_manifest
from rarl.train.config import DataConfig, ModelConfig, RolloutConfig, SFTConfig, StageConfig, TrainConfig


@pytest.fixture
def copy(manifest: Path, tmp_path: Path) -> Path:
    """A private copy of the session's synthetic manifest (with its images), free to damage."""
    return Path(shutil.copytree(manifest, tmp_path / "data"))


def _lines(folder: Path, split: str = "train") -> list[list[str]]:
    """Absolute image paths of every line of a split file."""
    rows = [json.loads(line) for line in (folder / f"{split}.jsonl").read_text().splitlines()]
    return [[str(folder / it["image"]) for it in row["items"]] for row in rows]


def _damage(image: Path, how: str) -> None:
    if how == "missing":
        image.unlink()
    elif how == "empty":
        image.write_bytes(b"")
    elif how == "not an image":
        image.write_text("name,label\nx,1\n")
    elif how == "a folder":
        image.unlink()
        image.mkdir()


PROBLEMS = {
    "missing": "image file not found",
    "empty": "not an image file PIL can read",
    "not an image": "not an image file PIL can read",
    "a folder": "image path is a folder",
}


@pytest.mark.parametrize("how", list(PROBLEMS))
def test_the_first_bad_line_is_named_with_the_count_and_the_fix(copy: Path, how: str):
    lines = _lines(copy)
    image = lines[5][0]  # sample 6 of the split, as in the probe
    _damage(Path(image), how)
    using = [k for k, paths in enumerate(lines, 1) if image in paths]
    with pytest.raises(DataError) as err:
        load_manifest(copy, "train", check_files=True)
    message = str(err.value)
    assert message.startswith(f"{copy / 'train.jsonl'}:{using[0]}: {PROBLEMS[how]}: {image} ")
    have = "has" if len(using) == 1 else "have"
    assert f"({len(using)} of {len(lines)} samples in train.jsonl {have} a missing or unreadable" in message
    assert "1 file in all" in message
    assert "remove those lines from train.jsonl, or re-run `rarl prepare`" in message
    assert "\n" not in message


def test_every_bad_file_is_counted(copy: Path):
    lines = _lines(copy)
    first = lines[2][0]
    bad = {first, next(p for paths in reversed(lines) for p in paths if p != first)}
    for image in bad:
        Path(image).unlink()
    using = [k for k, paths in enumerate(lines, 1) if bad & set(paths)]
    with pytest.raises(
        DataError, match=rf"train.jsonl:{using[0]}: .*\({len(using)} of {len(lines)} samples.*2 files"
    ):
        load_manifest(copy, "train", check_files=True)


def test_only_the_requested_sizes_are_checked(copy: Path):
    lines = _lines(copy)
    in_larger = {p for paths in lines if len(paths) > 1 for p in paths}
    single = next((paths[0] for paths in lines if len(paths) == 1 and paths[0] not in in_larger), None)
    if single is None:
        pytest.skip("the synthetic grouping reused every 1-image sample's image in a larger sample")
    Path(single).unlink()
    assert all(s.n == 2 for s in load_manifest(copy, "train", sizes=[2], check_files=True))
    with pytest.raises(DataError, match="image file not found"):
        get_recipe("rarl").load_samples(str(copy), "train", [1, 2])


def test_a_clean_manifest_passes(manifest: Path):
    samples = get_recipe("rarl").load_samples(str(manifest), "train", [1, 2, 4])
    assert samples and not find_bad_images([p for s in samples for p in s.image_paths])


def test_truncated_pixels_are_found_up_front(copy: Path):
    image = Path(_lines(copy)[0][0])
    data = image.read_bytes()
    image.write_bytes(data[: len(data) // 2])  # truncated pixel data: the header still reads
    assert image_file_problem(str(image)) == "unreadable image file (image file is truncated)"
    with pytest.raises(DataError, match=r"train\.jsonl:1: unreadable image file \(image file is truncated\)"):
        get_recipe("rarl").load_samples(str(copy), "train", [1, 2, 4])


def test_grpo_refuses_before_loading_the_model(copy: Path, tmp_path: Path):
    Path(_lines(copy)[5][0]).unlink()
    cfg = TrainConfig(
        output_dir=str(tmp_path / "run"),
        model=ModelConfig(name_or_path=str(tmp_path / "no-model-here")),  # would fail to load
        data=DataConfig(manifest=str(copy), sizes=[1, 2, 4]),
        rollout=RolloutConfig(num_generations=2),
        prompts_per_step=2,
        stages=[StageConfig(name="s", steps=1)],
    )
    from rarl.recipes.runs import run_grpo

    with pytest.raises(DataError, match=r"train.jsonl:\d+: image file not found"):
        run_grpo(cfg)
    assert not (tmp_path / "run").exists()


def test_sft_refuses_before_loading_the_model(copy: Path, tmp_path: Path):
    Path(_lines(copy)[5][0]).unlink()
    cfg = SFTConfig(
        output_dir=str(tmp_path / "sft"),
        model=ModelConfig(name_or_path=str(tmp_path / "no-model-here")),
        data=DataConfig(manifest=str(copy), sizes=[1, 2, 4]),
        steps=1,
        batch_size=2,
    )
    from rarl.recipes.runs import run_sft

    with pytest.raises(DataError, match=r"train.jsonl:\d+: image file not found"):
        run_sft(cfg)
    assert not (tmp_path / "sft").exists()
