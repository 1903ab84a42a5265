"""Refine-IQA evaluation: quality scoring (paper Table 3) and quality perception (Tables 1-2).

Scoring (`score` samples), per dataset and per prompt mode (`think`, `no_think`):

- **Numeric inference**: the score parsed from the answer block (`rarl.rewards.quality.parse_score`). A
  completion without a readable score is a *failure*; it is scored as the midpoint of the scale, 2.5 (a fixed,
  model-independent fallback, as the other recipes do), and the failure rate is reported.
- **Probability inference** (Eq. 8): `Q = sum_j j * softmax(P)_j + 0.5` over the logits P of "0".."4" at the
  position of the answer's integer digit. The position is found in the model's own completion: the text up to
  the first digit of its parsed score. When no score parses, the prefix is the completion up to and including
  its `<answer>` tag, or, without one, the completion up to `</think>` (think mode) followed by `<answer>`
  (counted as `prob_fallback_rate`). The five logits come from teacher-forced passes of `prefix + digit`
  under the same prompt (`rarl.model.scorer.PolicyScorer`): the log-probability of each digit token is its
  logit minus one shared log-normaliser, so the softmax over the five equals the softmax over their logits.
- SRCC and PLCC against the rescaled MOS, with percentile-bootstrap 95% intervals (pairs resampled,
  `settings.n_boot`, seeded) and the failure rate with its interval. Each inference keeps its `per_sample`
  (prediction, MOS) pairs and each dataset its image `ids`, in order: the report's verdict lines compare the
  last model with every other by a paired bootstrap over these images (`rarl.recipes.quality.verdict`).

Perception (stage-1 samples), in the `no_think` mode as the paper evaluates: accuracy of each choice task and
mean IoU of grounding, per distortion type and overall, with bootstrap intervals on the overall numbers, and
Table 1's "description" accuracy: an image (in one variant, full- or no-reference) counts as right only when
its distortion, severity and object questions are all answered right (images without an object question,
whose object name was ambiguous, are left out of it).
"""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rarl.eval import metrics as M
from rarl.eval.bootstrap import bootstrap_ci
from rarl.eval.curves import recipe_curves
from rarl.eval.plots import plot_training_curves
from rarl.eval.protocol import generate_answers
from rarl.eval.trend import trend_lines, trend_markdown
from rarl.model.scorer import PolicyScorer
from rarl.recipes.base import RECIPES
from rarl.recipes.quality.distortions import DISTORTIONS
from rarl.recipes.quality.prompts import NO_THINK, THINK
from rarl.recipes.quality.reward import answer_block, choice_reward, grounding_reward, parse_box
from rarl.recipes.quality.samples import CHOICE_TASKS, SCORE_TASK, QualitySample
from rarl.recipes.quality.verdict import verdict_lines
from rarl.rewards.quality import SCORE_DIGITS, expected_score, parse_score, substitute_score
from rarl.rewards.tags import think_content
from rarl.utils.io import atomic_write_text

log = logging.getLogger("rarl")

FALLBACK_SCORE = 2.5
"""Numeric score given to a completion without a readable score (the midpoint of [0, 5))."""

MODE_LABELS = {THINK: "w think", NO_THINK: "w/o think"}
INFERENCE_LABELS = {"numeric": "Num.", "prob": "Prob."}

__all__ = [
    "FALLBACK_SCORE",
    "correlation_result",
    "digit_prefix",
    "evaluate_quality",
    "probability_scores",
    "render_perception_tables",
    "render_scoring_table",
    "render_verdicts",
    "write_quality_report",
]


# --- probability-based inference (Eq. 8) -----------------------------------------------------------------


def digit_prefix(completion: str, mode: str) -> tuple[str, bool]:
    """The text before the integer digit of the answer, and whether a fallback prefix was used."""
    sub = substitute_score(completion, 0.0)  # only its offsets are used: where the number starts
    if sub is not None:
        return completion[: sub[1][0]], False
    if "<answer>" in completion:
        return completion[: completion.index("<answer>") + len("<answer>")], True
    if mode == THINK:
        head = (
            completion[: completion.index("</think>") + len("</think>")]
            if "</think>" in completion
            else "<think></think>"
        )
        return head + "<answer>", True
    return "<answer>", True


