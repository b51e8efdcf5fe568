"""DivideMix (Li, Socher and Hoi, "DivideMix: Learning with Noisy Labels as Semi-supervised
Learning", ICLR 2020), behind the :class:`~prune4rel.learners.Learner` interface.

Two networks are trained side by side so that each one filters the training data for the
other (a network that selects its own clean examples confirms its own mistakes):

1. **Warm-up** (the first ``warmup_epochs`` epochs): plain cross-entropy on the given
   labels for both networks, optionally with a confidence penalty (negative entropy of
   the prediction), which the paper uses under asymmetric noise.
2. **Co-divide** (each later epoch, before training): every network computes, in eval
   mode and without augmentation, the cross-entropy loss of each bound training example;
   within each given class (``classwise_divide``; the paper: over all examples at once)
   the losses are scaled to [0, 1] and a two-component 1-D Gaussian mixture is fitted.
   The posterior of the small-mean component is the clean probability ``w_i``. The
   probabilities of one network split the data *for the other*: labeled set
   ``w_i > p_threshold``, unlabeled set the rest.
3. **MixMatch**: per epoch, each network takes ``ceil(m / batch_size)`` steps for ``m``
   bound examples, one step of the learning-rate schedule each, with labeled and
   unlabeled batches of equal size drawn cyclically from random orders of its labeled and
   unlabeled sets; on two augmented views of each batch:

   - label refinement (labeled): ``sharpen(w y + (1 - w) mean_views p_net, T)``;
   - co-guessing (unlabeled): ``sharpen(mean over views and both networks of p, T)``;
   - MixUp of all four view batches with ``lam ~ Beta(alpha, alpha)``,
     ``lam = max(lam, 1 - lam)`` (so a mixed input stays closer to its own example);
   - loss = CE(mixed labeled) + ``lambda_u * ramp`` * MSE(mixed unlabeled)
     + ``prior_weight`` * KL(uniform || mean prediction), where ``ramp`` grows linearly
     from 0 to 1 over ``rampup_epochs`` epochs after warm-up.

:meth:`DivideMix.predict` averages the two networks' softmax; embeddings are the first
network's. :meth:`DivideMix.corrected_labels` is, per example, the argmax of the target it
was last trained towards (the refined label in the labeled set, the co-guessed label in
the unlabeled set, summed over the two networks); the given label for examples never
trained by MixMatch. Note that a refined label with ``w > 0.5`` always keeps the given
class, so re-labeling happens through the unlabeled set.

Differences from the authors' code, on purpose: the learning rate follows the base
class's per-step schedule (the paper: 0.02, divided by 10 half-way through 300 epochs);
warm-up uses ``batch_size`` (the paper doubles it); the per-example loss history
averaging the code applies to asymmetric CIFAR-10 is not implemented. Two more, because
the paper's versions collapse when the networks are still weak at the first co-divide
(a short warm-up, e.g. 2 of 12 epochs in a fast schedule; ``benchmarks/RESULTS.md``):

- the mixture is fitted per given class. A weak network favours a few classes, so the
  examples labeled with those classes have the smallest losses: one mixture over all
  losses then divides by class, not by label quality (on CIFAR-10N worst labels, some
  classes ended up 0% labeled and others 40-90%), training on the favoured classes
  makes the network favour them more, and the co-guessed labels follow it into a
  one-class collapse;
- an epoch has ``ceil(m / batch_size)`` steps per network (the paper: one pass over the
  labeled set, so a network whose labeled set shrinks to a few per cent of the data
  almost stops training).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from prune4rel.data import NoisyDataset
from prune4rel.learners.base import Learner
from prune4rel.learners.callbacks import Callback
from prune4rel.learners.inference import embed_and_logits
from prune4rel.learners.loop import Batch, take_step
from prune4rel.learners.losses import confidence_penalty, cross_entropy, uniform_prior_penalty
from prune4rel.learners.mixmatch import classwise_clean_probability, gmm_clean_probability, mixup, sharpen
from prune4rel.learners.optim import Optimizers, make_sgd, set_lr
from prune4rel.learners.runtime import autocast
from prune4rel.learners.state import StateField
from prune4rel.validation import Boolean, Integer, Real, Rule

__all__ = ["DivideMix"]


class DivideMix(Learner):
    """DivideMix: two networks, GMM co-divide, MixMatch with label refinement and co-guessing.

    Parameters
    ----------
    model : str, nn.Module or callable
        As for :class:`~prune4rel.learners.Learner`; the second network is built the same
        way (a factory is called twice; a module instance is deep-copied and its layers'
        ``reset_parameters`` re-draw the weights).
    warmup_epochs : int
        Cross-entropy epochs before co-divide starts, counted over the learner's whole life
        (across ``fit`` calls). Paper: 10 on CIFAR-10, 30 on CIFAR-100.
    lambda_u : float
        Weight of the unlabeled MSE. Paper, CIFAR-10: 0 for 20% symmetric and 40%
        asymmetric noise, 25 for 50% and 80%, 50 for 90%; CIFAR-100: 25 for 20%, 150 above.
    p_threshold : float
        Clean-probability threshold of the division, in (0, 1). Paper: 0.5 (0.6 at 90%).
    temperature : float
        Sharpening temperature ``T`` (paper: 0.5).
    alpha : float
        MixUp ``Beta(alpha, alpha)`` parameter (paper: 4; 0.5 for CIFAR-100's 80-90%).
    rampup_epochs : float
        Length of the linear ramp-up of ``lambda_u`` after warm-up (paper: 16); 0 = none.
    prior_weight : float
        Weight of the uniform-prior regulariser (paper: 1).
    warmup_penalty : bool
        Add the confidence penalty ``sum p log p`` to the warm-up loss (paper: only for
        asymmetric noise).
    classwise_divide : bool
        Fit the loss mixture of the co-divide within each given class (default) rather
        than over all examples at once (the paper); see the module docstring.
    **kwargs
        Every argument of :class:`~prune4rel.learners.Learner`. Defaults changed to the
        paper's CIFAR settings (PreActResNet18, SGD momentum 0.9, weight decay 5e-4):
        ``batch_size=64``, ``lr=0.02``, ``nesterov=False``. The unlabeled batches have
        the labeled batch's size, so one step sees up to ``4 * batch_size`` inputs.
        ``state_dtype`` and ``state_device`` apply to the per-example state (Notes).

    Attributes
    ----------
    model, model2 : nn.Module
        The two networks.

    Raises
    ------
    ValueError
        For a hyper-parameter out of range (the message names it).

    Notes
    -----
    Per-example state, for ``C`` classes and each of the two networks: the clean
    probability and the last MixMatch target (C) in ``state_dtype`` and a trained flag
    (bool), i.e. ``2 (4 (1 + C) + 1)`` bytes per example in float32 and ``2 (2 (1 + C) + 1)``
    in float16 or bfloat16 (CIFAR-10: 90 vs 46 bytes; 1,000 classes: 8,010 vs 4,006).

    Examples
    --------
    >>> from prune4rel.data import load_digits_noisy
    >>> ds = load_digits_noisy(0.4)
    >>> dm = DivideMix.for_small_data(seed=0)
    >>> _ = dm.fit(ds, epochs=2, progress=False)
    >>> dm.corrected_labels().shape == (ds.n,)
    True
    """

    name = "dividemix"
    param_rules: ClassVar[dict[str, Rule]] = {
        **Learner.param_rules, "warmup_epochs": Integer(0), "lambda_u": Real(0),
        "p_threshold": Real(0, 1, closed="neither"), "temperature": Real(0, closed="right"),
        "alpha": Real(0, closed="right"), "rampup_epochs": Real(0), "prior_weight": Real(0),
        "warmup_penalty": Boolean(), "classwise_divide": Boolean(),
    }
    # per network k: the clean probability that trained it, the target it last trained each
    # example towards, and whether that target exists
    per_example_state = (
        StateField("_clean_prob", (2, "n"), fill=float("nan")), StateField("_targets", (2, "n", "classes")),
        StateField("_seen", (2, "n"), kind="bool"),
    )
    _clean_prob: torch.Tensor
    _targets: torch.Tensor
    _seen: torch.Tensor

    #: Settings for a few hundred to a few thousand examples and small models (tests,
    #: the digits demo): short warm-up and ramp-up, smaller batches, a moderate lambda_u.
    SMALL_DATA: ClassVar[dict[str, Any]] = {
        "warmup_epochs": 4, "rampup_epochs": 4, "lambda_u": 5.0, "batch_size": 32,
        "lr": 0.05, "num_threads": 1,
    }

    def __init__(
        self,
        model: Any = "auto",
        *,
        warmup_epochs: int = 10,
        lambda_u: float = 25.0,
        p_threshold: float = 0.5,
        temperature: float = 0.5,
        alpha: float = 4.0,
        rampup_epochs: float = 16,
        prior_weight: float = 1.0,
        warmup_penalty: bool = False,
        classwise_divide: bool = True,
        **kwargs: Any,
    ) -> None:
        self.warmup_epochs, self.lambda_u, self.p_threshold = warmup_epochs, lambda_u, p_threshold
        self.temperature, self.alpha, self.rampup_epochs = temperature, alpha, rampup_epochs
        self.prior_weight, self.warmup_penalty = prior_weight, warmup_penalty
        self.classwise_divide = classwise_divide
        kwargs.setdefault("batch_size", 64)
        kwargs.setdefault("lr", 0.02)
        kwargs.setdefault("nesterov", False)
        super().__init__(model, **kwargs)

    @classmethod
    def for_small_data(cls, model: Any = "auto", **overrides: Any) -> DivideMix:
        """A learner with :attr:`SMALL_DATA` settings; ``overrides`` win."""
        return cls(model, **{**cls.SMALL_DATA, **overrides})

    # ------------------------------------------------------------------ lifecycle
    def reset(self) -> None:
        """Forget both networks, the per-example state and the history."""
        super().reset()
        self.model2: nn.Module | None = None
        self._rng = np.random.default_rng(self.seed)

    def _build_model(self, dataset: NoisyDataset) -> nn.Module:
        first = super()._build_model(dataset)
        if isinstance(self.model_spec, nn.Module):
            second = copy.deepcopy(first)
            for m in second.modules():
                reset: Any = getattr(m, "reset_parameters", None)
                if callable(reset):
                    reset()
        else:
            second = super()._build_model(dataset)
        self.model2 = second.to(self.device)
        return first

    def networks(self) -> dict[str, nn.Module]:
        """The two networks, ``model`` and ``model2``."""
        self._require_fitted()
        assert self.model is not None and self.model2 is not None
        return {"model": self.model, "model2": self.model2}

    def _numpy_rngs(self) -> dict[str, np.random.Generator]:
        return {"_rng": self._rng}

    def _nets(self) -> tuple[nn.Module, nn.Module]:
        assert self.model is not None and self.model2 is not None
        return self.model, self.model2

    def _make_optimizers(self) -> Optimizers:
        return [(make_sgd(net.parameters(), self.lr, self.momentum, self.weight_decay, self.nesterov), True)
                for net in self._nets()]

    def _set_lr(self, opt: torch.optim.Optimizer, step: float, total: int) -> float:
        factor = self._lr_factor(step, total)
        set_lr(opt, factor)
        return self.lr * factor

    # ------------------------------------------------------------------ warm-up
    def _warmup_loss(self, net: nn.Module, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        logits = net(batch.x).float()
        loss = cross_entropy(logits, batch.y, self.label_smoothing)
        if self.warmup_penalty:
            loss = loss + confidence_penalty(logits)
        return loss, logits

    def _train_step(self, batch: Batch, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Warm-up loss of the first network (DivideMix runs its own epoch loop)."""
        assert self.model is not None
        return self._warmup_loss(self.model, batch)

    def _warmup_epoch(
        self, epoch: int, idx: torch.Tensor, optimizers: Optimizers, step0: int, total: int,
        callbacks: Sequence[Callback],
    ) -> dict[str, Any]:
        """Cross-entropy for both networks, each over its own random order of ``idx``."""
        nets = self._nets()
        n_batches = max(1, math.ceil(idx.numel() / self.batch_size))
        orders = [idx[torch.randperm(idx.numel(), generator=self._gen).to(idx.device)] for _ in nets]
        splits = [torch.tensor_split(order, n_batches) for order in orders]
        loss_sum, hits, seen, lr = 0.0, 0, 0, self.lr
        for i in range(n_batches):
            for k, (net, (opt, _)) in enumerate(zip(nets, optimizers)):
                net.train()
                lr = self._set_lr(opt, step0 + i, total)
                batch = self._make_batch(splits[k][i])
                with autocast(self.device, self.amp):
                    loss, logits = self._warmup_loss(net, batch)
                take_step(loss, [opt], self.name, epoch)
                loss_sum += float(loss.detach()) * batch.idx.numel() / 2
                if k == 0:
                    logits = logits.detach().float()
                    for cb in callbacks:
                        cb.on_batch_end(self, epoch, batch.idx, logits)
                    hits += int((logits.argmax(1) == batch.y).sum())
                    seen += batch.idx.numel()
        return {"loss": loss_sum / max(1, seen), "train_acc_given": hits / max(1, seen), "lr": lr,
                "steps": n_batches}

    # ------------------------------------------------------------------ co-divide
    @torch.no_grad()
    def _eval_losses(self, net: nn.Module, idx: torch.Tensor) -> np.ndarray:
        """Eval-mode, un-augmented cross-entropy of the given labels, shape (m,)."""
        labels = self.given_labels_tensor()
        net.eval()
        out = []
        for chunk in torch.split(idx, self.eval_batch_size):
            with autocast(self.device, self.amp):
                logits = net(self._inputs(chunk)).float()
            out.append(F.cross_entropy(logits, labels[chunk], reduction="none").cpu())
        return torch.cat(out).numpy()

    def _co_divide(self, idx: torch.Tensor) -> torch.Tensor:
        """Clean probabilities, shape (2, m): row k (from the *other* network's losses)
        divides the data for network k. Also stored in the per-example state."""
        labels = self.given_labels_tensor()[idx].cpu().numpy()
        probs = []
        for net in self._nets():
            losses, seed = self._eval_losses(net, idx), int(self._rng.integers(2**31))
            probs.append(classwise_clean_probability(losses, labels, seed) if self.classwise_divide
                         else gmm_clean_probability(losses, seed))
        w = torch.as_tensor(np.stack(probs[::-1]), device=self.device)
        for k in range(2):
            self._storage.store(self._clean_prob[k], idx, w[k])
        return w

    # ------------------------------------------------------------------ MixMatch
    def _views(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self._inputs(idx)
        assert self._data is not None
        return self._data.views.weak(x, self._gen), self._data.views.weak(x, self._gen)

    def _cyclic_batches(self, pool: torch.Tensor, sizes: Sequence[int]) -> list[torch.Tensor | None]:
        """Batches of the given sizes cycling through random orders of ``pool`` (all None
        when it is empty)."""
        if pool.numel() == 0:
            return [None] * len(sizes)
        total = int(sum(sizes))
        rounds = math.ceil(total / pool.numel())
        stream = torch.cat([
            pool[torch.randperm(pool.numel(), generator=self._gen).to(pool.device)] for _ in range(rounds)
        ])[:total]
        return list(torch.split(stream, list(sizes)))

    def _mixmatch_step(
        self, k: int, x_idx: torch.Tensor, w: torch.Tensor, u_idx: torch.Tensor | None, progress: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """MixMatch loss of network ``k`` on labeled ``x_idx`` (B,) with clean probabilities
        ``w`` (B,) and unlabeled ``u_idx`` (B',) or None. ``progress`` is the fractional
        epoch (for the ramp-up). Returns the loss and the logits of the first labeled view."""
        net, peer = self._nets()[k], self._nets()[1 - k]
        c = self._targets.shape[2]
        x1, x2 = self._views(x_idx)
        with torch.no_grad():
            logits_x1, logits_x2 = net(x1).float(), net(x2).float()
            p_x = 0.5 * (torch.softmax(logits_x1, 1) + torch.softmax(logits_x2, 1))
            y = F.one_hot(self.given_labels_tensor()[x_idx], c).float()
            t_x = sharpen(w[:, None] * y + (1 - w[:, None]) * p_x, self.temperature)
            self._storage.store(self._targets[k], x_idx, t_x)
            self._seen[k, x_idx.to(self._seen.device)] = True
            inputs, targets = [x1, x2], [t_x, t_x]
            if u_idx is not None:
                u1, u2 = self._views(u_idx)
                guesses = [torch.softmax(m(u).float(), 1) for m in (net, peer) for u in (u1, u2)]
                p_u = torch.stack(guesses).mean(dim=0)
                t_u = sharpen(p_u, self.temperature)
                self._storage.store(self._targets[k], u_idx, t_u)
                self._seen[k, u_idx.to(self._seen.device)] = True
                inputs, targets = [*inputs, u1, u2], [*targets, t_u, t_u]
        lam = float(self._rng.beta(self.alpha, self.alpha))
        lam = max(lam, 1.0 - lam)
        all_x, all_t = torch.cat(inputs), torch.cat(targets)
        perm = torch.randperm(all_x.shape[0], generator=self._gen).to(all_x.device)
        mixed_x, mixed_t = mixup(all_x, all_t, lam, perm)
        logits = net(mixed_x).float()
        nx = 2 * x_idx.numel()
        loss = -(F.log_softmax(logits[:nx], 1) * mixed_t[:nx]).sum(1).mean()
        if u_idx is not None:
            loss = loss + self.lambda_u * self._rampup(progress) * (
                (torch.softmax(logits[nx:], 1) - mixed_t[nx:]) ** 2).mean()
        if self.prior_weight > 0:
            loss = loss + self.prior_weight * uniform_prior_penalty(logits)
        return loss, logits_x1

    def _rampup(self, progress: float) -> float:
        if self.rampup_epochs == 0:
            return 1.0
        return float(np.clip((progress - self.warmup_epochs) / self.rampup_epochs, 0.0, 1.0))

    def _mixmatch_epoch(
        self, k: int, epoch: int, idx: torch.Tensor, w: torch.Tensor, opt: torch.optim.Optimizer,
        step0: int, total: int, callbacks: Sequence[Callback],
    ) -> dict[str, float]:
        """One MixMatch epoch of network ``k``: ``ceil(m / batch_size)`` steps over its
        labeled set ``w > p_threshold`` and its unlabeled set, cyclically."""
        net, peer = self._nets()[k], self._nets()[1 - k]
        labeled = w > self.p_threshold
        lab_idx, lab_w, unl_idx = idx[labeled], w[labeled], idx[~labeled]
        stats = {"loss": 0.0, "hits": 0.0, "seen": 0.0, "labeled": float(lab_idx.numel())}
        if lab_idx.numel() == 0:  # nothing looks clean: skip this network's epoch
            return stats
        net.train()
        peer.eval()
        n_iter = max(1, math.ceil(idx.numel() / self.batch_size))
        m = idx.numel()
        sizes = [m // n_iter + (i < m % n_iter) for i in range(n_iter)]  # as the other learners' batches
        chunks = self._cyclic_batches(torch.arange(lab_idx.numel(), device=idx.device), sizes)
        unl_batches = self._cyclic_batches(unl_idx, sizes)
        for i, (ch, u_idx) in enumerate(zip(chunks, unl_batches)):
            assert ch is not None
            self._set_lr(opt, step0 + i, total)
            with autocast(self.device, self.amp):
                loss, logits = self._mixmatch_step(k, lab_idx[ch], lab_w[ch], u_idx, epoch + i / n_iter)
            take_step(loss, [opt], self.name, epoch)
            b = ch.numel()
            stats["loss"] += float(loss.detach()) * b
            if k == 0:
                for cb in callbacks:
                    cb.on_batch_end(self, epoch, lab_idx[ch], logits)
                stats["hits"] += float((logits.argmax(1) == self.given_labels_tensor()[lab_idx[ch]]).sum())
            stats["seen"] += b
        return stats

    def _train_epoch(
        self, epoch: int, idx: torch.Tensor, optimizers: Optimizers, step0: int, total_steps: int,
        callbacks: Sequence[Callback],
    ) -> dict[str, Any]:
        """A warm-up epoch, or co-divide followed by one MixMatch epoch per network.

        The log's ``train_acc_given`` is the first network's accuracy on the given labels
        of its labeled set (first view, training mode); ``labeled_fraction`` is the mean
        share of ``idx`` the two networks trained on as labeled.
        """
        if epoch < self.warmup_epochs:
            return self._warmup_epoch(epoch, idx, optimizers, step0, total_steps, callbacks)
        w = self._co_divide(idx)
        stats = [
            self._mixmatch_epoch(k, epoch, idx, w[k], opt, step0, total_steps, callbacks)
            for k, (opt, _) in enumerate(optimizers)
        ]
        for net in self._nets():
            net.train()
        n_sched = max(1, math.ceil(idx.numel() / self.batch_size))
        return {
            "loss": float(np.mean([s["loss"] / max(1.0, s["seen"]) for s in stats])),
            "train_acc_given": stats[0]["hits"] / max(1.0, stats[0]["seen"]),
            "lr": self.lr * self._lr_factor(step0 + n_sched, total_steps),
            "steps": n_sched,
            "labeled_fraction": float(np.mean([s["labeled"] for s in stats])) / idx.numel(),
        }

    # ------------------------------------------------------------------ inference
    def _forward_eval(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """First network's embeddings and the log of the two networks' mean softmax
        (so the base class's softmax returns the mean probabilities)."""
        probs = []
        z = torch.empty(0)
        for k, net in enumerate(self._nets()):
            net.eval()
            emb, logits = embed_and_logits(net, x, self.tta)
            probs.append(torch.softmax(logits.float(), dim=1))
            if k == 0:
                z = emb
        return z, (0.5 * (probs[0] + probs[1])).clamp_min(1e-30).log()

    def clean_probability(self) -> np.ndarray:
        """The latest co-divide clean probability of every example, shape (N,) float32.

        Mean of the two networks' ``w`` (each computed from the other network's losses);
        NaN for examples never divided (not bound, or only trained during warm-up).
        """
        self._require_fitted()
        return self._clean_prob.float().mean(dim=0).cpu().numpy()

    def corrected_labels(self) -> np.ndarray:
        """Argmax of the summed last MixMatch targets of the two networks, shape (N,) int64;
        the given label for examples MixMatch never trained."""
        given = self.given_labels_tensor()
        labels = []
        with torch.no_grad():  # in row chunks: one float32 copy of the targets may not fit
            for rows in torch.arange(given.numel(), device=self._targets.device).split(self.eval_batch_size):
                # the state may live on the host (state_device="cpu"): its rows join the labels
                seen = self._seen[:, rows].to(given.device)
                targets = self._targets[:, rows].to(given.device, torch.float32)
                summed = (targets * seen[..., None]).sum(dim=0)
                labels.append(
                    torch.where(seen.any(dim=0), summed.argmax(dim=1), given[rows.to(given.device)])
                )
        return torch.cat(labels).cpu().numpy().astype(np.int64)
