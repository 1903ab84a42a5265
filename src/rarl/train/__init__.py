"""Training: run configs, the GRPO trainer (orchestration only), the SFT baseline, checkpoints."""
