"""What the training-curve figure shows, decided from a run's log rows (and its saved config when there is one).

    runs = load_runs({"RARL": "runs/rarl", "w.o. RMO": "runs/no-rmo"})   # folders, JSONL paths or row lists
    groups = select_panels(runs, DEFAULT_PANELS, components=("regression", "format"))
    marks = stage_boundaries(runs["RARL"].rows, runs["RARL"].config)

A run folder gives its `metrics.jsonl` and its saved `config.yaml`; a JSONL path gives the `config.yaml` beside
it when there is one; a list of rows has no config unless the caller passes one. Nothing here draws.

Panels are `(title, keys)`. Two key patterns expand from the rows: `reward/*` into the reward components (the
recipe's `curve_components`, or every logged `reward/<name>` other than the totals), `eval/*` into the
validation metrics (`eval/<metric>`, logged at the validation steps only; the recipe's `curve_validation`
names or patterns, else all): those whose values all lie in
[-1, 1] share one panel, any other gets its own. A key whose feature is off in every run is not drawn: every
value equal to its `OFF_VALUES` entry (RMO never mutated, KL 0 with beta 0, the filter kept every rollout,
...) or the key it depends on (`GATED_BY`) is off. Missing, null and non-numeric values are skipped, and a
panel left with no key is dropped.
"""

from __future__ import annotations

import fnmatch
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rarl.utils.config import ConfigError, read_yaml
from rarl.utils.io import read_jsonl

log = logging.getLogger("rarl")

__all__ = [
    "COMPONENTS_KEY",
    "DEFAULT_PANELS",
    "GATED_BY",
    "OFF_VALUES",
    "VALIDATION_KEY",
    "CurveRun",
    "LogSource",
    "Panel",
    "StageBoundary",
    "load_runs",
    "num",
    "recipe_curves",
    "reward_changes",
    "select_panels",
    "series",
    "short_name",
    "stage_boundaries",
]

Panel = tuple[str, tuple[str, ...]]
LogSource = str | os.PathLike | Sequence[Mapping[str, Any]]

COMPONENTS_KEY = "reward/*"
"""Panel key standing for the reward components (the recipe's `curve_components`, else every logged one)."""
VALIDATION_KEY = "eval/*"
"""Panel key standing for the validation metrics (`eval/<metric>` rows)."""
REWARD_SUMMARIES = ("reward/total_mean", "reward/total_std", "reward/onpolicy_mean", "reward/injected_mean")
"""`reward/*` keys of the trainer's log that are totals, not components."""

DEFAULT_PANELS: tuple[Panel, ...] = (
    ("Total reward (on-policy)", ("reward/total_mean", "reward/injected_mean")),
    ("Reward components", (COMPONENTS_KEY,)),
    ("Validation", (VALIDATION_KEY,)),
    ("Zero-variance groups", ("zero_var_frac_before", "zero_var_frac_after")),
    ("Groups mutated by RMO", ("rmo_mutated_frac",)),
    ("Rollouts kept by the filter", ("kept_frac",)),
    ("KL to reference", ("kl",)),
    ("Clipped ratio share", ("clip_frac",)),
    ("Loss", ("loss",)),
    ("Completion length (tokens)", ("completion_len_mean",)),
    ("Reward errors", ("reward_errors",)),
)
"""(panel title, keys) of the default training-curve figure, in order."""

OFF_VALUES: dict[str, float] = {
    "rmo_mutated_frac": 0.0,  # RMO off, or it never fired
    "kl": 0.0,  # beta 0: no reference model
    "kept_frac": 1.0,  # no filter (DAPO) dropped a rollout
    "clip_frac": 0.0,  # one iteration per batch: the ratio is 1
    "reward_errors": 0.0,
}
"""A key whose every value is this one belongs to a feature that is off in the run: not drawn."""
GATED_BY: dict[str, str] = {
    "zero_var_frac_after": "rmo_mutated_frac",  # equals the share before RMO when RMO never mutated
    "reward/injected_mean": "rmo_mutated_frac",
}
"""A key drawn only when the key it names is on (see `OFF_VALUES`)."""
LABELS: dict[str, str] = {
    "reward/total_mean": "on-policy total",
    "reward/injected_mean": "RMO-injected answers",
}
"""Legend names of keys whose short name would not say what they are."""


