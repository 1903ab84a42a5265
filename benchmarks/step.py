"""Seconds per GRPO step of `rarl.train.grpo.GRPOTrainer`, split by phase, for 1/2/4/8-image prompts.

For each prompt size N, one training stage restricted to N-image samples (`StageConfig(sizes=[N])`) runs
1 warm-up step (discarded) and `--steps` timed steps of B prompts x G = 8 rollouts. A step is the trainer's
timed phases rollout -> score -> mutate -> advantages -> reference -> update -> log (logged as
`time/<phase>`); the table gives their means, the step mean and min-max, and generated tokens per second
(completion tokens of all B*G rollouts over the rollout phase, and over the whole step).

Default (CPU, offline): the tiny Qwen2.5-VL and a synthetic counting manifest, both built in a temporary
folder. The random tiny model (almost) never emits EOS, so completions run to --max-new-tokens (the
output gives the measured fraction): a worst case per step; a trained model's rollouts stop earlier.

    python benchmarks/step.py --threads 1
    python benchmarks/step.py --threads 1 --sizes 1 8 --steps 2 --prompts 4 --max-new-tokens 32

Sharing across the G rollouts of a prompt (`model.share_image_features` and `model.share_prompt_prefill`,
both on by default): `--sharing both` runs every size twice back to back, shared (each distinct image encoded
once per step, each prompt prefilled once per micro-batch in the log-prob passes) and plain (every rollout row
encodes its images and runs its prompt, the earlier path), checks that the first step's rollouts and losses
agree, and prints the ratio shared/plain per phase.

    python benchmarks/step.py --threads 2 --no-trl --sizes 1 8 --image-size 224 --sharing both

TRL comparison: when `trl` is importable, the same configuration (same model folder, B, G, max new tokens,
micro-batch, beta, vision tower frozen, the RARL reward via `rarl.integrations.trl.make_trl_reward`) also
runs through `trl.GRPOTrainer`, and the ratio of seconds per step ours/TRL is printed per size. TRL has no
RMO, so use `--no-rmo` for a like-for-like comparison. `--no-trl` skips it; `pip install trl` enables it.

GPU users: a released checkpoint folder (downloaded beforehand), bf16, 224x224 images:

    python benchmarks/step.py --model /path/to/Qwen2.5-VL-3B-Instruct --dtype bfloat16 --device cuda \\
        --image-size 224 --prompts 8 --max-new-tokens 256 --micro-batch 8

or, with nothing downloaded, the released 3B/7B architecture with random weights (`--full-size 3b`: a folder
written by `rarl.model.full_size.write_random_full_size`, the published config and a tokenizer of the
released layout). Every table gives the update phase's achieved GFLOP/s by the PaLM count of language-model
FLOPs (`update_flops`); on CUDA it gains the update's MFU against the GPU's dense bf16 peak (`--peak-tflops`,
or by name for H100/H200/A100) and the peak GPU memory of each size's run.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

PHASES = ("rollout", "score", "mutate", "advantages", "reference", "update", "log")
CHECKED = ("loss", "kl", "entropy", "reward/total_mean", "completion_len_mean")
"""Metrics of the first step compared between the shared and plain paths."""
GROUP_SIZE = 8


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per size (after 1 warm-up step)")
    parser.add_argument("--prompts", type=int, default=8, help="prompts per step (B); G = 8 rollouts each")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4, 8], help="images per prompt")
    parser.add_argument(
        "--rmo",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Response Mutation Operation on (stage 2 of the paper) or off (stage 1)",
    )
    parser.add_argument("--beta", type=float, default=0.01, help="KL coefficient; 0 skips the reference")
    parser.add_argument("--micro-batch", type=int, default=8, help="rows per forward/backward pass")
    parser.add_argument("--model", type=Path, default=None, help="a Qwen2.5-VL folder (default: tiny)")
    parser.add_argument(
        "--full-size", choices=["3b", "7b"], default=None, help="the released architecture, random weights"
    )
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="cuda: the first GPU")
    parser.add_argument("--lora", type=int, default=None, help="train LoRA adapters of this rank")
    parser.add_argument(
        "--gradient-checkpointing",
        action="store_true",
        help="recompute activations in backward (both trainers)",
    )
    parser.add_argument(
        "--image-size", type=int, default=56, help="side of the synthetic images (56 = 4 tokens tiny)"
    )
    parser.add_argument(
        "--max-pixels", type=int, default=None, help="processor pixel budget per image (default: model's)"
    )
    parser.add_argument(
        "--trl", action=argparse.BooleanOptionalAction, default=True, help="compare with trl.GRPOTrainer"
    )
    parser.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="the GPU's dense peak for the update MFU (default: by name, H100/H200 989, A100 312)",
    )
    parser.add_argument(
        "--sharing",
        choices=["shared", "plain", "both"],
        default="shared",
        help="share image features and prompt prefill across the G rows (shared), not (plain), or time both",
    )
    args = parser.parse_args(argv)
    if args.steps < 1 or args.prompts < 1 or args.max_new_tokens < 1:
        parser.error("--steps, --prompts and --max-new-tokens must be positive")
    if any(n not in (1, 2, 4, 8) for n in args.sizes):
        parser.error("--sizes must be among 1 2 4 8")
    if args.model is not None and args.full_size is not None:
        parser.error("give --model or --full-size, not both")
    return args


@dataclass
class SizeResult:
    """Timed steps of one prompt size: per-step phase seconds and generated tokens."""

    n_images: int
    phases: list[dict[str, float]] = field(default_factory=list)  # per step: phase -> seconds
    steps: list[float] = field(default_factory=list)  # seconds per step
    tokens: list[int] = field(default_factory=list)  # completion tokens generated per step
    first_step: dict[str, float] = field(default_factory=dict)  # the warm-up step's losses and rewards
    truncated: list[float] = field(default_factory=list)  # fraction of rollouts cut at max_new_tokens
    peak_gib: float = float("nan")  # peak GPU memory allocated over the size's run (CUDA only)
    update_flops: list[float] = field(default_factory=list)  # language-model FLOPs of each update phase

    def phase_mean(self, name: str) -> float:
        return statistics.mean(p.get(name, 0.0) for p in self.phases)


# ---------------------------------------------------------------------------------------------- setup
def build_inputs(tmp: Path, args: argparse.Namespace) -> tuple[Path, Path]:
    """The model folder (the tiny model unless --model / --full-size) and a synthetic manifest with every size."""
    from rarl.model import build_tiny_qwen2_5_vl
    from rarl.model.full_size import write_random_full_size
    from rarl.recipes.ordinal.prepare import prepare

    if args.model is not None:
        model = args.model
    elif args.full_size is not None:
        model = write_random_full_size(
            args.full_size, tmp / f"random-{args.full_size}", dtype=args.dtype, device=args.device
        )
    else:
        model = build_tiny_qwen2_5_vl(tmp / "tiny-model", seed=0)
    manifest = tmp / "synthetic"
    per_size = max(args.prompts * (args.steps + 1), 16)
    prepare(
        "synthetic",
        manifest,
        sizes=(1, 2, 4, 8),
        seed=0,
        samples_per_size={"train": per_size, "val": 1, "test": 1},
        property="count",
        num_images=200,
        image_size=args.image_size,
        quiet=True,
    )
    return Path(model), manifest


def make_config(
    model: Path, manifest: Path, out: Path, n_images: int, args: argparse.Namespace, shared: bool = True
) -> Any:
    from rarl.train.config import (
        AlgorithmConfig,
        CheckpointConfig,
        DataConfig,
        LoggingConfig,
        LoraSettings,
        ModelConfig,
        RolloutConfig,
        StageConfig,
        TrainConfig,
    )

    return TrainConfig(
        output_dir=str(out),
        seed=0,
        model=ModelConfig(
            name_or_path=str(model),
            dtype=args.dtype,
            max_pixels=args.max_pixels,
            gradient_checkpointing=args.gradient_checkpointing,
            lora=LoraSettings(r=args.lora, alpha=2 * args.lora) if args.lora else None,
            share_image_features=shared,
            share_prompt_prefill=shared,
        ),
        data=DataConfig(manifest=str(manifest), sizes=[n_images]),
        rollout=RolloutConfig(num_generations=GROUP_SIZE, max_new_tokens=args.max_new_tokens),
        algorithm=AlgorithmConfig(beta=args.beta),
        prompts_per_step=args.prompts,
        micro_batch_size=args.micro_batch,
        stages=[
            StageConfig(
                name=f"n{n_images}",
                steps=args.steps + 1,
                reward_kwargs={"weights": [1.0, 1.0, 1.0]},
                rmo=args.rmo,
                sizes=[n_images],
            )
        ],
        logging=LoggingConfig(progress=False, sample_every=0),
        checkpoint=CheckpointConfig(every=0, save_final_model=False),
    )


def language_model_parameters(model: torch.nn.Module) -> int:
    """N of the PaLM count: the language model's parameters without the input embedding, the LM head counted."""
    inner = getattr(model, "get_base_model", lambda: model)()
    n = sum(
        p.numel()
        for name, p in inner.named_parameters()
        if "visual" not in name and "embed_tokens" not in name
    )
    if inner.config.tie_word_embeddings:
        n += inner.get_input_embeddings().weight.numel()  # the tied LM head is a matmul
    return n


