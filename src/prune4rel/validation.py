"""Declared parameter rules: one way to check every user-facing value.

Selectors, learners and configuration sections declare, per parameter, a :class:`Rule` (its
type and allowed range). A violation is a :class:`ParameterError` (a ``ValueError``) that
names the parameter, the value and what is allowed, e.g.
``` `tau` must be a number in [0, 1), got 'abc'``. The same rules print the ranges shown by
``prune4rel methods``. Modelled on scikit-learn's ``_param_validation``; see
``docs/architecture.md``.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeVar

import numpy as np

__all__ = [
    "AnyOf",
    "Boolean",
    "Integer",
    "MappingOf",
    "NoneValue",
    "Options",
    "ParameterError",
    "Parameterized",
    "Real",
    "Rule",
    "Satisfies",
    "check_param_names",
    "optional",
    "validate_params",
]

_P = TypeVar("_P", bound="Parameterized")


class ParameterError(ValueError):
    """A value that its parameter does not allow.

    Attributes
    ----------
    name : str
        The parameter (dotted for nested configuration, e.g. ``train.epochs``).
    value : object
        The offending value.
    allowed : str
        What the parameter allows, in words.
    """

    def __init__(self, name: str, value: Any, allowed: str) -> None:
        super().__init__(f"`{name}` must be {allowed}, got {_show(value)}")
        self.name, self.value, self.allowed = name, value, allowed


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class Rule(ABC):
    """What one parameter allows; :meth:`check` returns the value in its canonical type."""

    @abstractmethod
    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is allowed."""

    @abstractmethod
    def describe(self) -> str:
        """What is allowed, in words (completes "`name` must be ...")."""

    def convert(self, value: Any) -> Any:
        """The canonical form of an accepted ``value`` (default: unchanged)."""
        return value

    def check(self, name: str, value: Any) -> Any:
        """``value`` in canonical form, or :class:`ParameterError` naming ``name``."""
        if not self.accepts(value):
            raise ParameterError(name, value, self.describe())
        return self.convert(value)


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


class Boolean(Rule):
    """``True`` or ``False`` (numpy booleans too); no truthy strings or numbers."""

    def accepts(self, value: Any) -> bool:
        return _is_bool(value)

    def describe(self) -> str:
        return "True or False"

    def convert(self, value: Any) -> bool:
        return bool(value)


def _interval(low: float | None, high: float | None, closed: str) -> str:
    left = "[" if closed in ("both", "left") and low is not None else "("
    right = "]" if closed in ("both", "right") and high is not None else ")"
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    return f"{left}{lo}, {hi}{right}"


class _Bounded(Rule):
    kind: ClassVar[str] = ""

    def __init__(self, low: float | None = None, high: float | None = None, closed: str = "both") -> None:
        if closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"`closed` must be 'both', 'left', 'right' or 'neither', got {closed!r}")
        self.low, self.high, self.closed = low, high, closed

    def _in_range(self, x: float) -> bool:
        if self.low is not None and (x < self.low or (x == self.low and self.closed in ("right", "neither"))):
            return False
        return self.high is None or not (
            x > self.high or (x == self.high and self.closed in ("left", "neither"))
        )

    def describe(self) -> str:
        if self.low is None and self.high is None:
            return self.kind
        if self.high is None and self.closed in ("both", "left"):
            return f"{self.kind} >= {self.low:g}"
        if self.high is None:
            return f"{self.kind} > {self.low:g}"
        return f"{self.kind} in {_interval(self.low, self.high, self.closed)}"


class Integer(_Bounded):
    """An integer in a range (a float with an integral value, e.g. YAML's ``2.0``, too)."""

    kind = "an integer"

    def accepts(self, value: Any) -> bool:
        if _is_bool(value):
            return False
        if isinstance(value, numbers.Integral):
            return self._in_range(int(value))
        if isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
            return self._in_range(float(value))
        return False

    def convert(self, value: Any) -> int:
        return int(value)


class Real(_Bounded):
    """A finite real number in a range (ints allowed, booleans and NaN not)."""

    kind = "a number"

    def accepts(self, value: Any) -> bool:
        if _is_bool(value) or not isinstance(value, numbers.Real):
            return False
        return math.isfinite(float(value)) and self._in_range(float(value))

    def convert(self, value: Any) -> float:
        return float(value)


class Options(Rule):
    """One of a fixed set of strings."""

    def __init__(self, *choices: str) -> None:
        self.choices = tuple(choices)

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.choices

    def describe(self) -> str:
        return "one of " + ", ".join(repr(c) for c in self.choices)


class NoneValue(Rule):
    """Exactly ``None`` (combine with :class:`AnyOf` for optional parameters)."""

    def accepts(self, value: Any) -> bool:
        return value is None

    def describe(self) -> str:
        return "None"