def num(v: Any) -> float | None:
    """`v` as a finite float; None for missing, null, bool, non-numeric and non-finite values."""
    if isinstance(v, bool) or v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def series(rows: Sequence[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """(steps, values) for `key`, in step order; rows without a numeric `step` use their index."""
    pts = []
    for i, r in enumerate(rows):
        y = num(r.get(key))
        if y is None:
            continue
        x = num(r.get("step"))
        pts.append((float(i) if x is None else x, y))
    pts.sort(key=lambda p: p[0])
    return [p[0] for p in pts], [p[1] for p in pts]


def short_name(key: str) -> str:
    """Legend name of a key: `LABELS`, else the key without its `reward/` or `eval/` prefix."""
    if key in LABELS:
        return LABELS[key]
    for prefix in ("reward/", "eval/"):
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


# ---------------------------------------------------------------------------------------------- runs


@dataclass
class CurveRun:
    """One run's log rows and, when known, its saved training config (a plain mapping)."""

    rows: list[Mapping[str, Any]]
    config: Mapping[str, Any] | None = None


def _config_beside(path: Path) -> Mapping[str, Any] | None:
    """The `config.yaml` at `path` if it exists and reads as a mapping; a bad one is logged and ignored."""
    if not path.is_file():
        return None
    try:
        return read_yaml(path)
    except ConfigError as e:
        log.warning("training curves: %s; stage boundaries drawn without reward changes", e)
        return None


def load_run(source: LogSource, config: Mapping[str, Any] | str | os.PathLike | None = None) -> CurveRun:
    """A run from a folder (its metrics.jsonl and config.yaml), a JSONL path (config.yaml beside it, if any)
    or a list of rows; `config` (a mapping or a YAML path) overrides the config found beside the log."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        folder = path if path.is_dir() else path.parent
        log_path = path / "metrics.jsonl" if path.is_dir() else path
        rows = read_jsonl(log_path) if log_path.is_file() or not path.is_dir() else []
        run = CurveRun([r for r in rows if isinstance(r, Mapping)], _config_beside(folder / "config.yaml"))
    else:
        run = CurveRun([r for r in source if isinstance(r, Mapping)])
    if isinstance(config, (str, os.PathLike)):
        run.config = read_yaml(config)
    elif config is not None:
        run.config = config
    return run


def load_runs(
    log: LogSource | Mapping[str, LogSource], config: Mapping[str, Any] | str | os.PathLike | None = None
) -> dict[str, CurveRun]:
    """`{run name: CurveRun}`: one unnamed run (`""`) for a single source, else one per named source.
    `config` is the single run's config; several runs read theirs from their folders."""
    if isinstance(log, Mapping):
        if config is not None:
            raise ValueError("config= applies to one run; several runs read config.yaml from their folders")
        return {str(name): load_run(src) for name, src in log.items()}
    return {"": load_run(log, config)}


# ---------------------------------------------------------------------------------------- stage marks


@dataclass(frozen=True)
class StageBoundary:
    """Where the logged `stage` changes (the first step of `stage`, and what changed in its reward), or, with
    `within`, where a scheduled reward setting changes inside `stage` (e.g. Vision-R1's thresholds)."""

    step: float
    stage: str
    reward_change: str = ""
    """'' when the reward is defined as in the previous stage (or no config says)."""
    detail: tuple[str, ...] = field(default=())
    """One `setting: old -> new` line per reward setting that differs from the previous stage."""
    within: bool = False
    """True: not a new stage, a scheduled setting changing inside `stage`."""


def _fmt(value: Any) -> str:
    if value is _UNSET:
        return "default"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


_UNSET = object()


def stage_reward_settings(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """stage name -> the reward settings it trains with: `reward.kwargs` under the stage's `reward_kwargs`
    (an old config's stage `reward_weights` read as `weights`)."""
    reward = config.get("reward")
    base = dict(reward.get("kwargs") or {}) if isinstance(reward, Mapping) else {}
    out: dict[str, dict[str, Any]] = {}
    for stage in config.get("stages") or []:
        if not isinstance(stage, Mapping):
            continue
        kwargs = dict(stage.get("reward_kwargs") or {})
        if stage.get("reward_weights") is not None and "weights" not in kwargs:
            kwargs["weights"] = list(stage["reward_weights"])
        out[str(stage.get("name"))] = {**base, **kwargs}
    return out


def reward_changes(config: Mapping[str, Any] | None, before: str, after: str) -> tuple[str, ...]:
    """`setting: old -> new` for every reward setting that differs between stages `before` and `after`;
    () when they are the same, or when the config (None: none) does not list both stages."""
    settings = stage_reward_settings(config) if config else {}
    if before not in settings or after not in settings:
        return ()
    a, b = settings[before], settings[after]
    keys = list(a) + [k for k in b if k not in a]
    return tuple(
        f"{k}: {_fmt(a.get(k, _UNSET))} → {_fmt(b.get(k, _UNSET))}"
        for k in keys
        if a.get(k, _UNSET) != b.get(k, _UNSET)
    )


def stage_boundaries(
    rows: Sequence[Mapping[str, Any]],
    config: Mapping[str, Any] | None = None,
    schedule: Sequence[str] = (),
) -> list[StageBoundary]:
    """Every step where the logged `stage` changes (after the first stage), with the reward settings that
    change there according to `config` (the run's training config); and every step where a `schedule`
    setting (logged as `reward/<name>`, e.g. Vision-R1's `xi0`) changes value inside one stage."""
    staged = []
    for i, r in enumerate(rows):
        if r.get("stage") is None:
            continue
        x = num(r.get("step"))
        settings = {k: num(r.get(f"reward/{k}")) for k in schedule}
        staged.append((float(i) if x is None else x, str(r["stage"]), settings))
    staged.sort(key=lambda p: p[0])
    out = []
    for (_, prev, before), (x, cur, after) in zip(staged, staged[1:], strict=False):
        if cur != prev:
            detail = reward_changes(config, prev, cur)
            out.append(StageBoundary(x, cur, "reward changes" if detail else "", detail))
            continue
        changed = tuple(
            f"{k}: {_fmt(before[k])} → {_fmt(after[k])}"
            for k in schedule
            if before[k] is not None and after[k] is not None and before[k] != after[k]
        )
        if changed:
            out.append(StageBoundary(x, cur, "reward changes", changed, within=True))
    return out


# ------------------------------------------------------------------------------------------- panels


def recipe_curves(recipe: Any) -> dict[str, tuple[Any, ...]]:
    """The figure settings a recipe declares, as keyword arguments of `plot_training_curves`: its panels
    (`DEFAULT_PANELS` unless it says), its reward components, the per-step reward settings whose change it
    marks, the validation metrics it plots (each empty, so everything logged, when the recipe does not say)."""
    return {
        "panels": tuple(getattr(recipe, "curve_panels", ())) or DEFAULT_PANELS,
        "components": tuple(getattr(recipe, "curve_components", ())),
        "schedule": tuple(getattr(recipe, "curve_schedule", ())),
        "validation": tuple(getattr(recipe, "curve_validation", ())),
    }


def _is_on(runs: Mapping[str, CurveRun], key: str) -> bool:
    """Whether `key` has data in some run and, for a feature key, is not at its off value everywhere."""
    off = OFF_VALUES.get(key)
    for run in runs.values():
        ys = series(run.rows, key)[1]
        if ys and (off is None or any(abs(y - off) > 1e-12 for y in ys)):
            return True
    return False


def _logged(runs: Mapping[str, CurveRun], prefix: str) -> list[str]:
    """Keys starting with `prefix` that some row holds, in order of first appearance."""
    seen: dict[str, None] = {}
    for run in runs.values():
        for row in run.rows:
            for k in row:
                if isinstance(k, str) and k.startswith(prefix):
                    seen.setdefault(k)
    return list(seen)


def _in_unit_range(runs: Mapping[str, CurveRun], key: str) -> bool:
    return all(-1.0 <= y <= 1.0 for run in runs.values() for y in series(run.rows, key)[1])


def _expand(
    runs: Mapping[str, CurveRun],
    title: str,
    keys: tuple[str, ...],
    components: Sequence[str],
    validation: Sequence[str],
) -> list[tuple[str, tuple[str, ...], bool]]:
    """A panel's (title, keys, always-legend) groups once its patterns are expanded."""
    if keys == (COMPONENTS_KEY,):
        if components:
            names = tuple(c if c.startswith("reward/") else f"reward/{c}" for c in components)
        else:
            names = tuple(k for k in _logged(runs, "reward/") if k not in REWARD_SUMMARIES)
        return [(title, names, True)]
    if keys == (VALIDATION_KEY,):
        metrics = _logged(runs, "eval/")
        if validation:  # the recipe's choice: names or shell patterns of metric names, e.g. `*/think/srcc`
            metrics = [
                k for k in metrics if any(fnmatch.fnmatchcase(k[len("eval/") :], p) for p in validation)
            ]
        unit = tuple(k for k in metrics if _in_unit_range(runs, k))
        return [(title, unit, True)] + [
            (f"{title}: {short_name(k)}", (k,), False) for k in metrics if k not in unit
        ]
    return [(title, keys, False)]


def select_panels(
    runs: Mapping[str, CurveRun],
    panels: Sequence[Panel] = DEFAULT_PANELS,
    keys: Sequence[str] | None = None,
    components: Sequence[str] = (),
    validation: Sequence[str] = (),
) -> list[tuple[str, tuple[str, ...], bool]]:
    """The figure's panels as (title, keys, legend always): patterns expanded, restricted to `keys` (a key
    outside every panel gets one of its own), keys whose feature is off or without data left out, empty
    panels dropped. Several runs: one panel per key (titled by the key when its group has several)."""
    groups = [g for t, ks in panels for g in _expand(runs, t, tuple(ks), components, validation)]
    if keys is not None:
        known = {k for _, ks, _ in groups for k in ks}
        groups = [(t, tuple(k for k in ks if k in keys), lg) for t, ks, lg in groups]
        groups += [(k, (k,), False) for k in keys if k not in known]
    if len(runs) > 1:  # one key per panel: a pattern's key titled "group: key", a group's first key keeps
        groups = [  # the group's title, its other keys are titled by their names
            (f"{t}: {short_name(k)}" if lg else t if i == 0 else short_name(k), (k,), False)
            for t, ks, lg in groups
            for i, k in enumerate(ks)
        ]
    on = {k: _is_on(runs, k) for _, ks, _ in groups for k in ks}

    def drawn(k: str) -> bool:
        return on[k] and (k not in GATED_BY or _is_on(runs, GATED_BY[k]))

    groups = [(t, tuple(k for k in ks if drawn(k)), lg) for t, ks, lg in groups]
    return [(t, ks, lg) for t, ks, lg in groups if ks]