def update_flops(n_params: int, text_config: Any, rollout: Any, shared: bool) -> float:
    """Language-model FLOPs of one update pass (forward + backward) over `rollout`, the PaLM count.

    Per token run: 6 N (N = `language_model_parameters`) plus
    12 L d S for attention (L layers, width d, S the row's length). Tokens run: every row's prompt and
    completion, or with the shared prefill each distinct prompt once plus the completions. The frozen vision
    tower (features cached for the step) is not counted; a LoRA run does less than 6 N per token (no weight
    gradients for frozen matrices), so its MFU by this count is an upper bound.
    """
    text = text_config
    prompt = rollout.prompts.attention_mask.sum(-1).float()  # [B*G] real prompt tokens per row
    completion = rollout.completion_mask.sum(-1).float()  # [B*G]
    g = rollout.num_generations
    prompt_run = prompt.sum() / g if shared else prompt.sum()
    tokens = float(prompt_run + completion.sum())
    attention = 12 * text.num_hidden_layers * text.hidden_size * float(((prompt + completion) ** 2).sum())
    if shared:
        attention -= 12 * text.num_hidden_layers * text.hidden_size * float((prompt**2).sum()) * (1 - 1 / g)
    return 6 * n_params * tokens + attention


PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0}
"""Dense bf16 tensor-core peak by GPU name (vendor data sheets, SXM parts); --peak-tflops overrides."""


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _release() -> None:
    """Free the last trainer's model, reference and optimizer before the next one loads (GPU memory)."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# ---------------------------------------------------------------------------------------------- ours
def run_ours(
    model: Path, manifest: Path, tmp: Path, n_images: int, args: argparse.Namespace, shared: bool = True
) -> SizeResult:
    """1 warm-up + `--steps` timed `GRPOTrainer.step` calls on one N-image stage."""
    from accelerate import Accelerator

    from rarl.recipes.runs import recipe_for
    from rarl.train.grpo import GRPOTrainer

    class CountingTrainer(GRPOTrainer):
        """Keeps each step's rollout as sampled (RMO replaces rows in a copy): its tokens and FLOPs."""

        rollout_batch: Any = None

        def rollout(self, stage: Any) -> Any:
            batch = super().rollout(stage)
            self.rollout_batch = batch.rollout  # counted after the step, outside its timing
            return batch

    cfg = make_config(model, manifest, tmp / f"ours-n{n_images}-{shared}", n_images, args, shared)
    accelerator = Accelerator(cpu=args.device == "cpu")
    if accelerator.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(accelerator.device)
    trainer = CountingTrainer(cfg, recipe_for(cfg), accelerator=accelerator)
    n_params = language_model_parameters(trainer.policy.model)
    stage = cfg.stages[0]
    reward_fn = trainer._reward_fn(stage)
    result = SizeResult(n_images)
    for i in range(args.steps + 1):
        _sync(accelerator.device)
        start = time.perf_counter()
        metrics = trainer.step(stage, reward_fn)
        _sync(accelerator.device)
        wall = time.perf_counter() - start
        if i == 0:
            result.first_step = {k: float(v) for k, v in metrics.items() if k in CHECKED}
            continue  # warm-up
        result.phases.append({p: float(metrics.get(f"time/{p}", 0.0)) for p in PHASES})
        result.steps.append(wall)  # the phases plus the few microseconds between them
        rollout = trainer.rollout_batch
        result.tokens.append(int(rollout.lengths.sum()))
        result.update_flops.append(
            update_flops(n_params, trainer.policy.model.config.text_config, rollout, shared)
        )
        result.truncated.append(float(rollout.truncated.float().mean()))
    if accelerator.device.type == "cuda":
        result.peak_gib = torch.cuda.max_memory_allocated(accelerator.device) / 2**30
    del trainer
    _release()
    return result


