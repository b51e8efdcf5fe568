"""The selector interface, its result type, the registry and budget handling.

A selector is a small object in the scikit-learn style: hyper-parameters go to the
constructor, :meth:`Selector.select` takes :class:`~prune4rel.signals.Signals` and a budget
and returns a :class:`Selection`. Selectors are pure algorithms on arrays: they never train
and never touch files.
"""

from __future__ import annotations

import numbers
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import numpy as np

from prune4rel.registry import Registry
from prune4rel.signals import Signals
from prune4rel.validation import ParameterError, Parameterized, check_param_names

__all__ = [
    "MissingSignalError",
    "Selection",
    "Selector",
    "available_selectors",
    "class_budgets",
    "get_selector",
    "register",
    "resolve_budget",
    "selector_class",
]

# How to produce each optional signal, quoted in the error when a selector lacks it.
_HOW_TO_PRODUCE = {
    "losses": "run warm-up with per-epoch recording on (prune4rel.warmup.train, record=True)",
    "correct": "run warm-up with per-epoch recording on (prune4rel.warmup.train, record=True)",
    "margins": "run warm-up with per-epoch recording on (prune4rel.warmup.train, record=True)",
}


class MissingSignalError(ValueError):
    """A selector needs a signal that the given :class:`Signals` do not hold."""


@dataclass
class Selection:
    """The result of a selection.

    Attributes
    ----------
    indices : ndarray of int64, shape (budget,)
        Selected example indices: pick order for greedy methods (prune4rel, kcenter, ccs),
        best score first for score-based methods, ascending for uniform.
    gains : ndarray of float64, shape (budget,)
        Score of each pick: the greedy's gain at the step it was taken, or the ranking score
        for score-based methods (units are method-specific; see each selector).
    objective : float or None
        Final objective value for methods that maximise one (e.g. Prune4ReL's
        ``sum_x tanh(N(x; S) / eta)``), else None.
    method : str
        Registry name of the selector.
    params : dict
        The selector's hyper-parameters.
    seconds : float
        Wall-clock time of ``select``.
    extras : dict of str to ndarray
        Method-specific per-example arrays (e.g. ``neighborhood_confidence``, shape (n,)).
    """

    indices: np.ndarray
    gains: np.ndarray
    objective: float | None = None
    method: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.indices.shape[0])


def resolve_budget(budget: int | float, n: int, name: str = "budget") -> int:
    """Turn a budget into a number of examples.

    The type decides the meaning, everywhere in prune4rel: a ``float`` is a fraction, an
    ``int`` a count. So ``1.0`` keeps every example and ``1`` keeps one; ``3.0`` is an
    error (a fraction above 1), not three examples. The CLI spells the two as
    ``--fraction F`` and ``--count N``.

    Parameters
    ----------
    budget : int or float
        An ``int`` (numpy integers too) in ``[1, n]`` is a count; a ``float`` in ``(0, 1]``
        is a fraction of ``n`` (rounded to the nearest integer, at least one example).
    n : int
        Number of examples.
    name : str
        The parameter named in errors (``"fraction"`` for :func:`prune4rel.select`).

    Returns
    -------
    int
        The number of examples to select, in ``[1, n]``.

    Raises
    ------
    ValueError
        For an empty set; :class:`~prune4rel.validation.ParameterError` for booleans, NaN,
        non-numbers, fractions outside (0, 1] and counts outside [1, n].
    """
    if n < 1:
        raise ValueError(f"cannot select from n = {n} examples (`signals` is empty)")
    allowed = f"a float fraction in (0, 1] or an int count in [1, {n}]"
    if isinstance(budget, (bool, np.bool_)) or not isinstance(budget, numbers.Real):
        raise ParameterError(name, budget, allowed)
    if isinstance(budget, numbers.Integral):
        if not 1 <= int(budget) <= n:
            raise ParameterError(name, budget, allowed)
        return int(budget)
    frac = float(budget)
    if not np.isfinite(frac) or not 0.0 < frac <= 1.0:
        if np.isfinite(frac) and frac.is_integer() and 1 < frac <= n:
            allowed += f" (a float is a fraction: for {int(frac)} examples pass the int {int(frac)})"
        raise ParameterError(name, budget, allowed)
    return max(1, min(n, round(frac * n)))


