"""The `eval:` section of a run config: validation while training (GRPO and SFT alike).

    eval: {every: 10, max_samples: 64, split: val, best_metric: tau, max_new_tokens: 128, batch_size: 16}

`every: 0` (the default) turns validation off, so a config without `eval:` trains, logs and saves exactly as
before. What a validation does, logs and saves is in `rarl.train.validation` and docs/validation.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from rarl.utils.config import ConfigError

__all__ = ["EvalConfig"]


def _require(ok: bool, key: str, rule: str, value: object) -> None:
    if not ok:
        raise ConfigError(f"eval.{key} must be {rule}, got {value!r}")


@dataclass
class EvalConfig:
    """Validation on held-out samples every `every` optimizer steps and at the end of the run."""

    every: int = 0
    """Validate every this many optimizer steps, and after the last step (0: never)."""
    max_samples: int | None = 64
    """Cap on validation samples per size (RARL: per image count; Refine-IQA: per dataset and task;
    Vision-R1: in all); null: the whole split."""
    split: str | None = None
    """Split the recipe's evaluation reads; null: `data.eval_split` (`val`)."""
    manifest: str | None = None
    """Manifest folder of the validation samples; null: `data.manifest`."""
    sizes: list[int] | None = None
    """Sample sizes to validate on; null: `data.sizes`."""
    best_metric: str | None = None
    """The validation metric that picks the `best/` model folder (a name the recipe's `validation_metrics`
    returns, logged as `eval/<name>`); null: the recipe's `headline_metric`."""
    max_new_tokens: int | None = None
    """Tokens per greedy answer; null: `rollout.max_new_tokens` for GRPO, 256 for SFT."""
    batch_size: int = 16
    """Samples per generation call."""

    def __post_init__(self) -> None:
        _require(self.every >= 0, "every", ">= 0 (0: no validation)", self.every)
        ok = self.max_samples is None or self.max_samples >= 1
        _require(ok, "max_samples", ">= 1 (or null: all)", self.max_samples)
        ok = self.split is None or bool(self.split.strip())
        _require(ok, "split", "a split name (or null)", self.split)
        ok = self.manifest is None or bool(self.manifest.strip())
        _require(ok, "manifest", "a folder (or null)", self.manifest)
        ok = self.sizes is None or (bool(self.sizes) and all(s >= 1 for s in self.sizes))
        _require(ok, "sizes", "a non-empty list of positive integers (or null)", self.sizes)
        ok = self.best_metric is None or bool(self.best_metric.strip())
        _require(ok, "best_metric", "a metric name (or null: the recipe's headline metric)", self.best_metric)
        ok = self.max_new_tokens is None or self.max_new_tokens >= 1
        _require(ok, "max_new_tokens", ">= 1 (or null)", self.max_new_tokens)
        _require(self.batch_size >= 1, "batch_size", ">= 1", self.batch_size)
