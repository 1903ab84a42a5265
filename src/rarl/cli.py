"""Command line: `rarl prepare | build-tiny | build-base | train | sft | plan | eval | rank | draw | score | ablate | demo`.

Heavy imports (torch, transformers) happen inside the commands so `rarl --help` is instant. Expected
problems (bad config, bad data, missing files) end in one red line naming the bad input and exit code 2,
never a stack trace; `RARL_DEBUG=1` shows the trace.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    name="rarl",
    help="Ranking-Aware Reinforcement Learning for vision-language models on ordinal tasks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


def friendly(fn):
    """The error boundary of every command: an expected failure (`rarl.utils.errors.user_message`: the typed
    errors, and file-system failures such as a full disk) becomes one red line and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            from rarl.utils.errors import user_message

            message = user_message(e)
            if message is None or os.environ.get("RARL_DEBUG"):
                raise
            from rich.text import Text

            line = Text.assemble(("error:", "bold red"), " ", message)  # the message is never read as markup
            console.print(line, soft_wrap=True, highlight=False)  # one line, however long
            raise typer.Exit(2) from None

    return wrapper


def _setup_logging(verbose: bool) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, rich_tracebacks=False)],
        force=True,
    )
    for noisy in ("httpx", "urllib3", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    quiet_third_party(verbose)


def quiet_third_party(verbose: bool = False) -> None:
    """Keep transformers/accelerate chatter (weight-loading bars, tied-weight notes) out of normal runs."""
    if verbose:
        return
    logging.getLogger("accelerate").setLevel(logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def _int_list(text: str, option: str = "--sizes") -> list[int]:
    from rarl.utils.config import ConfigError

    try:
        values = [int(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        raise ConfigError(f"{option}: expected a comma-separated list of integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise ConfigError(f"{option}: expected positive integers, got {text!r}")
    return values


def _check_seed(seed: int) -> None:
    from rarl.train.config import check_seed

    check_seed(seed, "--seed")


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False) -> None:
    _setup_logging(verbose)


@app.command()
@friendly
def prepare(
    source: Annotated[
        str,
        typer.Argument(
            help="rarl: utkface | ava | coco-count | csv | jsonl | synthetic; "
            "vision-r1: coco | refcoco | boxes-jsonl | synthetic-shapes; refine-iqa: koniq | spaq | livec | "
            "kadid | agiqa | csiq | iqa-csv | iqa-merge | synthetic-quality | refine-perception"
        ),
    ],
    out: Annotated[Path, typer.Option(help="Manifest folder to write.")],
    root: Annotated[Path | None, typer.Option(help="Dataset root (images, annotation files).")] = None,
    sizes: Annotated[str, typer.Option(help="N-image sample sizes.")] = "1,2,4,8",
    seed: Annotated[int, typer.Option(help="Seed for splits, grouping and synthetic images.")] = 0,
    strict: Annotated[
        bool, typer.Option(help="Abort on the first bad item instead of excluding it.")
    ] = False,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-o",
            help="Source-specific key=value, e.g. -o property=count -o num_images=600 (synthetic), "
            "-o annotations=instances_val2017.json -o categories=person,car (coco-count), "
            "-o file=labels.csv -o rule='severity grade' -o value_range=0-4 (csv).",
        ),
    ] = None,
) -> None:
    """Validate a dataset and write a manifest; each recipe offers its own sources (`prepare_sources`).

    Sources of the `rarl` recipe: utkface, ava, coco-count, csv, jsonl, synthetic. Sources of the `vision-r1`
    recipe: coco, refcoco, boxes-jsonl (--root is the annotation file), synthetic-shapes. Sources of the
    `refine-iqa` recipe: the IQA datasets, iqa-csv, iqa-merge, synthetic-quality, refine-perception.
    """
    from rarl.data.options import parse_option_items
    from rarl.recipes import RECIPES, get_recipe
    from rarl.utils.config import ConfigError

    _check_seed(seed)
    options = parse_option_items(option or [])  # each source checks its options' types (rarl.data.options)
    sources = {}
    for name in RECIPES.names():
        for key, fn in get_recipe(name).prepare_sources().items():
            sources.setdefault(key, fn)
    if source not in sources:
        raise ConfigError(f"unknown source {source!r}; choose from {', '.join(sorted(sources))}")
    summary = sources[source](
        source, out, root=root, sizes=tuple(_int_list(sizes)), seed=seed, strict=strict, **options
    )
    if callable(getattr(summary, "lines", None)):
        for line in summary.lines():
            console.print(line, soft_wrap=True)


@app.command("build-tiny")
@friendly
def build_tiny(
    out: Annotated[Path, typer.Option(help="Folder for the tiny Qwen2.5-VL.")] = Path("runs/tiny-model"),
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Build the offline tiny Qwen2.5-VL (tokenizer, processor, random weights) as a model folder."""
    from rarl.model.tiny import build_tiny_qwen2_5_vl
    from rarl.utils.output_folder import check_claimable

    _check_seed(seed)
    if out.is_dir():  # a new or empty folder, or a tiny model's (never another folder's files overwritten)
        check_claimable(out, "tiny model", marker="rarl_tiny.json")
    path = build_tiny_qwen2_5_vl(out, seed=seed)
    console.print(f"tiny Qwen2.5-VL written to [bold]{path}[/]")


@app.command("build-base")
@friendly
def build_base(
    out: Annotated[
        Path,
        typer.Option(help="Folder for the base model: new, empty, or an earlier base (its files replaced)."),
    ] = Path("runs/demo-base"),
    recipe: Annotated[str, typer.Option(help="Whose demo base: rarl, refine-iqa or vision-r1.")] = "rarl",
    spec: Annotated[str, typer.Option(help="default (20-35 minutes on 2 CPU cores) or smoke.")] = "default",
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Pretrain a recipe's demo base: a tiny Qwen2.5-VL trained on a warm-up split disjoint from the demo's data."""
    from rarl.recipes import get_recipe
    from rarl.recipes.base_build import read_base_info

    _check_seed(seed)
    path = get_recipe(recipe).build_base(out, spec, seed=seed)
    info = read_base_info(path) or {"val_scores": {}}
    scores = ", ".join(f"{k} {'n/a' if v is None else format(v, 'g')}" for k, v in info["val_scores"].items())
    console.print(f"base written to [bold]{path}[/]; warm-up val: {scores}")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": False})
@friendly
def train(
    ctx: typer.Context,
    config: Annotated[Path, typer.Option(help="YAML recipe (configs/*.yaml).")],
    resume: Annotated[bool, typer.Option(help="Continue from the latest checkpoint in output_dir.")] = False,
    stop_at_step: Annotated[
        int | None, typer.Option(help="Stop after this global step with a resumable checkpoint.")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Delete a previous run in output_dir (metrics, checkpoints, models) first.")
    ] = False,
) -> None:
    """GRPO training of a recipe (default rarl: ranking-aware reward, RMO, two stages). Extra args: key=value."""
    from rarl.recipes.runs import run_grpo
    from rarl.train.config import TrainConfig
    from rarl.utils.config import ConfigError, load_config

    cfg = load_config(TrainConfig, config, ctx.args)
    if stop_at_step is not None and stop_at_step < 1:
        raise ConfigError(f"--stop-at-step must be >= 1, got {stop_at_step}")
    run_grpo(cfg, resume=resume, stop_at_step=stop_at_step, overwrite=overwrite)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": False})
@friendly
def sft(
    ctx: typer.Context,
    config: Annotated[Path, typer.Option(help="YAML recipe for supervised fine-tuning.")],
    resume: Annotated[bool, typer.Option(help="Continue from the latest checkpoint in output_dir.")] = False,
    overwrite: Annotated[
        bool, typer.Option(help="Delete a previous run in output_dir (metrics, checkpoints, models) first.")
    ] = False,
) -> None:
    """Supervised fine-tuning on the recipe's reference answers (the +SFT baseline). Extra args: key=value."""
    from rarl.recipes.runs import run_sft
    from rarl.train.config import SFTConfig
    from rarl.utils.config import load_config

    cfg = load_config(SFTConfig, config, ctx.args)
    run_sft(cfg, resume=resume, overwrite=overwrite)


@app.command("eval")
@friendly
def evaluate(
    model: Annotated[list[str], typer.Option(help="Model folder; repeat as NAME=DIR to compare several.")],
    data: Annotated[Path, typer.Option(help="Manifest folder.")],
    split: Annotated[str, typer.Option(help="Manifest split to evaluate.")] = "test",
    sizes: Annotated[str, typer.Option(help="N-image sizes.")] = "1,2,4,8",
    out: Annotated[Path, typer.Option(help="Report folder.")] = Path("runs/eval"),
    max_samples: Annotated[int | None, typer.Option(help="Cap samples per size.")] = None,
    sample: Annotated[bool, typer.Option(help="Sample instead of greedy decoding.")] = False,
    temperature: Annotated[float, typer.Option()] = 1.0,
    max_new_tokens: Annotated[int, typer.Option()] = 256,
    batch_size: Annotated[int, typer.Option(help="Prompts per generate call.")] = 16,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples for confidence intervals.")] = 1000,
    seed: Annotated[int, typer.Option()] = 0,
    recipe: Annotated[
        str | None,
        typer.Option(
            help="Recipe whose evaluation to run (registered name or file.py:Name); default: the one the "
            "model folders record (rarl_task.json), else rarl."
        ),
    ] = None,
) -> None:
    """Evaluate models with a recipe's protocol (rarl: 1/2/4/8-image test sets); write JSON, tables, plots."""
    from rarl.eval.settings import EvalSettings
    from rarl.recipes import get_recipe
    from rarl.recipes.runs import evaluate as evaluate_models

    _check_seed(seed)
    models = {}
    for spec in model:
        name, _, path = spec.rpartition("=") if "=" in spec else (Path(spec).name, "", spec)
        models[name or Path(path).name] = path
    chosen = get_recipe(recipe or _recorded_recipe(models))  # an unknown recipe fails before any model loads
    settings = EvalSettings(
        split=split,
        sizes=tuple(_int_list(sizes)),
        max_samples=max_samples,
        do_sample=sample,
        temperature=temperature,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        n_boot=n_boot,
        seed=seed,
    )
    evaluate_models(models, data, out, settings, recipe=chosen)


def _recorded_recipe(models: dict[str, str]) -> str:
    """The recipe the model folders' task files record (`rarl` when none does); ConfigError when they
    disagree."""
    from rarl.model.task_file import read_model_task
    from rarl.utils.config import ConfigError
    from rarl.utils.io import user_path

    recorded = {}
    for name, path in models.items():
        record = read_model_task(path) if user_path(path).is_dir() else None
        if record is not None:
            recorded[name] = record.recipe
    if len(set(recorded.values())) > 1:
        which = ", ".join(f"{name}: {r}" for name, r in recorded.items())
        raise ConfigError(f"--recipe: the models were trained with different recipes ({which}); name one")
    return next(iter(recorded.values()), "rarl")


@app.command()
@friendly
def rank(
    model: Annotated[Path, typer.Option(help="Model folder (a rarl run's final/, or any Qwen2.5-VL).")],
    images: Annotated[list[Path] | None, typer.Argument(help="1 to 8 image files.")] = None,
    rule: Annotated[
        str | None,
        typer.Option(help="What to estimate, e.g. 'age of the person' (default: the model folder's task)."),
    ] = None,
    value_range: Annotated[
        str | None, typer.Option(help="lo-hi, e.g. 0-116 (default: the model folder's task).")
    ] = None,
    max_new_tokens: Annotated[int, typer.Option()] = 256,
) -> None:
    """Ask a model to estimate and rank the given images; print its answer and the parsed ranking. A trained
    model folder records its task (rarl_task.json), so --rule and --value-range are needed only to override
    it or for a model from elsewhere."""
    from rarl.recipes.ordinal.rank import rank_images

    rank_images(model, images or [], rule=rule, value_range=value_range, max_new_tokens=max_new_tokens)


@app.command()
@friendly
def draw(
    predictions: Annotated[Path, typer.Argument(help="An evaluation folder or its predictions.jsonl.")],
    out: Annotated[
        Path | None, typer.Option(help="Folder for the PNGs (default: <folder>/pictures).")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Only this model (its '+ ' prefix optional).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Pictures per model at most.")] = 16,
    sample_id: Annotated[list[str] | None, typer.Option(help="Only these samples (repeatable).")] = None,
) -> None:
    """Draw ground truth (yellow) and localization predictions (magenta) on their images, one PNG each."""
    from rarl.recipes.localization.drawing import draw_prediction_file

    paths, missing = draw_prediction_file(
        predictions, out, model=model, limit=limit, sample_ids=sample_id or ()
    )
    folders = sorted({str(p.parent.parent) for p in paths})
    console.print(f"drew {len(paths)} pictures in {', '.join(folders) or '(none)'}")
    if missing:
        console.print(f"[yellow]skipped {missing} rows whose image file no longer exists[/]")


@app.command()
@friendly
def score(
    model: Annotated[Path, typer.Option(help="Model folder (a Refine-IQA run's final/ or any Qwen2.5-VL).")],
    images: Annotated[list[Path] | None, typer.Argument(help="Image files to score.")] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            help="Prompt mode: think (the model explains, then scores) or no_think (the score alone); "
            "default: the one the model folder records, else think."
        ),
    ] = None,
    max_new_tokens: Annotated[int, typer.Option()] = 256,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print one JSON list (image, mode, numeric, prob, explanation, completion)."
        ),
    ] = False,
) -> None:
    """Score image quality on [0, 5) (refine-iqa): per image the model's explanation (its <think> text), the
    parsed numeric score and the probability-based one. Scores on stdout, notes on stderr."""
    from rarl.recipes.quality.scoring import score_images, show_scores

    rows = score_images(model, images or [], mode=mode, max_new_tokens=max_new_tokens)
    show_scores(rows, [str(image) for image in images or []], as_json=as_json)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": False})
