"""The memory plan's figures: exact bytes against real tensors after an AdamW step and against the released
3B/7B configs, hand-worked formulas, the sharding strategies, the changes it suggests, and the activation
estimate against the peak memory measured on CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from transformers import AutoConfig

from rarl.model import (
    LoraSettings,
    ModelLoadError,
    build_tiny_qwen2_5_vl,
    encode_prompts,
    load_policy,
    token_logprobs,
)
from rarl.model.full_size import FULL_SIZE_PARAMS, build_random_full_size, full_size_config
from rarl.model.memory_formulas import (
    adapter_groups,
    distinct_prompts_per_micro_batch,
    layer_saved_bytes,
    visual_tokens_per_image,
)
from rarl.model.memory_model import RELEASED_MAX_PIXELS, model_facts, resolve_model_config
from rarl.model.memory_plan import GIB, PlanSettings, plan_memory
from rarl.model.memory_suggestions import suggestions
from rarl.train.common import make_optimizer
from rarl.train.config import OptimConfig

from .conftest import conversation

CASES = {
    "float32 full": ("float32", None),
    "bfloat16 full": ("bfloat16", None),
    "bfloat16 LoRA": ("bfloat16", LoraSettings(r=8, alpha=16)),
}


def parts(plan) -> dict[str, int]:
    return {p.key: p.bytes for p in plan.parts}


def tensor_bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


@pytest.mark.parametrize("case", CASES)
def test_weights_gradients_optimizer_equal_the_tensors_after_one_adamw_step(tiny_model: Path, case: str):
    dtype, lora = CASES[case]
    policy = load_policy(tiny_model, dtype=dtype, lora=lora)
    optimizer = make_optimizer(policy.model, OptimConfig(lr=1e-3))  # the trainer's AdamW
    prompts = encode_prompts(policy, [conversation(2, seed=1)] * 2)
    ids = torch.randint(10, 200, (2, 6), generator=torch.Generator().manual_seed(0))
    policy.model.train()
    logp = token_logprobs(policy.model, prompts, ids, torch.ones_like(ids))
    (-logp.sum()).backward()
    optimizer.step()

    facts = model_facts(AutoConfig.from_pretrained(tiny_model), dtype, lora, freeze_vision=True)
    plan = parts(plan_memory(facts, PlanSettings(gpus=1, gpu_memory=GIB, dtype=dtype, lora=lora)))
    params = list(policy.model.parameters())
    assert facts.total_params + facts.adapter_params == sum(p.numel() for p in params)
    assert facts.trainable_params == sum(p.numel() for p in params if p.requires_grad)
    assert plan["weights"] == tensor_bytes(params)
    assert plan["gradients"] == tensor_bytes(p.grad for p in params if p.grad is not None)
    state = [v for s in optimizer.state.values() for v in s.values() if torch.is_tensor(v)]
    step_counters = 4 * facts.trainable_tensors  # float32 scalars, kept on the CPU on a GPU run
    assert plan["optimizer"] + step_counters == tensor_bytes(state)
    moments = {v.dtype for s in optimizer.state.values() for k, v in s.items() if k != "step"}
    assert moments == ({torch.float32} if lora or dtype == "float32" else {torch.bfloat16})


@pytest.mark.parametrize("size", ["3b", "7b"])
def test_released_configs_exact_counts_and_bytes(size: str):
    facts = model_facts(full_size_config(size), "bfloat16", None, freeze_vision=True)
    meta = build_random_full_size(size, device="meta")
    vision = sum(p.numel() for p in meta.model.visual.parameters())
    assert facts.total_params == FULL_SIZE_PARAMS[size]
    assert facts.trainable_params == FULL_SIZE_PARAMS[size] - vision
    plan = parts(plan_memory(facts, PlanSettings(gpus=8, gpu_memory=80 * GIB)))
    assert plan["weights"] == 2 * FULL_SIZE_PARAMS[size]
    assert plan["gradients"] == plan["buckets"] == 2 * facts.trainable_params  # DDP keeps a bucket copy
    assert plan["optimizer"] == 4 * facts.trainable_params  # two bf16 moments, no fp32 master copy
    assert plan["master"] == 0
    assert plan["reference"] == 2 * FULL_SIZE_PARAMS[size]  # beta 0.01, no LoRA: a full copy


def test_lora_counts_of_the_3b_by_hand():
    """r(in + out) per adapted Linear: q, o 2048->2048; k, v 2048->256; gate, up 2048->11008, down back."""
    per_layer = 16 * (2 * (2048 + 2048) + 2 * (2048 + 256) + 3 * (2048 + 11008))
    facts = model_facts(full_size_config("3b"), "bfloat16", LoraSettings(r=16), freeze_vision=True)
    assert facts.trainable_params == facts.adapter_params == 36 * per_layer == 29_933_568
    assert facts.weight_bytes == 2 * FULL_SIZE_PARAMS["3b"] + 4 * 36 * per_layer  # adapters stay fp32
    plan = parts(plan_memory(facts, PlanSettings(gpus=1, gpu_memory=80 * GIB, lora=LoraSettings(r=16))))
    assert plan["reference"] == 0  # the policy with adapters disabled
    assert plan["optimizer"] == 2 * 4 * 36 * per_layer


def test_sharding_strategies_by_hand():
    """ZeRO (Rajbhandari et al. 2020): 2 + 2 + 12 bytes per trainable parameter with bf16; FSDP2 under
    accelerate's mixed precision: fp32 trainable weights, gradients and moments, all sharded."""
    facts = model_facts(full_size_config("7b"), "bfloat16", None, freeze_vision=True)
    total, trainable, n = facts.total_params, facts.trainable_params, 8
    base = PlanSettings(gpus=n, gpu_memory=80 * GIB)
    zero2 = parts(plan_memory(facts, replace(base, strategy="zero2")))
    zero3 = parts(plan_memory(facts, replace(base, strategy="zero3")))
    fsdp = parts(plan_memory(facts, replace(base, strategy="fsdp")))
    assert zero2["weights"] == 2 * total and zero3["weights"] == 2 * total // n
    for p in (zero2, zero3):
        assert (p["master"], p["gradients"], p["optimizer"]) == (
            4 * trainable // n,
            2 * trainable // n,
            8 * trainable // n,
        )
    assert fsdp["weights"] == (4 * trainable + 2 * (total - trainable)) // n
    assert (fsdp["gradients"], fsdp["optimizer"]) == (4 * trainable // n, 8 * trainable // n)
    assert zero3["reference"] == fsdp["reference"] == 2 * total  # the copy is made before sharding


def test_formulas_by_hand():
    h, inter = 2048, 11008  # the 3B's language model
    assert layer_saved_bytes(h, inter, 2) == 24 * h + 8 * inter == 137_216
    assert layer_saved_bytes(h, inter, 4) == 40 * h + 16 * inter
    seven = adapter_groups(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], h, inter
    )
    assert layer_saved_bytes(h, inter, 2, lora_groups=seven, a=4, r=16) == 40 * h + 10 * inter + 7 * 4 * 16
    assert visual_tokens_per_image(200_704) == 256  # 448 x 448 = 256 x 28 x 28
    assert visual_tokens_per_image(401_408) == 512
    assert distinct_prompts_per_micro_batch(64, 8, 4) == 1  # chunks of 4 inside groups of 8
    assert distinct_prompts_per_micro_batch(12, 8, 6) == 2  # rows 6..11 span groups 0 and 1


