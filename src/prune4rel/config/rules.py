"""Rules for the configuration's own kinds of value: paths, name lists, model and learner names.

They complete :mod:`prune4rel.validation` for the run configuration; a learner name is
looked up in the learners' registry without building a learner.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from prune4rel.learners import LEARNERS, learner_class
from prune4rel.models import MODEL_NAMES
from prune4rel.validation import Rule, Satisfies

__all__ = ["LEARNER_NAME", "MODEL_NAME", "NameList", "PathText"]

_MODELS = ("auto", *MODEL_NAMES)


class PathText(Rule):
    """A file-system path (a string or ``os.PathLike``), kept as a string."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (str, os.PathLike))

    def describe(self) -> str:
        return "a path"

    def convert(self, value: Any) -> str:
        return str(value)


class NameList(Rule):
    """One or more names, as a list or a comma-separated string; kept as a tuple."""

    def accepts(self, value: Any) -> bool:
        if isinstance(value, str):
            value = value.split(",")
        if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
            return False
        return any(v.strip() for v in value)

    def describe(self) -> str:
        return "a non-empty list of names (or a comma-separated string)"

    def convert(self, value: Any) -> tuple[str, ...]:
        names = value.split(",") if isinstance(value, str) else value
        return tuple(v.strip() for v in names if v.strip())


def _is_model(value: Any) -> bool:
    return isinstance(value, str) and value.lower().replace("-", "_") in (*_MODELS, "cnn", "smallcnn")


#: A network name or "auto" (see :func:`~prune4rel.models.build_model`).
MODEL_NAME = Satisfies(_is_model, "one of " + ", ".join(repr(m) for m in _MODELS))
#: A registered learner name (or an alias such as "sop_plus"); :class:`Satisfies` reads the
#: lookup's ValueError as "not allowed".
LEARNER_NAME = Satisfies(
    lambda value: bool(learner_class(value)),
    "a learner name, one of " + ", ".join(map(repr, LEARNERS.names())),
)