def probability_scores(
    scorer: Any, samples: Sequence[Any], prefixes: Sequence[str], mode: str, batch_size: int = 16
) -> list[float]:
    """Eq. 8 for each sample: the expectation over "0".."4" at the end of its prefix, plus 0.5."""
    out: list[float] = []
    digits = list(SCORE_DIGITS)
    for start in range(0, len(samples), max(1, batch_size)):
        chunk = list(range(start, min(start + batch_size, len(samples))))
        rows = [(i, d) for i in chunk for d in digits]
        scored = scorer.score([samples[i] for i, _ in rows], [prefixes[i] + d for i, d in rows], mode=mode)
        logp = torch.full((len(chunk), len(digits)), -math.inf)  # [n, 5]
        for k, (i, _d) in enumerate(rows):
            char = len(prefixes[i])
            for t, (a, b) in enumerate(scored.offsets[k]):
                if a <= char < b:
                    logp[i - start, k % len(digits)] = scored.logprobs[k, t]
                    break
        out.extend(float(q) for q in expected_score(logp))
    return out


# --- metrics -------------------------------------------------------------------------------------------------


def _ci(
    data: np.ndarray, stat: Callable[..., Any], n_boot: int, seed: int, mode: str = "counts"
) -> list[float]:
    low, high = bootstrap_ci(data, stat, n_resamples=n_boot, seed=seed, mode=mode)  # type: ignore[arg-type]
    return [low, high]


