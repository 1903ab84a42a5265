"""`rarl plan`'s figures against what PyTorch allocates on CPU: exact bytes, and the activation estimate.

1. Weights, gradients and optimizer states (always): the tiny Qwen2.5-VL loaded as the trainer loads it
   (float32 full fine-tuning, bfloat16 full fine-tuning, bfloat16 + LoRA r=8), one real forward + backward +
   AdamW step (`rarl.train.common.make_optimizer`), then sum(numel * element_size) of the parameters, the
   gradients and the optimizer state, beside the plan's parts (they must be equal; AdamW's per-tensor `step`
   counters, float32 scalars, are added to the plan's moments: on a GPU they stay on the CPU). The released
   3B and 7B configs on the meta device: the plan's bytes against the published parameter counts.

2. Activations (always): one update micro-batch, as `rarl.train.policy_update` runs it (`token_logprobs`
   with the entropy, the entropy dropped before backward, the image features kept from an earlier pass as
   after the rollout, gradients None as in a step's first micro-batch), its peak resident memory measured
   (`peak_memory`: the kernel's high-water mark, every allocation of 4 KiB or more its own mmap) against the plan's
   update phase above the held memory (gradients, gradient in flight, activations, logits). The tiny model at
   two image budgets, checkpointing off and on.

3. `--width-3b`: the same on the 3B architecture cut to 2 decoder layers and 2 vision blocks (the real widths
   and vocabulary; about 1.1 GB of weights), float32 LoRA r=16 at two image budgets (minutes).

4. `--full-3b DIR`: the random full-size 3B (`rarl.model.full_size.write_random_full_size`, written to DIR
   when it is not there yet; 7.5 GB), bf16, LoRA r=16, frozen vision tower, 2 images at 448x448, G = 2 rows,
   one forward + backward. Needs about 12 GB of memory. On a CPU without bf16 matrix instructions the
   backward is very slow: a bf16 `grad @ W` (each frozen Linear's input gradient) runs about 100 times
   slower than the forward's `x @ W.T` (59 s against 0.46 s for the 3B LM head on 2 cores), so expect hours.

    python benchmarks/plan_validation.py
    python benchmarks/plan_validation.py --width-3b
    python benchmarks/plan_validation.py --full-3b /tmp/rarl-3b --checkpointing both
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import AutoConfig

from rarl.model import LoraSettings, encode_prompts, load_policy, token_logprobs
from rarl.model.full_size import FULL_SIZE_PARAMS, full_size_config, write_random_full_size
from rarl.model.memory_formulas import visual_tokens_per_image
from rarl.model.memory_model import model_facts
from rarl.model.memory_plan import GIB, PlanSettings, plan_memory
from rarl.model.tiny import build_tiny_qwen2_5_vl
from rarl.train.common import make_optimizer
from rarl.train.config import OptimConfig
from rarl.utils.peak_memory import exact_allocations, peak_memory

MIB = 2**20


def noise_conversation(n_images: int, side: int, seed: int = 0) -> list[dict]:
    """A prompt of `n_images` random side x side images, each after an "Image i:" line."""
    rng = np.random.default_rng(seed)
    content: list[dict] = []
    for i in range(n_images):
        pixels = (rng.random((side, side, 3)) * 255).astype(np.uint8)
        content += [
            {"type": "text", "text": f"Image {i + 1}:"},
            {"type": "image", "image": Image.fromarray(pixels)},
        ]
    content.append({"type": "text", "text": "Sort the images in ascending order of size."})
    return [{"role": "user", "content": content}]


def tensor_bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


@dataclass
class Case:
    name: str
    dtype: str
    lora: LoraSettings | None


def exact_bytes(folder: Path) -> list[tuple[str, int, int, int, int, int, int]]:
    """Per case: measured and planned weights, gradients, optimizer-state bytes after one real AdamW step."""
    rows = []
    cases = [
        Case("float32 full", "float32", None),
        Case("bfloat16 full", "bfloat16", None),
        Case("bfloat16 LoRA r=8", "bfloat16", LoraSettings(r=8, alpha=16)),
    ]
    for case in cases:
        policy = load_policy(folder, dtype=case.dtype, lora=case.lora)
        optimizer = make_optimizer(policy.model, OptimConfig(lr=1e-3))
        prompts = encode_prompts(policy, [noise_conversation(2, 56)] * 2)
        ids = torch.randint(10, 200, (2, 8), generator=torch.Generator().manual_seed(0))
        mask = torch.ones_like(ids)
        policy.model.train()
        logp = token_logprobs(policy.model, prompts, ids, mask)
        (-(logp * mask).sum()).backward()
        optimizer.step()
        params = list(policy.model.parameters())
        grads = [p.grad for p in params if p.grad is not None]
        states = [v for s in optimizer.state.values() for v in s.values() if torch.is_tensor(v)]
        facts = model_facts(AutoConfig.from_pretrained(folder), case.dtype, case.lora, True)
        plan = plan_memory(facts, PlanSettings(gpus=1, gpu_memory=GIB, dtype=case.dtype, lora=case.lora))
        part = {p.key: p.bytes for p in plan.parts}
        steps = 4 * facts.trainable_tensors  # AdamW's float32 step counters (on the CPU on a GPU run)
        rows.append(
            (
                case.name,
                tensor_bytes(params),
                part["weights"],
                tensor_bytes(grads),
                part["gradients"],
                tensor_bytes(states),
                part["optimizer"] + steps,
            )
        )
    return rows


def released_bytes() -> list[tuple[str, int, int, int, int]]:
    """The plan's weights / gradients / optimizer bytes of the released configs (bf16, vision frozen)."""
    out = []
    for size in ("3b", "7b"):
        facts = model_facts(full_size_config(size), "bfloat16", None, True)
        plan = plan_memory(facts, PlanSettings(gpus=1, gpu_memory=80 * GIB))
        part = {p.key: p.bytes for p in plan.parts}
        out.append((size, FULL_SIZE_PARAMS[size], facts.total_params, part["weights"], part["optimizer"]))
    return out


