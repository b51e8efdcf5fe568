"""The declared parameter rules: what each rule accepts, its message, and Parameterized."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prune4rel.validation import (
    AnyOf,
    Boolean,
    Integer,
    MappingOf,
    Options,
    ParameterError,
    Parameterized,
    Real,
    Rule,
    Satisfies,
    optional,
    validate_params,
)


@pytest.mark.parametrize(
    "rule, value, ok",
    [
        (Real(0, 1, closed="left"), 0.0, True),
        (Real(0, 1, closed="left"), 1.0, False),
        (Real(0, 1, closed="left"), 0.999, True),
        (Real(0, None, closed="neither"), 0.0, False),
        (Real(0, None, closed="neither"), 1e300, True),
        (Real(), float("nan"), False),
        (Real(), float("inf"), False),
        (Real(), True, False),
        (Real(), "0.5", False),
        (Real(), None, False),
        (Real(), [0.9], False),
        (Real(), np.float16(0.5), True),
        (Integer(0), 0, True),
        (Integer(0), -1, False),
        (Integer(0), 1.5, False),
        (Integer(0), 2.0, True),
        (Integer(0), False, False),
        (Integer(0), np.int64(3), True),
        (Integer(0), "abc", False),
        (Integer(1, 3), 3, True),
        (Integer(1, 3, closed="left"), 3, False),
        (Boolean(), True, True),
        (Boolean(), np.bool_(False), True),
        (Boolean(), "maybe", False),
        (Boolean(), "no", False),
        (Boolean(), 1, False),
        (Boolean(), None, False),
        (Options("a", "b"), "a", True),
        (Options("a", "b"), "A", False),
        (Options("a", "b"), None, False),
        (MappingOf(), None, True),
        (MappingOf(allow_none=False), None, False),
        (MappingOf(), {"x": 1}, True),
        (MappingOf(), {1: 1}, False),
        (optional(Integer(0)), None, True),
        (optional(Integer(0)), -5, False),
        (Satisfies(lambda v: len(v) == 2, "a pair"), (1, 2), True),
        (Satisfies(lambda v: len(v) == 2, "a pair"), 3, False),  # len(3) raises TypeError
    ],
)
def test_rule_accepts(rule, value, ok):
    assert rule.accepts(value) is ok
    if ok:
        rule.check("p", value)
    else:
        with pytest.raises(ParameterError) as info:
            rule.check("p", value)
        assert info.value.name == "p" and "`p` must be" in str(info.value)


def test_message_names_parameter_value_and_range():
    with pytest.raises(ParameterError, match=r"^`tau` must be a number in \[0, 1\), got 'abc'$"):
        Real(0, 1, closed="left").check("tau", "abc")
    with pytest.raises(ParameterError, match=r"`seed` must be an integer >= 0, got 1\.5"):
        Integer(0).check("seed", 1.5)
    with pytest.raises(ParameterError, match=r"`eta` must be a number > 0, got 0"):
        Real(0, closed="neither").check("eta", 0)
    with pytest.raises(ParameterError, match=r"`k` must be an integer >= 0 or None, got -5"):
        optional(Integer(0)).check("k", -5)
    with pytest.raises(ParameterError, match=r"`mode` must be one of 'x', 'y', got 'z'"):
        Options("x", "y").check("mode", "z")


def test_parameter_error_is_a_value_error():
    assert issubclass(ParameterError, ValueError)


def test_long_values_are_shortened_in_messages():
    with pytest.raises(ParameterError) as info:
        Real().check("x", "a" * 500)
    assert len(str(info.value)) < 150


def test_conversions():
    assert Integer(0).check("n", 2.0) == 2 and type(Integer(0).check("n", np.int32(2))) is int
    assert type(Real().check("x", 1)) is float
    assert Boolean().check("b", np.bool_(True)) is True
    assert MappingOf().check("m", None) == {}
    assert AnyOf(Options("auto"), Real()).check("v", 3) == 3.0


@given(st.floats(allow_nan=True, allow_infinity=True), st.floats(-10, 10), st.floats(-10, 10),
       st.sampled_from(["both", "left", "right", "neither"]))
def test_real_matches_interval_definition(x, a, b, closed):
    low, high = min(a, b), max(a, b)
    rule = Real(low, high, closed=closed)
    inside = math.isfinite(x) and (
        (low < x or (x == low and closed in ("both", "left")))
        and (x < high or (x == high and closed in ("both", "right")))
    )
    assert rule.accepts(x) is inside


def test_validate_params_rejects_unknown_names_listing_known_ones():
    rules = {"tau": Real(0, 1), "eta": Real(0)}
    assert validate_params(rules, {"tau": 1}) == {"tau": 1.0}
    with pytest.raises(ParameterError, match=r"`train.params.taux`.*\(the parameters are eta, tau\)"):
        validate_params(rules, {"taux": 1}, prefix="train.params.")


class Toy(Parameterized):
    param_rules: ClassVar[dict[str, Rule]] = {
        "alpha": Real(0, 1), "steps": Integer(1), "mode": Options("a", "b"),
    }

    def __init__(self, alpha: float = 0.5, steps: int = 3, mode: str = "a") -> None:
        self.alpha, self.steps, self.mode = alpha, steps, mode
        self._validate_params()

    def _check_params(self) -> None:
        if self.mode == "b" and self.steps > 5:
            raise ParameterError("steps", self.steps, "at most 5 when mode='b'")


def test_parameterized_validates_and_converts_on_construction():
    toy = Toy(alpha=1, steps=2.0)
    assert toy.get_params() == {"alpha": 1.0, "steps": 2, "mode": "a"}
    assert type(toy.steps) is int
    with pytest.raises(ParameterError, match="`alpha`"):
        Toy(alpha=2)
    with pytest.raises(ParameterError, match="at most 5 when mode='b'"):
        Toy(mode="b", steps=6)


def test_set_params_checks_and_leaves_nothing_changed_on_error():
    toy = Toy()
    assert toy.set_params(alpha=0.25) is toy and toy.alpha == 0.25
    with pytest.raises(ParameterError, match="`steps`"):
        toy.set_params(alpha=0.75, steps=0)
    assert toy.get_params() == {"alpha": 0.25, "steps": 3, "mode": "a"}
    with pytest.raises(ParameterError, match="at most 5"):
        toy.set_params(mode="b", steps=9)
    assert toy.get_params() == {"alpha": 0.25, "steps": 3, "mode": "a"}
    with pytest.raises(ParameterError, match="known parameter name"):
        toy.set_params(beta=1)


def test_describe_params_lists_defaults_and_ranges():
    assert Toy.describe_params() == [
        ("alpha", 0.5, "a number in [0, 1]"),
        ("steps", 3, "an integer >= 1"),
        ("mode", "a", "one of 'a', 'b'"),
    ]