def test_gradient_checkpointing_lowers_the_update_peak():
    facts = model_facts(full_size_config("3b"), "bfloat16", None, freeze_vision=True)
    s = PlanSettings(gpus=8, gpu_memory=80 * GIB, images_per_prompt=8, max_new_tokens=512, micro_batch_size=4)
    off, on = plan_memory(facts, s), plan_memory(facts, replace(s, gradient_checkpointing=True))
    assert on.phases["update"] < off.phases["update"]
    assert on.activations == off.activations  # both settings are estimated either way
    assert on.prompt_tokens == 256 + 8 * (256 + 2)


def test_suggestions_are_recomputed_plans():
    facts = model_facts(full_size_config("7b"), "bfloat16", None, freeze_vision=True)
    s = PlanSettings(gpus=1, gpu_memory=24 * GIB, images_per_prompt=8, max_new_tokens=512, micro_batch_size=4)
    plan = plan_memory(facts, s)
    assert not plan.fits and plan.headroom < 0

    built: dict[str, object] = {}

    def facts_for(lora):
        if repr(lora) not in built:
            built[repr(lora)] = model_facts(full_size_config("7b"), "bfloat16", lora, freeze_vision=True)
        return built[repr(lora)]

    tries = suggestions(plan, facts_for)
    by_change = {t.change.split(" (")[0]: t for t in tries}
    assert by_change["micro_batch_size 1"].plan.settings.micro_batch_size == 1
    lora = by_change["LoRA r=16 on the language model"].plan
    assert lora.facts.trainable_params == 40_370_176
    assert lora.total == plan_memory(facts_for(LoraSettings()), replace(s, lora=LoraSettings())).total
    assert not any(t.fits for t in tries[:-1])
    combined = tries[-1]
    assert " + " in combined.change and combined.fits
    assert combined.plan.total < min(t.plan.total for t in tries[:-1])


