"""Byte formulas of one GPU's memory in a GRPO run of this trainer, each with its derivation and source.

Symbols: b bytes per base parameter in the config dtype (bf16/fp16: 2, fp32: 4); a bytes per LoRA adapter
parameter (peft keeps adapters in fp32 over a bf16/fp16 base: `autocast_adapter_dtype=True`); h, I, L the
language model's hidden size, MLP width and layer count; kv = key/value heads x head dim; V the vocabulary;
N the number of GPUs; P_t and P the trainable and all parameters. Activation formulas count the tensors
autograd keeps for backward, read off the forward code of transformers' Qwen2.5-VL decoder layer
(`modeling_qwen2_5_vl.py`: Qwen2RMSNorm, the attention with `sdpa_attention_forward`, the SwiGLU MLP) and of
peft's LoRA `Linear.forward`; docs/plan.md gives the measurements that check them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "LOGIT_BYTES_PER_ELEMENT",
    "ActivationEstimate",
    "adapter_groups",
    "distinct_prompts_per_micro_batch",
    "kv_cache_bytes",
    "layer_saved_bytes",
    "logits_bytes",
    "micro_batch_activations",
    "visual_tokens_per_image",
]

LOGIT_BYTES_PER_ELEMENT = 20
"""Bytes per element of the kept logits [rows, T, V] at their peak in an update micro-batch
(`rarl.model.logprobs.token_logprobs` with the entropy, then backward): 12 in the forward pass (the fp32
logits divided by the temperature, kept by logsumexp; the entropy's softmax and its product with the logits)
and 20 in backward (the kept fp32 logits; the gathered log-prob's scattered gradient; logsumexp's
exp(x - lse), its product with the incoming gradient, and their sum). Measured 20.0 for bf16 and fp32 logits
(peak resident memory, docs/plan.md); the no-grad reference pass peaks at 12."""


def visual_tokens_per_image(max_pixels: int, patch_size: int = 14, merge_size: int = 2) -> int:
    """Language-model tokens of one image at most: Qwen2.5-VL's `smart_resize` keeps h*w <= max_pixels with
    sides multiples of patch*merge (28), each 28x28 block is one token after the 2x2 merge
    (Qwen2-VL image processor; Qwen2.5-VL report Sec. 2.1). The vision tower sees merge**2 = 4 patches per
    token."""
    return max(1, max_pixels // (patch_size * merge_size) ** 2)


def adapter_groups(targets: Sequence[str], hidden: int, intermediate: int) -> list[tuple[int, int, bool]]:
    """A decoder layer's LoRA targets grouped by the tensor they read: (adapted layers, input width, whether
    that input is kept anyway). q/k/v read the first norm's output, o_proj the attention output (kept by
    SDPA), gate/up the second norm's output, down_proj the SwiGLU product."""
    t = set(targets)
    return [
        (len(t & {"q_proj", "k_proj", "v_proj"}), hidden, False),
        (int("o_proj" in t), hidden, True),
        (len(t & {"gate_proj", "up_proj"}), hidden, False),
        (int("down_proj" in t), intermediate, False),
    ]


def layer_saved_bytes(
    hidden: int,
    intermediate: int,
    b: int,
    *,
    lora_groups: Sequence[tuple[int, int, bool]] | None = None,
    a: int = 4,
    r: int = 0,
) -> int:
    """Bytes one token leaves saved for backward in one decoder layer (or vision block).

    Always: two RMSNorms keep their input upcast to fp32 (2 x 4h; in fp32 it is the input itself), SDPA keeps
    q, k, v and its output (4bh: under a padding mask transformers repeats k and v to all heads, so GQA saves
    nothing; the output is also o_proj's input), the SwiGLU keeps gate and up outputs and SiLU's output (3bI).

    Trainable weights (full fine-tuning): each norm also keeps its normalised input for the weight gradient
    and its output for the next Linear (2 x 2bh), down_proj its input (bI):

        8h + b(8h + 4I)              bf16: 24h + 8I    fp32: 40h + 16I

    LoRA over frozen weights: the frozen Linears and norms keep nothing of their own; each adapter keeps its
    input in the adapter dtype (peft casts it: one copy per adapter when a != b, the shared tensor when a == b
    unless already kept) and its rank-r output:

        8h + 4bh + 3bI + sum over groups + 7ar      (all seven targets, bf16 base: 40h + 10I + 28r)

    Checked against torch.profiler on one 3B-width layer: within 0.5 % (docs/plan.md).
    """
    base = 8 * hidden + b * 4 * hidden + b * 3 * intermediate
    if lora_groups is None:
        return base + b * 4 * hidden + b * intermediate
    cost = 0
    for adapted, width, kept in lora_groups:
        if not adapted:
            continue
        if a != b:
            cost += adapted * a * width
        elif not kept:
            cost += b * width
    return base + cost + sum(g[0] for g in lora_groups) * a * r


