"""Rollout and log-prob throughput of rarl.model.

Default (CPU, offline): the tiny Qwen2.5-VL, prompts with 1/2/4/8 images of 56x56, G = 8 completions each.
Generation tok/s counts completion tokens (B*G rows x their lengths); log-prob tok/s counts the same
tokens scored in one `token_logprobs` pass, without and with backward.

    python benchmarks/rollout.py                          # tiny model, CPU
    python benchmarks/rollout.py --prompts 2 --max-new-tokens 32 --threads 2

GPU users (random weights, nothing downloaded): the released 3B/7B architecture in bf16, 64 prompts x G=8
with 8 synthetic images each; reports generation tok/s, log-prob pass time and peak memory.

    python benchmarks/rollout.py --full-size 3b --device cuda --prompts 64 --images 8 --image-size 224

Full-size defaults: --micro-batch 16 rows per log-prob forward, --gen-batch 128 rows per generate call.

vLLM against HF generate (`--vllm`, needs the vllm extra: `make install-vllm`, then run with
`.venv-vllm/bin/python`): the same prompts and sampling settings through both backends, repeats interleaved
(HF, vLLM, HF, vLLM, ...) so both see the same machine load; the engine's build and first call are not timed.

    .venv-vllm/bin/python benchmarks/rollout.py --vllm --images 1 8 --image-size 224 --prompts 4
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from rarl.model import (
    HFGenerateBackend,
    Policy,
    PromptBatch,
    SamplingSettings,
    build_random_full_size,
    build_tiny_qwen2_5_vl,
    encode_prompts,
    load_policy,
    token_logprobs,
)
from rarl.recipes.ordinal.prompts import INSTRUCT_TEMPLATE, SYSTEM_PROMPT


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", type=Path, default=None, help="a model folder (default: build the tiny model)"
    )
    parser.add_argument(
        "--full-size", choices=["3b", "7b"], default=None, help="random-weight full-size model"
    )
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    parser.add_argument("--dtype", default=None, choices=["float32", "bfloat16", "float16"])
    parser.add_argument(
        "--prompts", type=int, default=None, help="prompts per rollout (B); default 4, or 64 full-size"
    )
    parser.add_argument("--generations", type=int, default=8, help="completions per prompt (G)")
    parser.add_argument(
        "--images", type=int, nargs="+", default=None, help="images per prompt (default 1 2 4 8)"
    )
    parser.add_argument(
        "--image-size", type=int, default=None, help="image side in pixels (56 tiny, 224 full)"
    )
    parser.add_argument(
        "--share",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="share each prompt's prefill across its G rows in generation and log-prob passes (the default)",
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=None,
        help="processor pixel budget per image (default: the folder's; the tiny model's is 56x56)",
    )
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument(
        "--micro-batch", type=int, default=None, help="rows per log-prob forward (default all)"
    )
    parser.add_argument("--gen-batch", type=int, default=None, help="rows per generate call (default all)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (median reported)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--no-backward", action="store_true", help="skip the log-prob backward timing")
    parser.add_argument(
        "--vllm",
        action="store_true",
        help="also time the vLLM backend against HF (with --full-size on a written random folder)",
    )
    parser.add_argument(
        "--vllm-memory",
        type=float,
        default=None,
        help="vLLM gpu_memory_utilization (default 0.1, full-size 0.6)",
    )
    args = parser.parse_args(argv)
    full = args.full_size is not None
    args.prompts = args.prompts or (64 if full else 4)
    args.vllm_memory = args.vllm_memory or (0.6 if full else 0.1)
    args.images = args.images or ([8] if full else [1, 2, 4, 8])
    args.image_size = args.image_size or (224 if full else 56)
    args.dtype = args.dtype or ("bfloat16" if full else "float32")
    if full:  # bound memory: 512 rows x 8 images do not fit one forward (logits alone: 512 x T x 151936)
        args.micro_batch = args.micro_batch or 16
        args.gen_batch = args.gen_batch or 128
    if args.image_size % 28:
        parser.error("--image-size must be a multiple of 28")
    return args


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], object], device: torch.device, repeats: int) -> tuple[float, object]:
    """Median seconds over `repeats` runs after one warm-up run; also the last result."""
    result = fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        result = fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def tiny_prompts(policy: Policy, n_prompts: int, n_images: int, size: int) -> PromptBatch:
    """Paper Table 1 prompts ("Image i:" <image> ... instruct) with noise images."""
    return encode_prompts(policy, tiny_conversations(n_prompts, n_images, size))


def tiny_conversations(n_prompts: int, n_images: int, size: int) -> list[list[dict]]:
    """The chat messages of `tiny_prompts` (PIL images inside), deterministic by `n_images`."""
    rng = np.random.default_rng(n_images)
    instruct = INSTRUCT_TEMPLATE.replace("[Rule]", "number of squares").replace("[Value_Range]", "1-9")
    convs = []
    for _ in range(n_prompts):
        content: list[dict] = []
        for i in range(n_images):
            pixels = (rng.random((size, size, 3)) * 255).astype(np.uint8)
            content += [
                {"type": "text", "text": f"Image {i + 1}:"},
                {"type": "image", "image": Image.fromarray(pixels)},
            ]
        content.append({"type": "text", "text": instruct})
        system = {"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]}
        convs.append([system, {"role": "user", "content": content}])
    return convs


def synthetic_prompts(
    policy: Policy, n_prompts: int, n_images: int, size: int, text_tokens: int = 160
) -> PromptBatch:
    """Prompt tensors with the released token ids and random patches (no tokenizer or processor needed)."""
    special, config = policy.special, policy.config
    grid = size // 14
    per_image = grid * grid // 4  # merged visual tokens per image
    gen = torch.Generator().manual_seed(0)
    row: list[int] = torch.randint(0, 151000, (text_tokens // 2,), generator=gen).tolist()
    for _ in range(n_images):
        row += [special.vision_start_id] + [special.image_id] * per_image + [special.vision_end_id]
        row += torch.randint(0, 151000, (4,), generator=gen).tolist()
    row += torch.randint(0, 151000, (text_tokens // 2,), generator=gen).tolist()
    ids = torch.tensor([row] * n_prompts)  # [B, P]
    patch_dim = 3 * config.vision_config.temporal_patch_size * 14 * 14
    return PromptBatch(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        mm_token_type_ids=(ids == special.image_id).int(),
        pixel_values=torch.randn(n_prompts * n_images * grid * grid, patch_dim, generator=gen),
        image_grid_thw=torch.tensor([[1, grid, grid]] * (n_prompts * n_images)),
        images_per_row=torch.full((n_prompts,), n_images),
    )


def run(args: argparse.Namespace) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.full_size:
        model = build_random_full_size(args.full_size, dtype=args.dtype, device=device)
        policy = Policy(model=model, processor=None, tokenizer=None, name_or_path=f"random-{args.full_size}")
        make = synthetic_prompts
        label = f"Qwen2.5-VL-{args.full_size.upper()} random weights"
    else:
        folder = args.model
        if folder is None:
            holder = tempfile.TemporaryDirectory(prefix="rarl-tiny-")  # removed when the run ends
            policy = load_policy(
                build_tiny_qwen2_5_vl(Path(holder.name) / "model", seed=0),
                dtype=args.dtype,
                device=device,
                max_pixels=args.max_pixels,
            )
        else:
            policy = load_policy(folder, dtype=args.dtype, device=device, max_pixels=args.max_pixels)
        make = tiny_prompts
        label = f"tiny Qwen2.5-VL ({sum(p.numel() for p in policy.model.parameters()) / 1e6:.2f}M params)"
    policy.model.eval()
    backend = HFGenerateBackend(batch_size=args.gen_batch, share_prefill=args.share)
    settings = SamplingSettings(num_generations=args.generations, max_new_tokens=args.max_new_tokens, seed=0)
    print(f"{label}, {args.dtype} on {device}, torch threads {torch.get_num_threads()}")
    print(
        f"B={args.prompts} prompts x G={args.generations}, max_new_tokens={args.max_new_tokens}, "
        f"images {args.image_size}x{args.image_size}, median of {args.repeats}"
    )
    header = f"{'images':>6} {'prompt':>6} {'rows':>5} {'tokens':>7} {'gen s':>7} {'gen tok/s':>10} {'logp s':>7} {'logp tok/s':>10}"
    if not args.no_backward:
        header += f" {'fwd+bwd s':>9} {'fwd+bwd tok/s':>13}"
    if device.type == "cuda":
        header += f" {'peak GiB':>8}"
    print(header)
    for n_images in args.images:
        prompts = make(policy, args.prompts, n_images, args.image_size)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        gen_s, batch = _timed(lambda p=prompts: backend.generate(policy, p, settings), device, args.repeats)
        tokens = int(batch.lengths.sum())
        inputs = (batch.prompts, batch.completion_ids, batch.completion_mask, args.micro_batch)
        groups = {"prompt_groups": batch.group_index if args.share else None}

        def logp_only(inputs=inputs, groups=groups) -> torch.Tensor:
            with torch.no_grad():
                return token_logprobs(policy.model, *inputs, **groups)

        logp_s, _ = _timed(logp_only, device, args.repeats)
        row = (
            f"{n_images:>6} {prompts.prompt_length:>6} {len(batch):>5} {tokens:>7} {gen_s:>7.2f} "
            f"{tokens / gen_s:>10.1f} {logp_s:>7.3f} {tokens / logp_s:>10.1f}"
        )
        if not args.no_backward:

            def fwd_bwd(inputs=inputs, groups=groups) -> None:
                policy.model.zero_grad(set_to_none=True)
                token_logprobs(policy.model, *inputs, **groups).sum().backward()

            bwd_s, _ = _timed(fwd_bwd, device, args.repeats)
            policy.model.zero_grad(set_to_none=True)
            row += f" {bwd_s:>9.3f} {tokens / bwd_s:>13.1f}"
        if device.type == "cuda":
            row += f" {torch.cuda.max_memory_allocated(device) / 2**30:>8.1f}"
        print(row, flush=True)
    if args.vllm:
        if args.full_size:  # vLLM loads a folder: write the random full-size one (config, tokenizer, weights)
            from rarl.model.full_size import write_random_full_size

            del policy, model
            holder = tempfile.TemporaryDirectory(prefix="rarl-full-size-")
            folder = write_random_full_size(
                args.full_size, Path(holder.name) / "model", dtype=args.dtype, device=device
            )
            if device.type == "cuda":
                torch.cuda.empty_cache()
            policy = load_policy(folder, dtype=args.dtype, device=device, max_pixels=args.max_pixels)
        compare_vllm(policy, args)


def compare_vllm(policy: Policy, args: argparse.Namespace) -> None:
    """Interleaved HF / vLLM generation on the same prompts; prints seconds, tok/s and the time ratio."""
    from rarl.model.vllm_backend import VLLMBackend

    hf = HFGenerateBackend(batch_size=args.gen_batch, share_prefill=args.share)
    vllm = VLLMBackend(gpu_memory_utilization=args.vllm_memory)
    settings = SamplingSettings(num_generations=args.generations, max_new_tokens=args.max_new_tokens, seed=0)
    print(
        f"\nvLLM vs HF generate, interleaved, median of {args.repeats} (engine build and first call untimed):"
    )
    print(f"{'images':>6} {'HF s':>7} {'HF tok/s':>9} {'vLLM s':>7} {'vLLM tok/s':>10} {'vLLM/HF time':>12}")
    for n_images in args.images:
        convs = tiny_conversations(args.prompts, n_images, args.image_size)
        prompts = encode_prompts(policy, convs)
        vllm.generate(policy, prompts, settings, conversations=convs)  # warm-up: engine build, weight push
        times: dict[str, list[float]] = {"hf": [], "vllm": []}
        tokens: dict[str, int] = {}
        for _ in range(args.repeats):
            for name, backend in (("hf", hf), ("vllm", vllm)):
                start = time.perf_counter()
                batch = backend.generate(policy, prompts, settings, conversations=convs)
                times[name].append(time.perf_counter() - start)
                tokens[name] = int(batch.lengths.sum())
        h, v = statistics.median(times["hf"]), statistics.median(times["vllm"])
        print(
            f"{n_images:>6} {h:>7.2f} {tokens['hf'] / h:>9.1f} {v:>7.2f} {tokens['vllm'] / v:>10.1f} {v / h:>12.2f}",
            flush=True,
        )
    vllm.close()


if __name__ == "__main__":
    run(parse_args())
