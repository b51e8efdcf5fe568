"""Brute-force re-statements of the baseline selectors' definitions, for tests only.

Written from the papers' definitions with plain Python loops over lists, independently of
``prune4rel.selection``: no numpy vectorisation, no shared helpers.
"""

from __future__ import annotations

import math


def rows(a) -> list[list[float]]:
    return [[float(v) for v in row] for row in a]


# ----------------------------------------------------------------------------- scores
def mean_loss(losses) -> list[float]:
    """Mean over epochs of each example's loss; ``losses`` is (E, n)."""
    ls = rows(losses)
    n = len(ls[0])
    return [sum(ls[e][i] for e in range(len(ls))) / len(ls) for i in range(n)]


def ce_loss(probs, labels) -> list[float]:
    """-log p(given label), with p floored at 1e-12."""
    return [-math.log(max(row[int(y)], 1e-12)) for row, y in zip(rows(probs), labels)]


def least_confidence(probs) -> list[float]:
    return [1.0 - max(row) for row in rows(probs)]


def margin(probs) -> list[float]:
    out = []
    for row in rows(probs):
        srt = sorted(row, reverse=True)
        out.append(srt[0] - (srt[1] if len(srt) > 1 else 0.0))
    return out


def entropy(probs) -> list[float]:
    return [-sum(p * math.log(p) for p in row if p > 0) for row in rows(probs)]


def el2n(probs, labels) -> list[float]:
    out = []
    for row, y in zip(rows(probs), labels):
        out.append(math.sqrt(sum((p - (1.0 if c == int(y) else 0.0)) ** 2 for c, p in enumerate(row))))
    return out


def grand(probs, labels, embeddings) -> list[float]:
    """Frobenius norm of d CE / d [W | b] for logits z = W h + b, built entry by entry."""
    out = []
    for row, y, h in zip(rows(probs), labels, rows(embeddings)):
        g = [p - (1.0 if c == int(y) else 0.0) for c, p in enumerate(row)]  # dL/dz
        total = 0.0
        for c in range(len(g)):
            for j in range(len(h)):
                total += (g[c] * h[j]) ** 2  # dL/dW[c, j] = g_c h_j
            total += g[c] ** 2  # dL/db[c] = g_c
        out.append(math.sqrt(total))
    return out


def forgetting(correct) -> list[float]:
    """Toneva et al.: count learned -> forgotten transitions; never learned = infinity."""
    cs = [[bool(v) for v in row] for row in correct]
    n = len(cs[0])
    out = []
    for i in range(n):
        if not any(cs[e][i] for e in range(len(cs))):
            out.append(math.inf)
            continue
        count = 0
        for e in range(1, len(cs)):
            if cs[e - 1][i] and not cs[e][i]:
                count += 1
        out.append(float(count))
    return out


def aum(margins) -> list[float]:
    return mean_loss(margins)


# ----------------------------------------------------------------------------- kcenter
def dist(a: list[float], b: list[float]) -> float:
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))


def kcenter(embeddings, budget: int, first: int) -> tuple[list[int], list[float]]:
    """Sener & Savarese greedy: repeatedly add the point farthest from the chosen set."""
    pts = rows(embeddings)
    chosen = [first]
    radii = [math.inf]
    while len(chosen) < budget:
        best, best_d = -1, -1.0
        for i in range(len(pts)):
            if i in chosen:
                continue
            d = min(dist(pts[i], pts[c]) for c in chosen)
            if d > best_d:  # strict: ties keep the lower index
                best, best_d = i, d
        chosen.append(best)
        radii.append(best_d)
    return chosen, radii


# ----------------------------------------------------------------------------- moderate
def median(values: list[float]) -> float:
    s = sorted(values)
    m = len(s)
    return s[m // 2] if m % 2 else (s[m // 2 - 1] + s[m // 2]) / 2


def median_distances(embeddings, labels) -> list[float]:
    pts = rows(embeddings)
    labels = [int(y) for y in labels]
    d = len(pts[0])
    centers = {}
    for c in set(labels):
        members = [pts[i] for i in range(len(pts)) if labels[i] == c]
        centers[c] = [median([p[j] for p in members]) for j in range(d)]
    return [dist(p, centers[y]) for p, y in zip(pts, labels)]


def middle_band(group: list[int], values: list[float], k: int) -> list[int]:
    """Members of ``group`` at ranks floor((m-k)/2) .. +k-1 of ``values`` (ties: index)."""
    ranked = sorted(group, key=lambda i: (values[i], i))
    start = (len(group) - k) // 2
    return ranked[start : start + k]


# ----------------------------------------------------------------------------- ccs
def ccs_plan(difficulty: list[float], budget: int, beta: float, strata: int):
    """Deterministic part of CCS: (cut indices, stratum of each kept index, per-stratum quota).

    Hardest = largest difficulty; cut floor(beta * m) of them (at most m - budget), equal
    difficulties cut lower index first; equal-width strata over the kept range; strata
    visited smallest first (ties: lower stratum), each given min(size, left // strata left).
    """
    m = len(difficulty)
    n_cut = min(int(beta * m), m - budget)
    hardest = sorted(range(m), key=lambda i: (-difficulty[i], i))
    cut = set(hardest[:n_cut])
    kept = [i for i in range(m) if i not in cut]
    lo = min(difficulty[i] for i in kept)
    hi = max(difficulty[i] for i in kept)
    stratum = {}
    for i in kept:
        if hi <= lo:
            s = 0
        else:
            s = math.floor((difficulty[i] - lo) / (hi - lo) * strata)
            s = min(s, strata - 1)
        stratum[i] = s
    sizes: dict[int, int] = {}
    for s in stratum.values():
        sizes[s] = sizes.get(s, 0) + 1
    order = sorted(sizes, key=lambda s: (sizes[s], s))
    quota = {}
    left = budget
    for j, s in enumerate(order):
        quota[s] = min(sizes[s], left // (len(order) - j))
        left -= quota[s]
    return cut, stratum, quota