def logits_bytes(rows: int, completion_tokens: int, vocab: int) -> int:
    """Peak bytes of the completion logits of one micro-batch: rows x T x V x 20 (LOGIT_BYTES_PER_ELEMENT).

    Only the T positions that predict completion tokens reach the LM head (`logits_to_keep`); the log-probs
    are taken in fp32 (`rarl.model.logprobs`)."""
    return LOGIT_BYTES_PER_ELEMENT * rows * completion_tokens * vocab


def kv_cache_bytes(tokens: int, layers: int, kv_width: int, b: int) -> int:
    """A KV cache of `tokens` tokens: layers x 2 (keys, values) x kv_width x b per token (transformers'
    DynamicCache stores the key/value heads only, before any repeat)."""
    return tokens * layers * 2 * kv_width * b


def distinct_prompts_per_micro_batch(rows: int, group_size: int, micro_batch: int) -> int:
    """The most distinct prompts (groups) any micro-batch holds: the update cuts a process's `rows` rows
    (group-major, G per prompt) into chunks of `micro_batch` (`rarl.train.policy_update`)."""
    most = 0
    for start in range(0, rows, micro_batch):
        end = min(start + micro_batch, rows) - 1
        most = max(most, end // group_size - start // group_size + 1)
    return most


@dataclass(frozen=True)
class ActivationEstimate:
    """One micro-batch's forward + backward: what stays saved and the peak above the persistent memory."""

    tokens: int
    """Tokens run through the language model with grad."""
    saved: int
    """Bytes saved for backward at the end of the forward pass (logits excluded)."""
    logits: int
    peak: int
    """saved + the larger of the logits peak and the backward workspace."""


@dataclass(frozen=True)
class Shapes:
    """The sizes `micro_batch_activations` reads (taken from `rarl.model.memory_model.ModelFacts`)."""

    hidden: int
    intermediate: int
    layers: int
    kv_width: int
    vocab: int
    vision_hidden: int
    vision_intermediate: int
    vision_depth: int
    b: int


def micro_batch_activations(
    shapes: Shapes,
    *,
    prompt_tokens: int,
    completion_tokens: int,
    rows: int,
    distinct: int,
    patches_per_prompt: int,
    checkpointing: bool,
    share_prefill: bool,
    layer_bytes: int,
    vision_layer_bytes: int | None,
    norm_bytes: int,
) -> ActivationEstimate:
    """Activation memory of one update micro-batch (`rarl.train.policy_update` -> `token_logprobs`).

    Without gradient checkpointing and with `share_prompt_prefill`, each distinct prompt runs once and the
    completions attend to its copied KV cache: N = u*P + m*T tokens, plus per layer the repeated keys/values
    SDPA keeps for the prompt part (m*P*2h*b) and the cache itself (m*(P+T)*2kv*b). Otherwise (no sharing, or
    checkpointing, whose layers drop the cache) every row runs its prompt: N = m*(P+T).

    Checkpointing (non-reentrant, one checkpoint per layer) keeps only each layer's input (L*b*h per token)
    and recomputes one layer at a time in backward, so the peak adds the larger of the logits and one layer's
    activations plus its backward workspace (b(I + 2h) per token: the gradient of the SwiGLU product and of
    the hidden states; fitted to the 3B-width measurement of docs/plan.md).
    A trainable vision tower keeps its blocks' activations for the micro-batch's distinct prompts' patches;
    a frozen one runs without grad once per step (its features are kept: `rarl.model.image_features`).
    """
    s = shapes
    h, layers, b = s.hidden, s.layers, s.b
    full = rows * (prompt_tokens + completion_tokens)
    shared = share_prefill and not checkpointing
    tokens = distinct * prompt_tokens + rows * completion_tokens if shared else full
    logits = logits_bytes(rows, completion_tokens, s.vocab)
    workspace = b * (s.intermediate + 2 * h) * tokens
    patches = distinct * patches_per_prompt
    vision = 0
    if vision_layer_bytes is not None:
        per_block = s.vision_hidden * b if checkpointing else vision_layer_bytes
        vision = patches * s.vision_depth * per_block
    if checkpointing:
        saved = layers * b * h * tokens + norm_bytes * tokens + vision
        recompute = max(layer_bytes * tokens, (vision_layer_bytes or 0) * patches) + workspace
        return ActivationEstimate(tokens, saved, logits, saved + max(logits, recompute))
    cache = 0
    if shared:
        cache = layers * (rows * prompt_tokens * 2 * h * b + full * 2 * s.kv_width * b)
    saved = layers * layer_bytes * tokens + cache + norm_bytes * tokens + vision
    return ActivationEstimate(tokens, saved, logits, saved + max(logits, workspace))
