"""The `rarl` recipe: estimate and rank an ordinal quantity over 1, 2, 4 or 8 images (RARL paper).

Samples are `OrdinalSample`s (`rarl.recipes.ordinal.schema`) read from a manifest written by `rarl prepare`
(`rarl.recipes.ordinal.prepare`); a size is the number of images. The prompt is the paper's Table 1
(`rarl.recipes.ordinal.prompts`), the reference answer the ground truth sorted
ascending in the `<think>..</think><answer>[..]</answer>` format, the target the labels in presentation order,
the reward `RankingAwareReward` (Eq. 3-8) by default, and the evaluation the paper's 1/2/4/8-image protocol
(`rarl.recipes.ordinal.evaluation`). Its ablations (Tables 3 and 6) are in `rarl.recipes.ordinal.ablations`
and its CPU demo in `rarl.recipes.ordinal.demo`.

Reward settings (`reward.kwargs`, each stage's `reward_kwargs`): `weights` (lambda1..3 of Eq. 8), `delta`
(Eq. 3 tolerance; None or absent: the task's), `check_value_range` (default true: the format reward requires
values inside the task's range).

Validation while training (`eval:`) logs, per size N present, the size's metric as `<metric>@N` (`mae@1`,
`accuracy@1`, ..., `tau@N` for N >= 2) and its failure rate `fail@N`, and `tau`, the mean tau over the sizes
N >= 2 (the headline, so the default `eval.best_metric`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from rarl.data.errors import DataError
from rarl.eval.curves import LogSource
from rarl.recipes.base import Conversation, RecipeBase, register_recipe
from rarl.recipes.ordinal.ablations import ABLATIONS
from rarl.recipes.ordinal.demo import run_demo
from rarl.recipes.ordinal.demo_base import SHIPPED_BASE
from rarl.recipes.ordinal.demo_base import build_base as build_ordinal_base
from rarl.recipes.ordinal.evaluation import evaluate_policy
from rarl.recipes.ordinal.manifest import load_manifest, load_task
from rarl.recipes.ordinal.prepare import SOURCES, prepare
from rarl.recipes.ordinal.prompts import answer_text, build_messages
from rarl.recipes.ordinal.report import write_report
from rarl.recipes.ordinal.scoring import ONE_IMAGE_METRICS, RANKING_METRIC, higher_is_better
from rarl.recipes.ordinal.tables import render_markdown_table, render_rich_table
from rarl.recipes.ordinal.verdict import verdict_lines
from rarl.rewards.batch import BatchReward, build_reward


@register_recipe("rarl")
class OrdinalRecipe(RecipeBase):
    """RARL's ordinal estimation and ranking task."""

    name = "rarl"
    modes = ("think",)
    default_reward = "rarl"
    shipped_base = SHIPPED_BASE
    headline_metric = RANKING_METRIC
    """`tau`: the mean Kendall tau over the multi-image sizes validated."""
    curve_components = ("regression", "length", "consistency", "accuracy", "ranking", "format")

    def __init__(self) -> None:
        self._tasks: dict[str, Any] = {}

    def task(self, manifest: str) -> Any:
        """The manifest's `OrdinalTask` (read once)."""
        key = str(manifest)
        if key not in self._tasks:
            self._tasks[key] = load_task(manifest)
        return self._tasks[key]

    def load_samples(self, manifest: str, split: str, sizes: Sequence[int] | None = None) -> list[Any]:
        """The split's samples of the given sizes (all sizes when none are given); every image of them is
        checked up front (exists, header readable), so a bad one is named before any model is loaded."""
        if not manifest:
            raise DataError("data.manifest is empty: point it at a folder written by `rarl prepare`")
        return load_manifest(manifest, split, sizes or None, check_files=True)

    def messages(self, sample: Any, mode: str | None = None) -> Conversation:
        self.resolve_mode(mode)
        return build_messages(sample)

    def reference_answer(self, sample: Any, mode: str | None = None) -> str:
        return answer_text(sample)

    def target(self, sample: Any) -> list[float]:
        return sample.labels

    def reward(self, name: str, settings: Mapping[str, Any], manifest: str) -> BatchReward:
        settings = dict(settings)
        check = settings.pop("check_value_range", True)
        if settings.get("delta", 0) is None:
            del settings["delta"]  # null in config: the task's delta
        task = self.task(manifest)
        defaults = {"delta": task.delta, "value_range": tuple(task.value_range) if check else None}
        if not check:
            settings["value_range"] = None
        return build_reward(name, settings, defaults)

    def evaluate(
        self, policy: Any, manifest: str, settings: Any, name: str = "model"
    ) -> tuple[dict[int, Any], list[dict[str, Any]]]:
        return evaluate_policy(policy, manifest, settings, name=name, messages_fn=self.messages)

    def validation_metrics(self, results: Mapping[int, Any]) -> dict[str, float]:
        """`<metric>@N` and `fail@N` per size N, and `tau` (mean over N >= 2) when such sizes were scored."""
        out: dict[str, float] = {}
        for n, r in sorted(results.items()):
            out[f"{r.metric}@{n}"] = float(r.value)
            out[f"fail@{n}"] = float(r.failure_rate)
        taus = [float(r.value) for n, r in results.items() if n >= 2]
        if taus:
            out[RANKING_METRIC] = sum(taus) / len(taus)
        return out

    def higher_is_better(self, metric: str) -> bool:
        """MAE and failure rates are better lower; accuracy, SRCC, PLCC and tau higher (other names: the
        `RecipeBase` rule)."""
        base = metric.split("@", 1)[0]
        if base in (*ONE_IMAGE_METRICS, RANKING_METRIC):
            return higher_is_better(base)
        return super().higher_is_better(metric)

    def validation_metric_names(self, samples: Sequence[Any], settings: Any) -> list[str]:
        """The names `validation_metrics` gives for the sizes among `samples` (those `evaluate` scores)."""
        sizes = sorted({s.n for s in samples if s.n in settings.sizes})
        names = [f"{samples[0].task.metric if n == 1 else RANKING_METRIC}@{n}" for n in sizes]
        names += [f"fail@{n}" for n in sizes]
        return names + ([RANKING_METRIC] if any(n >= 2 for n in sizes) else [])

    def task_record(self, manifest: str, samples: Sequence[Any]) -> dict[str, Any]:
        """The manifest's task (rule, value range, value type and precision, delta, metric) and the image
        counts trained on (`sizes`): what `rarl rank` reads back from a trained model folder."""
        return {**self.task(manifest).to_dict(), "sizes": sorted({s.n for s in samples})}

    def write_report(
        self,
        out: Path,
        results: Mapping[str, Any],
        *,
        title: str,
        curves: Mapping[str, LogSource] | None = None,
        settings: Any = None,
    ) -> str:
        sizes = tuple(settings.sizes) if settings is not None else (1, 2, 4, 8)
        n_boot = getattr(settings, "n_boot", 1000)
        verdicts = verdict_lines(dict(results), sizes=sizes, n_boot=n_boot) if len(results) > 1 else []
        notes = None
        if verdicts:
            header = f"Verdicts of {list(results)[-1]} (paired bootstrap over the same test samples, 95 %):"
            notes = "\n".join([header, "", *(f"- {line}" for line in verdicts)])
        write_report(out, dict(results), title=title, curves=dict(curves) if curves else None, notes=notes)
        console = Console()
        console.print(render_rich_table(dict(results), title=title, sizes=sizes))
        if notes:
            console.print(notes, markup=False)
        table = render_markdown_table(dict(results), title=title, sizes=sizes)
        return table + ("\n\n" + notes if notes else "")

    def prepare_sources(self) -> dict[str, Any]:
        """`rarl prepare` sources: utkface, ava, coco-count, csv, jsonl, synthetic (1/2/4/8-image samples)."""
        return dict.fromkeys(SOURCES, prepare)

    def ablations(self) -> Any:
        """The recipe's ablation plan (variants and table rows) for `rarl ablate`."""
        return ABLATIONS

    def demo(
        self, out: str | Path, size: str = "default", seed: int = 0, base: str | Path = "shipped"
    ) -> dict[str, Any]:
        """The CPU demo: the shipped tiny Qwen2.5-VL base, synthetic brightness task, base vs SFT vs RARL."""
        return run_demo(out, size=size, seed=seed, base=base)

    def build_base(self, out: str | Path, spec: str = "default", seed: int = 0) -> Path:
        """The demo's base: the tiny Qwen2.5-VL trained on a brightness warm-up split (20-35 minutes)."""
        return build_ordinal_base(out, spec, seed=seed)