def _width(phase: str) -> int:
    return max(10, len(phase) + 3)


def _peak_flops(args: argparse.Namespace) -> float | None:
    """FLOP/s peak of the GPU in use (--peak-tflops, else looked up by name), None when unknown."""
    if args.peak_tflops:
        return args.peak_tflops * 1e12
    name = torch.cuda.get_device_name(0)
    return next((tf * 1e12 for key, tf in PEAK_TFLOPS.items() if key in name), None)


def print_ours(results: list[SizeResult], args: argparse.Namespace) -> None:
    rows = args.prompts * GROUP_SIZE
    print(
        f"\nrarl GRPOTrainer: B={args.prompts} prompts x G={GROUP_SIZE} = {rows} rollouts per step, "
        f"max_new_tokens={args.max_new_tokens}, micro-batch {args.micro_batch}, beta={args.beta}, "
        f"RMO {'on' if args.rmo else 'off'}; mean of {args.steps} steps after 1 warm-up step"
    )
    header = f"{'images':>6} {'s/step':>7} {'min-max':>11}" + "".join(
        f" {p + ' ms':>{_width(p)}}" for p in PHASES
    )
    header += f" {'tokens':>7} {'gen tok/s':>9} {'step tok/s':>10} {'update GFLOP/s':>14}"
    if args.device == "cuda":
        header += f" {'peak GiB':>8} {'update MFU':>10}"
    print(header)
    for r in results:
        step = statistics.mean(r.steps)
        tokens = statistics.mean(r.tokens)
        line = f"{r.n_images:>6} {step:>7.2f} {min(r.steps):>5.2f}-{max(r.steps):<5.2f}"
        for p in PHASES:
            line += f" {1000 * r.phase_mean(p):>{_width(p)}.1f}"
        line += f" {tokens:>7.0f} {tokens / r.phase_mean('rollout'):>9.0f} {tokens / step:>10.0f}"
        line += f" {statistics.mean(r.update_flops) / r.phase_mean('update') / 1e9:>14.1f}"
        if args.device == "cuda":
            peak = _peak_flops(args)
            flops = statistics.mean(r.update_flops) / r.phase_mean("update")  # FLOP/s achieved
            line += f" {r.peak_gib:>8.1f} {flops / peak if peak else float('nan'):>10.1%}"
        print(line)
    print("phase shares of the step:")
    for r in results:
        step = statistics.mean(r.steps)
        shares = ", ".join(f"{p} {100 * r.phase_mean(p) / step:.1f}%" for p in PHASES)
        print(f"  {r.n_images} image(s): {shares}")
    truncated = statistics.mean(t for r in results for t in r.truncated)
    if args.model is None:  # random weights (tiny or --full-size)
        print(
            "note: the random model (almost) never emits EOS, so completions run to max_new_tokens: "
            f"{truncated:.1%} of the timed rollouts were cut at {args.max_new_tokens} tokens. A trained "
            "model's rollouts stop earlier; these figures are the worst case per step."
        )
    else:
        print(f"{truncated:.1%} of the timed rollouts were cut at max_new_tokens={args.max_new_tokens}.")


