"""Verdict lines of the refine-iqa report: a paired bootstrap of SRCC(method) - SRCC(other) over the same
images, with hand-worked cases (identical, reversed, constant predictions, different images)."""

from __future__ import annotations

from rarl.recipes.quality.evaluation import FALLBACK_SCORE, correlation_result
from rarl.recipes.quality.verdict import pair_verdict, verdict_lines

MOS = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]
IDS = [f"img{i}" for i in range(len(MOS))]


def _model(numeric, prob=None, failed=None, ids=IDS, modes=("think",)):
    """Scoring results of one model on one dataset, as `evaluate_quality` writes them."""
    failed = failed or [False] * len(numeric)
    per = {
        "synthetic-noise": {
            "numeric": correlation_result(numeric, MOS, failed, n_boot=20),
            "prob": correlation_result(prob or numeric, MOS, [False] * len(numeric), n_boot=20),
            "ids": list(ids),
        }
    }
    return {"scoring": dict.fromkeys(modes, per)}


def test_identical_predictions_are_no_difference():
    noisy = [0.7, 1.9, 1.2, 2.4, 2.1, 3.6, 3.0, 4.1]
    results = {"base": _model(noisy), "+ Refine-IQA": _model(noisy)}
    r = results["+ Refine-IQA"]["scoring"]["think"]["synthetic-noise"]["numeric"]
    v = pair_verdict(r, r, ("+ Refine-IQA", "base"))
    assert (v.difference, v.ci_low, v.ci_high, v.word, v.n) == (0.0, 0.0, 0.0, "no difference", 8)
    assert verdict_lines(results, n_boot=50) == [
        "synthetic-noise SRCC (think, numeric): + Refine-IQA no difference vs base (+0.00 [+0.00, +0.00])",
        "synthetic-noise SRCC (think, probability): + Refine-IQA no difference vs base (+0.00 [+0.00, +0.00])",
    ]


def test_mos_against_reversed_is_better_by_two():
    results = {"base": _model(MOS[::-1]), "sft": _model(MOS[::-1]), "+ Refine-IQA": _model(MOS)}
    mine = results["+ Refine-IQA"]["scoring"]["think"]["synthetic-noise"]["numeric"]
    v = pair_verdict(mine, results["base"]["scoring"]["think"]["synthetic-noise"]["numeric"], ("m", "o"))
    assert v.difference == 2.0 and v.word == "better" and v.ci_low > 0  # SRCC +1 against -1
    lines = verdict_lines(results, n_boot=50)
    assert lines[0] == (
        "synthetic-noise SRCC (think, numeric): + Refine-IQA better vs base (+2.00 [+2.00, +2.00]); "
        "better vs sft (+2.00 [+2.00, +2.00])"
    )
    # the other way round (method named): worse, and no difference against the same reversed predictions
    assert verdict_lines(results, method="sft", n_boot=50)[0] == (
        "synthetic-noise SRCC (think, numeric): sft no difference vs base (+0.00 [+0.00, +0.00]); "
        "worse vs + Refine-IQA (-2.00 [-2.00, -2.00])"
    )


def test_constant_or_failed_predictions_are_not_comparable():
    failed = [True] * len(MOS)
    results = {
        "base": _model([FALLBACK_SCORE] * len(MOS), prob=[2.0] * len(MOS), failed=failed),
        "+ Refine-IQA": _model(MOS),
    }
    assert verdict_lines(results, n_boot=50) == [
        "synthetic-noise SRCC (think, numeric): + Refine-IQA not comparable with base "
        "(every answer of base failed)",
        "synthetic-noise SRCC (think, probability): + Refine-IQA not comparable with base "
        "(base's predictions are constant)",
    ]


def test_different_images_and_missing_pairs_are_not_comparable():
    other_ids = [*IDS[:-1], "elsewhere"]
    results = {"base": _model(MOS, ids=other_ids), "+ Refine-IQA": _model(MOS)}
    assert verdict_lines(results, n_boot=20)[0].endswith("not comparable with base (different test images)")
    old = _model(MOS)
    del old["scoring"]["think"]["synthetic-noise"]["numeric"]["per_sample"]  # results of an older version
    line = verdict_lines({"old": old, "new": _model(MOS)}, n_boot=20)[0]
    assert line.endswith("not comparable with old (no per-image predictions of old in the results)")


def test_think_lines_come_before_no_think_lines():
    noisy = [0.7, 1.9, 1.2, 2.4, 2.1, 3.6, 3.0, 4.1]
    modes = ("no_think", "think")  # results in the other order: the lines still start with think
    results = {"base": _model(noisy, modes=modes), "+ Refine-IQA": _model(MOS, modes=modes)}
    heads = [line.split(":")[0] for line in verdict_lines(results, n_boot=20)]
    assert heads == [
        "synthetic-noise SRCC (think, numeric)",
        "synthetic-noise SRCC (think, probability)",
        "synthetic-noise SRCC (no_think, numeric)",
        "synthetic-noise SRCC (no_think, probability)",
    ]
    assert verdict_lines({"only": results["base"]}) == []  # one model: nothing to compare
