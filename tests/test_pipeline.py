"""The experiment pipeline: run directory, result files, determinism, resume (the configuration's
checks are in test_run_config.py)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from tiny_run import EPOCHS, tiny_config, write_blobs

from prune4rel.cli import main
from prune4rel.learners import Callback
from prune4rel.neighbors import calibrate_tau
from prune4rel.pipeline import (
    RESULT_KEYS,
    ResumeWarning,
    RunConfig,
    run_experiment,
)
from prune4rel.selection import get_selector
from prune4rel.signals import Signals


@pytest.fixture(scope="module")
def arrays_path(tmp_path_factory):
    """Three Gaussian blobs in 6-D, 30% symmetric noise on 150 training examples."""
    return write_blobs(tmp_path_factory.mktemp("data") / "blobs.npz", 150, 60, seed=0)


def without_timing(obj):
    """Results and metrics minus wall times (which differ between identical runs)."""
    if isinstance(obj, dict):
        return {k: without_timing(v) for k, v in obj.items() if k not in ("seconds", "_path")}
    if isinstance(obj, list):
        return [without_timing(v) for v in obj]
    return obj


def read_metrics(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def outputs(run_dir):
    """Every subset, metrics file and result of a run directory, timing removed."""
    out = {}
    for f in sorted(run_dir.glob("subset_*.npy")):
        out[f.name] = np.load(f).tolist()
    for f in sorted(run_dir.glob("metrics_*.jsonl")):
        out[f.name] = without_timing(read_metrics(f))
    for f in sorted(run_dir.glob("result_*.json")):
        out[f.name] = without_timing(json.loads(f.read_text()))
    return out


class Interrupt(Exception):
    pass


class StopAfter(Callback):
    """Raises after ``epoch`` epochs of the first training (the run's checkpoint is written first)."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_epoch_end(self, learner, epoch, logs):
        if epoch + 1 == self.epochs:
            raise Interrupt


class CountEpochs(Callback):
    def __init__(self) -> None:
        self.count = 0

    def on_epoch_end(self, learner, epoch, logs):
        self.count += 1


@pytest.fixture(scope="module")
def reference_run(arrays_path, tmp_path_factory):
    """One uninterrupted run, shared by the comparisons below."""
    out = tmp_path_factory.mktemp("reference")
    summary = run_experiment(tiny_config(arrays_path), out, progress=False)
    return out, summary


def test_run_writes_every_file_with_documented_keys(reference_run, arrays_path):
    out, summary = reference_run
    tags = ["prune4rel_0.4", "uniform_0.4", "full_1.0"]
    expected = {"config.yaml", "signals.npz"}
    for tag in tags:
        expected |= {f"subset_{tag}.npy", f"subset_{tag}.json", f"metrics_{tag}.jsonl", f"result_{tag}.json"}
    # no checkpoint, temp or lock file left behind
    assert {p.name for p in out.iterdir()} == expected | {"manifest.json"}
    # the manifest names every file the run wrote, the deleted checkpoints included
    checkpoints = {"ckpt_warmup.pt"} | {f"ckpt_{tag}.pt" for tag in tags}
    assert set(json.loads((out / "manifest.json").read_text())["files"]) == expected | checkpoints
    assert RunConfig.from_yaml(out / "config.yaml") == tiny_config(arrays_path)

    signals = Signals.load(out / "signals.npz")
    assert signals.n == 150 and signals.losses.shape == (2, 150)
    assert signals.meta["config_hash"]

    assert [(r["method"], r["fraction"]) for r in summary["results"]] == [
        ("prune4rel", 0.4), ("uniform", 0.4), ("full", 1.0)
    ]
    for tag, result in zip(tags, summary["results"]):
        on_disk = json.loads((out / f"result_{tag}.json").read_text())
        assert on_disk == result
        assert set(RESULT_KEYS) <= set(result)
        assert set(result["seconds"]) == {"warmup", "select", "train"}
        subset = np.load(out / f"subset_{tag}.npy")
        assert result["subset_size"] == subset.size == (60 if result["fraction"] == 0.4 else 150)
        assert np.unique(subset).size == subset.size
        metrics = read_metrics(out / f"metrics_{tag}.jsonl")
        assert [m["epoch"] for m in metrics] == list(range(1, EPOCHS + 1))
        assert {"epoch", "train_loss", "test_acc", "relabel_acc", "config_hash"} <= set(metrics[0])
        accs = [m["test_acc"] for m in metrics]
        assert result["test_acc_last"] == accs[-1] and result["test_acc_best"] == max(accs)
        assert result["relabel_acc"] == metrics[-1]["relabel_acc"]
        assert result["test_set"] == "blobs-test" and result["device"] == "cpu" and result["seed"] == 0
        assert 0.0 <= result["subset_noise_rate"] <= 1.0
    full = summary["results"][-1]
    assert full["subset_noise_rate"] == pytest.approx(0.3)
    assert full["seconds"]["warmup"] is None


def test_subset_record_names_the_tau_used(reference_run, arrays_path, tmp_path):
    out, _ = reference_run
    fixed = json.loads((out / "subset_prune4rel_0.4.json").read_text())["selection_info"]
    assert fixed["tau"] == 0.975 and fixed["backend"] in ("graph", "dense")
    assert json.loads((out / "subset_uniform_0.4.json").read_text())["selection_info"] == {}
    config = tiny_config(arrays_path, **{"selection.methods": ["prune4rel"], "selection.fractions": [0.4],
                                         "selection.params": {"prune4rel": {"target_degree": 8}}})
    run_experiment(config, tmp_path, progress=False)
    meta = json.loads((tmp_path / "subset_prune4rel_0.4.json").read_text())
    signals = Signals.load(tmp_path / "signals.npz")
    assert meta["selection_info"]["tau"] == calibrate_tau(signals.embeddings, 8)
    assert meta["resolved_params"]["target_degree"] == 8


def test_subset_noise_rate_matches_the_subset(reference_run, arrays_path):
    out, summary = reference_run
    data = np.load(arrays_path)
    for result in summary["results"]:
        subset = np.load(out / f"subset_{result['method']}_{result['fraction']}.npy")
        noise = np.mean(data["y_train"][subset] != data["clean"][subset])
        assert result["subset_noise_rate"] == pytest.approx(noise)


def test_same_seed_gives_same_subsets_and_metrics(reference_run, arrays_path, tmp_path):
    out, _ = reference_run
    run_experiment(tiny_config(arrays_path), tmp_path, progress=False)
    assert outputs(tmp_path) == outputs(out)


def test_finished_stages_are_skipped(reference_run, arrays_path):
    out, summary = reference_run
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name != "config.yaml"}
    again = run_experiment(tiny_config(arrays_path), out, progress=False)
    assert again["results"] == summary["results"]
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name != "config.yaml"} == stamps


