"""A run configuration's checks: bad values name their field, learner and selector parameters are
checked when parsing (which builds nothing), constraints between them before a run, YAML keys
and aliases, and a CUDA request without a GPU."""

from __future__ import annotations

import re

import pytest
import yaml
from tiny_run import tiny_config, write_blobs

from prune4rel.pipeline import (
    DataConfig,
    RunConfig,
    check_config,
    load_dataset,
    resolve_device,
    run_experiment,
)


@pytest.fixture(scope="module")
def arrays_path(tmp_path_factory):
    return write_blobs(tmp_path_factory.mktemp("data") / "blobs.npz", 150, 60, seed=0)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"dataset": "mnist"}, "data.dataset"),
        ({"train_subset": 0}, "data.train_subset"),
        ({"noise_rate": 1.5}, "data.noise_rate"),
        ({"noise": "pairflip"}, "data.noise"),
        ({"test_set": "jpeg10k"}, "data.test_set"),
        ({"warmup_epochs": 0}, "warmup.epochs"),
        ({"epochs": 2.5}, "train.epochs"),
        ({"learner": "mixup"}, "train.learner"),
        ({"model": "vgg"}, "warmup.model"),
        ({"train.params.seed": 3}, "train.params"),
        ({"train.params": ["lr"]}, "train.params"),
        ({"methods": ["prune4rel", "nope"]}, "selection.methods"),
        ({"methods": []}, "selection.methods"),
        ({"fractions": [0.0, 0.5]}, "selection.fractions"),
        ({"fractions": "0.2,x"}, "selection.fractions"),
        ({"selection.params": {"kcenter": {}}}, "selection.params"),
        ({"selection.params": {"prune4rel": 0.9}}, "selection.params.prune4rel"),
        ({"seed": -1}, "seed"),
        ({"device": "gpu"}, "device"),
        ({"train.bogus": 1}, "train.bogus"),
    ],
)
def test_bad_config_values_name_the_field(arrays_path, overrides, field):
    with pytest.raises(ValueError, match=re.escape(field)):
        tiny_config(arrays_path, **overrides)


#: Learner and selector parameters that their class's rules refuse: parsing names them.
BAD_PARAMETERS = [
    ({"train.params.lr": -1.0}, "`train.params.lr` must be a number > 0"),
    ({"train.params.state_dtype": "float64"}, "`train.params.state_dtype` must be one of"),
    ({"warmup.params.state_device": "cuda"}, "`warmup.params.state_device` must be one of"),
    ({"warmup.params.bogus": 1}, "`warmup.params.bogus` must be a known parameter name"),
    ({"selection.params": {"prune4rel": {"tau": 2.0}}}, "`selection.params.prune4rel.tau` must be"),
    ({"selection.params": {"prune4rel": {"bogus": 1}}}, "`selection.params.prune4rel.bogus`"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_PARAMETERS)
def test_learner_and_selector_parameters_are_checked_at_parsing(arrays_path, overrides, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        tiny_config(arrays_path, **overrides)


def test_constraints_between_parameters_are_checked_before_the_run(arrays_path, tmp_path):
    # each value passes its rule, the pair does not: only the selector can judge it
    config = tiny_config(arrays_path, **{"selection.params": {"prune4rel": {"k": 5, "backend": "dense"}}})
    with pytest.raises(ValueError, match=re.escape("`selection.params.prune4rel`: `k` must be None")):
        check_config(config)
    with pytest.raises(ValueError, match=re.escape("`selection.params.prune4rel`")):
        run_experiment(config, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()  # nothing was done


def test_parsing_builds_no_learner_or_selector(arrays_path, monkeypatch):
    import prune4rel.learners as learners
    import prune4rel.selection as selection

    def refuse(*args, **kwargs):
        raise AssertionError("parsing a configuration built a learner or selector")

    selectors = [selection.selector_class(m) for m in selection.available_selectors()]
    for cls in {*learners.LEARNERS.values(), *selectors}:
        monkeypatch.setattr(cls, "__init__", refuse)
    config = tiny_config(arrays_path, **{"selection.params": {"prune4rel": {"tau": 0.9}}, "epochs": 3})
    assert RunConfig.from_dict(yaml.safe_load(config.to_yaml())) == config
    assert config.train.epochs == 3 and config.selection.params == {"prune4rel": {"tau": 0.9}}


def test_bad_yaml_keys_and_missing_dataset_fields(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("train: {epoch: 3}\n")
    with pytest.raises(ValueError, match=r"train\.epoch"):
        RunConfig.from_yaml(path)
    path.write_text("learning_rate: 0.1\n")
    with pytest.raises(ValueError, match="learning_rate"):
        RunConfig.from_yaml(path)
    with pytest.raises(ValueError, match=r"data\.root"):
        DataConfig(dataset="cifar10n")
    with pytest.raises(ValueError, match=r"data\.path"):
        DataConfig(dataset="arrays")
    with pytest.raises(ValueError, match=r"data\.noise_rate"):
        DataConfig(dataset="cifar10n", root="x", label_set="worst", noise_rate=0.2)
    with pytest.raises(ValueError, match=r"data\.train_subset"):
        load_dataset(DataConfig(train_subset=10_000))


def test_yaml_config_with_flat_aliases_and_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(
        "seed: 3\nepochs: 7\nmethods: prune4rel,uniform\nfractions: [0.4, 0.2]\n"
        "selection: {params: {prune4rel: {tau: 0.8}}}\ntrain: {learner: sop+, params: {lr: 0.1}}\n"
    )
    config = RunConfig.from_yaml(path)
    assert (config.seed, config.train.epochs, config.train.learner) == (3, 7, "sop+")
    assert config.selection.fractions == (0.2, 0.4)
    assert config.selection.params == {"prune4rel": {"tau": 0.8}}
    changed = config.with_overrides({"train.params.lr": 0.2, "model": "mlp"})
    assert changed.train.params == {"lr": 0.2} and changed.warmup.model == changed.train.model == "mlp"
    assert changed.selection.fractions == (0.2, 0.4)
    with pytest.raises(ValueError, match=r"`selection\.fractions` must be a non-empty list, got None"):
        config.with_overrides({"fractions": None})  # None is a value, not "left out"
    assert RunConfig.from_dict(yaml.safe_load(changed.to_yaml())) == changed


def test_cuda_request_without_gpu_is_a_clear_error(monkeypatch):
    import prune4rel.devices
    from prune4rel.devices import VisibleGPUs

    monkeypatch.setattr(prune4rel.devices, "visible_gpus", lambda: VisibleGPUs(0))
    with pytest.raises(ValueError, match="no CUDA GPU"):
        resolve_device("cuda")
    assert resolve_device("auto").type == "cpu"
