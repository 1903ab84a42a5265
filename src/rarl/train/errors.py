"""Errors the training loop raises on purpose (the CLI turns them into one-line messages)."""

from rarl.utils.errors import UserError


class TrainingAborted(RuntimeError, UserError):
    """A run stopped by a guard (e.g. too many non-finite losses in a row)."""
