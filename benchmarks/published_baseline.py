"""A plain re-statement of the published Prune4ReL greedy, kept as the speed baseline.

Dense and step by step, as the published code does it: at every pick, score all candidates,
take the arg-max of the target class, compute the pick's cosine to every example with one
matrix-vector product, and add ``sim * conf`` to the neighbours above ``tau``. Cost:
``budget * n * d`` multiply-adds.

Two deliberate differences, neither of which changes the cost: the score
``tanh((N + conf)/eta) - tanh(N/eta)`` is evaluated in a form without cancellation (see
prune4rel.selection.greedy), and pairs whose float32 cosine lies within the float32 error bound of
the threshold are decided in float64 (a handful per pick at most, no measurable time), so
that set equality with prune4rel measures the algorithm rather than float32 rounding.
"""

from __future__ import annotations

import numpy as np
import torch


def published_greedy(
    embeddings: np.ndarray,
    probs: np.ndarray,
    labels: np.ndarray,
    budget: int,
    tau: float = 0.975,
    eta: float = 1.0,
) -> np.ndarray:
    """Class-balanced published greedy; returns the picks in order."""
    emb64 = np.asarray(embeddings, dtype=np.float64)
    norms = np.linalg.norm(emb64, axis=1)
    unit = torch.from_numpy(np.where(norms[:, None] > 0, emb64 / np.maximum(norms, 1e-300)[:, None], 0.0))
    unit32 = unit.float()
    conf = torch.from_numpy(np.asarray(probs, dtype=np.float64).max(axis=1))
    lab = torch.from_numpy(np.array(labels))
    n = lab.shape[0]
    nbr = torch.zeros(n, dtype=torch.float64)
    taken = torch.zeros(n, dtype=torch.bool)
    band = 1.1 * (unit.shape[1] + 2) * 2.0**-24 + 1e-7
    cos_tau = 2 * tau - 1

    active = sorted(set(lab.tolist()))
    given = dict.fromkeys(active, 0)
    first_size = None
    free = False
    picks = []
    for i in range(budget):
        allowed = ~taken
        switch = False
        if not free:
            t = active[i % len(active)]
            while not bool(((lab == t) & ~taken).any()):
                if first_size is None:
                    first_size = int((lab == t).sum())
                active.remove(t)
                t = active[i % len(active)]
                switch = switch or given[t] > 1.5 * first_size
            allowed &= lab == t
        # tanh((N + c)/eta) - tanh(N/eta), evaluated without cancellation (the same number in
        # exact arithmetic; the naive difference collapses to rounding noise once tanh ~ 1)
        b, d = nbr / eta, conf / eta
        score = (
            -2
            * torch.exp(-2 * b)
            * torch.expm1(-2 * d)
            / ((1 + torch.exp(-2 * (b + d))) * (1 + torch.exp(-2 * b)))
        )
        score[~allowed] = -torch.inf
        p = int(torch.argmax(score))
        picks.append(p)
        taken[p] = True
        given[int(lab[p])] += 1
        free = free or switch
        cos = (unit32 @ unit32[p]).double()
        near = torch.nonzero((cos - cos_tau).abs() <= band).flatten()
        if near.numel():
            cos[near] = unit[near] @ unit[p]
        sims = 0.5 + 0.5 * cos
        mask = sims > tau
        mask &= bool(norms[p] > 0) & torch.from_numpy(norms > 0)
        mask[p] = True
        sims[p] = 1.0
        nbr[mask] += sims[mask] * conf[p]
    return np.array(picks)