# ---------------------------------------------------------------------------------------------- TRL
def trl_unavailable_reason() -> str | None:
    """None when TRL's GRPOTrainer can run a Qwen2.5-VL with images in the prompt; else why not."""
    try:
        import trl
    except ImportError:
        return "trl is not installed (enable with `pip install trl`)"
    try:
        from trl import GRPOConfig, GRPOTrainer  # noqa: F401
    except ImportError as e:
        return f"trl {trl.__version__} is installed but its GRPOTrainer does not import: {e}"
    try:
        import datasets  # noqa: F401
    except ImportError:
        return f"trl {trl.__version__} is installed but `datasets` is missing"
    return None


def trl_dataset(manifest: Path, n_images: int) -> Any:
    """Conversational prompts (Table 1 messages with image placeholders), their images, and labels."""
    from datasets import Dataset

    from rarl.recipes.ordinal.manifest import load_manifest
    from rarl.recipes.ordinal.prompts import build_messages

    rows = []
    for sample in load_manifest(manifest, "train", sizes=[n_images]):
        messages = build_messages(sample, images=[None] * sample.n)
        for message in messages:
            message["content"] = [
                {"type": "image"} if part["type"] == "image" else part for part in message["content"]
            ]
        rows.append({"prompt": messages, "images": sample.load_images(), "labels": list(sample.labels)})
    return Dataset.from_list(rows)


