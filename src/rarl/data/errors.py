"""The one exception type for bad input data, and the report that readers fill instead of raising.

Readers never silently drop or mislabel an item: every skipped item is counted in a `ReadReport` under a
short reason ("unparsable file name", "no image file", ...) with its first few examples. With
`strict=True` the first skip raises `DataError` instead, so a pipeline can insist on a clean dataset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rarl.utils.errors import UserError


class DataError(ValueError, UserError):
    """Bad input data; the one-line message names the offending file, row or item."""


@dataclass
class ReadReport:
    """Counts of items read and skipped (by reason, with the first examples of each).

    `skip(reason, example)` records one skipped item, or raises `DataError` when `strict` is set.
    `note(text)` records a remark that is not a skip (an inferred value range, a dropped category, ...).
    """

    strict: bool = False
    max_examples: int = 5
    read: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def skip(self, reason: str, example: str) -> None:
        """Record that one item was skipped for `reason`; `example` names it (file, row, ...)."""
        if self.strict:
            raise DataError(f"{reason}: {example}")
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        shown = self.examples.setdefault(reason, [])
        if len(shown) < self.max_examples:
            shown.append(example)

    def note(self, text: str) -> None:
        """Record a remark shown with the summary."""
        self.notes.append(text)

    @property
    def n_skipped(self) -> int:
        """Total number of skipped items over all reasons."""
        return sum(self.skipped.values())

    def merge(self, other: ReadReport) -> None:
        """Add the counts, examples and notes of `other` to this report."""
        self.read += other.read
        for reason, count in other.skipped.items():
            self.skipped[reason] = self.skipped.get(reason, 0) + count
            shown = self.examples.setdefault(reason, [])
            for ex in other.examples.get(reason, []):
                if len(shown) < self.max_examples:
                    shown.append(ex)
        self.notes.extend(other.notes)

    def lines(self) -> list[str]:
        """Human-readable lines: one per skip reason (count and examples), then the notes."""
        out = []
        for reason, count in sorted(self.skipped.items(), key=lambda kv: -kv[1]):
            examples = ", ".join(self.examples.get(reason, []))
            more = ", ..." if count > len(self.examples.get(reason, [])) else ""
            out.append(f"skipped {count} ({reason}): {examples}{more}")
        out.extend(self.notes)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (as stored in the manifest's summary.json)."""
        return {
            "read": self.read,
            "skipped": dict(self.skipped),
            "examples": {k: list(v) for k, v in self.examples.items()},
            "notes": list(self.notes),
        }
