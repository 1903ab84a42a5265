"""Qwen2.5-VL policy: loading (released or offline tiny), rollouts, token log-probs.

    policy = load_policy(path, lora=LoraSettings(r=16))
    batch = generate(policy, conversations, num_generations=8, seed=0)          # RolloutBatch, B*G rows
    logp = token_logprobs(policy.model, batch.prompts, batch.completion_ids, batch.completion_mask)
    with torch.no_grad(), policy.reference() as ref:
        ref_logp = token_logprobs(ref, batch.prompts, batch.completion_ids, batch.completion_mask)

See docs/model.md.
"""

from rarl.model.backends import (
    HFGenerateBackend,
    RolloutBackend,
    SamplingSettings,
    available_backends,
    get_backend,
    register_backend,
)
from rarl.model.batch import PromptBatch, RolloutBatch
from rarl.model.full_size import FULL_SIZE_PARAMS, build_random_full_size, count_parameters, full_size_config
from rarl.model.loading import LoraSettings, ModelLoadError, Policy, load_policy, make_reference, unwrap_model
from rarl.model.logprobs import token_logprobs
from rarl.model.rollout import encode_completions, encode_prompts, generate, to_conversation
from rarl.model.special_tokens import SpecialTokens
from rarl.model.tiny import TinyArchitecture, build_tiny_qwen2_5_vl
from rarl.model.vllm_backend import VLLMBackend

__all__ = [
    "FULL_SIZE_PARAMS",
    "HFGenerateBackend",
    "LoraSettings",
    "ModelLoadError",
    "Policy",
    "PromptBatch",
    "RolloutBackend",
    "RolloutBatch",
    "SamplingSettings",
    "SpecialTokens",
    "TinyArchitecture",
    "VLLMBackend",
    "available_backends",
    "build_random_full_size",
    "build_tiny_qwen2_5_vl",
    "count_parameters",
    "encode_completions",
    "encode_prompts",
    "full_size_config",
    "generate",
    "get_backend",
    "load_policy",
    "make_reference",
    "register_backend",
    "to_conversation",
    "token_logprobs",
    "unwrap_model",
]
