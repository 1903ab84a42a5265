"""Verifiable rewards: parsing of model answers and reward recipes registered by name.

- `parse_answer` / `ParsedAnswer`: the one parser of `<think>...</think><answer>[...]</answer>` outputs.
- `localization_reward` / `LocalizationBreakdown` (+ `parse_boxes`, `staged_thresholds`, `scale_boxes`,
  `resized_frame`): Vision-R1's localization reward (`rarl.rewards.localization`), and its batch form
  `LocalizationBatchReward` ("vision-r1": the staged thresholds of progressive rule refinement).
- `RankingAwareReward` / `RewardBreakdown`: RARL's reward (paper Sec. 3.1); the readings of the paper it
  implements are listed in `rarl.rewards.ranking_aware`.
- `QualityScoreReward`: Refine-IQA's stage-2 batch reward ("refine-iqa-score": answer, format and the
  probability-difference term through the policy scorer).
- `REWARDS` / `get_reward` / `register_reward`: rewards by name ("rarl", "vision-r1", "refine-iqa-score").
- `rarl.rewards.batch` (`build_reward`, the batch contract of `rarl.rewards.contract`) and
  `rarl.rewards.checks`: a reward's settings checked against its annotations, and a plug-in's shape checked
  by one call on a probe batch, when it is built.
- `RewardFunction` / `RewardResult`: the protocol every reward recipe follows.
"""

from rarl.rewards.base import RewardFunction, RewardResult
from rarl.rewards.localization import (
    LocalizationBreakdown,
    localization_reward,
    parse_boxes,
    resized_frame,
    scale_boxes,
    staged_thresholds,
)
from rarl.rewards.localization_batch import LocalizationBatchReward
from rarl.rewards.parsing import MAX_ANSWER_CHARS, ParsedAnswer, parse_answer
from rarl.rewards.probability_difference import QualityScoreReward
from rarl.rewards.ranking_aware import RankingAwareReward, RewardBreakdown
from rarl.rewards.registry import REWARDS, get_reward, register_reward

__all__ = [
    "MAX_ANSWER_CHARS",
    "REWARDS",
    "LocalizationBatchReward",
    "LocalizationBreakdown",
    "ParsedAnswer",
    "QualityScoreReward",
    "RankingAwareReward",
    "RewardBreakdown",
    "RewardFunction",
    "RewardResult",
    "get_reward",
    "localization_reward",
    "parse_answer",
    "parse_boxes",
    "register_reward",
    "resized_frame",
    "scale_boxes",
    "staged_thresholds",
]
