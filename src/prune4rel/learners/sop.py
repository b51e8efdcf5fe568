"""SOP and SOP+: sparse over-parameterisation of the label noise.

Liu, Zhu, Qu and You, "Robust Training under Label Noise by Over-parameterization",
ICML 2022. Each training example ``i`` with one-hot given label ``y_i`` gets its own
parameters ``u_i`` (a scalar) and ``v_i`` (a C-vector), which model the label noise as

    s_i = clamp(u_i^2 * y_i, 0, 1) - clamp(v_i^2 * (1 - y_i), 0, 1)

(``u_i`` can only *remove* mass from the given class, ``v_i`` only *add* it to other
classes). With ``p_i = softmax(f(x_i))`` and ``onehot(p_i)`` its hard argmax, the loss is

    L = CE( normalise(clamp(p_i + s_i)), y_i )          -> trains the network and u
      + || onehot(p_i) + s_i - y_i ||^2                 -> trains v

as in the paper (the CE term sees ``v`` detached and the MSE term sees ``u`` and the
network detached: v receives no useful gradient through CE, and the hard one-hot keeps
the MSE from shaping the network). ``u`` and ``v`` start at N(0, 1e-8^2), are trained by
plain SGD with their own learning rates (no momentum, no weight decay; the paper's
CIFAR-10 values are 10 and 10) and follow no schedule. Because they start tiny and grow
multiplicatively (implicit sparsity of the ``u^2``/``v^2`` parameterisation), they only
become large for examples the network keeps contradicting, i.e. the noisy ones.

SOP+ adds two regularisers (paper: weights 0.9 and 0.1):

- consistency: ``KL(p_weak.detach() || p_strong)`` between the predictions on the weak
  view and on a strongly augmented view of the same images (one forward pass on both);
- class balance: ``KL(uniform || mean_batch(normalised prediction))``, which keeps the
  network from collapsing onto a few classes.

The network and both views go through a single concatenated forward pass, so the batch
statistics of BatchNorm mix the two views as in the authors' code.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from prune4rel.learners.base import Batch, Learner

__all__ = ["SOP", "SOPPlus"]

_EPS = 1e-4
_RELABEL = ("prediction", "noise")


class SOPPlus(Learner):
    """SOP+ (SOP with consistency and class-balance regularisers).

    Parameters
    ----------
    lr_u, lr_v : float
        SGD learning rates of the per-example noise parameters (paper, CIFAR-10: 10 and 10;
        CIFAR-100: 1 and 10). Gradients are averaged over the batch, as in the paper's code.
    consistency : float
        Weight of the two-view consistency KL (0 disables the strong view).
    balance : float
        Weight of the class-balance KL.
    init_std : float
        Std of the Gaussian initialisation of ``u`` and ``v``.
    relabel : {"prediction", "noise"}
        What :meth:`corrected_labels` returns for trained examples. "prediction": the argmax
        of the network's prediction on the example's weak view the last time it was trained
        (the model's re-label, as the Prune4ReL paper measures re-labeling accuracy).
        "noise": the argmax of SOP's own label estimate ``y_i - s_i``.
    **kwargs
        Every argument of :class:`~prune4rel.learners.Learner` (paper, CIFAR-10 with
        PreActResNet18: lr 0.02, momentum 0.9, weight decay 5e-4, batch 128, cosine).
    """

    name = "sop+"
    uses_strong_view = True

    def __init__(
        self,
        model: Any = "auto",
        *,
        lr_u: float = 10.0,
        lr_v: float = 10.0,
        consistency: float = 0.9,
        balance: float = 0.1,
        init_std: float = 1e-8,
        relabel: str = "prediction",
        **kwargs: Any,
    ) -> None:
        for name, value in (("lr_u", lr_u), ("lr_v", lr_v), ("consistency", consistency),
                            ("balance", balance), ("init_std", init_std)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"`{name}` must be a finite number >= 0, got {value!r}")
        if relabel not in _RELABEL:
            raise ValueError(f"`relabel` must be one of {_RELABEL}, got {relabel!r}")
        self.lr_u = float(lr_u)
        self.lr_v = float(lr_v)
        self.consistency = float(consistency)
        self.balance = float(balance)
        self.init_std = float(init_std)
        self.relabel = relabel
        self.uses_strong_view = self.consistency > 0
        super().__init__(model, **kwargs)

    def _init_state(self, n: int, num_classes: int) -> None:
        gen = torch.Generator().manual_seed(self.seed + 1)
        self.u = nn.Parameter((torch.randn(n, 1, generator=gen) * self.init_std).to(self.device))
        self.v = nn.Parameter((torch.randn(n, num_classes, generator=gen) * self.init_std).to(self.device))
        self._last_pred = torch.zeros(n, num_classes, device=self.device)
        self._seen = torch.zeros(n, dtype=torch.bool, device=self.device)

    def _make_optimizers(self) -> list[tuple[torch.optim.Optimizer, bool]]:
        opts = super()._make_optimizers()
        opts.append((torch.optim.SGD([self.u], lr=self.lr_u, momentum=0.0, weight_decay=0.0), False))
        opts.append((torch.optim.SGD([self.v], lr=self.lr_v, momentum=0.0, weight_decay=0.0), False))
        return opts

    def noise_estimate(self, idx: torch.Tensor | None = None) -> torch.Tensor:
        """``s_i = clamp(u_i^2 y_i, 0, 1) - clamp(v_i^2 (1 - y_i), 0, 1)``, shape (B, C)."""
        y = self.given_labels_tensor()
        if idx is not None:
            y = y[idx]
        u = self.u if idx is None else self.u[idx]
        v = self.v if idx is None else self.v[idx]
        onehot = F.one_hot(y, v.shape[1]).float()
        return (u**2 * onehot).clamp(0, 1) - (v**2 * (1 - onehot)).clamp(0, 1)

    def _train_step(self, batch: Batch, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.model is not None
        b = batch.x.shape[0]
        if self.uses_strong_view:
            assert batch.x_strong is not None
            out = self.model(torch.cat([batch.x, batch.x_strong])).float()
            logits, logits_strong = out[:b], out[b:]
        else:
            logits, logits_strong = self.model(batch.x).float(), None
        onehot = F.one_hot(batch.y, logits.shape[1]).float()
        u2 = (self.u[batch.idx] ** 2 * onehot).clamp(0, 1)
        v2 = (self.v[batch.idx] ** 2 * (1 - onehot)).clamp(0, 1)
        p = torch.softmax(logits, dim=1)
        # CE on the noise-adjusted prediction: trains the network and u (v detached)
        adj = (p + u2 - v2.detach()).clamp_min(_EPS)
        adj = adj / adj.sum(dim=1, keepdim=True).clamp_min(_EPS)
        adj = adj.clamp(_EPS, 1.0)
        loss = -(onehot * adj.log()).sum(dim=1).mean()
        # MSE between hard prediction + noise and the given label: trains v only
        hard = F.one_hot(logits.detach().argmax(dim=1), logits.shape[1]).float()
        loss = loss + ((hard + u2.detach() - v2 - onehot) ** 2).sum() / b
        if self.balance > 0:
            avg = adj.mean(dim=0).clamp(_EPS, 1.0)
            c = logits.shape[1]
            loss = loss + self.balance * (avg.log().neg().mean() - math.log(c))  # KL(U || avg)
        if logits_strong is not None:
            kl = F.kl_div(F.log_softmax(logits_strong, dim=1), p.detach(), reduction="none")
            loss = loss + self.consistency * kl.sum(dim=1).mean()
        with torch.no_grad():
            self._last_pred[batch.idx] = p.detach()
            self._seen[batch.idx] = True
        return loss, logits

    def corrected_labels(self) -> np.ndarray:
        """Re-label of each trained example (see ``relabel``); the given label otherwise."""
        given = self.given_labels_tensor()
        with torch.no_grad():
            if self.relabel == "prediction":
                est = self._last_pred
            else:
                est = F.one_hot(given, self.v.shape[1]).float() - self.noise_estimate()
            out = torch.where(self._seen, est.argmax(dim=1), given)
        return out.cpu().numpy().astype(np.int64)


class SOP(SOPPlus):
    """SOP without the SOP+ regularisers (``consistency=0``, ``balance=0``, one view)."""

    name = "sop"

    def __init__(self, model: Any = "auto", **kwargs: Any) -> None:
        kwargs.setdefault("consistency", 0.0)
        kwargs.setdefault("balance", 0.0)
        super().__init__(model, **kwargs)
