"""Budgets and per-class budgets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prune4rel.selection import available_selectors, class_budgets, get_selector, resolve_budget


@pytest.mark.parametrize(
    ("budget", "n", "expected"),
    [(1, 10, 1), (10, 10, 10), (0.3, 10, 3), (1.0, 7, 7), (0.01, 10, 1), (np.int64(4), 9, 4)],
)
def test_resolve_budget(budget, n, expected):
    assert resolve_budget(budget, n) == expected


@pytest.mark.parametrize("budget", [0, 11, -3, 0.0, 1.01, float("nan"), float("inf"), True, "0.3"])
def test_resolve_budget_rejects(budget):
    with pytest.raises(ValueError, match="budget"):
        resolve_budget(budget, 10)


@given(sizes=st.lists(st.integers(1, 50), min_size=1, max_size=8), data=st.data())
def test_class_budgets_sum_and_proportion(sizes, data):
    labels = np.repeat(np.arange(len(sizes)), sizes)
    budget = data.draw(st.integers(1, labels.size))
    got = class_budgets(labels, budget)
    assert sum(got.values()) == budget
    for c, k in got.items():
        assert 0 <= k <= sizes[c]
        assert abs(k - sizes[c] * budget / labels.size) < 1.0 + 1e-9


def test_registry():
    assert {"prune4rel", "uniform"} <= set(available_selectors())
    with pytest.raises(ValueError, match="unknown method"):
        get_selector("nope")
    with pytest.raises(ValueError, match="`alpha` must be one of the parameters that 'prune4rel' takes"):
        get_selector("prune4rel", alpha=1)
    assert get_selector("prune4rel", tau=0.9).get_params()["tau"] == 0.9
