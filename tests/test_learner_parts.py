"""The parts a Learner is built from: declared hyper-parameters (Parameterized), declared
per-example state and its storage, and the checkpoint format."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from prune4rel.data import NoisyDataset, from_arrays
from prune4rel.learners import (
    CE,
    ELR,
    LEARNERS,
    SOP,
    Callback,
    DivideMix,
    Learner,
    LearnerStateError,
    SOPPlus,
    StateField,
)
from prune4rel.learners.state import StateStorage, bytes_per_example
from prune4rel.metrics import index_digest
from prune4rel.validation import ParameterError

SMALL = {"model": "mlp", "num_threads": 1, "seed": 0, "batch_size": 32}
CLASSES = sorted(set(LEARNERS.values()), key=lambda cls: cls.__name__)


def blobs(n: int = 96, c: int = 3, d: int = 5) -> NoisyDataset:
    rng = np.random.default_rng(0)
    y = np.arange(n) % c
    x = (rng.normal(size=(c, d))[y] * 3 + rng.normal(size=(n, d))).astype(np.float32)
    return from_arrays(x, y, x[:12].copy(), y[:12], clean_labels=y, num_classes=c)


# ---------------------------------------------------------------------- hyper-parameters
@pytest.mark.parametrize("cls", CLASSES)
def test_params_round_trip_through_the_constructor(cls: type[Learner]) -> None:
    learner = cls(**SMALL)
    params = learner.get_params()
    assert list(params) == list(cls.param_rules)
    assert cls(model="mlp", **params).get_params() == params
    assert params["device"] == torch.device("cpu") and params["model_kwargs"] == {}


def test_subclasses_extend_their_parents_rules() -> None:
    base = set(Learner.param_rules)
    assert set(ELR.param_rules) == base | {"beta", "lam"}
    assert set(SOP.param_rules) == set(SOPPlus.param_rules) == base | {
        "lr_u", "lr_v", "consistency", "balance", "init_std", "relabel"}
    assert set(DivideMix.param_rules) - base == {
        "warmup_epochs", "lambda_u", "p_threshold", "temperature", "alpha", "rampup_epochs", "prior_weight",
        "warmup_penalty", "classwise_divide"}
    assert all(ELR.param_rules[name] is rule for name, rule in Learner.param_rules.items())


def test_subclass_defaults() -> None:
    assert SOP.param_defaults()["consistency"] == 0.0 and SOPPlus.param_defaults()["consistency"] == 0.9
    dm = DivideMix.param_defaults()
    assert (dm["batch_size"], dm["lr"], dm["nesterov"]) == (64, 0.02, False)
    assert not SOP().uses_strong_view and SOPPlus().uses_strong_view


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("batch_size", 0), ("batch_size", 2.5), ("lr", 0.0), ("lr", float("nan")), ("momentum", -0.1),
        ("schedule", "step"), ("warmup_fraction", 1.0), ("label_smoothing", -0.1), ("min_lr_ratio", -1),
        ("augment", "strong"), ("device", "gpu"), ("device", 0), ("seed", -1), ("eval_batch_size", 0),
        ("num_threads", 0), ("model_kwargs", [1]), ("state_dtype", "float64"), ("state_device", "cuda"),
        # booleans accept only booleans
        ("nesterov", 1), ("amp", "true"), ("tta", 0), ("nesterov", None),
    ],
)
def test_bad_values_name_the_parameter(name: str, value: object) -> None:
    for cls in CLASSES:
        with pytest.raises(ParameterError, match=f"`{name}` must be"):
            cls(**{name: value})


@pytest.mark.parametrize(
    ("cls", "name", "value"),
    [(ELR, "beta", 1.0), (ELR, "lam", -1.0), (SOPPlus, "relabel", "vote"), (SOP, "lr_u", -1.0),
     (DivideMix, "warmup_penalty", 1), (DivideMix, "p_threshold", 0.0)],
)
def test_bad_method_values_name_the_parameter(cls: type[Learner], name: str, value: object) -> None:
    with pytest.raises(ParameterError, match=f"`{name}` must be"):
        cls(**{name: value})


def test_model_must_be_a_name_a_module_or_a_factory() -> None:
    with pytest.raises(ParameterError, match="`model` must be"):
        CE(model=5)  # type: ignore[arg-type]


def test_set_params_checks_and_changes_nothing_on_error() -> None:
    learner = ELR(**SMALL)
    assert learner.set_params(lr=0.2, beta=0.5) is learner
    assert (learner.lr, learner.beta) == (0.2, 0.5)
    with pytest.raises(ParameterError, match="`beta`"):
        learner.set_params(lr=0.3, beta=2.0)
    assert (learner.lr, learner.beta) == (0.2, 0.5)
    with pytest.raises(ParameterError, match="`lamb`"):
        learner.set_params(lamb=1.0)


def test_settings_changed_before_the_first_fit_apply() -> None:
    learner = ELR(**SMALL).set_params(state_dtype="bfloat16", batch_size=16)
    logs = learner.fit(blobs(), epochs=1, progress=False)
    assert learner.targets.dtype == torch.bfloat16 and logs[0]["steps"] == 6  # 96 / 16


# ---------------------------------------------------------------------- declared per-example state
#: bytes per example the learners document, for 10 and 1,000 classes in float32 / 16-bit
DOCUMENTED_BYTES = {
    CE: {10: (0, 0)},
    ELR: {10: (41, 21), 1000: (4001, 2001)},
    SOPPlus: {10: (52, 30), 1000: (4012, 2010)},
    DivideMix: {10: (90, 46), 1000: (8010, 4006)},
}


@pytest.mark.parametrize("cls", list(DOCUMENTED_BYTES))
def test_declared_state_has_the_documented_size(cls: type[Learner]) -> None:
    for classes, (full, half) in DOCUMENTED_BYTES[cls].items():
        assert bytes_per_example(cls.per_example_state, classes) == full
        for dtype in ("float16", "bfloat16"):
            assert bytes_per_example(cls.per_example_state, classes, dtype) == half


@pytest.mark.parametrize("cls", CLASSES)
def test_every_tensor_a_learner_keeps_is_declared(cls: type[Learner]) -> None:
    ds = blobs()
    extra = {"warmup_epochs": 1} if cls is DivideMix else {}
    learner = cls(**SMALL, **extra)
    learner.fit(ds, np.arange(50), epochs=2, progress=False)
    held = {k for k, v in vars(learner).items() if isinstance(v, torch.Tensor)}
    assert held == {field.name for field in cls.per_example_state}
    assert set(learner.state_dict()["tensors"]) == held
    dtypes = {"float": torch.float32, "bool": torch.bool, "int64": torch.int64}
    for field in cls.per_example_state:
        value = getattr(learner, field.name)
        assert tuple(value.shape) == field.size(ds.n, ds.num_classes) and value.dtype == dtypes[field.kind]
        assert value.shape[field.axis] == ds.n


def test_state_field_shapes_and_checks() -> None:
    field = StateField("t", (2, "n", "classes"))
    assert field.size(7, 3) == (2, 7, 3) and field.axis == 1
    with pytest.raises(ValueError, match="`shape`"):
        StateField("t", ("classes",))
    with pytest.raises(ValueError, match="`shape`"):
        StateField("t", ("n", "n"))
    with pytest.raises(ValueError, match="`kind`"):
        StateField("t", ("n",), kind="float64")


def test_storage_rounds_saturates_and_scales() -> None:
    store = StateStorage(torch.float16, torch.device("cpu"), torch.device("cpu"))
    state = store.allocate(StateField("t", ("n", 2), fill=-1.0), 4, 3)
    assert state.dtype == torch.float16 and state.tolist() == [[-1.0, -1.0]] * 4
    idx = torch.tensor([2, 0])
    store.store(state, idx, torch.tensor([[1e6, -1e6], [0.1, 3.0]]))
    assert state[2].tolist() == [65504.0, -65504.0]  # float16's largest finite value, not inf
    assert state[0, 0].item() == pytest.approx(0.1, abs=1e-4)  # rounded to float16
    store.store(state, torch.tensor([1]), torch.tensor([[0.25, -0.5]]), scale=4.0)
    assert state[1].tolist() == [1.0, -2.0]
    rows = store.gather(state, torch.tensor([1, 3]), scale=4.0)
    assert rows.dtype == torch.float32 and rows.tolist() == [[0.25, -0.5], [-0.25, -0.25]]


# ---------------------------------------------------------------------- checkpoint format
class Snapshot(Callback):
    """A copy of the learner state after the first epoch."""

    state: dict | None = None

    def on_epoch_end(self, learner, epoch, logs):  # type: ignore[no-untyped-def]
        if self.state is None:
            self.state = copy.deepcopy(learner.state_dict())


def test_state_records_its_fit_with_the_index_digest() -> None:
    ds, order = blobs(), np.random.default_rng(1).permutation(96)[:60]
    snap = Snapshot()
    ELR(**SMALL).fit(ds, order, epochs=2, progress=False, callbacks=[snap])
    assert snap.state is not None
    assert snap.state["version"] == 2
    assert snap.state["fit"] == {"epoch": 1, "epochs": 2, "indices": index_digest(order)}
    other = ELR(**SMALL)
    other.load_state_dict(snap.state)
    with pytest.raises(LearnerStateError, match="other indices"):  # same examples, other order
        other.fit(ds, np.sort(order), epochs=2, progress=False)


def test_other_formats_are_refused_at_once() -> None:
    snap = Snapshot()
    ELR(**SMALL).fit(blobs(), epochs=1, progress=False, callbacks=[snap])
    assert snap.state is not None
    with pytest.raises(ValueError, match="format version 1"):
        ELR(**SMALL).load_state_dict({**snap.state, "version": 1})
    with pytest.raises(ValueError, match="written by ELR, not CE"):
        CE(**SMALL).load_state_dict(snap.state)
    with pytest.raises(ValueError, match="not a prune4rel learner state"):
        CE(**SMALL).load_state_dict({"modules": {}})


def test_a_state_with_other_per_example_tensors_does_not_fit() -> None:
    ds = blobs()
    snap = Snapshot()
    ELR(**SMALL).fit(ds, epochs=2, progress=False, callbacks=[snap])
    assert snap.state is not None
    state = {**snap.state, "tensors": {"targets": snap.state["tensors"]["targets"]}}
    learner = ELR(**SMALL)
    learner.load_state_dict(state)
    with pytest.raises(LearnerStateError, match="per-example tensors"):
        learner.fit(ds, epochs=2, progress=False)
