"""Names that moved out of a package face: a one-line error naming the new home instead of a bare miss.

    __getattr__ = moved_names(__name__, {"load_manifest": "rarl.recipes.ordinal.manifest"})

The engine may not import the recipes, so a moved name is not re-exported: asking the old package for it
(`from rarl.data import load_manifest`, `rarl.data.load_manifest`) raises a `MovedName` error, an ImportError
that says where the name lives now. (An AttributeError would be replaced by Python's own "cannot import
name" message in a `from` import.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["MovedName", "moved_names"]


class MovedName(ImportError):
    """A name asked of the package it moved out of."""


def moved_names(package: str, moved: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package` that names the new module of every name in `moved`."""

    def __getattr__(name: str) -> Any:
        if name in moved:
            raise MovedName(f"{package}.{name} moved to {moved[name]}.{name}; import it from there")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
