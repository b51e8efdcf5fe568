"""Brute-force O(n^2) re-statement of Prune4ReL's definitions, for tests only.

Written from the definitions in the project issue, independently of the library code: dense
float64 similarity matrix, a full argmax at every pick, and its own round-robin.
"""

from __future__ import annotations

import numpy as np


def similarity_matrix(emb: np.ndarray, tau: float, k: int | None = None) -> np.ndarray:
    """W[x, s] = sim(x, s) if s is a neighbour of x, else 0 (self always 1)."""
    e = np.asarray(emb, dtype=np.float64)
    norms = np.linalg.norm(e, axis=1)
    unit = np.zeros_like(e)
    nz = norms > 0
    unit[nz] = e[nz] / norms[nz, None]
    sims = 0.5 + 0.5 * unit @ unit.T
    n = e.shape[0]
    w = np.zeros((n, n))
    for x in range(n):
        others = [s for s in range(n) if s != x and nz[x] and nz[s] and sims[x, s] > tau]
        if k is not None:
            others = sorted(others, key=lambda s: (-sims[x, s], s))[:k]
        for s in others:
            w[x, s] = sims[x, s]
        w[x, x] = 1.0
    return w


def conf_of(probs: np.ndarray, kind: str) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    srt = np.sort(p, axis=1)
    if kind == "max_prob":
        return srt[:, -1]
    second = srt[:, -2] if p.shape[1] > 1 else np.zeros(p.shape[0])
    return srt[:, -1] - second


def tanh_difference(b, d):
    """tanh(b + d) - tanh(b) for b, d >= 0, written through sinh/cosh:
    sinh(d) / (cosh(b + d) cosh(b)), scaled by e^{-2b-d} to stay finite."""
    b = np.asarray(b, dtype=np.float64)
    d = np.asarray(d, dtype=np.float64)
    # sinh(d) cosh-product form: sinh(d) / (cosh(b+d) cosh(b)); multiply top and bottom by
    # 4 e^{-(2b+d)} to avoid overflow: (1 - e^{-2d}) * 2 e^{-2b} / ((1 + e^{-2(b+d)}) (1 + e^{-2b}))
    num = 2.0 * np.exp(-2.0 * b) * (-np.expm1(-2.0 * d))
    return num / ((1.0 + np.exp(-2.0 * (b + d))) * (1.0 + np.exp(-2.0 * b)))


def objective(w: np.ndarray, conf: np.ndarray, chosen, eta: float) -> float:
    mask = np.zeros(w.shape[0])
    mask[list(chosen)] = 1.0
    return float(np.tanh((w * (conf * mask)[None, :]).sum(axis=1) / eta).sum())


def oracle_select(
    emb,
    probs,
    labels,
    budget,
    *,
    tau=0.975,
    eta=1.0,
    confidence="max_prob",
    balance=True,
    objective_kind="published",
    k=None,
    conf=None,
    prefer=None,
):
    """Picks, gains, final N, similarity matrix and confidences.

    ``conf`` overrides the confidence of each example; with ``prefer`` (shape (n,)), scores
    within 1e-12 (relative) of the best count as tied and go to the largest ``prefer``, then
    the lowest index (without it: the exact arg-max, lowest index first).
    """
    w = similarity_matrix(emb, tau, k)
    conf = conf_of(probs, confidence) if conf is None else np.asarray(conf, dtype=np.float64)
    labels = np.asarray(labels)
    n = len(labels)
    big_n = np.zeros(n)
    taken = np.zeros(n, dtype=bool)
    classes = sorted(set(labels.tolist()))
    active = list(classes)
    given = {c: 0 for c in classes}
    m = None
    free = not balance
    picks, gains = [], []
    for i in range(budget):
        allowed = ~taken
        switch = False
        if not free:
            t = active[i % len(active)]
            while not np.any((labels == t) & ~taken):
                if m is None:
                    m = int(np.sum(labels == t))
                active.remove(t)
                t = active[i % len(active)]
                if given[t] > 1.5 * m:
                    switch = True
            allowed = allowed & (labels == t)
        if objective_kind == "published":
            score = tanh_difference(big_n / eta, conf / eta)
        else:
            score = (tanh_difference(big_n[:, None] / eta, w * conf[None, :] / eta)).sum(axis=0)
        score = np.where(allowed, score, -np.inf)
        if prefer is None:
            p = int(np.argmax(score))
        else:
            best = score.max()
            tied = np.flatnonzero(score >= best - 1e-12 * max(abs(best), 1e-300))
            p = int(min(tied, key=lambda s: (-prefer[s], s)))
        picks.append(p)
        gains.append(float(score[p]))
        taken[p] = True
        given[int(labels[p])] += 1
        big_n = big_n + w[:, p] * conf[p]
        if switch:
            free = True
    return np.array(picks), np.array(gains), big_n, w, conf


def dense_of(graph) -> np.ndarray:
    """A neighbour graph's similarity matrix, dense, in float64."""
    return graph.to_scipy().toarray().astype(np.float64)
