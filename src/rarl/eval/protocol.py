"""The evaluation protocol (paper Sec. 4.1): generate, parse, score per N-image size.

For each size the policy answers every test sample once (greedy by default), the answer is parsed with the
reward module's parser (`rarl.rewards.parse_answer`, the same code that scores training rollouts), and the
per-size metric is computed with the failure policy of `rarl.eval.scoring` (applied to every model alike;
the failure rate is reported beside each number). Raw completions are saved next to the results so every
number can be traced back to the text that produced it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("rarl")


@dataclass
class EvalSettings:
    split: str = "test"
    sizes: tuple[int, ...] = (1, 2, 4, 8)
    max_samples: int | None = None
    """Cap on samples per size (None: all)."""
    do_sample: bool = False
    temperature: float = 1.0
    max_new_tokens: int = 256
    batch_size: int = 16
    n_boot: int = 1000
    seed: int = 0
    progress: bool = True


def generate_answers(
    policy: Any, samples: Sequence[Any], settings: EvalSettings, on_batch: Any = None
) -> list[str]:
    """One completion per sample, batched; `on_batch(n)` is called after each batch (progress)."""
    from rarl.model import generate

    texts: list[str] = []
    for start in range(0, len(samples), settings.batch_size):
        chunk = samples[start : start + settings.batch_size]
        rollout = generate(
            policy,
            chunk,
            num_generations=1,
            temperature=settings.temperature,
            top_p=1.0,
            max_new_tokens=settings.max_new_tokens,
            seed=settings.seed + start,
            do_sample=settings.do_sample,
        )
        texts.extend(rollout.texts)
        if on_batch is not None:
            on_batch(len(chunk))
    return texts


def evaluate_policy(
    policy: Any, manifest_dir: str | Path, settings: EvalSettings, name: str = "model"
) -> tuple[dict[int, Any], list[dict[str, Any]]]:
    """Score one policy on every size -> ({size: SizeResult}, prediction rows)."""
    from rich.progress import Progress

    from rarl.data import load_manifest, load_task
    from rarl.eval.scoring import score_size
    from rarl.rewards import parse_answer

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
            texts = generate_answers(policy, group, settings, on_batch=lambda k: progress.advance(bar, k))
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


def evaluate_models(
    models: dict[str, str],
    manifest_dir: str | Path,
    out: str | Path,
    settings: EvalSettings,
    curves: dict[str, list[dict[str, Any]]] | None = None,
    title: str | None = None,
) -> dict[str, dict[int, Any]]:
    """Evaluate several model folders; write results.json, the table, plots and predictions under `out`."""
    from rich.console import Console

    from rarl.data import load_task
    from rarl.eval.report import write_report
    from rarl.eval.tables import render_rich_table
    from rarl.model import load_policy
    from rarl.utils.io import atomic_write_jsonl

    out = Path(out)
    task = load_task(manifest_dir)
    results: dict[str, dict[int, Any]] = {}
    predictions: list[dict[str, Any]] = []
    for name, path in models.items():
        policy = load_policy(path, dtype="float32")
        results[name], rows = evaluate_policy(policy, manifest_dir, settings, name=name)
        predictions.extend(rows)
    atomic_write_jsonl(out / "predictions.jsonl", predictions)
    title = title or f"{task.name}: {settings.split} split"
    report = write_report(out, results, title=title, curves=curves)
    Console().print(render_rich_table(results, title=title, sizes=settings.sizes))
    log.info("report written to %s", report)
    return results


def rank_images(
    model_path: str | Path, images: Sequence[Path], rule: str, value_range: str, max_new_tokens: int = 256
) -> dict[str, Any]:
    """Run a model on 1-8 user images; print the raw answer and the parsed ranking."""
    from rich.console import Console

    from rarl.data import DataError, OrdinalItem, OrdinalSample, OrdinalTask
    from rarl.model import load_policy
    from rarl.rewards import parse_answer

    if not 1 <= len(images) <= 8:
        raise DataError(f"rank takes 1 to 8 images, got {len(images)}")
    for p in images:
        if not Path(p).is_file():
            raise DataError(f"image not found: {p}")
    try:
        lo, hi = (float(x) for x in value_range.split("-", 1))
    except ValueError:
        raise DataError(f"--value-range must look like 0-116, got {value_range!r}") from None
    task = OrdinalTask(name="user", rule=rule, value_range=(lo, hi))
    items = tuple(OrdinalItem(image=str(Path(p).resolve()), label=lo, meta={}) for p in images)
    sample = OrdinalSample(sample_id="user", task=task, items=items)
    policy = load_policy(str(model_path), dtype="float32")
    settings = EvalSettings(max_new_tokens=max_new_tokens, batch_size=1)
    (text,) = generate_answers(policy, [sample], settings)
    parsed = parse_answer(text, len(images))
    console = Console()
    console.print(f"[bold]answer:[/] {text}")
    if parsed.ok and parsed.entries:
        for rank_pos, (image_id, value) in enumerate(parsed.entries, 1):
            console.print(f"  {rank_pos}. image {image_id} ({images[image_id - 1]}): {value:g}")
    else:
        console.print("[yellow]the answer could not be parsed into a ranking[/]")
    return {"completion": text, "entries": list(parsed.entries) if parsed.ok else []}
