"""Adapters that let users of other RL frameworks call rarl rewards.

- `rarl.integrations.trl`: `make_trl_reward(...)`, a reward function for TRL's `GRPOTrainer`.
- `rarl.integrations.verl`: `compute_score(...)`, a verl custom reward function.

Neither framework is imported: the adapters only follow their calling conventions.
"""
