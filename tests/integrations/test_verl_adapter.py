"""The verl adapter, called the way verl's reward managers call a custom `compute_score` (verl is not
installed), and the label reading shared by both adapters."""

import functools
import json
from collections import defaultdict

import numpy as np
import pytest

from rarl.integrations._labels import coerce_labels
from rarl.integrations.verl import compute_score
from rarl.rewards import RankingAwareReward

GOOD = '<think>t</think><answer>[{"image_id": 2, "value": 20}, {"image_id": 1, "value": 31}]</answer>'
LABELS = [30, 20]
KEYS = ["score", "regression", "length", "consistency", "accuracy", "ranking", "format"]


def manager_loop(compute, rows):
    """What verl's naive reward manager does per response: keyword call, `score` as the reward, every key
    collected into reward_extra_info."""
    rewards, extra = [], defaultdict(list)
    for row in rows:
        extra_info = dict(row.get("extra_info", {}))
        extra_info["num_turns"] = None  # verl adds this key
        result = compute(
            data_source=row["data_source"],
            solution_str=row["response"],
            ground_truth=row["reward_model"]["ground_truth"],
            extra_info=extra_info,
        )
        rewards.append(result["score"])
        for key, value in result.items():
            extra[key].append(value)
    return rewards, dict(extra)


def row(response, ground_truth=LABELS, **extra_info):
    return {
        "data_source": "utkface",
        "response": response,
        "reward_model": {"ground_truth": ground_truth},
        "extra_info": extra_info,
    }


def test_score_and_components():
    result = compute_score("utkface", GOOD, LABELS)
    expected = RankingAwareReward(delta=5.0).score(GOOD, LABELS).as_dict()
    assert list(result) == KEYS
    assert result["score"] == pytest.approx(0.905 + 3 + 1) == expected["total"]
    assert {k: v for k, v in result.items() if k != "score"} == {
        k: v for k, v in expected.items() if k != "total"
    }


def test_manager_loop_collects_consistent_extra_info():
    rows = [
        row(GOOD),
        row("no answer at all"),
        row(GOOD, ground_truth=json.dumps(LABELS)),
        row(GOOD, ground_truth=np.array(LABELS, dtype=np.float32)),  # parquet columns come back as arrays
    ]
    rewards, extra = manager_loop(compute_score, rows)
    assert rewards == pytest.approx([4.905, 0.0, 4.905, 4.905])
    assert sorted(extra) == sorted(KEYS)
    assert all(len(values) == 4 for values in extra.values())
    assert extra["format"] == [1.0, 0.0, 1.0, 1.0]


def test_extra_info_settings():
    rows = [
        row(GOOD, delta=2.0),  # error 1 on image 1: (1 - 1/4)^2 = 0.5625
        row(GOOD, weights=[1, 0, 1]),
        row(GOOD, weights=np.array([0.0, 1.0, 0.0])),
        row(GOOD, value_range=[0, 25]),
        row(GOOD, delta=None, weights=None, value_range=None),  # None means "not set"
        row(GOOD, index=7, split="train"),  # unrelated keys are ignored
    ]
    rewards, _ = manager_loop(compute_score, rows)
    assert rewards == pytest.approx([(1 + 0.5625) / 2 + 3 + 1, 0.905 + 1, 3.0, 0.905 + 3, 4.905, 4.905])


def test_reward_kwargs_from_config_and_extra_info_priority():
    # verl binds custom_reward_function.reward_kwargs to the function; a row's extra_info wins over them.
    configured = functools.partial(compute_score, weights=(1, 0, 1), delta=2.0)
    rewards, _ = manager_loop(configured, [row(GOOD), row(GOOD, weights=[1, 1, 1])])
    assert rewards == pytest.approx([(1 + 0.5625) / 2 + 1, (1 + 0.5625) / 2 + 3 + 1])
    assert compute_score("x", GOOD, LABELS, None, some_future_kwarg=1)["score"] == pytest.approx(4.905)


@pytest.mark.parametrize(
    ("ground_truth", "extra_info"),
    [
        ("not json", None),
        ([], None),
        ([1, "a"], None),
        ([1, float("nan")], None),
        (None, None),
        (LABELS, {"delta": 0}),
        (LABELS, {"delta": "wide"}),
        (LABELS, {"weights": [1, 1]}),
        (LABELS, {"weights": "1,1,1"}),
        (LABELS, {"value_range": [5, 1]}),
    ],
)
def test_bad_ground_truth_or_settings_raise(ground_truth, extra_info):
    with pytest.raises(ValueError):
        compute_score("utkface", GOOD, ground_truth, extra_info)


def test_malformed_responses_never_raise():
    for response in [
        "",
        "<answer>",
        "<answer>[[[[</answer>",
        "<answer>" + "[" * 3000 + "</answer>",
        GOOD * 2,
    ]:
        result = compute_score("utkface", response, LABELS)
        assert list(result) == KEYS
        assert 0.0 <= result["score"] <= 5.0


# --- label reading ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([30, 20.5], [30.0, 20.5]),
        ((1,), [1.0]),
        ("[30, 20.5]", [30.0, 20.5]),
        (b"[1, 2]", [1.0, 2.0]),
        ("7", [7.0]),
        (7, [7.0]),
        (np.array([1, 2], dtype=np.int64), [1.0, 2.0]),
        ([np.float32(1.5), np.int64(2)], [1.5, 2.0]),
    ],
)
def test_coerce_labels(raw, expected):
    labels = coerce_labels(raw)
    assert labels == expected
    assert all(type(v) is float for v in labels)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "[1,",
        "{}",
        '{"a": 1}',
        "[true]",
        [True, 1],
        ["1"],
        [[1]],
        [],
        "[]",
        None,
        1.5j,
        [float("inf")],
        "[NaN]",
    ],
)
def test_coerce_labels_rejects(raw):
    with pytest.raises(ValueError):
        coerce_labels(raw)
