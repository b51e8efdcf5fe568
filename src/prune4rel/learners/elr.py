"""Early-Learning Regularisation (Liu, Niles-Weed, Razavian and Fernandez-Granda, NeurIPS 2020)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from prune4rel.learners.base import Learner
from prune4rel.learners.loop import Batch
from prune4rel.learners.losses import cross_entropy
from prune4rel.learners.state import StateField
from prune4rel.validation import Real, Rule

__all__ = ["ELR"]


class ELR(Learner):
    """Cross-entropy plus ELR's regulariser towards a running average of the predictions.

    Each trained example ``i`` keeps a target ``t_i`` (dataset-indexed, shape (N, C)),
    updated every time it is in a batch with its (clamped, renormalised, detached)
    prediction ``p_i``::

        t_i <- beta * t_i + (1 - beta) * p_i
        loss = CE(logits, y) + lam * mean_i log(1 - <p_i, t_i>)

    Early in training the network fits the clean majority, so ``t_i`` drifts towards the
    true class; the regulariser then keeps ``p_i`` close to ``t_i`` instead of memorising a
    wrong label. :meth:`corrected_labels` is ``argmax t_i`` for examples trained at least
    once and the given label otherwise.

    Parameters
    ----------
    beta : float
        Momentum of the target average, in [0, 1) (paper: 0.7 on CIFAR-10, 0.9 on CIFAR-100).
    lam : float
        Weight of the regulariser (paper: 3 on CIFAR-10, 7 on CIFAR-100).
    **kwargs
        Every argument of :class:`~prune4rel.learners.Learner`, including ``state_dtype``
        and ``state_device`` for the targets.

    Notes
    -----
    Per-example state, for ``C`` classes: the targets (N, C) in ``state_dtype`` and a
    trained flag (N,) bool, i.e. ``4 C + 1`` bytes per example in float32 and ``2 C + 1``
    in float16 or bfloat16 (CIFAR-10: 41 vs 21 bytes; 1,000 classes: 4,001 vs 2,001).
    The regulariser uses each batch's updated targets in float32, before they are rounded
    to ``state_dtype`` for storage. A target changes only with its own example's
    prediction, so data-parallel training is exact.
    """

    name = "elr"
    data_parallel = True
    param_rules: ClassVar[dict[str, Rule]] = {
        **Learner.param_rules, "beta": Real(0, 1, closed="left"), "lam": Real(0),
    }
    per_example_state = (StateField("targets", ("n", "classes")), StateField("_seen", ("n",), kind="bool"))
    targets: torch.Tensor
    _seen: torch.Tensor

    def __init__(self, model: Any = "auto", *, beta: float = 0.7, lam: float = 3.0, **kwargs: Any) -> None:
        self.beta, self.lam = beta, lam
        super().__init__(model, **kwargs)

    def _train_step(self, batch: Batch, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.model is not None
        logits = self.model(batch.x)
        p = torch.softmax(logits.float(), dim=1).clamp(1e-4, 1.0 - 1e-4)
        with torch.no_grad():
            pd = p / p.sum(dim=1, keepdim=True)
            t = self.beta * self._storage.gather(self.targets, batch.idx) + (1 - self.beta) * pd
            self._storage.store(self.targets, batch.idx, t)
            self._seen[batch.idx.to(self._seen.device)] = True
        reg = torch.log(1.0 - (t * p).sum(dim=1)).mean()
        loss = cross_entropy(logits, batch.y, self.label_smoothing) + self.lam * reg
        return loss, logits

    def corrected_labels(self) -> np.ndarray:
        """``argmax`` of each trained example's target; the given label if never trained."""
        given = self.given_labels_tensor()
        seen, label = self._seen.to(given.device), self.targets.argmax(dim=1).to(given.device)
        out = torch.where(seen, label, given)
        return out.cpu().numpy().astype(np.int64)
