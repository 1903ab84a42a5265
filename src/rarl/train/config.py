"""Run configuration: nested dataclasses, the one source of truth for a training run.

A run config is a YAML file (see `configs/`) whose keys mirror these classes; `key=value` overrides on the
command line address nested fields with dots (`rollout.num_generations=4`, `stages.1.steps=20`). Unknown keys
and values of the wrong type are errors naming the key (see `rarl.utils.config`); keys that moved say where to.

Nothing here knows a task: `recipe` names the recipe (`rarl.recipes`) that reads the samples, builds prompts,
reference answers and the reward, and evaluates. Task-specific reward settings are free-form dicts
(`reward.kwargs`, merged with each stage's `reward_kwargs`) that the recipe's reward receives.

Engine defaults follow GRPO practice and the RARL paper (Sec. 4.1): AdamW, lr 1e-6, 64 prompts per step,
temperature 1.0, beta (KL) 0.01, RMO with k = 2 when a stage turns it on. The group size G is not given in the
paper; we default to 8. The shipped configs spell out each recipe's stages.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from rarl.algorithms.losses import LOSSES, loss_call_problem, loss_name
from rarl.model.backends import available_backends
from rarl.model.lora_settings import LoraSettings
from rarl.train.eval_config import EvalConfig
from rarl.utils.config import ConfigError
from rarl.utils.plugins import is_plugin_spec

__all__ = [
    "AlgorithmConfig",
    "CheckpointConfig",
    "DataConfig",
    "EvalConfig",
    "GuardConfig",
    "LoggingConfig",
    "LoraSettings",
    "ModelConfig",
    "OptimConfig",
    "RMOConfig",
    "RewardConfig",
    "RolloutConfig",
    "SFTConfig",
    "StageConfig",
    "TrainConfig",
]


def _require(ok: bool, key: str, rule: str, value: object) -> None:
    """ConfigError `key must be <rule>, got <value>` unless `ok`."""
    if not ok:
        raise ConfigError(f"{key} must be {rule}, got {value!r}")


SEED_MAX = 2**32 - 1
"""Seeds go to numpy and torch, which take 0 .. 2**32 - 1."""


def check_seed(seed: int, key: str = "seed") -> None:
    """`seed` must be in 0 .. 2**32 - 1 (numpy's and torch's range)."""
    _require(0 <= seed <= SEED_MAX, key, f"in 0..{SEED_MAX}", seed)


def _check_run(output_dir: str, seed: int) -> None:
    _require(
        bool(output_dir.strip()),
        "output_dir",
        "a folder path (empty would be the current folder)",
        output_dir,
    )
    check_seed(seed)


def _positive(value: float, key: str) -> None:
    """`value` must be a finite number > 0."""
    _require(math.isfinite(value) and value > 0, key, "a finite number > 0", value)


@dataclass
class ModelConfig:
    """The policy VLM."""

    name_or_path: str = "tiny"
    """A local Qwen2.5-VL folder (saved with save_pretrained) or a hub id resolved from the local cache.
    `tiny` builds (once) the offline tiny Qwen2.5-VL under `<output_dir>/tiny-model`; `demo-base` is the
    recipe's shipped pretrained tiny base (`recipe.model_path`; the `rarl` recipe's is in
    `rarl/recipes/ordinal/demo_base/`)."""
    dtype: Literal["float32", "bfloat16", "float16", "auto"] = "float32"
    attn_implementation: str = "sdpa"
    freeze_vision: bool = True
    """Keep the vision tower frozen (the paper fine-tunes the language side)."""
    gradient_checkpointing: bool = False
    min_pixels: int | None = None
    """Image processor pixel floor per image (None: the processor's own)."""
    max_pixels: int | None = None
    """Image processor pixel budget per image; 8 images per prompt multiply image tokens."""
    lora: LoraSettings | None = None
    """LoRA settings; None trains all (unfrozen) weights."""
    share_image_features: bool = True
    """Encode each distinct image once per pass (not once per rollout), and once per step while the vision
    tower is frozen; outputs are unchanged (`rarl.model.image_features`)."""
    share_prompt_prefill: bool = True
    """Run each prompt (images included) once and share its KV cache across the prompt's G rows: in the HF
    rollout backend's generation (`rarl.model.backends`) and, per micro-batch, in the reference, old and
    update log-prob passes (`rarl.model.logprobs`); outputs are unchanged up to float rounding."""

    def __post_init__(self) -> None:
        _require(bool(self.name_or_path.strip()), "model.name_or_path", "a model folder or hub id", "")
        for key in ("min_pixels", "max_pixels"):
            value = getattr(self, key)
            _require(value is None or value >= 1, f"model.{key}", ">= 1 (or null)", value)
        if self.min_pixels is not None and self.max_pixels is not None:
            _require(
                self.min_pixels <= self.max_pixels, "model.min_pixels", "<= model.max_pixels", self.min_pixels
            )


@dataclass
class DataConfig:
    """Where samples come from (a manifest folder written by `rarl prepare`); the recipe reads it."""

    manifest: str = ""
    """Manifest folder (for the `rarl` recipe: task.json and {train,val,test}.jsonl)."""
    train_split: str = "train"
    eval_split: str = "val"
    sizes: list[int] = field(default_factory=lambda: [1, 2, 4, 8])
    """Sample sizes used in training unless a stage narrows them; the recipe says what a size is (for
    `rarl`: images per sample)."""
    balance_sizes: bool = False
    """GRPO: every step draws the same number of prompts of each of the stage's sizes (`prompts_per_step` must
    divide by their number), so the step's mean reward does not swing with the size mix."""

    def __post_init__(self) -> None:
        ok = bool(self.sizes) and all(s >= 1 for s in self.sizes)
        _require(ok, "data.sizes", "a non-empty list of positive integers", self.sizes)


@dataclass
class RolloutConfig:
    """Sampling of G completions per prompt."""

    backend: str = "hf"
    """Rollout backend by name (`hf` = transformers generate; `vllm` = a colocated vLLM engine, the `vllm`
    extra, into which the weights are pushed after every optimizer step)."""
    backend_kwargs: dict[str, Any] = field(default_factory=dict)
    """Settings of the backend (vllm: `gpu_memory_utilization`, `max_model_len`, `sleep`, ...)."""
    num_generations: int = 8
    """Group size G."""
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 256

    def __post_init__(self) -> None:
        if self.num_generations < 2:
            raise ConfigError("rollout.num_generations must be >= 2 (group-relative advantages need a group)")
        if self.temperature <= 0:
            raise ConfigError("rollout.temperature must be > 0 for sampling")
        _positive(self.temperature, "rollout.temperature")
        _require(0 < self.top_p <= 1, "rollout.top_p", "in (0, 1]", self.top_p)
        _require(self.max_new_tokens >= 1, "rollout.max_new_tokens", ">= 1", self.max_new_tokens)
        if self.backend != "hf" and not is_plugin_spec(self.backend):  # others are registered by code
            known = available_backends()
            _require(self.backend in known, "rollout.backend", f"one of {known} or a plug-in", self.backend)


@dataclass
class RewardConfig:
    """The verifiable reward: which one, and its settings (each stage may override any of them)."""

    name: str = ""
    """A registered reward (`rarl.rewards.REWARDS`, e.g. `rarl`) or a plug-in `path/to/file.py:Name`; empty:
    the recipe's own (`default_reward`: `rarl` for rarl, `vision-r1`, `refine-iqa`)."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of the reward, merged under each stage's `reward_kwargs`. For `rarl`: `delta`
    (None: the task's), `weights` (lambda1..3), `check_value_range` (default true)."""

    MOVED_KEYS: ClassVar[dict[str, str]] = {
        "delta": "reward.kwargs.delta",
        "check_value_range": "reward.kwargs.check_value_range",
    }


@dataclass
class RMOConfig:
    """Response Mutation Operation (Eq. 9). Whether it is on is decided per stage."""

    k: int = 2
    """Rollouts replaced per qualifying group (paper: 2)."""
    prob: float = 0.5
    """Probability of mutating a qualifying group (the paper mutates "probabilistically" without a value)."""
    trigger: Literal["stagnant", "always"] = "always"
    """`always`: every group qualifies, as the paper words it ("replaces k low-reward responses in each training
    batch"); `stagnant`: only groups whose reward std is below std_eps (continuous rewards make such groups
    rare, so RMO then seldom fires)."""
    source: Literal["ground_truth", "best_seen"] = "ground_truth"
    """What replaces the k lowest rollouts."""
    baseline: Literal["mutated", "original"] = "mutated"
    """Which group statistics normalise advantages after mutation (see rarl.algorithms.rmo)."""

    MOVED_KEYS: ClassVar[dict[str, str]] = {
        "std_eps": "algorithm.std_eps (one threshold for RMO, the DAPO filter and logging)"
    }

    def __post_init__(self) -> None:
        if self.k < 0:
            raise ConfigError(f"rmo.k must be >= 0, got {self.k}")
        if not 0.0 <= self.prob <= 1.0:
            raise ConfigError(f"rmo.prob must be in [0, 1], got {self.prob}")


@dataclass
class AlgorithmConfig:
    """GRPO objective."""

    advantage: str = "grpo"
    """Advantage estimator by name (`rarl.algorithms.ADVANTAGE_ESTIMATORS`)."""
    advantage_kwargs: dict[str, Any] = field(default_factory=dict)
    """Extra keyword arguments of the estimator."""
    scale: Literal["group", "batch", "none"] = "group"
    """Advantage normalisation (Eq. 2 uses the group std)."""
    eps: float = 1e-6
    """Added to the std in `(r - mean) / (std + eps)`. We keep 1e-6 (closest to Eq. 2 as written); TRL uses
    1e-4, which shrinks advantages of groups whose std is near 1e-4 (by up to 1e-3 relative for std >= 0.1)."""
    clip_eps: float = 0.2
    clip_eps_high: float | None = None
    """Upper clip (DAPO clip-higher); None uses clip_eps."""
    beta: float = 0.01
    """KL coefficient; 0 skips the reference model entirely."""
    loss: str = ""
    """Policy loss by name (`rarl.algorithms.LOSSES`: grpo, dapo, dr_grpo, gspo, cispo; docs/losses.md), or a
    plug-in `file.py:function`. Empty: `aggregation` decides (grpo for sequence, dapo for token)."""
    loss_kwargs: dict[str, Any] = field(default_factory=dict)
    """Extra keyword arguments of the loss (e.g. dr_grpo's `max_completion_length`, which defaults to
    `rollout.max_new_tokens`)."""
    aggregation: Literal["sequence", "token"] = "sequence"
    """The older spelling of `loss`, read only when `loss` is empty: GRPO per-sequence mean (`sequence`), or
    DAPO token mean (`token`)."""
    num_iterations: int = 1
    """Optimisation epochs per rollout batch (>1 requires old log-probs, computed once)."""
    dapo_filter: bool = False
    """Drop zero-variance groups from the update (DAPO dynamic sampling, without re-sampling)."""
    std_eps: float = 1e-4
    """Reward std below which a group counts as zero-variance (RMO's `stagnant` trigger and baseline
    fallback, the DAPO filter, and the `zero_var_frac_*` metrics)."""

    def __post_init__(self) -> None:
        if self.beta < 0:
            raise ConfigError(f"algorithm.beta must be >= 0, got {self.beta}")
        if self.num_iterations < 1:
            raise ConfigError("algorithm.num_iterations must be >= 1")
        _require(math.isfinite(self.beta), "algorithm.beta", "finite", self.beta)
        _positive(self.eps, "algorithm.eps")
        _positive(self.clip_eps, "algorithm.clip_eps")
        if self.clip_eps_high is not None:
            _positive(self.clip_eps_high, "algorithm.clip_eps_high")
        _require(math.isfinite(self.std_eps) and self.std_eps >= 0, "algorithm.std_eps", ">= 0", self.std_eps)
        self._check_loss()

    @property
    def loss_name(self) -> str:
        """The loss the update calls: `loss`, or for an empty one grpo / dapo by `aggregation`."""
        return loss_name(self.loss, self.aggregation)

    def _check_loss(self) -> None:
        """Registered names and their `loss_kwargs` now; plug-ins when the trainer resolves them."""
        if self.loss and self.aggregation == "token" and self.loss != "dapo":
            raise ConfigError(
                f"algorithm.aggregation: token is the older spelling of algorithm.loss: dapo; it contradicts "
                f"algorithm.loss: {self.loss} (drop algorithm.aggregation)"
            )
        name = self.loss_name
        if is_plugin_spec(name):
            return
        if name not in LOSSES:
            raise ConfigError(
                f"algorithm.loss must be one of {', '.join(LOSSES.names())} or a plug-in 'file.py:function', "
                f"got {name!r}"
            )
        problem = loss_call_problem(LOSSES[name], self.loss_kwargs)
        if problem:
            raise ConfigError(f"algorithm.loss_kwargs of {name}: {problem}")


@dataclass
class OptimConfig:
    """AdamW and the learning-rate schedule."""

    lr: float = 1e-6
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    max_grad_norm: float = 1.0
    warmup_steps: int = 0
    scheduler: Literal["constant", "cosine", "linear"] = "constant"

    def __post_init__(self) -> None:
        _positive(self.lr, "optim.lr")
        wd = self.weight_decay
        _require(math.isfinite(wd) and wd >= 0, "optim.weight_decay", "a finite number >= 0", wd)
        _require(all(0 <= b < 1 for b in self.betas), "optim.betas", "two numbers in [0, 1)", self.betas)
        _require(self.max_grad_norm > 0, "optim.max_grad_norm", "> 0 (.inf: no clipping)", self.max_grad_norm)
        _require(self.warmup_steps >= 0, "optim.warmup_steps", ">= 0", self.warmup_steps)


RESERVED_STAGE_NAMES = frozenset(
    {
        "final",  # the last model folder (rarl.train.grpo, rarl.train.sft)
        "checkpoints",  # rarl.train.checkpoint
        "tiny-model",  # model.name_or_path=tiny builds it here (rarl.train.common)
        "config.yaml",  # the resolved config (rarl.train.common)
        "metrics.jsonl",  # rarl.train.metrics_log
        "samples.jsonl",
        "tensorboard",
    }
)
"""Names the run folder uses itself; a stage folder may not take them (compared ignoring case, as on
case-insensitive file systems)."""
_STAGE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}")


