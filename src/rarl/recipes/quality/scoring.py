"""`rarl score`: a trained model's quality score of given images, numeric and probability-based (Eq. 8).

    rarl score --model runs/refine-iqa/final photo1.jpg photo2.png [--mode no_think]

For each image the model answers the recipe's scoring prompt (greedy); the numeric score is the one parsed
from its answer (None when it wrote none), the probability-based score the expectation over the digits
0..4 at the answer's integer position, plus 0.5 (`rarl.recipes.quality.evaluation`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rarl.data.errors import DataError
from rarl.data.validate import check_image
from rarl.eval.protocol import EvalSettings, generate_answers
from rarl.model.loading import load_policy
from rarl.model.scorer import PolicyScorer
from rarl.recipes.base import get_recipe
from rarl.recipes.quality.evaluation import digit_prefix, probability_scores
from rarl.recipes.quality.samples import SCORE_TASK, QualitySample
from rarl.rewards.quality import parse_score

__all__ = ["score_images"]


def score_images(
    model: str | Path,
    images: Sequence[str | Path],
    mode: str = "no_think",
    max_new_tokens: int = 256,
    batch_size: int = 8,
) -> list[dict[str, Any]]:
    """[{image, numeric, prob, completion}] for each image (see the module docstring)."""
    if not images:
        raise DataError("give at least one image to score")
    paths = []
    for image in images:
        check = check_image(str(Path(image).expanduser()))
        if check.problem is not None:
            raise DataError(f"{image}: {check.problem}{' (' + check.detail + ')' if check.detail else ''}")
        paths.append(str(Path(image).expanduser().resolve()))
    recipe = get_recipe("refine-iqa")
    mode = recipe.resolve_mode(mode)
    samples = [QualitySample(sample_id=str(i), task=SCORE_TASK, images=(p,)) for i, p in enumerate(paths)]
    policy = load_policy(str(model), dtype="float32")
    settings = EvalSettings(max_new_tokens=max_new_tokens, batch_size=batch_size)
    texts = generate_answers(policy, samples, settings, lambda s: recipe.messages(s, mode))
    prefixes = [digit_prefix(t, mode)[0] for t in texts]
    prob = probability_scores(PolicyScorer(policy, recipe.messages), samples, prefixes, mode, batch_size)
    return [
        {"image": p, "numeric": parse_score(t), "prob": q, "completion": t}
        for p, t, q in zip(paths, texts, prob)
    ]
