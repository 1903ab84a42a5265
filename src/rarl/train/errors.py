"""Errors the training loop raises on purpose (the CLI turns them into one-line messages)."""


class TrainingAborted(RuntimeError):
    """A run stopped by a guard (e.g. too many non-finite losses in a row)."""