def update_peak(
    folder: Path,
    *,
    dtype: str,
    lora: LoraSettings | None,
    side: int,
    images: int,
    rows: int,
    completion: int,
    checkpointing: bool,
) -> tuple[int, int, int]:
    """(measured peak, planned update bytes above the held ones, prompt tokens) of one update micro-batch."""
    policy = load_policy(
        folder,
        dtype=dtype,
        lora=lora,
        gradient_checkpointing=checkpointing,
        min_pixels=side * side,
        max_pixels=side * side,
    )
    prompts = encode_prompts(policy, [noise_conversation(images, side)] * rows)
    ids = torch.randint(10, 200, (rows, completion), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    groups = torch.zeros(rows, dtype=torch.long)
    policy.model.train()
    with torch.no_grad():  # the rollout and reference passes have encoded the images already
        token_logprobs(policy.model, prompts, ids, mask, prompt_groups=groups)

    def chunk_loss() -> torch.Tensor:
        logp, entropy = token_logprobs(
            policy.model, prompts, ids, mask, return_entropy=True, prompt_groups=groups
        )
        float((entropy.detach() * mask).sum())  # the update logs it, then drops it
        return -(logp * mask).sum() / mask.sum()

    measured = peak_memory(lambda: chunk_loss().backward())
    facts = model_facts(AutoConfig.from_pretrained(folder), dtype, lora, True)
    v = visual_tokens_per_image(side * side)
    text = prompts.prompt_length - images * (v + 2)
    settings = PlanSettings(
        gpus=1,
        gpu_memory=GIB,
        dtype=dtype,
        lora=lora,
        gradient_checkpointing=checkpointing,
        max_pixels=side * side,
        images_per_prompt=images,
        prompt_text_tokens=text,
        max_new_tokens=completion,
        group_size=rows,
        prompts_per_step=1,
        micro_batch_size=rows,
        beta=0.0,
    )
    plan = plan_memory(facts, settings)
    held = sum(p.bytes for p in plan.parts if p.phase == "held")
    return measured, plan.phases["update"] - held, prompts.prompt_length


def activation_rows(folder: Path, *, dtype: str, lora, sides, images: int, rows: int, completion: int, gcs):
    out = []
    for side in sides:
        for gc in gcs:
            measured, planned, prompt = update_peak(
                folder,
                dtype=dtype,
                lora=lora,
                side=side,
                images=images,
                rows=rows,
                completion=completion,
                checkpointing=gc,
            )
            out.append((side, gc, prompt, measured, planned, (planned - measured) / measured))
    return out


def print_activations(title: str, table) -> None:
    print(f"\n{title}")
    print(f"{'image':>9} {'ckpt':>5} {'prompt':>7} {'measured MiB':>13} {'plan MiB':>9} {'error':>7}")
    for side, gc, prompt, measured, planned, err in table:
        print(
            f"{side:>4}x{side:<4} {'on' if gc else 'off':>5} {prompt:>7} {measured / MIB:>13.1f} "
            f"{planned / MIB:>9.1f} {err:>+7.1%}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--width-3b", action="store_true", help="also the 2-layer 3B-width model (minutes)")
    parser.add_argument("--full-3b", type=Path, default=None, help="folder of the random full-size 3B")
    parser.add_argument("--checkpointing", choices=["off", "on", "both"], default="off", help="for --full-3b")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    exact_allocations()
    with tempfile.TemporaryDirectory() as tmp:
        tiny = build_tiny_qwen2_5_vl(Path(tmp) / "tiny", seed=0)
        print("exact bytes after one AdamW step (tiny model): measured / plan")
        for name, w, pw, g, pg, s, ps in exact_bytes(tiny):
            same = "equal" if (w, g, s) == (pw, pg, ps) else "DIFFERENT"
            print(
                f"  {name:<18} weights {w:>9,} / {pw:>9,}  grads {g:>9,} / {pg:>9,}  optim {s:>9,} / {ps:>9,}  {same}"
            )
        print(
            "released configs (meta device, bf16, vision frozen): published params, counted, weight bytes, AdamW"
        )
        for size, published, counted, weights, optim in released_bytes():
            print(
                f"  {size}: {published:,} {counted:,} {weights:,} ({weights / published:g} B/param) {optim:,}"
            )
        table = activation_rows(
            tiny,
            dtype="float32",
            lora=None,
            sides=(112, 224),
            images=4,
            rows=4,
            completion=64,
            gcs=(False, True),
        )
        print_activations("update micro-batch, tiny model, float32, 4 images, 4 rows x 64 tokens", table)
        if args.width_3b:
            folder = Path(tmp) / "3b-2-layers"
            overrides = {"num_hidden_layers": 2, "vision.depth": 2, "vision.fullatt_block_indexes": [1]}
            write_random_full_size("3b", folder, dtype="float32", overrides=overrides)
            table = activation_rows(
                folder,
                dtype="float32",
                lora=LoraSettings(),
                sides=(224, 448),
                images=2,
                rows=2,
                completion=32,
                gcs=(False, True),
            )
            print_activations(
                "update micro-batch, 3B widths with 2 layers, float32, LoRA r=16, 2 images", table
            )
    if args.full_3b is not None:
        if not (args.full_3b / "config.json").is_file():
            write_random_full_size("3b", args.full_3b)
        gcs = {"off": (False,), "on": (True,), "both": (False, True)}[args.checkpointing]
        table = activation_rows(
            args.full_3b,
            dtype="bfloat16",
            lora=LoraSettings(),
            sides=(448,),
            images=2,
            rows=2,
            completion=32,
            gcs=gcs,
        )
        print_activations("update micro-batch, random full-size 3B, bf16, LoRA r=16, 2 images, G = 2", table)


if __name__ == "__main__":
    main()
