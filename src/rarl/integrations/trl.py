"""Use RARL rewards from TRL's `GRPOTrainer` (TRL itself is not a dependency).

TRL calls each reward function as `f(prompts=..., completions=..., **columns)`, where `columns` holds every
other dataset column repeated per completion plus TRL's own bookkeeping arguments (`completion_ids`,
`trainer_state`, and since TRL 1.x `log_metric` and `log_extra`), and logs the returned totals under
`f.__name__`. The adapter reads the ground truth of each completion from one column (`labels` by default) and
returns one float per completion. When TRL passes `log_metric(name, value)`, the adapter also logs every
component of the reward but the total (already logged by TRL), as `<__name__>/<component>`: the mean over the
rows it scored in the call.

    from rarl.integrations.trl import make_trl_reward
    trainer = GRPOTrainer(..., reward_funcs=[make_trl_reward(delta=5.0, value_range=(0, 116))])

Vision-R1's localization reward reads one column (`target` by default) holding the `vision-r1` recipe's
`target(sample)` per row (a dict, or its JSON string: boxes in the pixels of the frame the model sees, their
labels, the prompt's categories and the frame's width and height). With `step_fraction`, the thresholds
switch as TRL's `trainer_state.global_step / max_steps` passes it (progressive rule refinement):

    from rarl.integrations.trl import make_trl_localization_reward
    rows = [{"prompt": ..., "image": ..., "target": json.dumps(recipe.target(s))} for s in samples]
    trainer = GRPOTrainer(..., reward_funcs=[make_trl_localization_reward(step_fraction=1.0)])

Completions may be plain text or conversational (`[{"role": "assistant", "content": ...}]`, where content is
a string or a list of `{"type": "text", "text": ...}` parts). A row whose labels are None gets None, which
TRL reads as "this reward does not apply" (mixed-task datasets).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rarl.integrations._labels import coerce_box_target, coerce_labels
from rarl.rewards.base import RewardFunction, RewardResult
from rarl.rewards.localization_batch import LocalizationBatchReward, build_localization_reward
from rarl.rewards.ranking_aware import RankingAwareReward

TRL_BOOKKEEPING_ARGUMENTS = frozenset(
    {"completion_ids", "trainer_state", "log_metric", "log_extra", "environments"}
)
"""Keyword arguments TRL's GRPOTrainer passes to reward functions that are not dataset columns."""


class TRLRewardAdapter:
    """A reward recipe wrapped in TRL's reward-function signature.

    Args:
        reward: any `RewardFunction` whose target is what `coerce` makes of a column value.
        labels_column: dataset column holding each row's ground truth.
        name: the `__name__` TRL logs the reward under.
        coerce: column value -> the reward's target (default: labels, a list of numbers or a JSON string).
    """

    def __init__(
        self,
        reward: RewardFunction[Any],
        labels_column: str = "labels",
        name: str = "rarl",
        coerce: Callable[[Any], Any] = coerce_labels,
    ) -> None:
        if not labels_column:
            raise ValueError("labels_column must be a non-empty column name")
        self.reward = reward
        self.labels_column = labels_column
        self.coerce = coerce
        self.__name__ = name

    def __repr__(self) -> str:
        return (
            f"TRLRewardAdapter({self.reward!r}, labels_column={self.labels_column!r}, name={self.__name__!r})"
        )

    def __call__(
        self, prompts: Sequence[Any] | None, completions: Sequence[Any], **kwargs: Any
    ) -> list[float | None]:
        """One total reward per completion (None where the row has no labels).

        When `log_metric` is a callable in `kwargs` (TRL >= 1.x), it is called once per component of the
        reward but the total, with the component's mean over the rows scored in this call (none when no row
        was scored).
        """
        if self.labels_column not in kwargs:
            columns = sorted(k for k in kwargs if k not in TRL_BOOKKEEPING_ARGUMENTS)
            raise ValueError(
                f"reward {self.__name__!r} reads labels from column {self.labels_column!r}, which the batch "
                f"lacks; columns passed: {columns}"
            )
        labels_column = kwargs[self.labels_column]
        if len(labels_column) != len(completions):
            raise ValueError(
                f"{len(completions)} completions but {len(labels_column)} rows in column {self.labels_column!r}"
            )
        log_metric = kwargs.get("log_metric")
        if not callable(log_metric):
            log_metric = None
        sums: dict[str, float] = {}  # component -> sum over scored rows
        counts: dict[str, int] = {}
        rewards: list[float | None] = []
        for completion, raw_labels in zip(completions, labels_column, strict=True):
            if raw_labels is None:
                rewards.append(None)
                continue
            result = self._score(
                completion_text(completion), self.coerce(raw_labels), kwargs.get("trainer_state")
            )
            rewards.append(float(result.total))
            if log_metric is not None:
                for component, value in result.as_dict().items():
                    if component != "total":
                        sums[component] = sums.get(component, 0.0) + float(value)
                        counts[component] = counts.get(component, 0) + 1
        if log_metric is not None:
            for component, total in sums.items():
                log_metric(f"{self.__name__}/{component}", total / counts[component])
        return rewards

    def _score(self, text: str, target: Any, trainer_state: Any) -> RewardResult:
        """Score one completion (subclasses may read TRL's `trainer_state`)."""
        return self.reward.score(text, target)


