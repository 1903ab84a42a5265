"""Plug-ins named in config: `path/to/file.py:Name` (a file) or `package.module:Name` (an importable module).

    reward:
      name: my_rewards.py:ShortAnswerReward     # relative paths are taken from the working directory
    recipe: /abs/path/my_recipe.py:MyRecipe

A file is loaded once per process under a module name derived from its absolute path, so two plug-ins with
the same file name in different folders do not collide, and loading the same file twice returns the same
objects (registries that check identity stay happy). Registries (`rarl.utils.registry.Registry`) resolve
names through it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from rarl.utils.config import ConfigError
from rarl.utils.io import user_path


def is_plugin_spec(spec: str) -> bool:
    """Whether `spec` names a plug-in (`file.py:Name` or `module:Name`) rather than a registered name."""
    return isinstance(spec, str) and ":" in spec


def load_object(spec: str, what: str = "plug-in") -> Any:
    """The object named by `spec`; ConfigError (one line naming the spec) when it cannot be loaded."""
    location, _, name = spec.rpartition(":")
    if not location or not name.isidentifier():
        raise ConfigError(f"{what} {spec!r}: expected 'path/to/file.py:Name' or 'package.module:Name'")
    if location.endswith(".py") or "/" in location or "\\" in location:
        module = _load_file(Path(location), spec, what)
    else:
        try:
            module = importlib.import_module(location)
        except ImportError as e:
            raise ConfigError(f"{what} {spec!r}: cannot import module {location!r} ({e})") from None
    try:
        return getattr(module, name)
    except AttributeError:
        raise ConfigError(f"{what} {spec!r}: {location} defines no {name!r}") from None


def _load_file(path: Path, spec: str, what: str) -> Any:
    path = user_path(path).resolve()
    if not path.is_file():
        raise ConfigError(f"{what} {spec!r}: no such file {path}")
    module_name = f"rarl_plugin_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:10]}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise ConfigError(f"{what} {spec!r}: {path} is not a loadable Python file")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[module_name] = module
    try:
        loader_spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[module_name]
        raise ConfigError(f"{what} {spec!r}: importing {path} failed: {type(e).__name__}: {e}") from None
    return module