def run_trl(model: Path, manifest: Path, tmp: Path, n_images: int, args: argparse.Namespace) -> SizeResult:
    """The same configuration through `trl.GRPOTrainer`; step time = interval between optimizer steps."""
    from transformers import PrinterCallback, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from rarl.integrations.trl import make_trl_reward
    from rarl.model import LoraSettings, load_policy
    from rarl.recipes.ordinal.manifest import load_task

    task = load_task(manifest)
    rarl_reward = make_trl_reward(delta=task.delta, weights=(1.0, 1.0, 1.0), value_range=task.value_range)
    device = torch.device(args.device)
    generated: list[int] = []

    def rarl(prompts: Any, completions: Any, completion_ids: Any = None, **kwargs: Any) -> list[Any]:
        if completion_ids is not None:
            generated.append(sum(len(ids) for ids in completion_ids))
        return rarl_reward(prompts, completions, **kwargs)

    stamps: list[float] = []

    class StepClock(TrainerCallback):
        def on_train_begin(self, *a: Any, **k: Any) -> None:
            _sync(device)
            stamps.append(time.perf_counter())

        def on_step_end(self, *a: Any, **k: Any) -> None:
            _sync(device)
            stamps.append(time.perf_counter())

    rows = args.prompts * GROUP_SIZE
    policy = load_policy(
        model,
        dtype=args.dtype,
        freeze_vision=True,
        max_pixels=args.max_pixels,
        lora=LoraSettings(r=args.lora, alpha=2 * args.lora) if args.lora else None,
        device=device,
    )
    config = GRPOConfig(
        output_dir=str(tmp / f"trl-n{n_images}"),
        seed=0,
        max_steps=args.steps + 1,
        per_device_train_batch_size=args.micro_batch,
        gradient_accumulation_steps=rows // args.micro_batch,
        num_generations=GROUP_SIZE,
        max_completion_length=args.max_new_tokens,
        temperature=1.0,
        top_p=1.0,
        beta=args.beta,
        gradient_checkpointing=args.gradient_checkpointing,  # TRL's default is on; rarl's is off
        loss_type="grpo",  # per-sequence mean, as rarl's aggregation="sequence"
        scale_rewards="group",
        learning_rate=1e-6,
        lr_scheduler_type="constant",
        max_grad_norm=1.0,
        use_cpu=device.type == "cpu",
        bf16=args.dtype == "bfloat16",
        fp16=args.dtype == "float16",
        logging_strategy="no",
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    trainer = GRPOTrainer(
        model=policy.model,
        reward_funcs=[rarl],
        args=config,
        train_dataset=trl_dataset(manifest, n_images),
        processing_class=policy.processor,
        callbacks=[StepClock()],
    )
    trainer.remove_callback(PrinterCallback)  # no end-of-training metrics dump
    trainer.train()
    result = SizeResult(n_images)
    intervals = [b - a for a, b in zip(stamps, stamps[1:])]
    result.steps = intervals[1:]  # the first step is the warm-up
    result.tokens = generated[1:]  # one reward call per generation batch = per step
    del trainer, policy
    _release()
    return result


def print_comparison(ours: list[SizeResult], theirs: list[SizeResult]) -> None:
    print(
        "\nTRL GRPOTrainer, same configuration (model folder, B, G, max_new_tokens, micro-batch, beta, "
        "frozen vision tower, loss_type='grpo', same gradient checkpointing); TRL s/step = interval between "
        "its optimizer steps; 'per token' divides each side's step time by the tokens it generated:"
    )
    print(
        f"{'images':>6} {'rarl s/step':>11} {'TRL s/step':>10} {'TRL min-max':>11} {'ours/TRL':>8} "
        f"{'rarl tok':>8} {'TRL tok':>7} {'ours/TRL per token':>18}"
    )
    for a, b in zip(ours, theirs):
        mine, trl_step = statistics.mean(a.steps), statistics.mean(b.steps)
        my_tok = statistics.mean(a.tokens)
        trl_tok = statistics.mean(b.tokens) if b.tokens else float("nan")
        print(
            f"{a.n_images:>6} {mine:>11.2f} {trl_step:>10.2f} {min(b.steps):>5.2f}-{max(b.steps):<5.2f} "
            f"{mine / trl_step:>8.2f} {my_tok:>8.0f} {trl_tok:>7.0f} {(mine / my_tok) / (trl_step / trl_tok):>18.2f}"
        )


def print_sharing(shared: list[SizeResult], plain: list[SizeResult]) -> None:
    print(
        "\nshared image features and prompt prefill vs plain (each rollout row encodes its images and runs "
        "its prompt), same seeds, back to back:"
    )
    print(f"{'images':>6} {'shared s':>8} {'plain s':>8} {'ratio':>6}" + "".join(f" {p:>10}" for p in PHASES))
    for a, b in zip(shared, plain, strict=True):
        line = f"{a.n_images:>6} {statistics.mean(a.steps):>8.2f} {statistics.mean(b.steps):>8.2f} "
        line += f"{statistics.mean(a.steps) / statistics.mean(b.steps):>6.2f}"
        for p in PHASES:
            pa, pb = a.phase_mean(p), b.phase_mean(p)
            line += f" {pa / pb if pb > 1e-4 else float('nan'):>10.2f}"
        print(line)
    print("first step (shared | plain), which must agree to float tolerance:")
    for a, b in zip(shared, plain, strict=True):
        pairs = ", ".join(
            f"{k} {a.first_step.get(k, float('nan')):.6g} | {b.first_step.get(k, float('nan')):.6g}"
            for k in CHECKED
        )
        print(f"  {a.n_images} image(s): {pairs}")


# ---------------------------------------------------------------------------------------------- main
def run(args: argparse.Namespace) -> None:
    import transformers

    from rarl.train.common import seed_everything

    if args.threads:
        torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)  # transformers' renamed-argument notices
    rows = args.prompts * GROUP_SIZE
    if rows % args.micro_batch:
        raise SystemExit(f"--micro-batch ({args.micro_batch}) must divide B*G = {rows}")
    with tempfile.TemporaryDirectory(prefix="rarl-step-") as tmp_name:
        tmp = Path(tmp_name)
        model, manifest = build_inputs(tmp, args)
        label = (
            str(args.model)
            if args.model is not None
            else f"Qwen2.5-VL-{(args.full_size or 'tiny').upper()} (random weights)"
        )
        print(
            f"{label}, {args.dtype} on {args.device}, torch {torch.__version__}, "
            f"threads {torch.get_num_threads()}; synthetic {args.image_size}x{args.image_size} images"
        )
        skipped = "--no-trl" if not args.trl else trl_unavailable_reason()
        ours, theirs, plain, trl_error = [], [], [], None
        for n in args.sizes:  # ours and TRL back to back per size: both see the same machine load
            seed_everything(0)
            ours.append(run_ours(model, manifest, tmp, n, args, shared=args.sharing != "plain"))
            if args.sharing == "both":
                seed_everything(0)
                plain.append(run_ours(model, manifest, tmp, n, args, shared=False))
            if skipped is None and trl_error is None:
                seed_everything(0)
                try:
                    theirs.append(run_trl(model, manifest, tmp, n, args))
                except Exception as e:  # say precisely why TRL could not run; keep our figures
                    trl_error = f"GRPOTrainer failed on {n}-image prompts with {type(e).__name__}: {e}"
        print_ours(ours, args)
        if plain:
            print_sharing(ours, plain)

        if skipped is not None:
            print(f"\nTRL comparison skipped: {skipped}.")
            return
        import trl

        if trl_error is not None:
            print(f"\nTRL comparison skipped: trl {trl.__version__} {trl_error}")
            return
        if args.rmo:
            print(
                f"\n(TRL {trl.__version__} has no RMO: rarl ran with RMO on; pass --no-rmo for like-for-like)"
            )
        print_comparison(ours, theirs)


if __name__ == "__main__":
    run(parse_args())
