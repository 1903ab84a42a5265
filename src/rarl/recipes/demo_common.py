"""What the recipes' CPU demos share: numbered, timed phases; their own output folder; the SFT runs' config."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from rarl.eval.settings import EvalSettings
from rarl.recipes.runs import evaluate
from rarl.train.config import (
    CheckpointConfig,
    DataConfig,
    LoggingConfig,
    ModelConfig,
    OptimConfig,
    SFTConfig,
)
from rarl.utils.config import ConfigError
from rarl.utils.output_folder import claimed_folder

DEMO_KIND = "demo"
"""A demo's folder is marked `.rarl-demo.json` (`rarl.utils.output_folder`)."""


def demo_folder(out: str | Path, recipe: str, entries: Sequence[str]) -> Any:
    """`with demo_folder(out, recipe, entries) as out:` the demo's folder for the block: a new or empty folder,
    or one an earlier demo marked (its `entries` replaced, anything else kept); any other non-empty folder is
    refused with one line before any work. The folder is locked while the demo runs."""
    return claimed_folder(out, DEMO_KIND, entries, info={"recipe": recipe}, purpose="demo")


def check_outside(path: str | Path, out: str | Path, entries: Sequence[str], option: str) -> None:
    """ConfigError when `path` (an input the demo reads, e.g. `--base`) lies inside one of the `entries` of
    `out` that a demo replaces: an earlier scratch demo's `base/` named as the base of the next."""
    inside = Path(path).resolve()
    for name in entries:
        entry = Path(out).resolve() / name
        if inside == entry or entry in inside.parents:
            raise ConfigError(
                f"{option} {path} is inside {entry}, which the demo replaces; copy it elsewhere first, "
                "or choose another --out"
            )


def check_data_seed(seed: int, warmup_seed: int) -> None:
    """ConfigError when a demo's data seed is its shipped base's warm-up data seed (the two must never coincide)."""
    if seed == warmup_seed:
        raise ConfigError(f"--seed {seed} is the base's warm-up data seed; choose another")


def resolve_base(base: str | Path, shipped: Path, build: Callable[[], Path], rebuild: str) -> Path:
    """A demo's base model folder: `shipped` (the package's folder `shipped`), `scratch` (`build()` now) or a
    model folder; a missing shipped base or a folder without config.json is a one-line ConfigError (`rebuild`:
    the command that rewrites the shipped copy)."""
    if str(base) == "shipped":
        if not (shipped / "model.safetensors").is_file():
            raise ConfigError(f"the shipped base is missing from {shipped}; rebuild it with `{rebuild}`")
        return shipped
    if str(base) == "scratch":
        return build()
    path = Path(base)
    if not (path / "config.json").is_file():
        raise ConfigError(
            f"--base {base}: not a model folder (no config.json); use shipped, scratch or a folder"
        )
    return path


def demo_sft_config(
    model: str,
    manifest: Path,
    out: Path,
    *,
    steps: int,
    lr: float,
    batch: int,
    seed: int,
    recipe: str = "rarl",
    mode: str | None = None,
    warmup_steps: int = 0,
    scheduler: str = "constant",
    **model_options: Any,
) -> Any:
    """An SFT run of a demo (warm-up or baseline): `steps` x `batch` reference answers at `lr`, vision trainable.

    `warmup_steps` and `scheduler` are the learning-rate schedule's (`OptimConfig`; a shipped base's build
    uses a cosine decay); `model_options` are further `ModelConfig` fields (e.g. the pixel budget of the
    task's frame).
    """
    return SFTConfig(
        output_dir=str(out),
        seed=seed,
        recipe=recipe,
        mode=mode,
        model=ModelConfig(name_or_path=model, freeze_vision=False, **model_options),
        data=DataConfig(manifest=str(manifest)),
        optim=OptimConfig(lr=lr, max_grad_norm=1.0, warmup_steps=warmup_steps, scheduler=scheduler),
        steps=steps,
        batch_size=batch,
        micro_batch_size=batch,
        logging=LoggingConfig(progress=True, sample_every=0),
        checkpoint=CheckpointConfig(every=0, keep_last=1),
    )


class DemoPhases:
    """`start(title)` opens phase k/total with a rule; `done(name)` records the time since the last `done`.

    phases = DemoPhases(total=3)
    phases.start("data"); ...; phases.done("prepare data")
    phases.summary(report=out / "report.md")     # "phase times: prepare data 3s, ...; total 95s"
    """

    def __init__(self, total: int, console: Console | None = None) -> None:
        self.total_phases = total
        self.console = console or Console()
        self.timings: dict[str, float] = {}
        self._index = 0
        self._t0 = time.perf_counter()
        self._last = self._t0

    def start(self, title: str) -> None:
        """Open the next numbered phase."""
        self._index += 1
        self.console.rule(f"[bold]{self._index}/{self.total_phases} {title}")

    def done(self, name: str) -> float:
        """Record `name` as taking the time since the previous `done` (or the start); returns it in seconds."""
        now = time.perf_counter()
        self.timings[name] = now - self._last
        self._last = now
        self.console.rule(f"[dim]{name} done in {self.timings[name]:.0f}s")
        return self.timings[name]

    @property
    def total(self) -> float:
        """Seconds since the demo started."""
        return time.perf_counter() - self._t0

    def summary(self, report: Path | None = None) -> None:
        """Print every phase's time and the total, and where the report is."""
        times = ", ".join(f"{k} {v:.0f}s" for k, v in self.timings.items())
        self.console.print(f"[bold]phase times:[/] {times}; total {self.total:.0f}s")
        if report is not None:
            self.console.print(f"[bold]report:[/] {report}")


def evaluate_demo(
    phases: DemoPhases,
    out: Path,
    manifest: Path,
    *,
    base: Path | str,
    sft: Path | str,
    method: str,
    run: Path,
    recipe: str,
    scale: Any,
    seed: int,
    title: str,
) -> dict[str, Any]:
    """The demo's last phase: base / SFT / `method` (its run folder `run`) evaluated on the test split with the
    recipe's protocol into `out/report`, the method's training curves beside; returns the demo's summary."""
    settings = EvalSettings(
        split="test",
        max_samples=scale.eval_samples,
        max_new_tokens=scale.max_new_tokens,
        n_boot=scale.n_boot,
        seed=seed,
        batch_size=getattr(scale, "eval_batch_size", 16),
    )
    results = evaluate(
        {"Tiny-VL base": str(base), "+ SFT": str(sft), f"+ {method}": str(run / "final")},
        manifest,
        out / "report",
        settings,
        recipe=recipe,
        curves={method: run},
        title=title,
    )
    phases.done("evaluation")
    phases.summary(report=out / "report" / "report.md")
    return {"results": results, "timings": phases.timings, "total_seconds": phases.total}


def pick_scale(scales: dict[str, Any], size: str) -> Any:
    """`scales[size]`, or a one-line ConfigError naming the known sizes."""
    if size not in scales:
        raise ConfigError(f"--size: unknown demo size {size!r}; choose from {sorted(scales)}")
    return scales[size]
