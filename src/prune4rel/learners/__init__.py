"""Training methods behind one :class:`Learner` interface: CE, ELR, SOP, SOP+, DivideMix.

>>> from prune4rel.data import load_digits_noisy
>>> from prune4rel.learners import get_learner
>>> ds = load_digits_noisy(0.4)
>>> learner = get_learner("sop+", model="mlp", lr=0.1, seed=0)
>>> _ = learner.fit(ds, epochs=2, progress=False)
>>> learner.corrected_labels().shape == (ds.n,)
True
"""

from typing import Any

from prune4rel.learners.base import Learner
from prune4rel.learners.binding import ModelSpec
from prune4rel.learners.callbacks import Callback, EpochRecorder, example_statistics
from prune4rel.learners.ce import CE
from prune4rel.learners.checkpoint import LearnerStateError
from prune4rel.learners.elr import ELR
from prune4rel.learners.loop import Batch, TrainingLoop
from prune4rel.learners.sop import SOP, SOPPlus
from prune4rel.learners.state import StateField
from prune4rel.registry import Registry
from prune4rel.validation import check_param_names

__all__ = [
    "CE",
    "ELR",
    "LEARNERS",
    "SOP",
    "Batch",
    "Callback",
    "EpochRecorder",
    "Learner",
    "LearnerStateError",
    "ModelSpec",
    "SOPPlus",
    "StateField",
    "TrainingLoop",
    "example_statistics",
    "get_learner",
    "learner_class",
]

#: Registry name -> learner class.
LEARNERS: Registry[type[Learner]] = Registry(
    "learner", "learner", aliases={"sop_plus": "sop+", "sopplus": "sop+", "cross_entropy": "ce"}
)
LEARNERS.update({"ce": CE, "elr": ELR, "sop": SOP, "sop+": SOPPlus})


def learner_class(name: str) -> type[Learner]:
    """The learner class registered as ``name`` (case-insensitive; aliases such as "sop_plus").

    Raises
    ------
    ValueError
        For an unknown name; the message lists the registered ones.
    """
    return LEARNERS.lookup(name)


def get_learner(name: str, **params: Any) -> Learner:
    """Instantiate a learner by name ("ce", "elr", "sop", "sop+"; also "sop_plus").

    Raises
    ------
    ValueError
        For an unknown name; :class:`~prune4rel.validation.ParameterError` for a parameter
        the learner does not take or a value its rule does not allow.
    """
    cls = learner_class(name)
    check_param_names(params, ["model", *cls.param_rules], f"learner {name!r}")
    return cls(**params)

from prune4rel.learners.dividemix import DivideMix  # noqa: E402 - registered after the core learners

LEARNERS.add("dividemix", DivideMix)
__all__ += ["DivideMix"]
