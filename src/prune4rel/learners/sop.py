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
become large for examples the network keeps contradicting, i.e. the noisy ones. Each step
gathers the batch's rows of ``u`` and ``v`` (stored in the learner's ``state_dtype`` on its
``state_device``) as float32 on the training device and writes ``row - lr * grad`` back
once backward has their gradient: exactly an SGD step on the whole tensors, whose other
rows have zero gradient.

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
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from prune4rel.learners.base import Learner
from prune4rel.learners.loop import Batch
from prune4rel.learners.state import StateField
from prune4rel.validation import Options, Real, Rule

__all__ = ["SOP", "SOPPlus"]

_EPS = 1e-4
#: float16 keeps ``u`` and ``v`` times this power of two: the N(0, 1e-8^2) start would
#: otherwise be below float16's smallest subnormal (6e-8) and stay 0 for ever; scaled, the
#: start is a normal float16 and values up to ~4 (where the clamps saturate) stay finite
_FLOAT16_SCALE = 2.0**14


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
        PreActResNet18: lr 0.02, momentum 0.9, weight decay 5e-4, batch 128, cosine),
        including ``state_dtype`` and ``state_device`` for the per-example state.

    Notes
    -----
    Per-example state, for ``C`` classes: ``u`` (N, 1) and ``v`` (N, C) in ``state_dtype``,
    and the last predicted label (N,) int64 (-1 before the example is trained), i.e.
    ``4 (1 + C) + 8`` bytes per example in float32 and ``2 (1 + C) + 8`` in float16 or
    bfloat16 (CIFAR-10: 52 vs 30 bytes; 1,000 classes: 4,012 vs 2,010 bytes, so 1.28M
    examples take 5.1 GB vs 2.6 GB). float16 stores ``u`` and ``v`` times ``2**14``, since
    their N(0, 1e-8^2) start would round to 0 in plain float16.
    """

    name = "sop+"
    param_rules: ClassVar[dict[str, Rule]] = {
        **Learner.param_rules, "lr_u": Real(0), "lr_v": Real(0), "consistency": Real(0), "balance": Real(0),
        "init_std": Real(0), "relabel": Options("prediction", "noise"),
    }
    per_example_state = (
        StateField("u", ("n", 1)), StateField("v", ("n", "classes")),
        StateField("_pred", ("n",), kind="int64", fill=-1),
    )
    u: torch.Tensor
    v: torch.Tensor
    _pred: torch.Tensor

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
        self.lr_u, self.lr_v, self.consistency, self.balance = lr_u, lr_v, consistency, balance
        self.init_std, self.relabel = init_std, relabel
        super().__init__(model, **kwargs)

    @property
    def uses_strong_view(self) -> bool:
        """Whether the consistency term (and so the strong view) is on."""
        return self.consistency > 0

    @property
    def _scale(self) -> float:
        """The factor ``u`` and ``v`` are stored times (see the Notes)."""
        return _FLOAT16_SCALE if self._storage.dtype == torch.float16 else 1.0

    def _init_state(self, n: int, num_classes: int) -> None:
        gen = torch.Generator().manual_seed(self.seed + 1)
        rows = torch.arange(n)
        for state, width in ((self.u, 1), (self.v, num_classes)):  # u's draws first, then v's
            start = torch.randn(n, width, generator=gen) * self.init_std
            self._storage.store(state, rows, start, self._scale)

    def _rows(self, state: torch.Tensor, idx: torch.Tensor, lr: float) -> torch.Tensor:
        """Rows ``idx`` (B,) of ``u`` or ``v`` as a float32 leaf (B, k) on the device; once
        backward has its gradient, ``rows - lr * grad`` is stored back (plain SGD)."""
        rows = self._storage.gather(state, idx, self._scale).requires_grad_()

        def sgd(grad: torch.Tensor) -> None:
            self._storage.store(state, idx, rows.detach().add(grad, alpha=-lr), self._scale)

        rows.register_hook(sgd)
        return rows

    def noise_estimate(self, idx: torch.Tensor | None = None) -> torch.Tensor:
        """``s_i = clamp(u_i^2 y_i, 0, 1) - clamp(v_i^2 (1 - y_i), 0, 1)``, float32 on the
        device, shape (B, C) for dataset indices ``idx`` (B,), (N, C) when None."""
        y = self.given_labels_tensor()
        if idx is None:
            idx = torch.arange(y.numel(), device=y.device)
        u = self._storage.gather(self.u, idx, self._scale)
        v = self._storage.gather(self.v, idx, self._scale)
        onehot = F.one_hot(y[idx], v.shape[1]).float()
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
        u2 = (self._rows(self.u, batch.idx, self.lr_u) ** 2 * onehot).clamp(0, 1)
        v2 = (self._rows(self.v, batch.idx, self.lr_v) ** 2 * (1 - onehot)).clamp(0, 1)
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
            self._pred[batch.idx.to(self._pred.device)] = p.argmax(dim=1).to(self._pred.device)
        return loss, logits

    def corrected_labels(self) -> np.ndarray:
        """Re-label of each trained example (see ``relabel``); the given label otherwise."""
        given = self.given_labels_tensor()
        pred = self._pred.to(given.device)
        with torch.no_grad():
            if self.relabel == "prediction":
                est = pred
            else:
                chunks = torch.arange(given.numel(), device=given.device).split(self.eval_batch_size)
                est = torch.cat([
                    (F.one_hot(given[i], self.v.shape[1]).float() - self.noise_estimate(i)).argmax(dim=1)
                    for i in chunks
                ])
            out = torch.where(pred >= 0, est, given)
        return out.cpu().numpy().astype(np.int64)


class SOP(SOPPlus):
    """SOP without the SOP+ regularisers (``consistency=0``, ``balance=0``, one view)."""

    name = "sop"

    def __init__(self, model: Any = "auto", **kwargs: Any) -> None:
        kwargs.setdefault("consistency", 0.0)
        kwargs.setdefault("balance", 0.0)
        super().__init__(model, **kwargs)