@friendly
def ablate(
    ctx: typer.Context,
    config: Annotated[Path, typer.Option(help="Base GRPO recipe; variants are derived from it.")],
    out: Annotated[Path, typer.Option(help="Folder for all variant runs and the combined table.")] = Path(
        "runs/ablate"
    ),
    variants: Annotated[str, typer.Option(help="Comma-separated subset of variants (default: all).")] = "",
    eval_max_samples: Annotated[
        int | None, typer.Option(help="Cap test samples per size in the evaluation (default: all).")
    ] = None,
) -> None:
    """Run the recipe's ablations (rarl: Tables 3 and 6, RMO vs DAPO filter) from one base; one combined table."""
    from rarl.ablate import run_ablations
    from rarl.recipes import get_recipe
    from rarl.train.config import TrainConfig
    from rarl.utils.config import ConfigError, load_config

    if eval_max_samples is not None and eval_max_samples < 1:
        raise ConfigError(f"--eval-max-samples must be >= 1, got {eval_max_samples}")
    only = [v.strip() for v in variants.split(",") if v.strip()]
    recipe = get_recipe(load_config(TrainConfig, config, ctx.args).recipe)
    plan = recipe.ablations()
    known = sorted(plan.variants) if plan is not None else []
    unknown = [v for v in only if v not in known]
    if unknown:
        raise ConfigError(f"--variants: unknown ablation variant {unknown[0]!r}; choose from {known}")
    run_ablations(config, out, overrides=ctx.args, only=only, eval_max_samples=eval_max_samples)