def test_interrupted_training_resumes_to_the_uninterrupted_result(reference_run, arrays_path, tmp_path):
    out, _ = reference_run
    config = tiny_config(arrays_path)
    with pytest.raises(Interrupt):
        run_experiment(config, tmp_path, progress=False, callbacks=[StopAfter(2)])
    # the first job stopped after epoch 2: checkpoint and 2 metric lines, no result
    assert (tmp_path / "ckpt_prune4rel_0.4.pt").is_file()
    assert len(read_metrics(tmp_path / "metrics_prune4rel_0.4.jsonl")) == 2
    assert not (tmp_path / "result_prune4rel_0.4.json").exists()
    counter = CountEpochs()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResumeWarning)  # a clean resume warns about nothing
        run_experiment(config, tmp_path, progress=False, callbacks=[counter])
    assert counter.count == (EPOCHS - 2) + EPOCHS + EPOCHS  # only the missing epochs of job 1
    assert outputs(tmp_path) == outputs(out)
    assert not list(tmp_path.glob("ckpt_*"))


def test_corrupt_checkpoint_is_redone_with_a_warning(reference_run, arrays_path, tmp_path):
    out, _ = reference_run
    config = tiny_config(arrays_path)
    with pytest.raises(Interrupt):
        run_experiment(config, tmp_path, progress=False, callbacks=[StopAfter(3)])
    ckpt = tmp_path / "ckpt_prune4rel_0.4.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:100])  # truncated from outside
    counter = CountEpochs()
    with pytest.warns(ResumeWarning, match=r"ckpt_prune4rel_0\.4\.pt"):
        run_experiment(config, tmp_path, progress=False, callbacks=[counter])
    assert counter.count == 3 * EPOCHS  # job 1 was retrained from scratch
    assert outputs(tmp_path) == outputs(out)


