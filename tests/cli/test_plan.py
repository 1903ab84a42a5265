"""`rarl plan`: the per-GPU memory plan of a run config, as tables and as JSON, and its one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rarl.model.full_size import FULL_SIZE_PARAMS
from rarl.recipes import get_recipe
from rarl.recipes.quality.perception import prepare_perception

from .helpers import CONFIGS, assert_clean_error, assert_ok, invoke, run_script

CONFIG_3B = CONFIGS / "utkface-qwen2.5-vl-3b.yaml"
CONFIG_7B = CONFIGS / "utkface-qwen2.5-vl-7b.yaml"
GIB = 1024**3


def plan_json(*args: str | Path) -> dict:
    result = invoke("plan", *args, "--json")
    assert_ok(result)
    return json.loads(result.stdout)


def test_json_carries_exact_counts_parts_and_fits():
    data = plan_json("--config", CONFIG_3B, "--gpus", "8", "--gpu-memory", "80")
    assert data["parameters"]["total"] == FULL_SIZE_PARAMS["3b"]
    assert data["parameters"]["trainable"] < data["parameters"]["total"]  # the vision tower is frozen
    assert data["fits"] is True and data["suggestions"] == []
    parts = {p["key"]: p["bytes"] for p in data["parts"]}
    assert parts["weights"] == parts["reference"] == 2 * FULL_SIZE_PARAMS["3b"]
    assert data["peak_bytes"] == max(data["phases"].values()) <= 80 * GIB
    assert data["settings"]["images_per_prompt"] == 8  # the largest of data.sizes
    assert data["settings"]["visual_tokens_per_image"] == 256  # max_pixels 200704
    assert (
        data["activations"]["no_checkpointing"]["peak_bytes"]
        > data["activations"]["checkpointing"]["peak_bytes"]
    )


def test_does_not_fit_lists_recomputed_changes():
    data = plan_json("--config", CONFIG_7B, "--gpus", "1", "--gpu-memory", "24")
    assert data["fits"] is False and data["headroom_bytes"] < 0
    changes = {s["change"].split(" (")[0]: s for s in data["suggestions"]}
    assert "LoRA r=16 on the language model" in changes and "micro_batch_size 1" in changes
    assert "strategy zero3" not in changes  # sharding over one GPU saves nothing
    combined = data["suggestions"][-1]  # no single change fits 24 GB: they are combined
    assert " + " in combined["change"] and combined["fits"] is True
    assert "rollout.backend_kwargs.batch_size=" in combined["how"] and "model.lora.r=16" in combined["how"]


def test_strategy_changes_the_plan_and_overrides_apply():
    ddp = plan_json("--config", CONFIG_7B, "--gpus", "8", "--gpu-memory", "80")
    zero3 = plan_json("--config", CONFIG_7B, "--gpus", "8", "--gpu-memory", "80", "--strategy", "zero3")
    assert zero3["peak_bytes"] < ddp["peak_bytes"]
    lora = plan_json("--config", CONFIG_7B, "--gpus", "8", "--gpu-memory", "80", "model.lora.r=16")
    assert lora["parameters"]["lora_adapters"] == lora["parameters"]["trainable"] == 40_370_176


def test_vllm_engine_share():
    args = ["--config", CONFIG_3B, "--gpus", "8", "--gpu-memory", "80", "rollout.backend=vllm"]
    awake = {p["key"]: p for p in plan_json(*args)["parts"]}["rollout"]
    assert awake["phase"] == "held" and awake["bytes"] == int(0.3 * 80 * GIB)  # the default share, resident
    asleep = {p["key"]: p for p in plan_json(*args, "rollout.backend_kwargs.sleep=true")["parts"]}["rollout"]
    assert asleep["phase"] == "rollout"  # released between rollouts
    fixed = plan_json(*args, "rollout.backend_kwargs.kv_cache_memory_bytes=4000000000")
    part = {p["key"]: p for p in fixed["parts"]}["rollout"]
    assert part["bytes"] == 2 * FULL_SIZE_PARAMS["3b"] + 4_000_000_000  # its bf16 weights + the KV cache


def test_table_output():
    result = invoke("plan", "--config", CONFIG_7B, "--gpus", "8", "--gpu-memory", "80")
    assert_ok(result)
    text = " ".join(result.stdout.split())
    for words in (
        "8,292,166,656 parameters",
        "weights",
        "reference model",
        "logits",
        "does not fit",
        "fits with:",
    ):
        assert words in text, words


@pytest.mark.parametrize(("config", "images"), [("vision-r1", 1), ("refine-iqa", 2)])
def test_images_per_prompt_is_the_recipes(config: str, images: int):
    """vision-r1 asks about one image, refine-iqa about up to two (a full-reference perception question);
    without the recipe's `images_per_sample` the plan took the largest of `data.sizes` (8)."""
    args = ["--config", CONFIGS / f"{config}-qwen2.5-vl-7b.yaml", "--gpus", "8", "--gpu-memory", "80"]
    data = plan_json(*args)
    assert data["settings"]["images_per_prompt"] == images
    assert data["settings"]["visual_tokens_per_image"] == 512  # max_pixels 401408 = 512 patches of 28 x 28
    assert data["settings"]["prompt_tokens"] == 256 + images * 512 + 2 * images  # + vision start/end tokens
    assert plan_json(*args, "--images", str(images)) == data
    eight = plan_json(*args, "--images", "8")  # --images still overrides: longer prompts, a larger update
    assert eight["settings"]["images_per_prompt"] == 8
    assert eight["phases"]["update"] > data["phases"]["update"]


