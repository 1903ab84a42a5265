"""rarl: Ranking-Aware Reinforcement Learning for vision-language models on ordinal tasks."""

__version__ = "0.1.0"
