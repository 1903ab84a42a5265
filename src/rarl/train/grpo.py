"""The GRPO trainer: orchestration only, for any recipe.

One step reads like the RARL paper's Figure 1, a sequence of named, timed phases on one `StepBatch`:

    rollout -> score -> mutate -> advantages -> reference -> update -> log

Every phase calls a module tested alone: `rarl.model` (generation, token log-probs), `rarl.rewards` (the
batch reward contract), `rarl.algorithms` (RMO selection, advantage estimators, losses by name). Everything task-specific comes from the recipe object the caller passes in (the one `cfg.recipe`
names, resolved by `rarl.recipes.runs`): samples, prompts, reference answers, the reward, named models. The
trainer owns only state that must persist across steps: the model, optimizer, schedule, data position, the
RMO "best seen" memory, the guards, and validation (`eval:`, `rarl.train.validation`: after the steps it is
due, before their checkpoint).

Where we differ from, or pin down, the paper:
- Eq. 2 is applied per group of G rollouts of one prompt; groups never straddle processes (each process
  draws whole prompts and generates all G rollouts itself), so the statistics do not depend on world size.
- RMO (Eq. 9) replaces the k lowest-reward rollouts of a qualifying group with the ground-truth answer (or
  the best completion seen so far for that sample). Injected rollouts are re-scored with the same reward;
  their "old" log-probs are those of the current policy, so the importance ratio starts at 1. Which group
  statistics normalise the advantages after mutation is `rmo.baseline` (see rarl.algorithms.rmo).
- `reward/*` metrics are means over on-policy rollouts only (before mutation), so injected answers never
  inflate the reported reward; injected rollouts are logged separately as `reward/injected_mean`. A
  component that does not apply to some rows (NaN) is averaged over the rows it applies to.
- Under data parallelism the loss normalisers are the global batch's (all-reduced) and each rank's loss is
  scaled by the world size, so an update equals the 1-process update on the same global batch.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from rarl import algorithms as algo
from rarl.algorithms.estimators import get_advantage_estimator
from rarl.model.backends import get_backend
from rarl.model.loading import make_reference
from rarl.model.logprobs import token_logprobs
from rarl.model.rollout import encode_completions, generate
from rarl.model.scorer import PolicyScorer
from rarl.rewards.batch import RewardInputs
from rarl.rewards.checks import probe_with_samples
from rarl.train.checkpoint import repair_model_folders, save_checkpoint, save_model_folder, stage_tasks
from rarl.train.common import (
    NonFiniteGuard,
    check_run_inputs,
    load_policy_from_config,
    make_accelerator,
    open_run_dir,
    prepare_for_training,
    restore_latest,
    should_checkpoint,
    step_seed,
)
from rarl.train.config import StageConfig, TrainConfig
from rarl.train.errors import TrainingAborted
from rarl.train.policy_update import policy_loss_fn, policy_update
from rarl.train.progress import StepProgress
from rarl.train.run_folder import checked_run_folder, holding_run_folder, prepare_output_dir
from rarl.train.sampler import EpochSampler, StratifiedSampler, rank_slice, size_strata
from rarl.train.step_batch import StepBatch, TrainerState, batch_metrics
from rarl.train.timing import PhaseTimer
from rarl.train.update import mean_over_processes
from rarl.train.validation import Validator
from rarl.utils.config import ConfigError, to_dict

log = logging.getLogger("rarl")


class GRPOTrainer:
    """Staged GRPO (with RMO where a stage turns it on) for a recipe, on top of `accelerate`.

    The recipe (an object with the `rarl.recipes.base.Recipe` methods) is resolved by the caller: the entry
    layer (`rarl.recipes.runs`) from `cfg.recipe`, a recipe's own demo from itself. The trainer knows no task.
    """

    def __init__(self, cfg: TrainConfig, recipe: Any, accelerator: Any | None = None) -> None:
        if recipe is None or isinstance(recipe, str):
            raise TypeError(
                "GRPOTrainer needs a recipe object (rarl.recipes.runs.grpo_trainer resolves cfg.recipe)"
            )
        self.cfg = cfg
        self.out = Path(cfg.output_dir)
        self.accelerator = accelerator or make_accelerator(cfg.seed)
        acc = self.accelerator
        check_run_inputs(cfg.prompts_per_step, "prompts_per_step", acc)
        self.recipe = recipe
        try:
            self.estimator = get_advantage_estimator(cfg.algorithm.advantage)
        except ConfigError as e:
            raise ConfigError(f"algorithm.advantage: {e}") from None
        policy_loss_fn(cfg.algorithm)  # an unusable loss (a plug-in too) fails now, not at the first update
        loaded: dict[tuple[str, tuple[int, ...]], list[Any]] = {}  # stages with the same data read it once
        self.pools = {stage.name: self._load_pool(stage, loaded) for stage in cfg.stages}
        balance = cfg.data.balance_sizes  # each stage's samples by size, every size drawn equally per step
        self.strata = {s.name: size_strata(recipe, self._manifest(s), cfg, s) for s in cfg.stages if balance}
        self.model_tasks = stage_tasks(recipe, cfg.stages, self._manifest, self.pools)  # rarl_task.json
        for stage in cfg.stages:
            self.recipe.resolve_mode(stage.mode)  # an unknown prompt mode fails now, not at its first step
            reward = self._reward_fn(stage)  # so do an unknown reward, bad settings, a plug-in failing
            probe_with_samples(reward, cfg.reward.name, self.pools[stage.name][:4], recipe.target)  # on data
        self.validator = Validator.for_run(cfg, recipe, acc, self.total_steps)  # and a bad eval.best_metric
        backend_kwargs = dict(cfg.rollout.backend_kwargs)
        if cfg.rollout.backend == "hf":  # one switch for the prompt sharing of generation and log-prob passes
            backend_kwargs.setdefault("share_prefill", cfg.model.share_prompt_prefill)
        self.backend = get_backend(cfg.rollout.backend, **backend_kwargs)

        self.policy = load_policy_from_config(cfg.model, self.out, acc, self.recipe.model_path)
        self.reference = self._make_reference()
        self.model, self.optimizer, self.scheduler = prepare_for_training(
            self.policy.model, cfg.optim, self.total_steps, acc, self._stage_lr_multipliers()
        )
        self.scorer = PolicyScorer(
            self.policy,
            self.recipe.messages,
            model=acc.unwrap_model(self.model),
            micro_batch_size=cfg.micro_batch_size,
        )
        self.state = TrainerState()
        self.guard = NonFiniteGuard(cfg.guards)
        self.samplers: dict[str, EpochSampler | StratifiedSampler] = {}
        self.best_seen: dict[str, algo.BestSeen] = {}  # RMO memory: sample_id -> best on-policy completion
        self.logger: Any = None

    # ------------------------------------------------------------------ setup helpers
    @property
    def total_steps(self) -> int:
        return sum(s.steps for s in self.cfg.stages)

    def _manifest(self, stage: StageConfig) -> str:
        return stage.manifest or self.cfg.data.manifest

    def _load_pool(
        self, stage: StageConfig, loaded: dict[tuple[str, tuple[int, ...]], list[Any]]
    ) -> list[Any]:
        """The stage's training samples, read through the recipe (before any model is loaded)."""
        sizes = stage.sizes or self.cfg.data.sizes
        key = (self._manifest(stage), tuple(sizes))
        if key not in loaded:
            loaded[key] = self.recipe.load_samples(key[0], self.cfg.data.train_split, sizes)
        pool = loaded[key]
        if not pool:
            raise TrainingAborted(
                f"stage '{stage.name}': no training samples of sizes {sorted(set(sizes))} "
                f"in {self._manifest(stage)}"
            )
        return pool

    def _messages_fn(self, stage: StageConfig) -> Any:
        recipe, mode = self.recipe, stage.mode
        return lambda sample: recipe.messages(sample, mode)

    def _make_reference(self) -> Any | None:
        """None when beta = 0 (no KL); with LoRA the adapters are disabled instead of copying the model."""
        if self.cfg.algorithm.beta == 0:
            return None
        if self.cfg.model.lora is not None:
            return "adapters-disabled"
        return make_reference(self.policy)

    def _stage_lr_multipliers(self) -> list[tuple[int, float]]:
        out, first = [], 0
        for stage in self.cfg.stages:
            out.append((first, (stage.lr / self.cfg.optim.lr) if stage.lr is not None else 1.0))
            first += stage.steps
        return out

    def _sampler(self, stage: StageConfig) -> EpochSampler | StratifiedSampler:
        if stage.name not in self.samplers:
            seed = self.cfg.seed + 17 * (self.cfg.stages.index(stage) + 1)
            strata, pool = self.strata.get(stage.name), self.pools[stage.name]
            sampler = StratifiedSampler(strata, seed) if strata else EpochSampler(pool, seed)
            if stage.name in self.state.sampler:
                sampler.load_state_dict(self.state.sampler[stage.name])
            self.samplers[stage.name] = sampler
        return self.samplers[stage.name]

    def _reward_fn(self, stage: StageConfig) -> Any:
        """The recipe's batch reward for this stage: `reward.kwargs` overridden by the stage's `reward_kwargs`."""
        settings = {**self.cfg.reward.kwargs, **stage.reward_kwargs}
        name = self.cfg.reward.name or self.recipe.default_reward
        return self.recipe.reward(name, settings, self._manifest(stage))

    # ------------------------------------------------------------------ the loop
    @holding_run_folder  # one run per output folder, locked before anything is written
    def train(self, resume: bool = False, stop_at_step: int | None = None, overwrite: bool = False) -> Path:
        """Run (or continue) every stage; returns the final model folder.

        A folder that already holds a run is refused unless `resume` (continue it: the config must match
        the checkpoint's, see `rarl.train.common.check_output_dir`) or `overwrite` (delete it first).
        `stop_at_step` ends the run early with a resumable checkpoint after that global step (for jobs
        with a time limit: a later `--resume` continues exactly where this one stopped).
        """
        acc = self.accelerator
        prepare_output_dir(self.cfg, acc, resume=resume, overwrite=overwrite)
        resume_step = self._maybe_resume() if resume else None
        if resume_step is not None:
            self._repair_model_folders()
        self.logger = open_run_dir(self.out, self.cfg, acc, self.cfg.logging, resume_step)
        progress = StepProgress(self.total_steps, enabled=self.cfg.logging.progress and acc.is_main_process)
        progress.advance_to(self.state.global_step)
        try:
            for index, stage in enumerate(self.cfg.stages):
                if index < self.state.stage_index:
                    continue
                reward_fn = self._reward_fn(stage)
                while self.state.step_in_stage < stage.steps:
                    metrics = self.step(stage, reward_fn)
                    progress.update(stage.name, metrics)
                    self.validator.maybe_run(self.state.global_step, stage.name, self)  # before saving
                    if stop_at_step is not None and self.state.global_step >= stop_at_step:
                        self.save_checkpoint()
                        return self.out / "final"
                    if should_checkpoint(self.cfg.checkpoint, self.state.global_step):
                        self.save_checkpoint()
                self.end_stage(stage)
        finally:
            progress.close()
            self.logger.close()
        return self.out / "final"

    def step(self, stage: StageConfig, reward_fn: Any) -> dict[str, float]:
        """One GRPO step as named phases; returns the logged metrics."""
        timer = PhaseTimer()
        with timer.phase("rollout"):
            batch = self.rollout(stage)
        with timer.phase("score"):
            self.score(batch, reward_fn, stage)
        with timer.phase("mutate"):
            self.mutate(batch, stage, reward_fn)
        with timer.phase("advantages"):
            self.compute_advantages(batch)
        with timer.phase("reference"):
            self.reference_logprobs(batch)
        with timer.phase("update"):
            update_metrics = self.update(batch)
        self.state.global_step += 1
        self.state.step_in_stage += 1
        with timer.phase("log"):
            metrics = self.log_step(batch, update_metrics, stage)
        metrics.update(timer.as_metrics())
        if self.logger is not None:
            self.logger.log(metrics)
        return metrics

    # ------------------------------------------------------------------ phases
    def rollout(self, stage: StageConfig) -> StepBatch:
        """Draw this process's prompts and sample G completions for each."""
        acc = self.accelerator
        sampler = self._sampler(stage)
        global_batch = sampler.next_batch(self.cfg.prompts_per_step)
        self.state.sampler[stage.name] = sampler.state_dict()
        samples = rank_slice(global_batch, acc.process_index, acc.num_processes)
        r = self.cfg.rollout
        rollout = generate(
            self.policy,
            samples,
            num_generations=r.num_generations,
            temperature=r.temperature,
            top_p=r.top_p,
            max_new_tokens=r.max_new_tokens,
            seed=step_seed(self.cfg.seed, self.state.global_step, acc.process_index),
            backend=self.backend,
            messages_fn=self._messages_fn(stage),
        )
        return StepBatch(samples=samples, rollout=rollout, group_size=r.num_generations)

    def reward_inputs(
        self, stage: StageConfig, samples: list[Any], texts: list[str], ids: Any, mask: Any, group_size: int
    ) -> Any:
        """The batch reward's view of R rows (row r answers samples[r // group_size])."""
        targets = [self.recipe.target(s) for s in samples]  # once per sample, not per rollout
        rows = range(len(texts))
        return RewardInputs(
            samples=[samples[r // group_size] for r in rows],
            targets=[targets[r // group_size] for r in rows],
            texts=texts,
            completion_ids=ids,
            completion_mask=mask,
            group_size=group_size,
            step=self.state.global_step,
            stage=stage.name,
            progress=self.state.global_step / max(self.total_steps, 1),
            scorer=self.scorer,
        )

    def score(self, batch: StepBatch, reward_fn: Any, stage: StageConfig) -> None:
        """Reward every completion with one call of the batch reward."""
        ro = batch.rollout
        out = reward_fn(
            self.reward_inputs(
                stage, batch.samples, ro.texts, ro.completion_ids, ro.completion_mask, batch.group_size
            )
        )
        batch.onpolicy_rewards = out.totals  # [B*G]
        batch.rewards = out.totals.clone()
        batch.components = out.components
        batch.reward_errors = out.errors
        self.state.reward_errors += out.errors

    def mutate(self, batch: StepBatch, stage: StageConfig, reward_fn: Any) -> None:
        """RMO: replace the k lowest rollouts of qualifying groups with a reference answer, then re-score."""
        G = batch.group_size
        ids = [s.sample_id for s in batch.samples]
        batch.rmo_mask = torch.zeros_like(batch.rewards, dtype=torch.bool)
        rmo = self.cfg.rmo
        if rmo.source == "best_seen":
            best = algo.best_seen_rewards(self.best_seen, ids)  # [B], before this batch
            usable = algo.best_seen_beats_group(best, batch.rewards, G)  # [B]
            self.best_seen.update(
                algo.best_seen_updates(self.best_seen, ids, batch.rollout.texts, batch.rewards, G)
            )
        if not stage.rmo or rmo.k == 0:
            return
        gen = torch.Generator().manual_seed(
            step_seed(self.cfg.seed + 1, self.state.global_step, self.accelerator.process_index)
        )
        std_eps = self.cfg.algorithm.std_eps
        mask = algo.select_rmo(
            batch.rewards, G, k=rmo.k, prob=rmo.prob, trigger=rmo.trigger, std_eps=std_eps, generator=gen
        )  # [B*G]
        rows, texts = [], []
        for row in mask.nonzero().flatten().tolist():
            b = row // G
            if rmo.source == "ground_truth":
                reference = self.recipe.reference_answer(batch.samples[b], stage.mode)
                if reference is None:
                    continue  # the recipe has no reference answer for this sample
                texts.append(reference)
            elif bool(usable[b]):
                texts.append(self.best_seen[ids[b]].text)
            else:
                continue  # nothing better than what the group already has
            rows.append(row)
        if not rows:
            return
        ids, comp_mask = encode_completions(self.policy, texts)
        batch.rollout = batch.rollout.replace_completions(
            rows, ids, comp_mask, texts, self.policy.special.pad_id
        )
        out = reward_fn(
            self.reward_inputs(stage, [batch.samples[r // G] for r in rows], texts, ids, comp_mask, 1)
        )
        batch.reward_errors += out.errors
        rows_t = torch.tensor(rows, dtype=torch.long)
        batch.rewards[rows_t] = out.totals
        batch.rmo_mask[rows_t] = True

    def compute_advantages(self, batch: StepBatch) -> None:
        """The configured advantage estimator (`algorithm.advantage`) on the rewards after mutation."""
        a = self.cfg.algorithm
        G = batch.group_size
        inputs = algo.AdvantageInputs(
            rewards=batch.rewards,
            group_size=G,
            onpolicy_rewards=batch.onpolicy_rewards,
            rmo_mask=batch.rmo_mask,
            rmo_baseline=self.cfg.rmo.baseline,
            std_eps=a.std_eps,
            components=batch.components,
        )
        batch.advantages = self.estimator(inputs, scale=a.scale, eps=a.eps, **a.advantage_kwargs)  # [B*G]
        if a.dapo_filter:
            keep_groups = algo.dapo_keep_mask(batch.rewards, G, std_eps=a.std_eps)  # [B]
            batch.keep = algo.expand_group_mask(keep_groups, G)  # [B*G]
        else:
            batch.keep = torch.ones_like(batch.rewards, dtype=torch.bool)

    @torch.no_grad()
    def reference_logprobs(self, batch: StepBatch) -> None:
        """Old log-probs (only when several optimisation epochs reuse the batch) and reference log-probs."""
        ro = batch.rollout
        device = self.accelerator.device
        inputs = (ro.prompts.to(device), ro.completion_ids.to(device), ro.completion_mask.to(device))
        kwargs = {
            "micro_batch_size": self.cfg.micro_batch_size,
            "temperature": self.cfg.rollout.temperature,
            "prompt_groups": ro.group_index if self.cfg.model.share_prompt_prefill else None,
        }
        if self.cfg.algorithm.num_iterations > 1:
            self.model.eval()
            batch.old_logp = token_logprobs(self.model, *inputs, **kwargs)  # [B*G, T]
        if self.reference is None:
            return
        if self.reference == "adapters-disabled":
            unwrapped = self.accelerator.unwrap_model(self.model)
            with unwrapped.disable_adapter():
                batch.ref_logp = token_logprobs(unwrapped, *inputs, **kwargs)  # [B*G, T]
        else:
            batch.ref_logp = token_logprobs(self.reference, *inputs, **kwargs)  # [B*G, T]

    def update(self, batch: StepBatch) -> dict[str, float]:
        """`num_iterations` passes of clipped-surrogate + KL over micro-batches, one optimizer step each."""
        metrics, skipped = policy_update(
            batch,
            self.cfg,
            model=self.model,
            optimizer=self.optimizer,
            accelerator=self.accelerator,
            guard=self.guard,
        )
        self.state.skipped_steps += skipped
        self.scheduler.step()
        metrics["lr"] = self.scheduler.get_last_lr()[0]
        return metrics

    def log_step(
        self, batch: StepBatch, update_metrics: dict[str, float], stage: StageConfig
    ) -> dict[str, float]:
        """Per-step metrics averaged over processes; sample completions every `sample_every` steps."""
        G = batch.group_size
        local = batch_metrics(batch, self.cfg.algorithm.std_eps)
        local.update(update_metrics)
        metrics = mean_over_processes(self.accelerator, local)
        metrics.update(step=self.state.global_step, stage=stage.name, skipped_steps=self.state.skipped_steps)
        every = self.cfg.logging.sample_every
        if self.logger is not None and every and self.state.global_step % every == 0:
            self.logger.log_samples(
                self.state.global_step,
                [
                    {
                        "sample_id": s.sample_id,
                        "target": self.recipe.target(s),
                        "completion": batch.rollout.texts[b * G],
                        "reward": float(batch.onpolicy_rewards[b * G]),
                    }
                    for b, s in enumerate(batch.samples[:2])
                ],
            )
        return metrics

    # ------------------------------------------------------------------ state
    def trainer_state_dict(self) -> dict[str, Any]:
        return {
            "global_step": self.state.global_step,
            "stage_index": self.state.stage_index,
            "step_in_stage": self.state.step_in_stage,
            "sampler": self.state.sampler,
            "best_seen": {k: [v.reward, v.text] for k, v in self.best_seen.items()},
            "skipped_steps": self.state.skipped_steps,
            "reward_errors": self.state.reward_errors,
            "validation": self.validator.state_dict(),
        }

    def save_checkpoint(self) -> Path:
        return save_checkpoint(
            self.accelerator,
            self.out,
            self.state.global_step,
            self.trainer_state_dict(),
            to_dict(self.cfg),
            keep_last=self.cfg.checkpoint.keep_last,
        )

    def _maybe_resume(self) -> int | None:
        state = restore_latest(self.accelerator, self.out)
        if state is None:
            return None
        self.best_seen = {
            k: algo.BestSeen(text=v[1], reward=v[0]) for k, v in state.pop("best_seen", {}).items()
        }
        self.validator.load_state_dict(state.pop("validation", None))
        self.state = TrainerState(**state)
        self.samplers = {}
        return self.state.global_step

    def _repair_model_folders(self) -> None:
        """After a resume: re-save the model folders the restored weights stand for, if a kill cut them short."""
        if self.cfg.checkpoint.save_final_model and not self.state.step_in_stage:
            names, done = [stage.name for stage in self.cfg.stages], self.state.stage_index
            repair_model_folders(
                self.accelerator, self.model, self.policy.processor, self.out, names, done, self.model_tasks
            )

    def end_stage(self, stage: StageConfig) -> None:
        """Save the stage's model folder; the next stage starts from these weights."""
        acc, processor, tasks = self.accelerator, self.policy.processor, self.model_tasks  # rarl_task.json
        if self.cfg.checkpoint.save_final_model:
            save_model_folder(acc, self.model, processor, self.out / stage.name, tasks[stage.name])
        self.state.stage_index += 1
        self.state.step_in_stage = 0
        self.save_checkpoint()
        if self.state.stage_index == len(self.cfg.stages) and self.cfg.checkpoint.save_final_model:
            save_model_folder(acc, self.model, processor, self.out / "final", tasks["final"])


def run_grpo(
    cfg: TrainConfig,
    recipe: Any,
    resume: bool = False,
    stop_at_step: int | None = None,
    overwrite: bool = False,
) -> Path:
    """A GRPO run of `recipe`; the output folder is locked and checked before the model is loaded."""
    with checked_run_folder(cfg, resume=resume, overwrite=overwrite):  # locked before the trainer writes
        return GRPOTrainer(cfg, recipe).train(resume=resume, stop_at_step=stop_at_step, overwrite=overwrite)