def test_corrupt_signals_are_redone_with_a_warning(reference_run, arrays_path, tmp_path):
    out, _ = reference_run
    config = tiny_config(arrays_path, **{"selection.fractions": [0.4]})
    run_experiment(config, tmp_path, progress=False)
    (tmp_path / "signals.npz").write_bytes(b"not a zip file")
    (tmp_path / "result_uniform_0.4.json").unlink()
    with pytest.warns(ResumeWarning, match=r"signals\.npz"):
        run_experiment(config, tmp_path, progress=False)
    assert Signals.load(tmp_path / "signals.npz").n == 150
    assert outputs(tmp_path)["result_uniform_0.4.json"] == outputs(out)["result_uniform_0.4.json"]


SIGNAL_ARRAYS = ("labels", "probs", "embeddings", "losses", "correct", "margins", "clean_labels")


def assert_same_signals(got: Signals, want: Signals) -> None:
    for name in SIGNAL_ARRAYS:
        a, b = getattr(got, name), getattr(want, name)
        assert a is not None and a.dtype == b.dtype and np.array_equal(a, b), name


def warmup_only(arrays_path, **overrides) -> RunConfig:
    """The reference run's data, warm-up and seed, with one short training after it."""
    one_job = {"selection.methods": ["uniform"], "selection.fractions": [0.4]}
    return tiny_config(arrays_path, **{**one_job, **overrides})


def test_interrupted_warmup_resumes_to_identical_signals(reference_run, arrays_path, tmp_path):
    out, _ = reference_run
    config = warmup_only(arrays_path)
    with pytest.raises(Interrupt):
        run_experiment(config, tmp_path, progress=False, warmup_callbacks=[StopAfter(1)])
    ckpt = tmp_path / "ckpt_warmup.pt"
    assert ckpt.is_file() and not (tmp_path / "signals.npz").exists()
    state = torch.load(ckpt, weights_only=True)
    assert state["epoch"] == 1 and state["recorder"]["losses"].shape == (1, 150)
    counter = CountEpochs()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResumeWarning)  # a clean resume warns about nothing
        run_experiment(config, tmp_path, progress=False, warmup_callbacks=[counter])
    assert counter.count == 1  # only the missing warm-up epoch
    resumed = Signals.load(tmp_path / "signals.npz")
    assert_same_signals(resumed, Signals.load(out / "signals.npz"))
    assert resumed.losses.shape == (2, 150) and resumed.meta["seconds"] > 0
    assert not ckpt.exists()
    assert outputs(tmp_path)["result_uniform_0.4.json"] == outputs(out)["result_uniform_0.4.json"]


def _truncate(ckpt, other):
    ckpt.write_bytes(ckpt.read_bytes()[:100])


def _other_config(ckpt, other):
    ckpt.write_bytes((other / "ckpt_warmup.pt").read_bytes())


def _edit(change):
    def damage(ckpt, other):
        state = torch.load(ckpt, weights_only=True)
        change(state)
        torch.save(state, ckpt)

    return damage


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (_truncate, "not a readable checkpoint"),
        (_other_config, "another configuration"),
        (_edit(lambda s: s["recorder"].update(losses=s["recorder"]["losses"][:, :10])), "histories"),
        (_edit(lambda s: s["learner"]["modules"]["model"].popitem()), "learner state does not fit"),
        (_edit(lambda s: s.pop("learner")), "not a prune4rel learner state"),
    ],
    ids=["truncated", "other-config", "bad-recorder", "bad-weights", "no-learner"],
)
def test_unusable_warmup_checkpoint_is_ignored_with_a_warning(
    reference_run, arrays_path, tmp_path, damage, why
):
    out, _ = reference_run
    config = warmup_only(arrays_path)
    with pytest.raises(Interrupt):
        run_experiment(config, tmp_path / "run", progress=False, warmup_callbacks=[StopAfter(1)])
    other = tmp_path / "other"  # a warm-up with another learning rate, stopped at the same epoch
    with pytest.raises(Interrupt):
        run_experiment(warmup_only(arrays_path, **{"warmup.params.lr": 0.1}), other, progress=False,
                       warmup_callbacks=[StopAfter(1)])
    damage(tmp_path / "run" / "ckpt_warmup.pt", other)
    counter = CountEpochs()
    with pytest.warns(ResumeWarning, match=rf"ckpt_warmup\.pt .*{why}"):
        run_experiment(config, tmp_path / "run", progress=False, warmup_callbacks=[counter])
    assert counter.count == 2  # the whole warm-up again
    assert_same_signals(Signals.load(tmp_path / "run" / "signals.npz"), Signals.load(out / "signals.npz"))
    assert not (tmp_path / "run" / "ckpt_warmup.pt").exists()


