"""A download-free demonstration: which subset should a re-labeling learner train on?

scikit-learn's 8x8 digits get human-like label noise (:mod:`prune4rel.demo.noise`: hard
digits flipped toward the class a weak annotator confuses them with, at CIFAR-10N worst's
40% by default); per seed, a short cross-entropy warm-up on every example gives the
:class:`~prune4rel.signals.Signals`; uniform, small_loss, the published prune4rel and this
project's prune4rel_agree each keep a share of the training set; SOP+ is trained on each
subset (:mod:`prune4rel.demo.experiment`). The report (:mod:`prune4rel.demo.summary`) gives
mean ± std over seeds, the paired difference to uniform and a verdict computed from them;
:func:`run_demo` prints it and writes the table, a plot and the raw results to a folder.
"""

from prune4rel.demo.experiment import BASELINE, NOISE_LEVELS, QUICK, DemoSettings
from prune4rel.demo.run import DEFAULT_OUT, run_demo

__all__ = ["BASELINE", "DEFAULT_OUT", "NOISE_LEVELS", "QUICK", "DemoSettings", "run_demo"]