def test_refine_iqa_prompts_hold_at_most_its_images_per_sample(tmp_path: Path):
    out = tmp_path / "perception"
    prepare_perception("refine-perception", out, num_images=4, image_size=56, max_objects=2, reference="both")
    recipe = get_recipe("refine-iqa")
    samples = recipe.load_samples(str(out), "train")
    assert max(len(s.images) for s in samples) == recipe.images_per_sample == 2  # original + distorted


def test_named_models_resolve_as_the_trainer_does(tmp_path: Path):
    demo = plan_json("--config", CONFIGS / "demo.yaml", "--gpus", "1", "--gpu-memory", "24")
    assert "demo_base" in demo["model"] and demo["fits"] is True
    tiny = plan_json(
        "--config", CONFIGS / "demo.yaml", "--gpus", "1", "--gpu-memory", "1", "model.name_or_path=tiny",
        f"output_dir={tmp_path / 'run'}",
    )  # fmt: skip
    assert "offline tiny" in tiny["model"] and not (tmp_path / "run").exists()  # nothing built


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--gpus", "-1", "--gpu-memory", "80"], ["--gpus", "'-1'"]),
        (["--gpus", "two", "--gpu-memory", "80"], ["--gpus", "'two'"]),
        (["--gpus", "1.5", "--gpu-memory", "80"], ["--gpus"]),
        (["--gpus", "8", "--gpu-memory", "lots"], ["--gpu-memory", "'lots'"]),
        (["--gpus", "8", "--gpu-memory", "0"], ["--gpu-memory"]),
        (["--gpus", "8", "--gpu-memory", "nan"], ["--gpu-memory"]),
        (["--gpus", "8", "--gpu-memory", "80", "--strategy", "zero1"], ["--strategy", "'zero1'"]),
        (["--gpus", "8", "--gpu-memory", "80", "--images", "0"], ["--images"]),
        (["--gpus", "3", "--gpu-memory", "80"], ["prompts_per_step (64)", "(3)"]),
        (
            ["--gpus", "8", "--gpu-memory", "80", "model.name_or_path=Nobody/NoSuchModel"],
            ["Nobody/NoSuchModel"],
        ),
        (["--gpus", "8", "--gpu-memory", "80", "rollout.num_generations=1"], ["rollout.num_generations"]),
        (["--gpu-memory", "80"], ["--gpus is required"]),
        (["--gpus", "8"], ["--gpu-memory is required"]),
        (
            [
                "--gpus",
                "8",
                "--gpu-memory",
                "80",
                "rollout.backend=vllm",
                "rollout.backend_kwargs.gpu_memory_utilization=abc",
            ],
            ["rollout.backend_kwargs.gpu_memory_utilization", "'abc'"],
        ),
        (["--gpus", "8", "--gpu-memory", "80", "rollout.backend_kwargs.batch_size=0"], ["batch_size"]),
    ],
)
def test_bad_options_are_one_error_line(args: list[str], fragments: list[str]):
    assert_clean_error(invoke("plan", "--config", CONFIG_3B, *args), *fragments)


def test_config_that_fails_to_load(tmp_path: Path):
    missing = tmp_path / "none.yaml"
    assert_clean_error(invoke("plan", "--config", missing, "--gpus", "1", "--gpu-memory", "24"), str(missing))
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {name_or_path: Qwen/Qwen2.5-VL-3B-Instruct}\nmicro_batch: 4\n")
    assert_clean_error(invoke("plan", "--config", bad, "--gpus", "1", "--gpu-memory", "24"), "micro_batch")


def test_console_script_exit_code_and_one_line():
    proc = run_script("plan", "--config", CONFIG_3B, "--gpus", "0", "--gpu-memory", "80")
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:") and len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_help_names_the_options():
    result = invoke("plan", "--help")
    assert_ok(result)
    for option in (
        "--config",
        "--gpus",
        "--gpu-memory",
        "--strategy",
        "--json",
        "--images",
        "--prompt-tokens",
    ):
        assert option in result.output, option