def test_resolving_models_downloads_nothing(tiny_model: Path, tmp_path: Path):
    released = resolve_model_config("Qwen/Qwen2.5-VL-7B-Instruct")
    assert released.config.text_config.hidden_size == 3584 and released.max_pixels == RELEASED_MAX_PIXELS
    local = resolve_model_config(str(tiny_model))
    assert local.max_pixels == 56 * 56 and local.config.model_type == "qwen2_5_vl"
    with pytest.raises(ModelLoadError, match="Nobody/NoSuchModel"):
        resolve_model_config("Nobody/NoSuchModel")
    with pytest.raises(ModelLoadError, match="no such folder"):
        resolve_model_config(str(tmp_path / "missing"))


def measured(*args: str | Path) -> dict:
    """tests/model/peak_child.py's reading in a fresh process (a test worker's heap distorts the resident set)."""
    child = Path(__file__).with_name("peak_child.py")
    done = subprocess.run(
        [sys.executable, str(child), *map(str, args)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("side", [112, 224])
def test_activation_estimate_against_the_measured_peak(tiny_model: Path, side: int):
    """One update micro-batch as `policy_update` runs it (4 rows of one prompt with 4 images, 64 completion
    tokens, gradients None as in a step's first micro-batch): the plan's update memory above the held parts
    is within 30 % of the measured peak (docs/plan.md lists the errors)."""
    reading = measured(tiny_model, "update", side)
    v = visual_tokens_per_image(side * side)
    facts = model_facts(AutoConfig.from_pretrained(tiny_model), "float32", None, freeze_vision=True)
    settings = PlanSettings(
        gpus=1, gpu_memory=GIB, dtype="float32", max_pixels=side * side, images_per_prompt=4,
        prompt_text_tokens=reading["prompt_length"] - 4 * (v + 2), max_new_tokens=64, group_size=4,
        prompts_per_step=1, micro_batch_size=4, beta=0.0,
    )  # fmt: skip
    plan = plan_memory(facts, settings)
    assert plan.prompt_tokens == reading["prompt_length"]
    held = sum(p.bytes for p in plan.parts if p.phase == "held")
    planned = plan.phases["update"] - held
    assert abs(planned - reading["measured"]) / reading["measured"] < 0.3, (planned, reading)


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_adamw_workspace_is_one_copy_of_the_trainable_parameters(tmp_path: Path):
    """torch's foreach AdamW (its default for CUDA parameters) keeps sqrt(v) of every trainable tensor at
    once during `step`; forced here on CPU, whose default is the one-tensor-at-a-time loop. A wider tiny
    model (33 MB of trainable weights): at 1.5 MB, page rounding and small tensors from the heap are 15 %."""
    wide = build_tiny_qwen2_5_vl(tmp_path / "wide", seed=0, hidden_size=512, intermediate_size=2048)
    peak = measured(wide, "adamw")["measured"]
    facts = model_facts(AutoConfig.from_pretrained(wide), "float32", None, freeze_vision=True)
    workspace = parts(plan_memory(facts, PlanSettings(gpus=1, gpu_memory=GIB, dtype="float32")))[
        "adam_workspace"
    ]
    assert workspace == facts.trainable_bytes
    assert abs(peak - workspace) / workspace < 0.1, (peak, workspace)
