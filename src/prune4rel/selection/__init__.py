"""Selection layer: pure algorithms on per-example arrays (no training), a selection's files
(:mod:`~prune4rel.selection.files`) and its exports (:mod:`~prune4rel.selection.export`).

Importing this package registers every built-in selector; use
:func:`get_selector` / :func:`available_selectors` to find them by name.
"""

from prune4rel.selection import baselines, cleanlab_selector, prune4rel_selector, prune4rel_variants
from prune4rel.selection.base import (
    MissingSignalError,
    Selection,
    Selector,
    available_selectors,
    class_budgets,
    get_selector,
    register,
    resolve_budget,
    selector_class,
)
from prune4rel.selection.baselines import (
    AUM,
    CCS,
    EL2N,
    Entropy,
    Forgetting,
    GraNd,
    KCenterGreedy,
    LeastConfidence,
    Margin,
    Moderate,
    SmallLoss,
    Uniform,
)
from prune4rel.selection.cleanlab_selector import CleanlabSelector
from prune4rel.selection.files import SelectionFileError, read_selection, write_selection
from prune4rel.selection.prune4rel_selector import Prune4ReL, neighborhood_objective
from prune4rel.selection.prune4rel_variants import Prune4ReLAgree

__all__ = [
    "AUM",
    "CCS",
    "EL2N",
    "CleanlabSelector",
    "Entropy",
    "Forgetting",
    "GraNd",
    "KCenterGreedy",
    "LeastConfidence",
    "Margin",
    "MissingSignalError",
    "Moderate",
    "Prune4ReL",
    "Prune4ReLAgree",
    "Selection",
    "SelectionFileError",
    "Selector",
    "SmallLoss",
    "Uniform",
    "available_selectors",
    "baselines",
    "class_budgets",
    "cleanlab_selector",
    "get_selector",
    "neighborhood_objective",
    "prune4rel_selector",
    "prune4rel_variants",
    "read_selection",
    "register",
    "resolve_budget",
    "selector_class",
    "write_selection",
]
