"""Throughput of the Vision-R1 localization reward on one core: completions scored per second.

For answers with 1, 10 and 50 boxes, builds completions the way Qwen2.5-VL writes them (a pretty-printed
```json fenced list of `{"bbox_2d": [...], "label": ...}` in absolute pixels of a 1092 x 812 frame) whose boxes
are the ground truth jittered by a few pixels, shuffled, with integer coordinates. Times `localization_reward`
with the default options (box-only matching on IoU, precision over predictions) and, as a second column, with
`matcher="box_and_label"` and `overlap="giou"`.

    python benchmarks/localization_reward.py [--completions 2000] [--repeats 5] [--seed 0]

The process is pinned to one CPU where the platform allows it; the best of `--repeats` passes is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections.abc import Sequence

from rarl.rewards.localization import localization_reward

SIZES = (1, 10, 50)
FRAME = (1092, 812)  # (width, height): a 1100 x 800 image after smart_resize
CATEGORIES = ["person", "car", "dog", "cat", "bicycle", "traffic light", "bench", "bird"]

Sample = tuple[str, list[list[float]], list[str]]


def make_sample(rng: random.Random, n_boxes: int) -> Sample:
    """One completion and its ground truth (boxes, labels)."""
    width, height = FRAME
    gt_boxes: list[list[float]] = []
    gt_labels: list[str] = []
    for _ in range(n_boxes):
        w, h = rng.randint(12, 300), rng.randint(12, 300)
        x1, y1 = rng.randint(0, width - w), rng.randint(0, height - h)
        gt_boxes.append([x1, y1, x1 + w, y1 + h])
        gt_labels.append(rng.choice(CATEGORIES))
    entries = []
    for (x1, y1, x2, y2), label in zip(gt_boxes, gt_labels):
        jitter = [rng.randint(-4, 4) for _ in range(4)]
        box = [
            min(max(x1 + jitter[0], 0), width - 2),
            min(max(y1 + jitter[1], 0), height - 2),
            min(max(x2 + jitter[2], 2), width),
            min(max(y2 + jitter[3], 2), height),
        ]
        box[2] = max(box[2], box[0] + 1)
        box[3] = max(box[3], box[1] + 1)
        entries.append({"bbox_2d": box, "label": label})
    rng.shuffle(entries)
    completion = "```json\n" + json.dumps(entries, indent="\t") + "\n```"
    return completion, gt_boxes, gt_labels


def rate(samples: Sequence[Sample], repeats: int, **options: str) -> float:
    """Best completions/second over `repeats` passes."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for completion, gt_boxes, gt_labels in samples:
            localization_reward(completion, gt_boxes, gt_labels, CATEGORIES, FRAME, **options)
        best = min(best, time.perf_counter() - start)
    return len(samples) / best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--completions", type=int, default=2_000, help="completions per answer size")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    rng = random.Random(args.seed)
    print(f"{args.completions} completions per size, best of {args.repeats} passes, one core")
    print(f"{'boxes':>5}  {'mean total':>10}  {'default (/s)':>14}  {'us each':>8}  {'label+giou (/s)':>16}")
    for n_boxes in SIZES:
        samples = [make_sample(rng, n_boxes) for _ in range(args.completions)]
        totals = [localization_reward(c, b, lab, CATEGORIES, FRAME).total for c, b, lab in samples]
        default = rate(samples, args.repeats)
        variant = rate(samples, args.repeats, matcher="box_and_label", overlap="giou")
        print(
            f"{n_boxes:>5}  {sum(totals) / len(totals):>10.3f}  {default:>14,.0f}  {1e6 / default:>8.1f}"
            f"  {variant:>16,.0f}"
        )


if __name__ == "__main__":
    main()