def stage_name_problem(name: object) -> str | None:
    """Why `name` cannot name a stage (it is the name of a folder inside the run folder), or None."""
    if not isinstance(name, str) or not _STAGE_NAME.fullmatch(name):
        return (
            "a stage name names its folder inside output_dir, so it must be 1 to 100 ASCII letters, digits, "
            "'-', '_' or '.', not starting with '.'"
        )
    if name.lower() in RESERVED_STAGE_NAMES:
        return f"the name is reserved for the run folder's own '{name.lower()}'; choose another"
    return None


@dataclass
class StageConfig:
    """One curriculum stage; each starts from the previous stage's weights."""

    name: str = "stage"
    steps: int = 100
    reward_kwargs: dict[str, Any] = field(default_factory=dict)
    """This stage's reward settings, over `reward.kwargs` (RARL's lambdas as `weights: [1, 0, 1]`,
    Vision-R1's IoU thresholds, ...)."""
    reward_weights: list[float] | None = None
    """Older spelling of `reward_kwargs.weights`; still read, and moved there when the config is built."""
    rmo: bool = False
    """Apply the Response Mutation Operation in this stage."""
    sizes: list[int] | None = None
    """Sample sizes in this stage's data mix; None uses data.sizes."""
    lr: float | None = None
    """Stage learning rate; None uses optim.lr."""
    mode: str | None = None
    """Prompt mode of the recipe in this stage (e.g. `think` / `no_think`); None: the recipe's default."""
    manifest: str | None = None
    """This stage's data; None uses data.manifest."""

    def __post_init__(self) -> None:
        problem = stage_name_problem(self.name)
        if problem:
            raise ConfigError(f"stage {self.name!r}: {problem}")
        if self.reward_weights is not None:
            if "weights" in self.reward_kwargs:
                raise ConfigError(
                    f"stage '{self.name}': give the weights once, as reward_kwargs.weights (not also reward_weights)"
                )
            self.reward_kwargs = {**self.reward_kwargs, "weights": [float(w) for w in self.reward_weights]}
            self.reward_weights = None
        if self.steps < 0:
            raise ConfigError(f"stage '{self.name}': steps must be >= 0")
        if self.sizes is not None and (not self.sizes or any(s < 1 for s in self.sizes)):
            raise ConfigError(f"stage '{self.name}': sizes must be a non-empty list of positive ints")
        if self.lr is not None:
            _positive(self.lr, f"stage '{self.name}': lr")


