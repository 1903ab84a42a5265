"""Adapters that let users of other RL frameworks call rarl rewards.

- `rarl.integrations.trl`: `make_trl_reward(...)` (RARL) and `make_trl_localization_reward(...)` (Vision-R1),
  reward functions for TRL's `GRPOTrainer`.
- `rarl.integrations.verl`: `compute_score(...)` (RARL) and `compute_localization_score(...)` (Vision-R1),
  verl custom reward functions.

Neither framework is imported: the adapters only follow their calling conventions.
"""
