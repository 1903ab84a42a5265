"""Checks of a reward when it is built, so a wrong setting or a plug-in of the wrong shape fails before training.

    check_settings(factory, {"differentiation": "false"}, "vision-r1")   # ConfigError: not true or false
    check_shape(reward, "my_rewards.py:Mine")       # __call__(batch) or score(completion, target)
    probe_reward(reward, "my_rewards.py:Mine", inputs)                  # called once: a RewardOutput of R rows?

- `check_settings`: each explicit setting (`reward.kwargs`, a stage's `reward_kwargs`) against the annotation
  of the factory's parameter of that name: `bool` takes only true/false (the text `'false'` would read as
  true), numbers no text or bools, `str` only text, `Sequence[...]` a list, `Literal[...]` one of its values,
  unions any of their members. Parameters without an annotation, or annotated with a type these rules do
  not cover (a class of the plug-in's own), are not checked.
- `check_shape`: a batch reward's `__call__` must take one argument (the `RewardInputs`), a per-completion
  reward's `score` two (completion, target); otherwise every call would raise, and the per-completion
  adapter would score every row 0.
- `probe_reward`: the reward called once on a small batch; it must return a `RewardOutput` with one total per
  row. `build_reward` probes plug-ins on `placeholder_inputs` (targets None: an exception there may come from
  the placeholder, so only what the reward returns is judged); a caller holding the recipe's own samples
  (`recipe_inputs`) can probe strictly, where an exception is an error too.
- `probe_with_samples`: that strict probe for a plug-in, on a trainer's own samples (`recipe.target` of each).
- `CheckedReward`: a batch plug-in the placeholder probe could not judge, wrapped so that every call's
  output is checked the same way (the first step names a wrong output in one line), and an exception it
  raises is one line naming it.

Every failure is one `ConfigError` line naming the reward and what is wrong.
"""

from __future__ import annotations

import collections.abc
import contextlib
import inspect
import logging
import numbers
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rarl.data.readers.safe import show
from rarl.rewards.contract import RewardInputs, RewardOutput
from rarl.utils.config import ConfigError
from rarl.utils.errors import UserError
from rarl.utils.plugins import is_plugin_spec

log = logging.getLogger("rarl")

__all__ = [
    "CheckedReward",
    "check_output",
    "check_settings",
    "check_shape",
    "placeholder_inputs",
    "probe_reward",
    "probe_with_samples",
    "recipe_inputs",
]

PROBE_TEXTS = ("", "<answer></answer>", "<think>x</think><answer>1</answer>", "[]")
"""Completions of the probe batch (2 groups of 2 rows)."""


# --------------------------------------------------------------------------------------------------------------
# Settings against annotations


def _hints(factory: Any) -> dict[str, Any]:
    """Parameter annotations of a class's `__init__` or a function, each resolved on its own (as
    `typing.get_type_hints` would, in the factory's module); one that cannot be resolved is left out."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        parameters = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return {}
    namespace = getattr(inspect.unwrap(target), "__globals__", {})
    hints = {}
    for name, parameter in parameters.items():
        hint = parameter.annotation
        if hint is inspect.Parameter.empty:
            continue
        if isinstance(hint, str):  # postponed annotations (`from __future__ import annotations`)
            try:
                hint = eval(hint, dict(namespace))  # noqa: S307 - the factory's own annotation text
            except Exception:  # a name its module does not define at run time: not checked
                continue
        hints[name] = hint
    return hints


def _fits(value: Any, hint: Any) -> bool | None:
    """Whether `value` fits the annotation `hint`; None when the annotation is not one these rules cover."""
    if hint is Any or hint is object:
        return True
    if hint is type(None) or hint is None:
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        verdicts = [_fits(value, a) for a in args]
        return True if any(verdicts) else (None if None in verdicts else False)
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if hint in (list, tuple) or origin in (list, tuple, collections.abc.Sequence):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            return False
        item = args[0] if args and (origin is not tuple or len(args) == 2 and args[1] is Ellipsis) else None
        if item is None:
            return True
        verdicts = [_fits(v, item) for v in value]
        return all(v is not False for v in verdicts)
    if hint is dict or origin in (dict, collections.abc.Mapping):
        return isinstance(value, Mapping)
    return None


def _describe(hint: Any) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "text", type(None): "null"}
    if hint in names:
        return names[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if hint in (list, tuple) or origin in (list, tuple, collections.abc.Sequence):
        items = {bool: "true/false values", int: "integers", float: "numbers", str: "text items"}
        return "a list" + (f" of {items[args[0]]}" if args and args[0] in items else "")
    return getattr(hint, "__name__", str(hint))


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, str):
        return "text"
    if isinstance(value, numbers.Number):
        return "a number"
    if value is None:
        return "null"
    return "a list" if isinstance(value, (list, tuple)) else type(value).__name__


def check_settings(factory: Any, settings: Mapping[str, Any], spec: str) -> None:
    """ConfigError naming the first of `settings` whose value does not fit its parameter's annotation."""
    hints = _hints(factory)
    for key, value in settings.items():
        hint = hints.get(key)
        if hint is None or _fits(value, hint) is not False:
            continue
        raise ConfigError(
            f"reward {spec!r}: setting {key}={show(value)} is {_kind(value)}, but {key} takes {_describe(hint)}"
            + (" (write true or false without quotes)" if hint is bool and isinstance(value, str) else "")
        )


# --------------------------------------------------------------------------------------------------------------
# The reward's shape


