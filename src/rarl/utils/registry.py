"""The one registry: named objects of one kind, each also reachable as a plug-in `file.py:Name`.

    ADVANTAGE_ESTIMATORS = Registry("advantage estimator")

    @ADVANTAGE_ESTIMATORS.register("grpo")
    def grpo_advantages(inputs, **kwargs): ...

    ADVANTAGE_ESTIMATORS.resolve("grpo")                  # the registered function
    ADVANTAGE_ESTIMATORS.resolve("my_estimators.py:mine")  # a plug-in, loaded from the file
    RECIPES.create("my_recipe.py:MyRecipe")                 # resolved, then created without arguments

Recipes, rewards, advantage estimators, rollout backends and the algorithms' small tables (RMO triggers and
baselines, loss aggregations) are all `Registry` objects, so everything config names by a string works the
same way: a registered name, or `path/to/file.py:Name` / `package.module:Name` (see `rarl.utils.plugins`). A
`Registry` is a dict (read it like one); registering another object under a taken name is a ValueError, and an
unknown name is an `UnknownName` error (a `ConfigError`, and a `KeyError` for code that catches those) that
lists the known names.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from rarl.utils.config import ConfigError
from rarl.utils.errors import UserError
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

    def create(self, spec: str) -> Any:
        """The object `spec` names, called without arguments when it is a class or function (an instance
        as it is). A factory that needs arguments, or a plug-in whose creation raises, is a ConfigError
        naming it (one line; RARL_DEBUG=1 keeps the plug-in's traceback)."""
        factory = self.resolve(spec)
        if not callable(factory):
            return factory
        try:
            signature = inspect.signature(factory)
        except (TypeError, ValueError):  # no signature to read (a builtin): just call it
            signature = None
        if signature is not None:
            try:
                signature.bind()
            except TypeError as e:
                name = getattr(factory, "__name__", type(factory).__name__)
                which = "every parameter of its __init__" if inspect.isclass(factory) else "every parameter"
                raise ConfigError(
                    f"{self.what} {spec!r}: {name}{signature} cannot be created without arguments ({e}); "
                    f"give {which} a default"
                ) from None
        try:
            return factory()
        except UserError:
            raise
        except Exception as e:
            if not is_plugin_spec(spec):
                raise
            first = str(e).splitlines()[0] if str(e) else ""
            raise ConfigError(f"{self.what} {spec!r}: creating it raised {type(e).__name__}: {first}") from e

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