class Satisfies(Rule):
    """Anything for which ``test(value)`` is true, described by ``description``."""

    def __init__(self, test: Callable[[Any], bool], description: str) -> None:
        self.test, self.description = test, description

    def accepts(self, value: Any) -> bool:
        try:
            return bool(self.test(value))
        except (TypeError, ValueError):
            return False

    def describe(self) -> str:
        return self.description


class MappingOf(Rule):
    """A mapping with string keys (copied into a plain dict); ``None`` gives ``{}``."""

    def __init__(self, allow_none: bool = True) -> None:
        self.allow_none = allow_none

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.allow_none
        return isinstance(value, Mapping) and all(isinstance(k, str) for k in value)

    def describe(self) -> str:
        return "a mapping of names to values" + (" or None" if self.allow_none else "")

    def convert(self, value: Any) -> dict[str, Any]:
        return {} if value is None else dict(value)


class AnyOf(Rule):
    """Whatever one of ``rules`` allows (the first that accepts converts the value)."""

    def __init__(self, *rules: Rule) -> None:
        self.rules = rules

    def accepts(self, value: Any) -> bool:
        return any(rule.accepts(value) for rule in self.rules)

    def describe(self) -> str:
        return " or ".join(rule.describe() for rule in self.rules)

    def convert(self, value: Any) -> Any:
        for rule in self.rules:
            if rule.accepts(value):
                return rule.convert(value)
        raise AssertionError("convert() called on a value that no rule accepts")


def optional(rule: Rule) -> AnyOf:
    """``rule`` or None."""
    return AnyOf(rule, NoneValue())


def validate_params(
    rules: Mapping[str, Rule], values: Mapping[str, Any], *, prefix: str = ""
) -> dict[str, Any]:
    """Check ``values`` against ``rules``; return them in canonical form.

    Parameters
    ----------
    rules : mapping of str to Rule
    values : mapping of str to object
        Every key must have a rule (unknown names are an error that lists the known ones).
    prefix : str
        Prepended to names in messages (e.g. ``"train.params."``).

    Raises
    ------
    ParameterError
        For an unknown name or a value its rule does not allow.
    """
    unknown = sorted(set(values) - set(rules))
    if unknown:
        raise ParameterError(
            f"{prefix}{unknown[0]}", values[unknown[0]],
            "a known parameter name (the parameters are " + ", ".join(sorted(rules)) + ")",
        )
    return {name: rules[name].check(prefix + name, value) for name, value in values.items()}


def check_param_names(params: Mapping[str, Any], names: Iterable[str], owner: str) -> None:
    """Refuse the first of ``params`` whose name is not among ``names``, those ``owner`` takes.

    Raises
    ------
    ParameterError
        "`key` must be one of the parameters that <owner> takes (<names>), got <value>".
    """
    takes = list(names)
    for key, value in params.items():
        if key not in takes:
            listed = ", ".join(takes) or "none"
            raise ParameterError(key, value, f"one of the parameters that {owner} takes ({listed})")


class Parameterized:
    """Hyper-parameters declared in :attr:`param_rules`, in the scikit-learn style.

    A subclass declares ``param_rules`` (name -> :class:`Rule`), stores each constructor
    argument under its own name and calls :meth:`_validate_params` at the end of
    ``__init__``; that checks every declared value, stores its canonical form and then runs
    :meth:`_check_params` for rules that tie several parameters together.
    :meth:`set_params` changes parameters after construction under the same checks.
    """

    param_rules: ClassVar[dict[str, Rule]] = {}

    def _validate_params(self) -> None:
        for name, rule in self.param_rules.items():
            setattr(self, name, rule.check(name, getattr(self, name)))
        self._check_params()

    def _check_params(self) -> None:
        """Constraints between parameters (raise :class:`ParameterError`); default none."""

    def get_params(self) -> dict[str, Any]:
        """The hyper-parameters, by name."""
        return {name: getattr(self, name) for name in self.param_rules}

    def set_params(self: _P, **params: Any) -> _P:
        """Change hyper-parameters in place, under the same checks as the constructor.

        Raises
        ------
        ParameterError
            For an unknown name or a value that is not allowed; nothing is changed then.
        """
        checked = validate_params(self.param_rules, params)
        before = self.get_params()
        for name, value in checked.items():
            setattr(self, name, value)
        try:
            self._check_params()
        except ValueError:
            for name, value in before.items():
                setattr(self, name, value)
            raise
        return self

    @classmethod
    def param_defaults(cls) -> dict[str, Any]:
        """The default of every hyper-parameter (those of an instance built without arguments)."""
        return cls().get_params()

    @classmethod
    def describe_params(cls) -> list[tuple[str, Any, str]]:
        """``(name, default, what is allowed)`` of every hyper-parameter, in declaration order."""
        defaults = cls.param_defaults()
        return [(name, defaults[name], rule.describe()) for name, rule in cls.param_rules.items()]

