"""The TRL adapter, called the way TRL's GRPOTrainer calls reward functions (TRL is not installed)."""

import json
import math

import pytest

from rarl.integrations.trl import TRLRewardAdapter, completion_text, make_trl_reward
from rarl.rewards import RankingAwareReward

GOOD = (
    "<think>older first</think><answer>[{'image_id': 2, 'value': 20}, {'image_id': 1, 'value': 31}]</answer>"
)
LABELS = [30, 20]


def call_like_trl(reward_func, inputs, completions, log_metric=None):
    """What GRPOTrainer (TRL 1.x) does: every column but prompt/completion becomes a keyword list, one row
    per completion, next to prompts, completions and its own bookkeeping arguments, `log_extra(column, values)`
    and `log_metric(name, value)` among them."""
    prompts = [row["prompt"] for row in inputs]
    keys = [key for key in inputs[0] if key not in ["prompt", "completion"]]
    reward_kwargs = {key: [row[key] for row in inputs] for key in keys}
    output = reward_func(
        prompts=prompts,
        completions=completions,
        completion_ids=[[1, 2, 3]] * len(completions),
        trainer_state=None,
        log_extra=lambda column, values: None,
        log_metric=log_metric if log_metric is not None else (lambda name, value: None),
        **reward_kwargs,
    )
    # TRL turns None into NaN before building its reward tensor.
    return [math.nan if r is None else r for r in output]


def test_plain_text_completions():
    reward_func = make_trl_reward(delta=5.0)
    expected = RankingAwareReward(delta=5.0).score(GOOD, LABELS).total
    inputs = [{"prompt": "rank these", "labels": LABELS, "image": "a.jpg"}] * 3
    rewards = call_like_trl(reward_func, inputs, [GOOD, "no answer", GOOD.replace("<think>", "")])
    # regression (1 + 0.81)/2, ranking 3, format 1
    assert expected == pytest.approx(0.905 + 3 + 1)
    assert rewards[0] == pytest.approx(expected)
    assert rewards[1] == 0.0
    assert rewards[2] == pytest.approx(expected - 1)  # broken template: format 0
    assert all(type(r) is float for r in rewards)


def test_conversational_completions():
    reward_func = make_trl_reward(delta=5.0)
    expected = RankingAwareReward(delta=5.0).score(GOOD, LABELS).total
    completions = [
        [{"role": "assistant", "content": GOOD}],
        [
            {
                "role": "assistant",
                "content": [{"type": "text", "text": GOOD[:40]}, {"type": "text", "text": GOOD[40:]}],
            }
        ],
        [
            {"role": "assistant", "content": "draft"},
            {"role": "tool", "content": "ok"},
            {"role": "assistant", "content": GOOD},
        ],
        [{"role": "assistant", "content": None}],
    ]
    rewards = call_like_trl(
        reward_func, [{"prompt": [{"role": "user", "content": "x"}], "labels": LABELS}] * 4, completions
    )
    assert rewards == pytest.approx([expected, expected, expected, 0.0])


def test_labels_as_json_strings_and_a_custom_column():
    reward_func = make_trl_reward(delta=5.0, weights=(1, 0, 1), labels_column="ages", name="rarl_stage1")
    assert reward_func.__name__ == "rarl_stage1"
    rewards = call_like_trl(reward_func, [{"prompt": "p", "ages": json.dumps(LABELS)}], [GOOD])
    assert rewards == pytest.approx([0.905 + 1])


def test_rows_without_labels_get_none():
    reward_func = make_trl_reward()
    output = reward_func(prompts=["a", "b"], completions=[GOOD, GOOD], labels=[None, LABELS])
    assert output[0] is None
    assert output[1] == pytest.approx(4.905)
    inputs = [{"prompt": "a", "labels": None}, {"prompt": "b", "labels": LABELS}]
    assert math.isnan(call_like_trl(reward_func, inputs, [GOOD, GOOD])[0])


def test_value_range_reaches_the_reward():
    reward_func = make_trl_reward(value_range=(0, 25))
    rewards = reward_func(prompts=["p"], completions=[GOOD], labels=[LABELS])
    assert rewards == pytest.approx([4.905 - 1])  # value 31 is outside 0-25: format 0


def test_missing_column_names_the_columns_passed():
    reward_func = make_trl_reward(labels_column="ages")
    with pytest.raises(ValueError, match=r"'ages'.*\['labels'\]"):
        call_like_trl(reward_func, [{"prompt": "p", "labels": LABELS}], [GOOD])


