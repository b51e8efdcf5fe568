"""prune4rel: robust data pruning under label noise.

Pick a small subset of a noisily-labelled training set on which a re-labeling learner
(SOP+, DivideMix, ELR) reaches the highest accuracy.
"""

from prune4rel.api import select
from prune4rel.selection import Selection, Selector, available_selectors, get_selector
from prune4rel.signals import Signals, SignalsFileError

__version__ = "0.1.0"

__all__ = [
    "Selection",
    "Selector",
    "Signals",
    "SignalsFileError",
    "__version__",
    "available_selectors",
    "get_selector",
    "select",
]