def correlation_result(
    pred: Sequence[float], mos: Sequence[float], failed: Sequence[bool], n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """SRCC, PLCC (with 95% bootstrap intervals), n and failure rate of one dataset's predictions, and the
    (prediction, MOS) pairs they were computed on (`per_sample`, for paired verdicts)."""
    pairs = np.column_stack([np.asarray(pred, dtype=np.float64), np.asarray(mos, dtype=np.float64)])  # [n, 2]
    fails = np.asarray(failed, dtype=np.float64)
    return {
        "srcc": M.srcc(pairs[:, 0], pairs[:, 1]),
        "srcc_ci": _ci(pairs, M.srcc_counts, n_boot, seed),
        "plcc": M.plcc(pairs[:, 0], pairs[:, 1]),
        "plcc_ci": _ci(pairs, M.plcc_counts, n_boot, seed),
        "n": int(len(pairs)),
        "failure_rate": float(fails.mean()) if len(fails) else math.nan,
        "failure_ci": _ci(fails, lambda a: a.mean(axis=1), n_boot, seed, mode="gather"),
        "per_sample": pairs.tolist(),
    }


def _mean_result(values: Sequence[float], n_boot: int, seed: int) -> dict[str, Any]:
    arr = np.asarray(values, dtype=np.float64)
    return {
        "value": float(arr.mean()) if len(arr) else math.nan,
        "ci": _ci(arr, lambda a: a.mean(axis=1), n_boot, seed, mode="gather"),
        "n": int(len(arr)),
    }


# --- the evaluation ---------------------------------------------------------------------------------------------


def _cap(
    samples: list[QualitySample], key: Callable[[QualitySample], str], cap: int | None
) -> list[QualitySample]:
    if cap is None:
        return samples
    seen: dict[str, int] = defaultdict(int)
    out = []
    for s in samples:
        if seen[key(s)] < cap:
            seen[key(s)] += 1
            out.append(s)
    return out


def evaluate_quality(
    policy: Any,
    samples: Sequence[QualitySample],
    settings: Any,
    messages_fn: Callable[[Any, str], list[dict[str, Any]]],
    name: str = "model",
    modes: Sequence[str] = (THINK, NO_THINK),
    perception_mode: str = NO_THINK,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Results `{"scoring": {mode: {dataset: {"numeric", "prob", "think_chars"}}}, "perception": {...}}` and
    one prediction row per answer."""
    scorer = PolicyScorer(policy, messages_fn)
    n_boot, seed = settings.n_boot, settings.seed
    score = _cap([s for s in samples if s.task == SCORE_TASK], lambda s: s.dataset, settings.max_samples)
    perception = _cap([s for s in samples if s.task != SCORE_TASK], lambda s: s.task, settings.max_samples)
    results: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []

    if score:
        results["scoring"] = {}
        for mode in modes:
            texts = generate_answers(policy, score, settings, lambda s, m=mode: messages_fn(s, m))
            numeric = [parse_score(t) for t in texts]
            prefixes = [digit_prefix(t, mode) for t in texts]
            prob = probability_scores(scorer, score, [p for p, _ in prefixes], mode, settings.batch_size)
            by_dataset: dict[str, list[int]] = defaultdict(list)
            for i, s in enumerate(score):
                by_dataset[s.dataset].append(i)
                rows.append(
                    {
                        "model": name,
                        "id": s.sample_id,
                        "task": s.task,
                        "dataset": s.dataset,
                        "mode": mode,
                        "mos": s.mos,
                        "numeric": numeric[i],
                        "prob": prob[i],
                        "prob_fallback": prefixes[i][1],
                        "completion": texts[i],
                    }
                )
            per_mode: dict[str, Any] = {}
            for dataset, idx in sorted(by_dataset.items()):
                mos = [float(score[i].mos) for i in idx]  # type: ignore[arg-type]
                failed = [numeric[i] is None or not math.isfinite(numeric[i]) for i in idx]  # type: ignore[arg-type]
                num = [FALLBACK_SCORE if f else float(numeric[i]) for i, f in zip(idx, failed)]  # type: ignore[arg-type]
                fallback = [prefixes[i][1] for i in idx]
                think = [len(think_content(texts[i]) or "") for i in idx]
                per_mode[dataset] = {
                    "numeric": correlation_result(num, mos, failed, n_boot, seed),
                    "prob": {
                        **correlation_result([prob[i] for i in idx], mos, [False] * len(idx), n_boot, seed),
                        "prob_fallback_rate": float(np.mean(fallback)),
                    },
                    "think_chars": float(np.mean(think)),
                    "ids": [score[i].sample_id for i in idx],
                }
            results["scoring"][mode] = per_mode

    if perception:
        texts = generate_answers(policy, perception, settings, lambda s: messages_fn(s, perception_mode))
        by_task: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for s, t in zip(perception, texts):
            target = s.target
            if s.task in CHOICE_TASKS:
                value = choice_reward(t, target["options"], target["answer"])  # type: ignore[index]
            else:
                value = grounding_reward(t, target["box"])  # type: ignore[index]
            by_task[s.task][s.distortion or "?"].append(value)
            by_task[s.task]["__all__"].append(value)
            rows.append(
                {
                    "model": name,
                    "id": s.sample_id,
                    "task": s.task,
                    "dataset": s.dataset,
                    "mode": perception_mode,
                    "distortion": s.distortion,
                    "reference": s.reference,
                    "reward": value,
                    "parsed": (parse_box(t) is not None)
                    if s.task == "grounding"
                    else answer_block(t) is not None,
                    "completion": t,
                }
            )
        for distortion, value in description_outcomes(
            perception, [r["reward"] for r in rows[-len(perception) :]]
        ):
            by_task["description"][distortion].append(value)
            by_task["description"]["__all__"].append(value)
        results["perception"] = {
            task: {
                "overall": _mean_result(values["__all__"], n_boot, seed),
                "by_type": {d: float(np.mean(v)) for d, v in values.items() if d != "__all__"},
            }
            for task, values in sorted(by_task.items())
        }
    return results, rows


def description_outcomes(
    samples: Sequence[QualitySample], rewards: Sequence[float]
) -> list[tuple[str, float]]:
    """Table 1's "Description": (distortion, 1.0 or 0.0) per image and variant whose distortion, severity and
    object questions are all among `samples`; 1.0 only when all three rewards are 1. Sample ids are
    `<image>/<task>/<fr|nr>` (as `rarl prepare refine-perception` writes them)."""
    groups: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    kinds: dict[tuple[str, str], str] = {}
    for s, reward in zip(samples, rewards, strict=True):
        parts = s.sample_id.rsplit("/", 2)
        if len(parts) == 3 and s.task in CHOICE_TASKS:
            groups[(parts[0], parts[2])][s.task] = reward
            kinds[(parts[0], parts[2])] = s.distortion or "?"
    return [
        (kinds[key], float(all(v == 1.0 for v in answers.values())))
        for key, answers in sorted(groups.items())
        if len(answers) == len(CHOICE_TASKS)
    ]


# --- tables ------------------------------------------------------------------------------------------------------


def _fmt(value: float, ci: Sequence[float] | None = None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    if ci is None or not all(math.isfinite(c) for c in ci):
        return f"{value:.3f}"
    return f"{value:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def render_scoring_table(results: Mapping[str, Any], title: str) -> str:
    """Table 3 layout: one row per model x mode x inference, SRCC and PLCC per dataset (95% CIs), failures."""
    datasets = sorted({d for r in results.values() for m in r.get("scoring", {}).values() for d in m})
    if not datasets:
        return ""
    head = ["Model"] + [f"{d} {k}" for d in datasets for k in ("SRCC", "PLCC")] + ["fail %"]
    lines = [
        f"**{title}: quality scoring (SRCC / PLCC, 95% bootstrap CI)**",
        "",
        "| " + " | ".join(head) + " |",
    ]
    lines.append("|---|" + "---:|" * (len(head) - 1))
    for model, res in results.items():
        for mode, per in res.get("scoring", {}).items():
            for inference in ("numeric", "prob"):
                cells, fails = [], []
                for d in datasets:
                    m = per.get(d, {}).get(inference)
                    if m is None:
                        cells += ["-", "-"]
                        continue
                    cells += [_fmt(m["srcc"], m["srcc_ci"]), _fmt(m["plcc"], m["plcc_ci"])]
                    fails.append(m["failure_rate"])
                fail = f"{100 * float(np.mean(fails)):.1f}" if inference == "numeric" and fails else "-"
                label = f"{model} ({MODE_LABELS.get(mode, mode)}, {INFERENCE_LABELS[inference]})"
                lines.append(f"| {label} | " + " | ".join(cells) + f" | {fail} |")
    return "\n".join(lines)


def render_perception_tables(results: Mapping[str, Any], title: str) -> str:
    """Tables 1-2 layout: per task, one row per model, a column per distortion type, then Overall (95% CI)."""
    tasks = sorted({t for r in results.values() for t in r.get("perception", {})})
    blocks = []
    for task in tasks:
        metric = "mean IoU" if task == "grounding" else "accuracy"
        head = ["Model", *DISTORTIONS, "Overall"]
        lines = [f"**{title}: perception, {task} ({metric}, no_think)**", "", "| " + " | ".join(head) + " |"]
        lines.append("|---|" + "---:|" * (len(head) - 1))
        for model, res in results.items():
            t = res.get("perception", {}).get(task)
            if t is None:
                continue
            cells = [_fmt(t["by_type"][d]) if d in t["by_type"] else "-" for d in DISTORTIONS]
            cells.append(_fmt(t["overall"]["value"], t["overall"]["ci"]) + f" (n={t['overall']['n']})")
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def render_verdicts(results: Mapping[str, Any], n_boot: int = 1000, seed: int = 0) -> str:
    """The verdict lines of the last model against the others (SRCC, paired bootstrap), under a header."""
    lines = verdict_lines(results, n_boot=n_boot, seed=seed)
    if not lines:
        return ""
    header = f"Verdicts of {list(results)[-1]} (SRCC, paired bootstrap over the same test images, 95 %):"
    return "\n".join([header, "", *(f"- {line}" for line in lines)])


def write_quality_report(
    out: Path,
    results: Mapping[str, Any],
    *,
    title: str,
    curves: Any = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> str:
    """results.json, report.md (scoring table, verdict lines, perception tables) and, with curves,
    training_curves.png; returns report.md's text."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    parts = [
        render_scoring_table(results, title),
        render_verdicts(results, n_boot, seed),
        render_perception_tables(results, title),
    ]
    table = "\n\n".join(p for p in parts if p)
    atomic_write_text(out / "results.json", json.dumps(results, indent=1, default=str) + "\n")
    atomic_write_text(out / "report.md", table + "\n")
    if curves:
        try:
            # this recipe's reward components and validation metrics, the on-policy reward trend per stage
            plot_training_curves(
                dict(curves), out / "training_curves.png", **recipe_curves(RECIPES["refine-iqa"])
            )
            table = "\n".join([table, *trend_markdown(trend_lines(curves))])
            figure = "![training curves](training_curves.png)"
            atomic_write_text(out / "report.md", "\n".join([table, "", figure]) + "\n")
        except Exception as e:  # a plot must not lose the tables already written
            log.warning("training curves not plotted: %s", e)
    return table