@app.command()
@friendly
def demo(
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for everything the demo writes (default: runs/demo, or runs/demo-RECIPE): new, empty, "
            "or an earlier demo's (only the demo's own entries are replaced)."
        ),
    ] = None,
    size: Annotated[
        str,
        typer.Option(
            help="default (minutes on 2 CPU cores), smoke (under a minute); rarl also: full (under an hour)."
        ),
    ] = "default",
    seed: Annotated[int, typer.Option()] = 0,
    recipe: Annotated[str, typer.Option(help="Which recipe's demo to run.")] = "rarl",
    base: Annotated[
        str | None,
        typer.Option(
            help="rarl demo: the base to start from: shipped (default), scratch (rebuild it), or a folder."
        ),
    ] = None,
) -> None:
    """The main job: tiny Qwen2.5-VL + synthetic task; base vs SFT vs the recipe's RL, paper-style table."""
    from rarl.recipes import get_recipe
    from rarl.utils.config import ConfigError

    _check_seed(seed)
    chosen = get_recipe(recipe)
    if out is None:
        name = str(getattr(chosen, "name", recipe))
        out = Path("runs/demo") if name == "rarl" else Path(f"runs/demo-{name}")
    if base is None:
        chosen.demo(out, size=size, seed=seed)
        return
    if "base" not in inspect.signature(chosen.demo).parameters:
        raise ConfigError(f"--base: the {recipe!r} demo has no choice of base")
    chosen.demo(out, size=size, seed=seed, base=base)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": False})
