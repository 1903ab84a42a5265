"""Supervised fine-tuning baseline (the papers' "+SFT" rows), for any recipe.

The target of each sample is the recipe's reference answer (for `rarl`: a short fixed `<think>` followed by
the answer list sorted ascending), followed by EOS; the loss is the mean negative log-likelihood over answer
tokens only (the prompt and images, built by the recipe in `mode`, are context). Samples without a reference
answer are left out. It shares the model loading,
data, schedule, checkpoint and logging code with the GRPO trainer, so "samples seen" budgets compare
directly: one SFT step consumes `batch_size` samples, one GRPO step `prompts_per_step` prompts. Validation
(`eval:`) is GRPO's (`rarl.train.validation`), after the steps it is due and before their checkpoint.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from rarl.model.logprobs import token_logprobs
from rarl.model.rollout import encode_completions, encode_prompts
from rarl.model.task_file import model_task
from rarl.train.checkpoint import save_checkpoint, save_model_folder
from rarl.train.common import (
    NonFiniteGuard,
    check_run_inputs,
    load_policy_from_config,
    make_accelerator,
    open_run_dir,
    prepare_for_training,
    restore_latest,
    should_checkpoint,
)
from rarl.train.config import SFTConfig
from rarl.train.errors import TrainingAborted
from rarl.train.progress import SFT_METRICS, StepProgress
from rarl.train.run_folder import checked_run_folder, holding_run_folder, prepare_output_dir
from rarl.train.sampler import EpochSampler, rank_slice
from rarl.train.timing import PhaseTimer
from rarl.train.update import accumulate_and_step, global_counts
from rarl.train.validation import Validator
from rarl.utils.config import to_dict

log = logging.getLogger("rarl")


def nll_loss(logp: torch.Tensor, mask: torch.Tensor, num_tokens_total: int) -> torch.Tensor:
    """Summed negative log-likelihood of masked tokens divided by the batch's total token count.

    logp, mask: [m, T]. Dividing by the token count of the whole (accumulated) batch makes the sum of
    micro-batch losses equal the token-mean loss of the full batch.
    """
    return -(logp * mask).sum() / max(num_tokens_total, 1)


class SFTTrainer:
    """Supervised fine-tuning on a recipe's reference answers (the recipe object is resolved by the caller)."""

    def __init__(self, cfg: SFTConfig, recipe: Any, accelerator: Any | None = None) -> None:
        if recipe is None or isinstance(recipe, str):
            raise TypeError(
                "SFTTrainer needs a recipe object (rarl.recipes.runs.sft_trainer resolves cfg.recipe)"
            )
        self.cfg = cfg
        self.out = Path(cfg.output_dir)
        self.accelerator = accelerator or make_accelerator(cfg.seed)
        acc = self.accelerator
        check_run_inputs(cfg.batch_size, "batch_size", acc)
        self.recipe = recipe
        self.recipe.resolve_mode(cfg.mode)
        samples = [
            s
            for s in self.recipe.load_samples(cfg.data.manifest, cfg.data.train_split, cfg.data.sizes)
            if self.recipe.reference_answer(s, cfg.mode) is not None
        ]
        if not samples:
            raise TrainingAborted(
                f"no training samples with a reference answer (sizes {cfg.data.sizes}) in {cfg.data.manifest}"
            )
        self.sampler = EpochSampler(samples, seed=cfg.seed)
        task = model_task(recipe, cfg.mode, cfg.data.manifest, samples, stage="sft")
        self.model_tasks = {"sft": task, "final": task}  # the rarl_task.json of final/ and best/
        self.validator = Validator.for_run(cfg, recipe, acc, cfg.steps)  # a bad eval.best_metric fails now
        self.policy = load_policy_from_config(cfg.model, self.out, acc, self.recipe.model_path)
        self.model, self.optimizer, self.scheduler = prepare_for_training(
            self.policy.model, cfg.optim, cfg.steps, acc
        )
        self.guard = NonFiniteGuard(cfg.guards)
        self.global_step = 0
        self.skipped_steps = 0
        self.logger: Any = None

    @holding_run_folder  # one run per output folder, locked before anything is written
    def train(self, resume: bool = False, overwrite: bool = False) -> Path:
        """Run (or continue) SFT; returns the final model folder.

        A folder that already holds a run is refused unless `resume` (the config must match the
        checkpoint's) or `overwrite` (delete it first); see `rarl.train.common.check_output_dir`. A resumed
        run that had already finished re-saves `final/` (a kill may have cut it short).
        """
        acc = self.accelerator
        prepare_output_dir(self.cfg, acc, resume=resume, overwrite=overwrite)
        resume_step = self._maybe_resume() if resume else None
        self.logger = logger = open_run_dir(self.out, self.cfg, acc, self.cfg.logging, resume_step)
        enabled = self.cfg.logging.progress and acc.is_main_process
        progress = StepProgress(self.cfg.steps, enabled=enabled, description="sft", keys=SFT_METRICS)
        progress.advance_to(self.global_step)
        try:
            while self.global_step < self.cfg.steps:
                metrics = self.step()
                logger.log(metrics)
                progress.update("sft", metrics)
                self.validator.maybe_run(self.global_step, "sft", self)  # before the checkpoint
                if should_checkpoint(self.cfg.checkpoint, self.global_step):
                    self.save_checkpoint()
        finally:
            progress.close()
            logger.close()
        self.save_checkpoint()
        final = self.out / "final"
        if self.cfg.checkpoint.save_final_model:
            save_model_folder(acc, self.model, self.policy.processor, final, self.model_tasks["final"])
        return final

    def step(self) -> dict[str, Any]:
        acc = self.accelerator
        timer = PhaseTimer()
        with timer.phase("data"):
            batch = rank_slice(
                self.sampler.next_batch(self.cfg.batch_size), acc.process_index, acc.num_processes
            )
            targets = [self.recipe.reference_answer(s, self.cfg.mode) for s in batch]
            ids, mask = encode_completions(self.policy, targets)  # [B, T]
            n_tok_local = int(mask.sum())
            (n_tok,) = global_counts(acc, n_tok_local)  # the global batch's answer tokens
        self.model.train()
        mb = self.cfg.micro_batch_size
        chunks = [list(range(i, min(i + mb, len(batch)))) for i in range(0, len(batch), mb)]

        def chunk_loss(chunk: list[int]) -> torch.Tensor:
            conversations = [self.recipe.messages(batch[j], self.cfg.mode) for j in chunk]
            prompts = encode_prompts(self.policy, conversations).to(acc.device)
            idx = torch.tensor(chunk, dtype=torch.long)
            chunk_mask = mask[idx].to(acc.device)  # [m, T]
            logp = token_logprobs(self.model, prompts, ids[idx].to(acc.device), chunk_mask)  # [m, T]
            return nll_loss(logp, chunk_mask, n_tok)

        with timer.phase("update"):
            outcome = accumulate_and_step(
                chunks,
                chunk_loss,
                model=self.model,
                optimizer=self.optimizer,
                accelerator=acc,
                guard=self.guard,
                max_grad_norm=self.cfg.optim.max_grad_norm,
                loss_scale=acc.num_processes,
            )
            self.skipped_steps += not outcome.stepped
            self.scheduler.step()
        self.global_step += 1
        metrics: dict[str, Any] = {
            "step": self.global_step,
            "stage": "sft",
            "loss": outcome.loss * acc.num_processes,  # this process's estimate of the global-batch loss
            "grad_norm": outcome.grad_norm,
            "lr": self.scheduler.get_last_lr()[0],
            "answer_tokens": n_tok,
            "skipped_steps": self.skipped_steps,
        }
        metrics.update(timer.as_metrics())
        return metrics

    def save_checkpoint(self) -> Path:
        state = {
            "global_step": self.global_step,
            "sampler": self.sampler.state_dict(),
            "skipped_steps": self.skipped_steps,
            "validation": self.validator.state_dict(),
        }
        return save_checkpoint(
            self.accelerator,
            self.out,
            self.global_step,
            state,
            to_dict(self.cfg),
            self.cfg.checkpoint.keep_last,
        )

    def _maybe_resume(self) -> int | None:
        state = restore_latest(self.accelerator, self.out)
        if state is None:
            return None
        self.global_step = int(state["global_step"])
        self.sampler.load_state_dict(state["sampler"])
        self.skipped_steps = int(state.get("skipped_steps", 0))
        self.validator.load_state_dict(state.get("validation"))
        return self.global_step


def run_sft(cfg: SFTConfig, recipe: Any, resume: bool = False, overwrite: bool = False) -> Path:
    """An SFT run of `recipe`; the output folder is locked and checked before the model is loaded."""
    with checked_run_folder(cfg, resume=resume, overwrite=overwrite):  # locked before the trainer writes
        return SFTTrainer(cfg, recipe).train(resume=resume, overwrite=overwrite)