def test_learner_state_options_reach_the_learner(arrays_path, tmp_path):
    class Spy(Callback):
        def on_fit_end(self, learner, history):
            self.stored = (learner.targets.dtype, learner.targets.device.type)

    spy = Spy()
    options = {"train.params.state_dtype": "float16", "train.params.state_device": "cpu"}
    config = warmup_only(arrays_path, **options)
    run_experiment(config, tmp_path, progress=False, callbacks=[spy])
    assert spy.stored == (torch.float16, "cpu")


def test_changed_training_config_recomputes_only_training(arrays_path, tmp_path):
    config = tiny_config(arrays_path, **{"selection.methods": ["uniform"], "selection.fractions": [0.4]})
    run_experiment(config, tmp_path, progress=False)
    keep = {n: (tmp_path / n).stat().st_mtime_ns for n in ("signals.npz", "subset_uniform_0.4.npy")}
    result = run_experiment(config.with_overrides({"epochs": 2}), tmp_path, progress=False)["results"][0]
    assert result["epochs"] == 2 and len(read_metrics(tmp_path / "metrics_uniform_0.4.jsonl")) == 2
    assert {n: (tmp_path / n).stat().st_mtime_ns for n in keep} == keep


def test_run_directory_of_another_data_setting_is_refused(arrays_path, tmp_path):
    config = tiny_config(arrays_path, **{"selection.methods": ["uniform"], "selection.fractions": [0.4]})
    run_experiment(config, tmp_path, progress=False)
    other = config.with_overrides({"warmup_epochs": 3})
    with pytest.raises(ValueError, match=r"warmup\.epochs"):
        run_experiment(other, tmp_path, progress=False)
    run_experiment(other, tmp_path, resume=False, progress=False)  # starts afresh
    assert Signals.load(tmp_path / "signals.npz").losses.shape[0] == 3


def test_cli_run_on_digits(tmp_path):
    out = tmp_path / "run"
    args = [
        "run", "--dataset", "digits", "--train-subset", "120", "--test-subset", "100", "--model", "mlp",
        "--method", "uniform", "--fractions", "0.5", "--warmup-epochs", "1", "--epochs", "2",
        "--set", "train.params.num_threads=1", "--set", "warmup.params.num_threads=1",
        "--out", str(out), "--quiet",
    ]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "uniform" in res.output and "test set" in res.output
    result = json.loads((out / "result_uniform_0.5.json").read_text())
    assert result["subset_size"] == 60 and result["n_train"] == 120
    bad = CliRunner().invoke(main, [*args[:-3], "--epochs", "0", "--out", str(out)])
    assert bad.exit_code != 0 and "train.epochs" in bad.output
    # a parameter the learner rejects: one line naming it, before anything runs
    other = tmp_path / "other"
    bad = CliRunner().invoke(main, [*args[:-3], "--set", "train.params.lr=-1", "--out", str(other)])
    assert bad.exit_code == 2, bad.output
    assert bad.output.startswith("Error: `train.params.lr` must be a number > 0, got -1")
    assert len(bad.output.strip().splitlines()) == 1 and not other.exists()


def test_one_neighbour_graph_serves_every_graph_selection_of_a_run(arrays_path, tmp_path, monkeypatch):
    import prune4rel.selection.prune4rel_selector as selector_module

    backends = []
    build = selector_module.build_graph

    def counting(*args, **kwargs):
        backends.append(kwargs.get("backend"))
        return build(*args, **kwargs)

    monkeypatch.setattr(selector_module, "build_graph", counting)
    config = tiny_config(
        arrays_path, methods=["prune4rel", "prune4rel_agree", "uniform"], fractions=[0.2, 0.4], epochs=1
    )
    run = tmp_path / "run"
    run_experiment(config, run, progress=False)
    assert backends == ["graph"]  # four graph selections, one build
    signals = Signals.load(run / "signals.npz")
    monkeypatch.setattr(selector_module, "build_graph", build)
    records = []
    for fraction in (0.2, 0.4):
        for method in ("prune4rel", "prune4rel_agree"):
            alone = get_selector(method).select(signals, fraction).indices  # its own graph
            assert np.array_equal(np.load(run / f"subset_{method}_{fraction}.npy"), alone)
            records.append(json.loads((run / f"subset_{method}_{fraction}.json").read_text()))
    assert [r["graph_reused"] for r in records] == [False, True, True, True]
    assert records[0]["graph_seconds"] > 0 and all(r["graph_seconds"] == 0 for r in records[1:])
    uniform = json.loads((run / "subset_uniform_0.2.json").read_text())
    assert "graph_reused" not in uniform
