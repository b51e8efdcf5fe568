"""Plain cross-entropy training (the warm-up learner and the no-correction baseline)."""

from __future__ import annotations

import torch

from prune4rel.learners.base import Learner
from prune4rel.learners.loop import Batch
from prune4rel.learners.losses import cross_entropy

__all__ = ["CE"]


class CE(Learner):
    """Standard cross-entropy on the given labels; :meth:`corrected_labels` returns them
    unchanged. Takes every argument of :class:`~prune4rel.learners.Learner`; keeps no
    per-example state, so data-parallel training is exact."""

    name = "ce"
    data_parallel = True

    def _train_step(self, batch: Batch, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.model is not None
        logits = self.model(batch.x)
        return cross_entropy(logits, batch.y, self.label_smoothing), logits
