"""Confident learning (cleanlab) as a selector, to measure it against Prune4ReL on one warm-up.

:class:`CleanlabSelector` (registry name ``"cleanlab"``, optional extra ``[cleanlab]``) flags
label issues with :func:`cleanlab.filter.find_label_issues` (Northcutt et al., *Confident
Learning*, JAIR 2021), drops them, and keeps the examples whose given label is most probable
(cleanlab's "self-confidence" ``p[i, y_i]``), class-balanced by default.

Which probabilities: cleanlab's documentation requires *out-of-sample* predicted
probabilities (each example predicted by a model that did not train on it, e.g. by
cross-validation). A warm-up's ``Signals.probs`` are in-sample: the network was trained on
these very examples and their noisy labels, so the longer it trained, the more it agrees with
the wrong labels and the fewer issues cleanlab finds. Two options:

* ``pred_probs="cross_val"`` (default): out-of-sample probabilities from a ``folds``-fold
  cross-validated multinomial logistic regression on the (standardised) embeddings, fitted to
  the given labels (:func:`cross_val_probs`). This is cleanlab's own recipe for features
  (``cleanlab.count.estimate_cv_predicted_probabilities`` with a logistic regression). Caveat
  left: the embeddings themselves come from the warm-up network, which saw every example, so
  the probabilities are out-of-sample for the linear head only.
* ``pred_probs="given"``: ``Signals.probs`` as they are. Right when they already are
  out-of-sample (you cross-validated your own model: build the Signals with those
  probabilities), and fast; otherwise cleanlab runs outside its documented assumption.

No clean label is read.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from prune4rel.selection._common import SEED, BaselineSelector, top_k
from prune4rel.selection.base import Selection, register
from prune4rel.signals import Signals
from prune4rel.validation import Boolean, Integer, Options, Rule

__all__ = ["FILTERS", "PRED_PROBS", "CleanlabSelector", "cross_val_probs"]

#: ``filter_by`` rules of :func:`cleanlab.filter.find_label_issues` (single-label data).
FILTERS = (
    "prune_by_noise_rate", "prune_by_class", "both", "confident_learning", "predicted_neq_given",
    "low_normalized_margin", "low_self_confidence",
)  # fmt: skip
#: Where the probabilities cleanlab reads come from.
PRED_PROBS = ("cross_val", "given")


def _find_label_issues() -> Callable[..., np.ndarray]:
    try:
        from cleanlab.filter import find_label_issues
    except ImportError as exc:
        raise ImportError(
            "the 'cleanlab' selector needs cleanlab: pip install 'prune4rel[cleanlab]'"
        ) from exc
    return find_label_issues


def cross_val_probs(
    embeddings: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    *,
    folds: int = 5,
    max_iter: int = 100,
    seed: int = 0,
    progress: bool = False,
) -> np.ndarray:
    """Out-of-sample class probabilities of a cross-validated linear probe.

    Each fold's rows are predicted by a multinomial logistic regression (L2, ``C = 1``)
    fitted on the other folds' standardised embeddings and given labels. Folds are
    stratified by the given label and shuffled with ``seed``.

    Parameters
    ----------
    embeddings : ndarray of float, shape (n, d)
    labels : ndarray of int, shape (n,)
        Given labels in ``[0, num_classes)``.
    num_classes : int
        Columns of the result; a class missing from a fold's training rows gets
        probability 0 for that fold's rows.
    folds : int
        Number of folds, in ``[2, n]``.
    max_iter : int
        L-BFGS iterations per fit (scikit-learn's ConvergenceWarning is silenced: a probe
        short of convergence still gives held-out probabilities). The fits run on one BLAS /
        OpenMP thread: for a probe this small that is the fastest (on 40,000 x 128 and 10
        classes, 100 iterations: 3.3 s on one thread, 43 s on two threads of a loaded
        2-core machine).
    seed : int
    progress : bool
        A progress bar over the folds.

    Returns
    -------
    ndarray of float64, shape (n, num_classes)
        Rows sum to 1.

    Raises
    ------
    ValueError
        When ``folds`` exceeds ``n`` or a fold's training rows hold a single class.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits
    from tqdm.auto import tqdm

    n = labels.shape[0]
    if folds > n:
        raise ValueError(f"`folds` = {folds} exceeds the n = {n} examples")
    x = np.asarray(embeddings, dtype=np.float32)
    out = np.zeros((n, num_classes))
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        parts = tqdm(split.split(x, labels), total=folds, desc="cleanlab cross-val", disable=not progress)
        for train, held in parts:
            if np.unique(labels[train]).size < 2:
                raise ValueError(
                    "a cross-validation fold trains on a single class: use pred_probs='given' "
                    "or fewer `folds`"
                )
            scale = StandardScaler().fit(x[train])
            probe = LogisticRegression(max_iter=max_iter).fit(scale.transform(x[train]), labels[train])
            out[np.ix_(held, probe.classes_)] = probe.predict_proba(scale.transform(x[held]))
    return out


