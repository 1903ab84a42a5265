"""Supervised fine-tuning baseline (the papers' "+SFT" rows), for any recipe.

The target of each sample is the recipe's reference answer (for `rarl`: a short fixed `<think>` followed by
the answer list sorted ascending), followed by EOS; the loss is the mean negative log-likelihood over answer
tokens only (the prompt and images, built by the recipe in `mode`, are context). Samples without a reference
answer are left out. It shares the model loading,
data, schedule, checkpoint and logging code with the GRPO trainer, so "samples seen" budgets compare
directly: one SFT step consumes `batch_size` samples, one GRPO step `prompts_per_step` prompts.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

import torch

from rarl.train.checkpoint import save_checkpoint, save_model_folder
from rarl.train.common import (
    NonFiniteGuard,
    check_output_dir,
    check_run_inputs,
    load_policy_from_config,
    make_accelerator,
    open_run_dir,
    prepare_for_training,
    prepare_output_dir,
    restore_latest,
    should_checkpoint,
)
from rarl.train.config import SFTConfig
from rarl.train.errors import TrainingAborted
from rarl.train.progress import StepProgress
from rarl.train.sampler import EpochSampler, rank_slice
from rarl.train.timing import PhaseTimer
from rarl.utils.config import to_dict

log = logging.getLogger("rarl")


def nll_loss(logp: torch.Tensor, mask: torch.Tensor, num_tokens_total: int) -> torch.Tensor:
    """Summed negative log-likelihood of masked tokens divided by the batch's total token count.

    logp, mask: [m, T]. Dividing by the token count of the whole (accumulated) batch makes the sum of
    micro-batch losses equal the token-mean loss of the full batch.
    """
    return -(logp * mask).sum() / max(num_tokens_total, 1)


class SFTTrainer:
    def __init__(self, cfg: SFTConfig, accelerator: Any | None = None, recipe: Any | None = None) -> None:
        from rarl.recipes import get_recipe

        self.cfg = cfg
        self.out = Path(cfg.output_dir)
        self.accelerator = accelerator or make_accelerator(cfg.seed)
        acc = self.accelerator
        check_run_inputs(cfg.batch_size, "batch_size", acc)
        self.recipe = recipe if recipe is not None else get_recipe(cfg.recipe)
        if hasattr(self.recipe, "resolve_mode"):
            self.recipe.resolve_mode(cfg.mode)
        samples = [
            s
            for s in self.recipe.load_samples(cfg.data.manifest, cfg.data.train_split, cfg.data.sizes)
            if self.recipe.reference_answer(s) is not None
        ]
        if not samples:
            raise TrainingAborted(
                f"no training samples with a reference answer (sizes {cfg.data.sizes}) in {cfg.data.manifest}"
            )
        self.sampler = EpochSampler(samples, seed=cfg.seed)
        self.policy = load_policy_from_config(cfg.model, self.out, acc)
        self.model, self.optimizer, self.scheduler = prepare_for_training(
            self.policy.model, cfg.optim, cfg.steps, acc
        )
        self.guard = NonFiniteGuard(cfg.guards)
        self.global_step = 0
        self.skipped_steps = 0

    def train(self, resume: bool = False, overwrite: bool = False) -> Path:
        """Run (or continue) SFT; returns the final model folder.

        A folder that already holds a run is refused unless `resume` (the config must match the
        checkpoint's) or `overwrite` (delete it first); see `rarl.train.common.check_output_dir`. A resumed
        run that had already finished re-saves `final/` (a kill may have cut it short).
        """
        acc = self.accelerator
        prepare_output_dir(self.cfg, acc, resume=resume, overwrite=overwrite)
        resume_step = self._maybe_resume() if resume else None
        logger = open_run_dir(self.out, self.cfg, acc, self.cfg.logging, resume_step)
        progress = StepProgress(
            self.cfg.steps, enabled=self.cfg.logging.progress and acc.is_main_process, description="sft"
        )
        progress.advance_to(self.global_step)
        try:
            while self.global_step < self.cfg.steps:
                metrics = self.step()
                logger.log(metrics)
                progress.update("sft", metrics)
                if should_checkpoint(self.cfg.checkpoint, self.global_step):
                    self.save_checkpoint()
        finally:
            progress.close()
            logger.close()
        self.save_checkpoint()
        final = self.out / "final"
        if self.cfg.checkpoint.save_final_model:
            save_model_folder(acc, self.model, self.policy.processor, final)
        return final

    def step(self) -> dict[str, Any]:
        from rarl.model import encode_completions, encode_prompts, token_logprobs

        acc = self.accelerator
        timer = PhaseTimer()
        with timer.phase("data"):
            batch = rank_slice(
                self.sampler.next_batch(self.cfg.batch_size), acc.process_index, acc.num_processes
            )
            targets = [self.recipe.reference_answer(s) for s in batch]
            ids, mask = encode_completions(self.policy, targets)  # [B, T]
            n_tok = int(mask.sum())
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss_total = 0.0
        mb = self.cfg.micro_batch_size
        chunks = [list(range(i, min(i + mb, len(batch)))) for i in range(0, len(batch), mb)]
        with timer.phase("update"):
            for i, chunk in enumerate(chunks):
                conversations = [self.recipe.messages(batch[j], self.cfg.mode) for j in chunk]
                prompts = encode_prompts(self.policy, conversations).to(acc.device)
                idx = torch.tensor(chunk, dtype=torch.long)
                sync = acc.no_sync(self.model) if i < len(chunks) - 1 else contextlib.nullcontext()
                with sync:
                    logp = token_logprobs(
                        self.model, prompts, ids[idx].to(acc.device), mask[idx].to(acc.device)
                    )
                    loss = nll_loss(logp, mask[idx].to(acc.device), n_tok)
                    acc.backward(loss)
                loss_total += float(loss.detach())
            grad_norm = float(acc.clip_grad_norm_(self.model.parameters(), self.cfg.optim.max_grad_norm))
            if self.guard.check(loss_total, grad_norm):
                self.optimizer.step()
            else:
                self.skipped_steps += 1
            self.optimizer.zero_grad(set_to_none=True)
            self.scheduler.step()
        self.global_step += 1
        metrics: dict[str, Any] = {
            "step": self.global_step,
            "stage": "sft",
            "loss": loss_total,
            "grad_norm": grad_norm,
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
        return self.global_step


def run_sft(cfg: SFTConfig, resume: bool = False, overwrite: bool = False) -> Path:
    """Entry point of `rarl sft`; the output folder is checked before the model is loaded."""
    check_output_dir(cfg, resume=resume, overwrite=overwrite, notes=False)
    return SFTTrainer(cfg).train(resume=resume, overwrite=overwrite)
