"""How much a base explores at the RARL demo's sampling settings, per image count: what GRPO has to compare.

    python benchmarks/exploration.py [--base shipped|FOLDER] [--samples 16] [--json out.json]

From the demo's base and data (the demo's scale and seed; validation split, never the test split), this
samples G completions per prompt with the trainer's own rollout at the demo's temperature, scores them with
the demo's stage-1 and stage-2 rewards (weights (1, 0, 1) and (1, 1, 1)) and applies the stage-2 RMO (k = 2)
exactly as the trainer does (`GRPOTrainer.score` and `.mutate`); the shares it reports are the trainer's own
step metrics of such a batch (`rarl.train.step_batch.batch_metrics`). Per image count it prints:

- entropy: mean per-token entropy of the sampling distribution (nats/token, the trainer's `entropy` metric),
  and the share of sampled tokens whose distribution has more than `FORKING_NATS` (the choices);
- distinct: distinct completions per group of G; well formed: share of completions with format reward 1;
- reward s1 / s2: mean on-policy reward under each stage's weights;
- zero-var s1 / s2: share of groups whose G rewards are all equal (they give GRPO no gradient);
- mixed: share of groups holding both a correct answer (well formed; for one image the exact level, for
  several images the true order, Kendall's tau 1) and a failed one;
- RMO fired, gain, zero-var after: share of groups RMO mutated in stage 2, the summed stage-2 reward its
  injected answers add to a mutated group (0 where the replaced rollouts already scored as the reference),
  and the stage-2 zero-variance share after mutation.

docs/learning.md gives what it printed for the earlier and the current shipped base.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

SIZES = (1, 2, 4, 8)
FORKING_NATS = 0.5
"""A sampled token whose distribution has more entropy than this counts as a "forking" token (a choice)."""


def correct_rows(components: dict[str, Any], n_images: int) -> Any:
    """bool [R]: well formed and right (one image: the exact level; several: the true order)."""
    key = "regression" if n_images == 1 else "accuracy"
    return (components["format"] == 1.0) & (components[key] >= 1.0 - 1e-9)


def measure(trainer: Any, samples: list[Any], seed: int) -> dict[str, float]:
    """One size's statistics: sample, score under both stages' rewards, mutate under stage 2."""
    import torch

    from rarl.model.logprobs import token_logprobs
    from rarl.model.rollout import generate
    from rarl.train.step_batch import StepBatch, batch_metrics

    cfg = trainer.cfg
    G = cfg.rollout.num_generations
    stage1, stage2 = cfg.stages
    rollout = generate(
        trainer.policy,
        samples,
        num_generations=G,
        temperature=cfg.rollout.temperature,
        max_new_tokens=cfg.rollout.max_new_tokens,
        seed=seed,
        backend=trainer.backend,
        messages_fn=trainer._messages_fn(stage1),
    )
    with torch.no_grad():
        _, entropy = token_logprobs(
            trainer.policy.model,
            rollout.prompts,
            rollout.completion_ids,
            rollout.completion_mask,
            micro_batch_size=cfg.micro_batch_size,
            temperature=cfg.rollout.temperature,
            return_entropy=True,
        )  # [R, T]
    mask = rollout.completion_mask.float()  # [R, T]
    texts = rollout.texts
    B = len(samples)
    row: dict[str, float] = {
        "prompts": B,
        "entropy": float((entropy * mask).sum() / mask.sum()),
        "forking": float(((entropy > FORKING_NATS).float() * mask).sum() / mask.sum()),
        "distinct": sum(len(set(texts[b * G : (b + 1) * G])) for b in range(B)) / B,
    }
    n_images = samples[0].n
    for tag, stage in (("s1", stage1), ("s2", stage2)):
        batch = StepBatch(samples=samples, rollout=rollout, group_size=G)
        reward_fn = trainer._reward_fn(stage)
        trainer.score(batch, reward_fn, stage)
        trainer.mutate(batch, stage, reward_fn)  # stage 1 has RMO off: nothing mutated
        trainer.compute_advantages(batch)
        logged = batch_metrics(batch, cfg.algorithm.std_eps)  # what the trainer logs for such a step
        row[f"reward_{tag}"] = logged["reward/onpolicy_mean"]
        row[f"zero_var_{tag}"] = logged["zero_var_frac_before"]
        if tag == "s1":
            row["well_formed"] = logged["reward/format"]
            ok = correct_rows(batch.components, n_images).view(B, G)  # [B, G]
            row["correct"] = float(ok.float().mean())
            row["mixed"] = float((ok.any(dim=1) & ~ok.all(dim=1)).float().mean())
        else:
            fired = batch.rmo_mask.view(B, G).any(dim=1)  # [B]
            gain = (batch.rewards - batch.onpolicy_rewards).view(B, G).sum(dim=1)  # [B]
            row["rmo_fired"] = logged["rmo_mutated_frac"]
            row["rmo_gain"] = float(gain[fired].mean()) if bool(fired.any()) else 0.0
            row["zero_var_after"] = logged["zero_var_frac_after"]
    return row


COLUMNS = (
    ("entropy", "entropy (nats/token)", ".3f"),
    ("forking", f"tokens > {FORKING_NATS:g} nats", ".1%"),
    ("distinct", "distinct / G", ".2f"),
    ("well_formed", "well formed", ".0%"),
    ("correct", "correct", ".0%"),
    ("reward_s1", "reward s1", ".3f"),
    ("zero_var_s1", "zero-var s1", ".0%"),
    ("mixed", "mixed groups", ".0%"),
    ("reward_s2", "reward s2", ".3f"),
    ("zero_var_s2", "zero-var s2", ".0%"),
    ("rmo_fired", "RMO fired", ".0%"),
    ("rmo_gain", "RMO reward gain / fired group", ".2f"),
    ("zero_var_after", "zero-var s2 after RMO", ".0%"),
)


def table(rows: dict[int, dict[str, float]]) -> str:
    head = "| images | " + " | ".join(name for _, name, _ in COLUMNS) + " |"
    lines = [head, "|---:|" + "---:|" * len(COLUMNS)]
    for n, row in sorted(rows.items()):
        cells = [format(row[key], fmt) for key, _, fmt in COLUMNS]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[int, dict[str, float]]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", default="shipped", help="shipped or a model folder, as `rarl demo --base`")
    p.add_argument("--out", default="/tmp/rarl-exploration", help="work folder (the demo's data)")
    p.add_argument("--scale", default="default")
    p.add_argument("--seed", type=int, default=0, help="the demo's seed (data) and the sampling seed")
    p.add_argument("--samples", type=int, default=16, help="validation prompts per image count")
    p.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    p.add_argument("--temperature", type=float, default=None, help="default: the demo's")
    p.add_argument("--json", help="also write the rows here")
    args = p.parse_args(argv)

    import torch

    from rarl.recipes.ordinal.demo import _rarl_config, resolve_base
    from rarl.recipes.ordinal.demo_task import SCALES, demo_data
    from rarl.recipes.runs import grpo_trainer
    from rarl.utils.config import ConfigError

    if args.scale not in SCALES:
        sys.exit(f"error: --scale must be one of {sorted(SCALES)}, got {args.scale!r}")
    if args.samples < 1:
        sys.exit(f"error: --samples must be >= 1, got {args.samples}")
    bad = sorted(set(args.sizes) - set(SIZES))
    if bad:
        sys.exit(f"error: --sizes must be among {list(SIZES)}, got {bad}")
    scale = SCALES[args.scale]
    out = Path(args.out)
    data = out / "data"
    if not (data / "task.json").exists():
        demo_data(data, scale, args.seed, quiet=True)
    try:
        base = resolve_base(args.base, out, scale, args.seed)
    except (ConfigError, FileNotFoundError, ValueError) as e:
        sys.exit(f"error: --base: {e}")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    cfg = _rarl_config(str(base), data, out / "run", scale, args.seed)
    if args.temperature is not None:
        cfg.rollout.temperature = args.temperature
    trainer = grpo_trainer(cfg)
    trainer.policy.model.eval()
    rows: dict[int, dict[str, float]] = {}
    for n in args.sizes:
        samples = trainer.recipe.load_samples(str(data), "val", [n])[: args.samples]
        rows[n] = measure(trainer, samples, seed=args.seed)
        print(f"{n} image(s): " + ", ".join(f"{k} {v:.3g}" for k, v in rows[n].items()), flush=True)
    print(
        f"\nbase {base}; G = {cfg.rollout.num_generations}, temperature {cfg.rollout.temperature:g}, "
        f"{args.samples} validation prompts per image count\n"
    )
    print(table(rows))
    if args.json:
        payload = {"base": str(base), "temperature": cfg.rollout.temperature, "rows": rows}
        Path(args.json).write_text(json.dumps(payload, indent=2))
    return rows


if __name__ == "__main__":
    main()