@dataclass
class LoggingConfig:
    log_every: int = 1
    sample_every: int = 10
    """Log a few sample completions every this many steps (0: never)."""
    tensorboard: bool = False
    wandb: bool = False
    trackio: bool = False
    progress: bool = True
    """Show the progress: a live bar on a terminal; in a log that is not one (a pipe, a file), plain lines on
    stderr after the first step, every tenth of the run or 30 s, and the last (`rarl.train.progress`)."""

    def __post_init__(self) -> None:
        _require(self.log_every >= 1, "logging.log_every", ">= 1", self.log_every)
        _require(self.sample_every >= 0, "logging.sample_every", ">= 0", self.sample_every)


@dataclass
class CheckpointConfig:
    every: int = 0
    """Save a resumable checkpoint every this many steps (0: only at stage ends)."""
    keep_last: int = 2
    """Rotate: keep this many most recent step checkpoints."""
    save_final_model: bool = True
    """Save a loadable model folder (save_pretrained) at the end of every stage."""

    def __post_init__(self) -> None:
        _require(self.every >= 0, "checkpoint.every", ">= 0", self.every)
        _require(self.keep_last >= 0, "checkpoint.keep_last", ">= 0 (0: keep all)", self.keep_last)


@dataclass
class GuardConfig:
    max_consecutive_nonfinite: int = 5
    """Abort after this many optimizer steps in a row were skipped for a non-finite loss or grad norm."""

    def __post_init__(self) -> None:
        n = self.max_consecutive_nonfinite
        _require(n >= 1, "guards.max_consecutive_nonfinite", ">= 1", n)