def _binds(fn: Callable[..., Any], *args: Any) -> tuple[bool, str]:
    """Whether `fn` accepts `args` (True when its signature cannot be read), and the signature's text."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return True, ""
    try:
        sig.bind(*args)
    except TypeError:
        return False, str(sig)
    return True, str(sig)


def check_shape(reward: Any, spec: str) -> None:
    """ConfigError when a per-completion reward's `score` cannot take (completion, target), or a batch
    reward's `__call__` cannot take the batch."""
    score = getattr(reward, "score", None)
    if callable(score):
        ok, sig = _binds(score, "", None)
        if not ok:
            raise ConfigError(
                f"reward {spec!r}: score{sig} must take (completion, target); "
                "as it is, every call would fail and every completion would score 0"
            )
        return
    ok, sig = _binds(reward, object())
    if not ok:
        raise ConfigError(
            f"reward {spec!r}: __call__{sig} must take one argument, the batch (rarl.rewards.batch.RewardInputs)"
        )


def check_output(out: Any, rows: int, spec: str) -> RewardOutput:
    """`out` when it is a RewardOutput with one total per row; ConfigError naming the reward otherwise."""
    if not isinstance(out, RewardOutput):
        raise ConfigError(
            f"reward {spec!r} returned {type(out).__name__} {show(out)}, not a "
            "rarl.rewards.batch.RewardOutput(totals [R], components)"
        )
    if out.totals.numel() != rows:
        raise ConfigError(
            f"reward {spec!r} returned {out.totals.numel()} total(s) for a batch of {rows} rows; "
            "it must return one total per completion"
        )
    return out


@dataclass(frozen=True)
class _ProbeSample:
    """A stand-in sample of the placeholder probe batch."""

    sample_id: str


def placeholder_inputs() -> RewardInputs:
    """A 4-row batch (2 groups of 2) of short completions with placeholder samples and None targets."""
    samples = [_ProbeSample(f"probe-{k // 2}") for k in range(len(PROBE_TEXTS))]
    return RewardInputs(
        samples=samples, targets=[None] * len(PROBE_TEXTS), texts=list(PROBE_TEXTS), group_size=2
    )


def recipe_inputs(samples: Sequence[Any], target: Callable[[Any], Any]) -> RewardInputs:
    """A probe batch of a recipe's own samples (the first two, each answered twice) and their targets."""
    chosen = [s for s in list(samples)[:2] for _ in range(2)]
    texts = list(PROBE_TEXTS[: len(chosen)])
    return RewardInputs(
        samples=chosen, targets=[target(s) for s in chosen], texts=texts, group_size=2 if chosen else 1
    )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """No warnings while a reward meets placeholder targets (a reward that logs each bad row would)."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def probe_reward(reward: Any, spec: str, inputs: RewardInputs, *, strict: bool = True) -> bool:
    """Call `reward` once on `inputs` and check its output (`check_output`); True when it was judged.

    An exception is a ConfigError naming it when `strict` (real targets); otherwise (placeholder targets,
    warnings silenced) it is logged at debug level and False is returned: the first real call decides.
    """
    check_shape(reward, spec)
    score = getattr(reward, "score", None)
    try:
        with contextlib.nullcontext() if strict else _quiet():
            result = score(inputs.texts[0], inputs.targets[0]) if callable(score) else reward(inputs)
    except Exception as e:  # the reward's own errors, ConfigError included
        if strict:
            first = str(e).splitlines()[0] if str(e) else ""
            raise ConfigError(
                f"reward {spec!r} raised {type(e).__name__} on a batch of {len(inputs.texts)} rows: {first}"
            ) from None
        log.debug("reward %s raised %s on the placeholder probe batch; not judged", spec, type(e).__name__)
        return False
    if callable(score):  # per-completion: the adapter reads float(result.total) and result.as_dict()
        try:
            float(result.total)
            usable = callable(result.as_dict)
        except Exception:
            usable = False
        if not usable:
            raise ConfigError(
                f"reward {spec!r}: score() returned {type(result).__name__} {show(result)}, which has no "
                "numeric .total and .as_dict(); every completion would score 0"
            )
        return True
    check_output(result, len(inputs.texts), spec)
    return True


class CheckedReward:
    """A batch reward plug-in whose every output is checked (`check_output`)."""

    def __init__(self, reward: Any, spec: str) -> None:
        self.reward = reward
        self.spec = spec

    def __repr__(self) -> str:
        return f"CheckedReward({self.reward!r})"

    def __call__(self, inputs: RewardInputs) -> RewardOutput:
        try:
            out = self.reward(inputs)
        except UserError:
            raise
        except Exception as e:  # a plug-in's bug: one line naming it (RARL_DEBUG=1 keeps the traceback)
            first = str(e).splitlines()[0] if str(e) else ""
            raise ConfigError(
                f"reward {self.spec!r} raised {type(e).__name__}: {first} on a batch of {len(inputs.texts)} "
                "rows (set RARL_DEBUG=1 for the traceback)"
            ) from e
        return check_output(out, len(inputs.texts), self.spec)


def probe_with_samples(reward: Any, spec: str, samples: Sequence[Any], target: Callable[[Any], Any]) -> None:
    """For a plug-in `spec`: `probe_reward` (strict) on a batch of the recipe's own `samples` and targets, so
    a plug-in that fails on real targets or returns the wrong number of totals stops before training. A
    registered reward is not called."""
    if is_plugin_spec(spec) and samples:
        probe_reward(reward, spec, recipe_inputs(samples, target), strict=True)
