"""The paper's evaluation protocol (Sec. 4.1): generate, parse, score per N-image size.

For each size the policy answers every test sample once (greedy by default), the answer is parsed with the
reward module's parser (`rarl.rewards.parse_answer`, the same code that scores training rollouts), and the
per-size metric is computed with the failure policy of `rarl.recipes.ordinal.scoring` (applied to every model
alike; the failure rate is reported beside each number). `rarl rank` (user images) is in
`rarl.recipes.ordinal.rank`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rich.progress import Progress

from rarl.eval.protocol import generate_answers
from rarl.eval.settings import EvalSettings
from rarl.recipes.ordinal.manifest import load_manifest, load_task
from rarl.recipes.ordinal.prompts import build_messages
from rarl.recipes.ordinal.scoring import score_size
from rarl.rewards import parse_answer

log = logging.getLogger("rarl")


def _messages(sample: Any) -> list[dict[str, Any]]:
    return build_messages(sample)


def evaluate_policy(
    policy: Any,
    manifest_dir: str | Path,
    settings: EvalSettings,
    name: str = "model",
    messages_fn: Any = None,
) -> tuple[dict[int, Any], list[dict[str, Any]]]:
    """Score one policy on every size -> ({size: SizeResult}, prediction rows)."""
    task = load_task(manifest_dir)
    samples = load_manifest(manifest_dir, settings.split, sizes=list(settings.sizes))
    by_size = {n: [s for s in samples if s.n == n] for n in settings.sizes}
    if settings.max_samples is not None:
        by_size = {n: v[: settings.max_samples] for n, v in by_size.items()}
    results: dict[int, Any] = {}
    rows: list[dict[str, Any]] = []
    total = sum(len(v) for v in by_size.values())
    with Progress(disable=not settings.progress, transient=True) as progress:
        bar = progress.add_task(f"eval {name}", total=total)
        for n, group in by_size.items():
            if not group:
                log.warning(
                    "no %d-image samples in split '%s' of %s; column left empty",
                    n,
                    settings.split,
                    manifest_dir,
                )
                continue
            texts = generate_answers(
                policy, group, settings, messages_fn or _messages, on_batch=lambda k: progress.advance(bar, k)
            )
            parsed = [parse_answer(t, n) for t in texts]
            results[n] = score_size(
                n,
                [s.labels for s in group],
                parsed,
                metric=task.metric,
                value_range=tuple(task.value_range),
                precision=task.precision,
                n_boot=settings.n_boot,
                seed=settings.seed,
            )
            rows.extend(
                {
                    "model": name,
                    "sample_id": s.sample_id,
                    "n": n,
                    "labels": s.labels,
                    "completion": t,
                    "parsed": p.ok,
                }
                for s, t, p in zip(group, texts, parsed)
            )
    return results, rows