@dataclass
class TrainConfig:
    """A GRPO training run of one recipe."""

    output_dir: str = "runs/rarl"
    seed: int = 0
    recipe: str = "rarl"
    """A registered recipe (`rarl.recipes.RECIPES`) or a plug-in `path/to/file.py:Name`."""
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    rmo: RMOConfig = field(default_factory=RMOConfig)
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    stages: list[StageConfig] = field(default_factory=lambda: [StageConfig(name="main")])
    """Curriculum stages, each starting from the previous stage's weights (the shipped configs give the
    recipes' own, e.g. RARL's two stages)."""
    prompts_per_step: int = 64
    """Prompts per optimizer step across all processes (paper batch size 64); each gets G rollouts."""
    micro_batch_size: int = 8
    """Rows (completions) per forward/backward pass; bounds memory."""
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    guards: GuardConfig = field(default_factory=GuardConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    """Validation while training (`every: 0`, the default: none); see docs/validation.md."""

    def __post_init__(self) -> None:
        _check_run(self.output_dir, self.seed)
        if self.prompts_per_step < 1:
            raise ConfigError("prompts_per_step must be >= 1")
        if self.micro_batch_size < 1:
            raise ConfigError("micro_batch_size must be >= 1")
        if not self.stages:
            raise ConfigError("stages: at least one stage is required")
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ConfigError(f"stages: names must be unique (they name output folders), got {names}")
        if self.rmo.k >= self.rollout.num_generations and any(s.rmo for s in self.stages):
            raise ConfigError(
                f"rmo.k ({self.rmo.k}) must be smaller than rollout.num_generations ({self.rollout.num_generations})"
            )


@dataclass
class SFTConfig:
    """Supervised fine-tuning on the recipe's reference answers (the paper's +SFT baseline)."""

    output_dir: str = "runs/sft"
    seed: int = 0
    recipe: str = "rarl"
    """A registered recipe or a plug-in `path/to/file.py:Name`."""
    mode: str | None = None
    """Prompt mode of the recipe (None: its default)."""
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-5))
    steps: int = 200
    batch_size: int = 64
    """Samples per optimizer step across all processes."""
    micro_batch_size: int = 8
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    guards: GuardConfig = field(default_factory=GuardConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    """Validation while training (`every: 0`, the default: none); see docs/validation.md."""

    def __post_init__(self) -> None:
        _check_run(self.output_dir, self.seed)
        if self.batch_size < 1 or self.micro_batch_size < 1:
            raise ConfigError("batch_size and micro_batch_size must be >= 1")
        _require(self.steps >= 0, "steps", ">= 0", self.steps)
