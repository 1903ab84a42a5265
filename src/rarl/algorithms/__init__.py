"""Pure tensor functions of the GRPO/RARL update: advantages (Eq. 2), RMO (Eq. 9), filters, policy losses.

Rollouts are laid out group-major: row `b*G + g` is rollout `g` of prompt `b`; per-rollout tensors are
`[B*G]`, per-token tensors `[B*G, T]`. No function here holds state or touches a model; the trainer picks
them by name from the registries (`ADVANTAGE_ESTIMATORS`, `RMO_TRIGGERS`, `RMO_BASELINES`,
`LOSS_AGGREGATIONS`, `LOSSES`: grpo, dapo, dr_grpo, gspo, cispo). Each module's docstring records how we read the paper where it is ambiguous.
"""

from rarl.algorithms.advantages import (
    ADVANTAGE_SCALES,
    AdvantageScale,
    group_advantages,
    group_stats,
    zero_variance_groups,
)
from rarl.algorithms.estimators import (
    ADVANTAGE_ESTIMATORS,
    AdvantageEstimator,
    AdvantageInputs,
    get_advantage_estimator,
    grpo_advantages,
    register_advantage_estimator,
)
from rarl.algorithms.filters import dapo_keep_mask, expand_group_mask
from rarl.algorithms.loss import (
    LOG_RATIO_CLAMP,
    LOSS_AGGREGATIONS,
    SHARE_METRICS,
    LossAggregation,
    aggregate_sequence,
    aggregate_token,
    kl_k3,
    loss_normalizers,
    masked_mean,
    policy_loss,
)
from rarl.algorithms.losses import (
    LOSS_KEYWORDS,
    LOSSES,
    LossFn,
    cispo_loss,
    dapo_loss,
    dr_grpo_loss,
    grpo_loss,
    gspo_loss,
    loss_call_problem,
    loss_name,
    resolve_loss,
)
from rarl.algorithms.refine_iqa import refine_iqa_advantages
from rarl.algorithms.rmo import (
    RMO_BASELINES,
    RMO_TRIGGERS,
    BestSeen,
    RmoBaseline,
    RmoTrigger,
    best_seen_beats_group,
    best_seen_rewards,
    best_seen_updates,
    rmo_advantages,
    select_rmo,
)

__all__ = [
    "ADVANTAGE_ESTIMATORS",
    "ADVANTAGE_SCALES",
    "LOG_RATIO_CLAMP",
    "LOSS_AGGREGATIONS",
    "LOSS_KEYWORDS",
    "LOSSES",
    "RMO_BASELINES",
    "RMO_TRIGGERS",
    "SHARE_METRICS",
    "AdvantageEstimator",
    "AdvantageInputs",
    "AdvantageScale",
    "BestSeen",
    "LossAggregation",
    "LossFn",
    "RmoBaseline",
    "RmoTrigger",
    "aggregate_sequence",
    "aggregate_token",
    "best_seen_beats_group",
    "best_seen_rewards",
    "best_seen_updates",
    "cispo_loss",
    "dapo_loss",
    "dr_grpo_loss",
    "dapo_keep_mask",
    "expand_group_mask",
    "get_advantage_estimator",
    "group_advantages",
    "grpo_advantages",
    "group_stats",
    "grpo_loss",
    "gspo_loss",
    "kl_k3",
    "loss_call_problem",
    "loss_name",
    "loss_normalizers",
    "masked_mean",
    "policy_loss",
    "refine_iqa_advantages",
    "register_advantage_estimator",
    "resolve_loss",
    "rmo_advantages",
    "select_rmo",
    "zero_variance_groups",
]
