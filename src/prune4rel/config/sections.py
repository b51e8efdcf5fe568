"""The ``warmup``, ``selection`` and ``train`` sections of a run configuration.

Each checks its own fields on construction, looks names up in the registries and checks
every learner and selector parameter against the rule its class declares (naming it, e.g.
``train.params.lr``); none builds a learner or a selector (constraints between parameters
are checked by :func:`prune4rel.pipeline.check_config`). The values are kept as written:
they are part of the configuration hashes.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from prune4rel.config.rules import LEARNER_NAME, MODEL_NAME, NameList
from prune4rel.learners import learner_class
from prune4rel.selection import selector_class
from prune4rel.validation import Integer, MappingOf, Real, validate_params

__all__ = ["RESERVED_LEARNER_PARAMS", "SelectionConfig", "TrainConfig", "WarmupConfig"]

#: Learner arguments that the run sets from its own fields, not from ``params``.
RESERVED_LEARNER_PARAMS = ("model", "seed", "device")
_FRACTION = Real(0.0, 1.0, closed="right")


def _learner_params(name: str, value: Any, learner: str) -> dict[str, Any]:
    """``value`` checked against the rules of ``learner`` (not one of the reserved names)."""
    params: dict[str, Any] = MappingOf().check(name, value)
    reserved = sorted(set(params) & set(RESERVED_LEARNER_PARAMS))
    if reserved:
        raise ValueError(
            f"`{name}` must not set {reserved}: use the config's `model`, `seed` and `device` fields"
        )
    rules = {k: r for k, r in learner_class(learner).param_rules.items() if k not in RESERVED_LEARNER_PARAMS}
    validate_params(rules, params, prefix=f"{name}.")
    return params


def _method(name: str, value: str) -> str:
    """The canonical registry name of the selector ``value``."""
    try:
        return selector_class(value).name
    except ValueError as exc:
        raise ValueError(f"`{name}`: {exc}") from None


@dataclass(frozen=True)
class WarmupConfig:
    """The warm-up training that produces the Signals.

    Parameters
    ----------
    epochs : int
        Warm-up epochs over all training examples.
    learner : str
        Learner name (usually "ce").
    model : str
        Network name or "auto" (see :func:`~prune4rel.models.build_model`).
    params : dict
        Further learner arguments (``lr``, ``batch_size``, ``num_threads``, ...).
    """

    epochs: int = 8
    learner: str = "ce"
    model: str = "auto"
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "epochs", Integer(1).check("warmup.epochs", self.epochs))
        LEARNER_NAME.check("warmup.learner", self.learner)
        MODEL_NAME.check("warmup.model", self.model)
        object.__setattr__(self, "params", _learner_params("warmup.params", self.params, self.learner))


@dataclass(frozen=True)
class SelectionConfig:
    """Which selectors at which fractions.

    Parameters
    ----------
    methods : list of str
        Registered selector names (see ``prune4rel methods``).
    fractions : list of float
        Fractions of the training set in (0, 1]; 1.0 is the full-data reference.
    params : dict of str to dict
        Hyper-parameters per method, e.g. ``{"prune4rel": {"tau": 0.9}}``. A selector that
        takes ``seed`` gets the run's seed unless set here.
    """

    methods: tuple[str, ...] = ("prune4rel", "uniform")
    fractions: tuple[float, ...] = (0.2, 0.4)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        methods = NameList().check("selection.methods", self.methods)
        canonical = tuple(_method("selection.methods", m) for m in methods)
        if len(set(canonical)) != len(canonical):
            raise ValueError(f"`selection.methods` lists a method twice: {list(methods)}")
        object.__setattr__(self, "methods", canonical)
        object.__setattr__(self, "fractions", self._fractions())
        resolved: dict[str, dict[str, Any]] = {}
        for key, value in MappingOf().check("selection.params", self.params).items():
            name = _method("selection.params", key)
            if name not in self.methods:
                raise ValueError(
                    f"`selection.params` sets parameters for {key!r}, which is not in "
                    f"`selection.methods` {list(self.methods)}"
                )
            params = MappingOf().check(f"selection.params.{key}", value)
            validate_params(selector_class(name).param_rules, params, prefix=f"selection.params.{key}.")
            resolved[name] = params
        object.__setattr__(self, "params", resolved)

    def _fractions(self) -> tuple[float, ...]:
        """The fractions, sorted; from a list, one number or a comma-separated string."""
        fractions = self.fractions
        if isinstance(fractions, str):
            try:
                fractions = [float(f) for f in fractions.split(",") if f.strip()]
            except ValueError:
                raise ValueError(f"`selection.fractions` must be numbers, got {self.fractions!r}") from None
        if isinstance(fractions, numbers.Real):
            fractions = [fractions]
        if not isinstance(fractions, Sequence) or not fractions:
            raise ValueError(f"`selection.fractions` must be a non-empty list, got {self.fractions!r}")
        clean: list[float] = []
        for i, f in enumerate(fractions):
            value = _FRACTION.check(f"selection.fractions[{i}]", f)
            if value in clean:
                raise ValueError(f"`selection.fractions` lists {f} twice")
            clean.append(value)
        return tuple(sorted(clean))


@dataclass(frozen=True)
class TrainConfig:
    """Training on each subset.

    Parameters
    ----------
    learner : str
        Learner name ("ce", "elr", "sop", "sop+", and any registered later).
    epochs : int
    model : str
        Network name or "auto".
    params : dict
        Further learner arguments (``lr``, ``batch_size``, ``lam``, ``num_threads``, ...).
    """

    learner: str = "elr"
    epochs: int = 30
    model: str = "auto"
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        LEARNER_NAME.check("train.learner", self.learner)
        object.__setattr__(self, "epochs", Integer(1).check("train.epochs", self.epochs))
        MODEL_NAME.check("train.model", self.model)
        object.__setattr__(self, "params", _learner_params("train.params", self.params, self.learner))
