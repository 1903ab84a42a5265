"""The one registry: named objects of one kind, each also reachable as a plug-in `file.py:Name`.

    ADVANTAGE_ESTIMATORS = Registry("advantage estimator")

    @ADVANTAGE_ESTIMATORS.register("grpo")
    def grpo_advantages(inputs, **kwargs): ...

    ADVANTAGE_ESTIMATORS.resolve("grpo")                  # the registered function
    ADVANTAGE_ESTIMATORS.resolve("my_estimators.py:mine")  # a plug-in, loaded from the file

Recipes, rewards, advantage estimators, rollout backends and the algorithms' small tables (RMO triggers and
baselines, loss aggregations) are all `Registry` objects, so everything config names by a string works the
same way: a registered name, or `path/to/file.py:Name` / `package.module:Name` (see `rarl.utils.plugins`). A
`Registry` is a dict (read it like one); registering another object under a taken name is a ValueError, and an
unknown name is an `UnknownName` error (a `ConfigError`, and a `KeyError` for code that catches those) that
lists the known names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from rarl.utils.config import ConfigError
from rarl.utils.plugins import is_plugin_spec, load_object

T = TypeVar("T")

__all__ = ["Registry", "UnknownName"]


class UnknownName(ConfigError, KeyError):
    """A name no registry entry has; the message lists the known names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class Registry(dict[str, Any]):
    """Objects of one kind by name (see the module docstring)."""

    def __init__(self, what: str, entries: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.what = what
        for name, obj in (entries or {}).items():
            self.add(name, obj)

    def add(self, name: str, obj: Any) -> Any:
        """Register `obj` under `name`; the same object again is harmless, another one is a ValueError."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.what} name must be a non-empty string")
        known = self.get(name)
        if known is not None and known is not obj:
            raise ValueError(f"{self.what} name {name!r} is already registered to {known!r}")
        self[name] = obj
        return obj

    def register(self, name: str) -> Callable[[T], T]:
        """A decorator registering its target under `name`."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.what} name must be a non-empty string")

        def decorate(obj: T) -> T:
            return self.add(name, obj)

        return decorate

    def names(self) -> list[str]:
        return sorted(self)

    def resolve(self, spec: str) -> Any:
        """The object registered as `spec`, or the plug-in `spec` names; `UnknownName` otherwise."""
        if is_plugin_spec(spec):
            return load_object(spec, what=self.what)
        if isinstance(spec, str) and spec in self:
            return self[spec]
        known = ", ".join(self.names()) or "(none)"
        raise UnknownName(
            f"unknown {self.what} {spec!r}; known {self.what}s: {known}, or a plug-in 'file.py:Name'"
        )
