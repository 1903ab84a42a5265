"""The paper's evaluation protocol (Sec. 4.1): generate, parse, score per N-image size; and `rarl rank`.

For each size the policy answers every test sample once (greedy by default), the answer is parsed with the
reward module's parser (`rarl.rewards.parse_answer`, the same code that scores training rollouts), and the
per-size metric is computed with the failure policy of `rarl.recipes.ordinal.scoring` (applied to every model
alike; the failure rate is reported beside each number).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress

from rarl.data.errors import DataError
from rarl.data.validate import image_file_problem
from rarl.eval.protocol import generate_answers
from rarl.eval.settings import EvalSettings
from rarl.model import load_policy
from rarl.recipes.ordinal.manifest import load_manifest, load_task
from rarl.recipes.ordinal.prompts import build_messages
from rarl.recipes.ordinal.schema import OrdinalItem, OrdinalSample, OrdinalTask
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


def rank_images(
    model_path: str | Path, images: Sequence[Path], rule: str, value_range: str, max_new_tokens: int = 256
) -> dict[str, Any]:
    """Run a model on 1-8 user images; print the raw answer and the parsed ranking."""
    settings = EvalSettings(max_new_tokens=max_new_tokens, batch_size=1)  # bad options fail before any work
    if not 1 <= len(images) <= 8:
        raise DataError(f"rank takes 1 to 8 images, got {len(images)}")
    for p in images:
        if not Path(p).is_file():
            raise DataError(f"image not found: {p}")
        problem = image_file_problem(str(p))  # what the processor would refuse, before the model loads
        if problem is not None:
            raise DataError(f"{problem}: {p}")
    try:
        lo, hi = (float(x) for x in value_range.split("-", 1))
    except ValueError:
        raise DataError(f"--value-range must look like 0-116, got {value_range!r}") from None
    task = OrdinalTask(name="user", rule=rule, value_range=(lo, hi))
    items = tuple(OrdinalItem(image=str(Path(p).resolve()), label=lo, meta={}) for p in images)
    sample = OrdinalSample(sample_id="user", task=task, items=items)
    policy = load_policy(str(model_path), dtype="float32")
    (text,) = generate_answers(policy, [sample], settings, _messages)
    parsed = parse_answer(text, len(images))
    console = Console()
    console.print(f"[bold]answer:[/] {text}")
    if parsed.ok and parsed.entries:
        for rank_pos, (image_id, value) in enumerate(parsed.entries, 1):
            console.print(f"  {rank_pos}. image {image_id} ({images[image_id - 1]}): {value:g}")
    else:
        console.print("[yellow]the answer could not be parsed into a ranking[/]")
    return {"completion": text, "entries": list(parsed.entries) if parsed.ok else []}
