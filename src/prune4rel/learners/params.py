"""What every learner's hyper-parameters allow (subclasses extend these rules)."""

from __future__ import annotations

from prune4rel.data import Augment
from prune4rel.devices import DeviceRule
from prune4rel.learners.optim import SCHEDULES
from prune4rel.learners.state import STATE_DTYPES
from prune4rel.validation import Boolean, Integer, MappingOf, Options, Real, Rule, Satisfies, optional

__all__ = ["LEARNER_RULES"]

#: The rules of :class:`~prune4rel.learners.Learner`'s parameters (see its docstring).
LEARNER_RULES: dict[str, Rule] = {
    "batch_size": Integer(1),
    "lr": Real(0, closed="right"),
    "momentum": Real(0),
    "weight_decay": Real(0),
    "nesterov": Boolean(),
    "schedule": Options(*SCHEDULES),
    "min_lr_ratio": Real(0),
    "warmup_fraction": Real(0, 1, closed="left"),
    "label_smoothing": Real(0, 1, closed="left"),
    "augment": Satisfies(
        lambda v: v is None or isinstance(v, Augment) or v == "auto", "'auto', None or an Augment"
    ),
    "amp": Boolean(),
    "tta": Boolean(),
    "channels_last": Boolean(),
    "device": DeviceRule(),
    "seed": Integer(0),
    "eval_batch_size": Integer(1),
    "model_kwargs": MappingOf(),
    "num_threads": optional(Integer(1)),
    "state_dtype": Options(*STATE_DTYPES),
    "state_device": optional(Options("auto", "cpu")),
}