class TRLLocalizationReward(TRLRewardAdapter):
    """Vision-R1's localization reward for TRL: thresholds follow the run's progress in `trainer_state`."""

    reward: LocalizationBatchReward  # type: ignore[assignment]

    def _score(self, text: str, target: Any, trainer_state: Any) -> RewardResult:
        return self.reward.score_one(text, target, training_progress(trainer_state))


def training_progress(trainer_state: Any) -> float:
    """Fraction of the run done from TRL's `TrainerState` (`global_step / max_steps`); 0 when unknown."""
    step = getattr(trainer_state, "global_step", None)
    total = getattr(trainer_state, "max_steps", None)
    if not isinstance(step, int) or not isinstance(total, int) or total <= 0:
        return 0.0
    return min(1.0, max(0.0, step / total))


def make_trl_localization_reward(
    *, target_column: str = "target", name: str = "vision-r1", **settings: Any
) -> TRLLocalizationReward:
    """Vision-R1's reward (`reward.name: vision-r1` with `settings`, e.g. `step_fraction`, `matcher`,
    `overlap`, `weights`) as a TRL reward function reading each row's box target from `target_column`.

    Bad settings raise a one-line ConfigError naming them, as in a rarl config.
    """
    reward = build_localization_reward(settings)
    return TRLLocalizationReward(reward, labels_column=target_column, name=name, coerce=coerce_box_target)  # type: ignore[arg-type]


def make_trl_reward(
    delta: float = 5.0,
    weights: Sequence[float] = (1.0, 1.0, 1.0),
    value_range: Sequence[float] | None = None,
    *,
    labels_column: str = "labels",
    name: str = "rarl",
) -> TRLRewardAdapter:
    """The RARL reward (`RankingAwareReward(delta, weights, value_range)`) as a TRL reward function."""
    reward = RankingAwareReward(delta=delta, weights=weights, value_range=value_range)
    return TRLRewardAdapter(reward, labels_column=labels_column, name=name)


def completion_text(completion: Any) -> str:
    """The text of a TRL completion: a string, a message dict, or a list of messages.

    For a list of messages the last assistant message is used (the last message when none has a role);
    a message's content may be a string or a list of parts, whose `text` parts are concatenated.
    Raises TypeError for anything else: that is a bug in the caller, not model output.
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        return _content_text(completion.get("content"))
    if isinstance(completion, Sequence):
        if not completion:
            return ""
        messages = [m for m in completion if isinstance(m, Mapping)]
        if len(messages) != len(completion):
            raise TypeError(
                f"a conversational completion must be a list of message dicts, got {completion!r}"
            )
        for message in reversed(messages):
            if message.get("role") == "assistant":
                return _content_text(message.get("content"))
        return _content_text(messages[-1].get("content"))
    raise TypeError(f"unsupported completion type {type(completion).__name__}: {completion!r}")


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping) and part.get("type", "text") == "text":
                text = part.get("text")
                if isinstance(text, str):
                    parts.append(text)
        return "".join(parts)
    raise TypeError(f"unsupported message content type {type(content).__name__}: {content!r}")
