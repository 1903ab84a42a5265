"""Throughput of the RARL reward on one core: completions scored per second.

Builds a realistic mix of completions (1/2/4/8-image answers; about 10% malformed; about a third written
with single quotes as in the paper's prompt; noisy values and occasional swaps, omissions and repeats) and
times `RankingAwareReward.score` over it, overall and for the 8-image answers alone.

    python benchmarks/rewards.py [--completions 20000] [--repeats 5] [--seed 0]

The process is pinned to one CPU where the platform allows it; the best of `--repeats` passes is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections.abc import Sequence

from rarl.rewards import RankingAwareReward

SIZES = (1, 2, 4, 8)
MALFORMED_RATE = 0.10
SINGLE_QUOTE_RATE = 0.33

THOUGHTS = [
    "The first person shows visible wrinkles around the eyes; the second looks like a teenager.",
    "Comparing skin texture, hair colour and posture, I estimate each age and sort them.",
    "Image 3 has grey hair. Image 1 is a child. The rest are young adults.",
]


def make_sample(rng: random.Random, n_images: int) -> tuple[str, list[float]]:
    """One completion and its labels."""
    labels = [float(rng.randint(1, 90)) for _ in range(n_images)]
    preds = {i + 1: max(0.0, round(y + rng.gauss(0, 6), rng.choice((0, 1)))) for i, y in enumerate(labels)}
    order = sorted(preds, key=preds.__getitem__)
    roll = rng.random()
    if roll < 0.15 and n_images >= 2:  # one adjacent swap
        k = rng.randrange(n_images - 1)
        order[k], order[k + 1] = order[k + 1], order[k]
    elif roll < 0.22 and n_images >= 2:  # one image left out
        order.pop(rng.randrange(n_images))
    elif roll < 0.26:  # one image repeated
        order.append(order[0])
    items = [{"image_id": i, "value": preds[i]} for i in order]
    answer = repr(items) if rng.random() < SINGLE_QUOTE_RATE else json.dumps(items)
    text = f"<think>{rng.choice(THOUGHTS)}</think>\n<answer>{answer}</answer>"
    if rng.random() < MALFORMED_RATE:
        text = malform(rng, text, answer)
    return text, labels


def malform(rng: random.Random, text: str, answer: str) -> str:
    """A typical broken output."""
    kind = rng.randrange(6)
    if kind == 0:
        return text[: rng.randrange(len(text))]  # truncated generation
    if kind == 1:
        return text.replace("<answer>", "")  # no answer block
    if kind == 2:
        return f"<think>x</think><answer>```json\n{answer}\n```</answer>"  # code fence
    if kind == 3:
        return f"{text}\n<answer>{answer}</answer>"  # two answer blocks
    if kind == 4:
        return "Sure! " + text.replace("'value'", "'val'")  # prose outside, wrong key
    return f"<think>hmm</think><answer>{answer.replace(',', ';')}</answer>"  # broken syntax


def rate(reward: RankingAwareReward, samples: Sequence[tuple[str, list[float]]], repeats: int) -> float:
    """Best completions/second over `repeats` passes."""
    score = reward.score
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for text, labels in samples:
            score(text, labels)
        best = min(best, time.perf_counter() - start)
    return len(samples) / best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--completions", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    rng = random.Random(args.seed)
    samples = [make_sample(rng, rng.choice(SIZES)) for _ in range(args.completions)]
    eight = [s for s in samples if len(s[1]) == 8]
    reward = RankingAwareReward(delta=5.0, weights=(1.0, 1.0, 1.0), value_range=(0, 116))

    scores = [reward.score(text, labels) for text, labels in samples]
    zero = sum(b.total == 0.0 for b in scores) / len(scores)
    well_formed = sum(b.format == 1.0 for b in scores) / len(scores)

    overall = rate(reward, samples, args.repeats)
    eight_rate = rate(reward, eight, args.repeats)
    print(
        f"completions: {len(samples)} ({len(eight)} with 8 images); format 1: {well_formed:.1%}; total 0: {zero:.1%}"
    )
    print(f"overall:  {overall:10,.0f} completions/s  ({1e6 / overall:.1f} us each)")
    print(f"8-image:  {eight_rate:10,.0f} completions/s  ({1e6 / eight_rate:.1f} us each)")


if __name__ == "__main__":
    main()
