"""Every selector's hyper-parameters: declared rules, one way to check them, one error type."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import prune4rel
from prune4rel.selection import (
    Prune4ReL,
    Prune4ReLAgree,
    available_selectors,
    get_selector,
    selector_class,
)
from prune4rel.validation import Boolean, ParameterError

SRC = Path(__file__).resolve().parents[1] / "src" / "prune4rel"
NAMES = available_selectors()


def _rules_of(kind: type) -> list[tuple[str, str]]:
    return [
        (name, p)
        for name in NAMES
        for p, rule in selector_class(name).param_rules.items()
        if isinstance(rule, kind)
    ]


@pytest.mark.parametrize("name", NAMES)
def test_parameters_are_the_declared_ones(name):
    cls = selector_class(name)
    sel = cls()
    assert list(sel.get_params()) == list(cls.param_rules)
    described = cls.describe_params()
    assert [d[0] for d in described] == list(cls.param_rules)
    assert all(text for _, _, text in described)
    assert {p: d for p, d, _ in described} == sel.get_params()
    # what get_params gives is accepted back
    assert get_selector(name, **sel.get_params()).get_params() == sel.get_params()


@pytest.mark.parametrize(("name", "param"), _rules_of(Boolean))
@pytest.mark.parametrize("bad", ["no", "maybe", "true", None, 1, 0, 0.0])
def test_booleans_accept_only_booleans(name, param, bad):
    with pytest.raises(ParameterError, match=f"`{param}` must be True or False"):
        get_selector(name, **{param: bad})
    assert get_selector(name, **{param: np.bool_(True)}).get_params()[param] is True


SEEDED = [name for name in NAMES if "seed" in selector_class(name).param_rules]


@pytest.mark.parametrize("name", SEEDED)
@pytest.mark.parametrize("bad", [-1, 1.5, "abc", None, True, [1]])
def test_seeds_are_non_negative_integers(name, bad):
    with pytest.raises(ParameterError, match="`seed`"):
        get_selector(name, seed=bad)
    assert get_selector(name, seed=np.int64(3)).seed == 3
    assert type(get_selector(name, seed=np.int64(3)).seed) is int


def test_uniform_is_checked():
    assert {"uniform"} <= set(SEEDED)
    for bad in ({"balance": "no"}, {"balance": None}, {"seed": -2}, {"seed": "1"}):
        with pytest.raises(ParameterError, match=f"`{next(iter(bad))}`"):
            get_selector("uniform", **bad)


def test_unknown_parameters_name_the_method_and_what_it_takes():
    takes = r"`tau` must be one of the parameters that 'uniform' takes \(seed, balance\), got 0.9"
    with pytest.raises(ParameterError, match=takes):
        get_selector("uniform", tau=0.9)
    with pytest.raises(ParameterError, match=r"`seeed`.*'prune4rel' takes"):
        get_selector("prune4rel", seeed=1)


@pytest.mark.parametrize("method", [None, 3, ["prune4rel"]])
def test_a_method_that_is_not_a_name_is_a_clear_error(method):
    with pytest.raises(ParameterError, match="`method` must be a selector name"):
        get_selector(method)
    rng = np.random.default_rng(0)
    with pytest.raises(ParameterError, match="`method`"):
        prune4rel.select(rng.normal(size=(6, 2)), np.full((6, 2), 0.5), np.zeros(6, int), 0.5, method=method)


# Prune4ReL's parameters, rejected and accepted alike by the variant that extends them.
BAD = [
    ("tau", None), ("tau", "0.9"), ("tau", 1.0), ("tau", -0.1), ("tau", float("nan")), ("tau", [0.9]),
    ("eta", True), ("eta", 0.0), ("eta", float("inf")), ("eta", "1"),
    ("balance", "no"), ("balance", None), ("progress", "maybe"),
    ("confidence", "entropy"), ("objective", None), ("backend", "gpu"), ("engine", "jit"),
    ("k", -1), ("k", True), ("k", 1.5), ("max_edges", -5), ("max_edges", 0), ("max_edges", 1.5),
    ("max_edges", None), ("index", "lsh"), ("index_params", [1]), ("target_degree", 0.0),
    ("target_degree", True), ("device", "tpu"), ("device", None),
]  # fmt: skip
BAD_OPTIONS = [
    {"foo": 1}, {"tau": 0.9}, {"index": "flat"}, {"progress": True}, {"nprobe": 0}, {"symmetrize": 1},
]  # fmt: skip
GOOD = [
    ("eta", 2, 2.0), ("tau", np.float32(0.5), float(np.float32(0.5))), ("k", np.int64(3), 3), ("k", 2.0, 2),
    ("max_edges", 10, 10), ("target_degree", 5, 5.0), ("index_params", None, {}),
    ("index_params", {"nprobe": 8, "pca_dim": None}, {"nprobe": 8, "pca_dim": None}),
]  # fmt: skip


@pytest.mark.parametrize("cls", [Prune4ReL, Prune4ReLAgree])
@pytest.mark.parametrize(("param", "value"), BAD)
def test_graph_selectors_reject_alike(cls, param, value):
    with pytest.raises(ParameterError, match=f"`{param}`"):
        cls(**{param: value})


@pytest.mark.parametrize("cls", [Prune4ReL, Prune4ReLAgree])
@pytest.mark.parametrize("options", BAD_OPTIONS)
def test_index_params_are_checked_against_the_faiss_options(cls, options):
    key = next(iter(options))
    with pytest.raises(ParameterError, match=f"`index_params.{key}`"):
        cls(index_params=options)


@pytest.mark.parametrize("cls", [Prune4ReL, Prune4ReLAgree])
@pytest.mark.parametrize(("param", "value", "stored"), GOOD)
def test_graph_selectors_accept_alike(cls, param, value, stored):
    got = cls(**{param: value}).get_params()[param]
    assert got == stored and type(got) is type(stored)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"k": 3, "backend": "dense"}, "k"), ({"k": 0, "backend": "faiss"}, "k")],
)
def test_constraints_between_parameters(kwargs, name):
    for cls in (Prune4ReL, Prune4ReLAgree):
        with pytest.raises(ParameterError, match=f"`{name}`"):
            cls(**kwargs)


def test_the_variant_extends_its_parents_rules():
    parent, child = Prune4ReL.param_rules, Prune4ReLAgree.param_rules
    assert list(child) == [*parent, "fill"]
    assert all(child[p] is rule for p, rule in parent.items())
    with pytest.raises(ParameterError, match="`fill`"):
        Prune4ReLAgree(fill="random")
    with pytest.raises(TypeError):
        Prune4ReLAgree(0.9)  # type: ignore[misc]  # fill and the rest are keywords


def test_set_params_is_checked_and_atomic():
    sel = Prune4ReL()
    assert sel.set_params(progress=True, k=4) is sel and (sel.progress, sel.k) == (True, 4)
    with pytest.raises(ParameterError, match="`k`"):
        sel.set_params(k=3, backend="dense")  # each value allowed, together not
    assert (sel.k, sel.backend) == (4, "auto")
    with pytest.raises(ParameterError, match="`progress`"):
        sel.set_params(progress="maybe")
    agree = Prune4ReLAgree().set_params(fill="index", tau=0.9)
    assert (agree.fill, agree.tau) == ("index", 0.9)


def test_no_signature_inspection_in_selection_api_and_cli():
    packages = ("selection", "cli", "pipeline")
    files = [*(p for pkg in packages for p in sorted((SRC / pkg).glob("*.py"))), SRC / "api.py"]
    for path in files:
        text = path.read_text()
        stdlib_inspect = re.search(r"^\s*(import inspect\b|from inspect import)", text, flags=re.M)
        assert "inspect.signature" not in text and stdlib_inspect is None, path.name