@friendly
def plan(
    ctx: typer.Context,
    config: Annotated[Path, typer.Option(help="YAML run config (configs/*.yaml).")],
    gpus: Annotated[str | None, typer.Option(help="GPUs the run is launched on (processes).")] = None,
    gpu_memory: Annotated[str | None, typer.Option(help="GB per GPU, as GiB (an 80 GB card: 80).")] = None,
    strategy: Annotated[str, typer.Option(help="ddp, fsdp (FSDP2), zero2 or zero3 (DeepSpeed).")] = "ddp",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
    images: Annotated[
        str | None, typer.Option(help="Images per prompt (default: the recipe's, else the largest size).")
    ] = None,
    prompt_tokens: Annotated[str, typer.Option(help="Prompt text tokens besides the images.")] = "256",
) -> None:
    """Per-GPU memory of a GRPO config before any run: each part, the peak, whether it fits, and the changes
    that would make it fit (docs/plan.md). Extra args: key=value, as for train."""
    from rarl.model.memory_report import PlanOptions, show_plan
    from rarl.recipes import get_recipe
    from rarl.train.common import TINY_MODEL_DIR
    from rarl.train.config import TrainConfig
    from rarl.utils.config import load_config

    options = PlanOptions.parse(gpus, gpu_memory, strategy, images, prompt_tokens)  # bad options fail first
    cfg = load_config(TrainConfig, config, ctx.args)
    recipe = get_recipe(cfg.recipe)
    name, built = cfg.model.name_or_path, Path(cfg.output_dir) / TINY_MODEL_DIR
    if name == "tiny":  # the trainer's build of it when there is one, else the tiny architecture
        source = str(built) if (built / "config.json").is_file() else name
    else:
        source = recipe.model_path(name)  # demo-base: the recipe's shipped base
    images_per_sample = getattr(recipe, "images_per_sample", None)
    show_plan(cfg, source, options, images_per_sample=images_per_sample, as_json=as_json)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        sys.exit(130)


if __name__ == "__main__":
    main()