@register("cleanlab")
class CleanlabSelector(BaselineSelector):
    """Confident learning: drop cleanlab's label issues, keep the most self-confident rest.

    Needs the optional extra: ``pip install 'prune4rel[cleanlab]'``. See the module
    docstring for which probabilities cleanlab reads and why.

    Parameters
    ----------
    pred_probs : {"cross_val", "given"}, default "cross_val"
        ``cross_val``: out-of-sample probabilities of a cross-validated logistic regression
        on the embeddings (:func:`cross_val_probs`); ``given``: ``Signals.probs`` as they
        are (in-sample for a warm-up: outside cleanlab's documented assumption).
    folds : int, default 5
        Cross-validation folds (``pred_probs="cross_val"``), >= 2.
    max_iter : int, default 100
        L-BFGS iterations of each fold's logistic regression, >= 1.
    filter_by : str, default "prune_by_noise_rate"
        cleanlab's rule for flagging issues (one of :data:`FILTERS`; cleanlab's default).
    balance : bool, default True
        Per-class budgets proportional to the class sizes under the given labels (as
        ``prune4rel``'s round-robin); False ranks all examples together.
    seed : int, default 0
        Seed of the cross-validation folds.
    progress : bool, default False
        A progress bar over the folds.

    Notes
    -----
    Ranking: examples not flagged come first, by decreasing self-confidence ``p[i, y_i]``
    (of the probabilities cleanlab read), then the flagged ones the same way: a budget
    larger than the examples not flagged (per class with ``balance``) takes the least
    doubtful issues rather than failing. Ties go to the lower index. ``Selection.indices``
    are best first; ``gains`` the self-confidence of each pick; ``extras``: ``"score"``
    (self-confidence, shape (n,)), ``"label_issue"`` (bool, shape (n,)), ``"issues"`` (their
    count) and ``"pred_probs"`` (which probabilities were used).
    """

    param_rules: ClassVar[dict[str, Rule]] = {
        "pred_probs": Options(*PRED_PROBS),
        "folds": Integer(2),
        "max_iter": Integer(1),
        "filter_by": Options(*FILTERS),
        "balance": Boolean(),
        "seed": SEED,
        "progress": Boolean(),
    }

    def __init__(
        self,
        pred_probs: str = "cross_val",
        folds: int = 5,
        max_iter: int = 100,
        filter_by: str = "prune_by_noise_rate",
        balance: bool = True,
        seed: int = 0,
        progress: bool = False,
    ) -> None:
        self.pred_probs = pred_probs
        self.folds = folds
        self.max_iter = max_iter
        self.filter_by = filter_by
        self.balance = balance
        self.seed = seed
        self.progress = progress
        self._validate_params()

    def probabilities(self, signals: Signals) -> np.ndarray:
        """The probabilities cleanlab reads, float64 of shape (n, C) (see ``pred_probs``)."""
        if self.pred_probs == "given":
            return np.asarray(signals.probs, dtype=np.float64)
        return cross_val_probs(
            signals.embeddings, signals.labels, signals.num_classes,
            folds=self.folds, max_iter=self.max_iter, seed=self.seed, progress=self.progress,
        )

    def _select(self, signals: Signals, budget: int) -> Selection:
        find_label_issues = _find_label_issues()
        labels = signals.labels
        probs = self.probabilities(signals)
        issues = np.asarray(find_label_issues(labels, probs, filter_by=self.filter_by, n_jobs=1), dtype=bool)
        self_conf = probs[np.arange(signals.n), labels]
        order = np.lexsort((np.arange(signals.n), -self_conf, issues))
        rank = np.empty(signals.n, dtype=np.int64)
        rank[order] = np.arange(signals.n)
        idx = top_k(rank, budget, labels, self.balance)
        extras: dict[str, Any] = {
            "score": self_conf,
            "label_issue": issues,
            "issues": np.array(int(issues.sum())),
            "pred_probs": np.array(self.pred_probs),
        }
        return Selection(indices=idx, gains=self_conf[idx], extras=extras)