def test_missing_column_error_lists_dataset_columns_only():
    reward_func = make_trl_reward(labels_column="ages")
    with pytest.raises(ValueError) as error:
        reward_func(
            prompts=["p"],
            completions=[GOOD],
            completion_ids=[[1]],
            trainer_state=None,
            log_metric=lambda name, value: None,
            log_extra=lambda column, values: None,
            environments=None,
            image=["a.jpg"],
            labels=[LABELS],
        )
    message = str(error.value)
    assert message.endswith("columns passed: ['image', 'labels']")
    for bookkeeping in ("log_metric", "log_extra", "trainer_state", "completion_ids", "environments"):
        assert bookkeeping not in message


def test_log_metric_gets_the_mean_of_every_component_but_the_total():
    reward_func = make_trl_reward(delta=5.0, name="rarl_stage2")
    reward = RankingAwareReward(delta=5.0)
    completions = [GOOD, "no answer", GOOD.replace("<think>", ""), GOOD]
    inputs = [{"prompt": "p", "labels": LABELS}] * 3 + [{"prompt": "p", "labels": None}]
    logged: list[tuple[str, float]] = []
    rewards = call_like_trl(reward_func, inputs, completions, log_metric=lambda n, v: logged.append((n, v)))
    assert math.isnan(rewards[3])
    # The last row has no labels: means are over the first three rows only.
    scored = [reward.score(c, LABELS).as_dict() for c in completions[:3]]
    components = [name for name in scored[0] if name != "total"]
    assert [name for name, _ in logged] == [f"rarl_stage2/{name}" for name in components]
    assert "rarl_stage2/total" not in dict(logged)
    for name, value in logged:
        component = name.split("/", 1)[1]
        assert value == pytest.approx(sum(row[component] for row in scored) / 3)
        assert type(value) is float
    # Hand-worked: format is 1, 0 (no answer), 0 (broken template): mean 1/3; regression 0.905, 0, 0.905.
    assert dict(logged)["rarl_stage2/format"] == pytest.approx(1 / 3)
    assert dict(logged)["rarl_stage2/regression"] == pytest.approx(2 * 0.905 / 3)


def test_log_metric_absent_or_not_callable_or_nothing_scored():
    reward_func = make_trl_reward()
    # No log_metric (older TRL), or a non-callable one: rewards only, no error.
    assert reward_func(prompts=["p"], completions=[GOOD], labels=[LABELS]) == pytest.approx([4.905])
    assert reward_func(prompts=["p"], completions=[GOOD], labels=[LABELS], log_metric=None) == pytest.approx(
        [4.905]
    )
    # No row scored: nothing to average, nothing logged.
    logged = []
    output = reward_func(
        prompts=["p"], completions=[GOOD], labels=[None], log_metric=lambda n, v: logged.append((n, v))
    )
    assert output == [None]
    assert logged == []


def test_length_mismatch_and_bad_labels_raise():
    reward_func = make_trl_reward()
    with pytest.raises(ValueError, match="2 completions but 1 rows"):
        reward_func(prompts=["p", "p"], completions=[GOOD, GOOD], labels=[LABELS])
    with pytest.raises(ValueError, match="labels"):
        reward_func(prompts=["p"], completions=[GOOD], labels=["not json"])
    with pytest.raises(ValueError):
        make_trl_reward(delta=-1)
    with pytest.raises(ValueError):
        make_trl_reward(labels_column="")


def test_adapter_wraps_any_registered_reward():
    adapter = TRLRewardAdapter(RankingAwareReward(delta=1.0), labels_column="y", name="custom")
    assert adapter.__name__ == "custom"
    # Labels swapped: both predictions miss by 11 (> delta), the listed order is the reverse of the truth
    # (accuracy 0) but follows the listed values (consistency 1): 0 + (1 + 1 + 0) + 1.
    assert adapter(prompts=None, completions=[GOOD], y=[[20, 31]]) == pytest.approx([3.0])
    assert "custom" in repr(adapter)


@pytest.mark.parametrize(
    ("completion", "text"),
    [
        ("plain", "plain"),
        ({"role": "assistant", "content": "one message"}, "one message"),
        ([{"role": "assistant", "content": "a"}], "a"),
        (
            [
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "a"},
                        {"type": "image"},
                        {"type": "text", "text": "b"},
                    ],
                }
            ],
            "ab",
        ),
        ([{"content": "no role"}], "no role"),
        ([], ""),
        ([{"role": "assistant", "content": None}], ""),
    ],
)
def test_completion_text(completion, text):
    assert completion_text(completion) == text


@pytest.mark.parametrize("completion", [None, 3, ["not a message"], [{"role": "assistant", "content": 5}]])
def test_completion_text_rejects_non_completions(completion):
    with pytest.raises(TypeError):
        completion_text(completion)