def class_budgets(labels: np.ndarray, budget: int) -> dict[int, int]:
    """Per-class budgets proportional to class sizes, summing exactly to ``budget``.

    Largest-remainder rounding; ties broken by class id. No class gets more examples than
    it has.

    Parameters
    ----------
    labels : ndarray of int, shape (n,)
    budget : int
        Total budget, ``1 <= budget <= n``.

    Returns
    -------
    dict
        ``{class_id: count}`` for every class present in ``labels``.
    """
    classes, sizes = np.unique(labels, return_counts=True)
    n = int(sizes.sum())
    exact = sizes * (budget / n)
    base = np.minimum(np.floor(exact).astype(np.int64), sizes)
    left = budget - int(base.sum())
    order = np.lexsort((classes, -(exact - base)))
    for c in order:
        if left == 0:
            break
        if base[c] < sizes[c]:
            base[c] += 1
            left -= 1
    return {int(c): int(b) for c, b in zip(classes, base)}


class Selector(Parameterized, ABC):
    """Base class of all selectors.

    Subclasses set ``name`` (the registry key), ``required_signals`` (optional
    :class:`Signals` fields they read beyond ``labels``/``probs``/``embeddings``) and
    ``param_rules`` (one :class:`~prune4rel.validation.Rule` per hyper-parameter), take their
    hyper-parameters as keyword arguments of ``__init__``, store them under the same names,
    call ``self._validate_params()`` last, and implement :meth:`_select`. ``get_params``,
    ``set_params`` and ``describe_params`` come from
    :class:`~prune4rel.validation.Parameterized`.
    """

    name: ClassVar[str] = ""
    required_signals: ClassVar[tuple[str, ...]] = ()
    #: Whether the selection depends on the embeddings only up to a common positive factor;
    #: :meth:`select` then works on :meth:`Signals.with_safe_scale` (embeddings of any
    #: finite magnitude). GraNd, whose score holds ``||h||^2 + 1``, is not.
    embeddings_scale_free: ClassVar[bool] = True

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def check_signals(self, signals: Signals) -> None:
        """Raise :class:`MissingSignalError` when a required signal is absent."""
        if not isinstance(signals, Signals):
            raise ValueError(f"`signals` must be a prune4rel.Signals, got {type(signals).__name__}")
        for name in self.required_signals:
            if not signals.has(name):
                how = _HOW_TO_PRODUCE.get(name, "add it to the Signals")
                raise MissingSignalError(f"{self.name} needs per-example `{name}`: {how}")

    def select(self, signals: Signals, budget: int | float) -> Selection:
        """Select ``budget`` examples.

        Parameters
        ----------
        signals : Signals
            Per-example arrays of the ``n`` candidates.
        budget : int or float
            Count in ``[1, n]`` or fraction in ``(0, 1]`` (see :func:`resolve_budget`).

        Returns
        -------
        Selection
        """
        self.check_signals(signals)
        if self.embeddings_scale_free:
            signals = signals.with_safe_scale()
        return self._run(signals, budget, lambda count: self._select(signals, count))

    def _run(self, signals: Signals, budget: int | float, pick: Callable[[int], Selection]) -> Selection:
        """Check ``signals``, resolve ``budget``, time ``pick(count)`` and fill in the record."""
        self.check_signals(signals)
        count = resolve_budget(budget, signals.n)
        start = time.perf_counter()
        result = pick(count)
        result.seconds = time.perf_counter() - start
        result.method = self.name
        result.params = self.get_params()
        if result.indices.shape != (count,):
            raise RuntimeError(f"{self.name} returned {result.indices.shape[0]} indices, expected {count}")
        return result

    @abstractmethod
    def _select(self, signals: Signals, budget: int) -> Selection:
        """Pick exactly ``budget`` distinct indices (``1 <= budget <= signals.n``)."""


_REGISTRY: Registry[type[Selector]] = Registry("selector", "method")
S = TypeVar("S", bound=type[Selector])


def register(name: str) -> Callable[[S], S]:
    """Class decorator: register a selector under ``name`` (also sets ``cls.name``)."""

    def deco(cls: S) -> S:
        _REGISTRY.add(name, cls)
        cls.name = name
        return cls

    return deco


def available_selectors() -> list[str]:
    """Names of all registered selectors, sorted."""
    return _REGISTRY.names()


def selector_class(name: str) -> type[Selector]:
    """The selector class registered as ``name`` (case-insensitive, '-' or '_').

    Raises
    ------
    ValueError
        For an unknown name (the message lists the available ones) or a name that is not a
        string (:class:`~prune4rel.validation.ParameterError` naming ``method``).
    """
    return _REGISTRY.lookup(name)


def get_selector(name: str, **params: Any) -> Selector:
    """Instantiate the selector registered as ``name`` with hyper-parameters ``params``.

    Raises
    ------
    ValueError
        For an unknown name; :class:`~prune4rel.validation.ParameterError` for a parameter
        the selector does not declare or a value its rule does not allow.
    """
    cls = selector_class(name)
    check_param_names(params, cls.param_rules, repr(cls.name))
    return cls(**params)
