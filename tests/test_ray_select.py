"""Ray-sharded Prune4ReL (prune4rel.distributed.ray_select) against the single-machine selector."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import softmax

from prune4rel import Signals
from prune4rel.cli import main
from prune4rel.distributed import ray_select
from prune4rel.neighbors import calibrate_tau, exact_graph
from prune4rel.selection import Prune4ReL
from prune4rel.selection.prune4rel_selector import neighborhood_objective

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'prune4rel[distributed]')")


@pytest.fixture(scope="module", autouse=True)
def ray_runtime():
    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


def separated_signals(per_class: int = 100, classes: int = 6, seed: int = 0) -> Signals:
    """Classes along orthogonal axes, three sub-clusters each; no tau-neighbourhood crosses classes."""
    rng = np.random.default_rng(seed)
    dim = classes + 8
    labels = np.repeat(np.arange(classes), per_class)
    sub = rng.integers(0, 3, size=labels.size)
    centers = np.zeros((classes, 3, dim))
    centers[:, :, :classes] = 4.0 * np.eye(classes)[:, None, :]
    centers[:, :, classes:] = rng.normal(size=(classes, 3, dim - classes))
    emb = centers[labels, sub] + 0.12 * rng.normal(size=(labels.size, dim))
    probs = softmax(rng.normal(size=(labels.size, classes)) + 3.0 * np.eye(classes)[labels])
    return Signals(labels=labels, probs=probs, embeddings=emb.astype(np.float32))


def noisy_clustered_signals(n: int = 1500, classes: int = 5, seed: int = 1) -> Signals:
    """Sub-clusters per class, 30% of labels flipped: neighbourhoods cross given classes."""
    rng = np.random.default_rng(seed)
    dim = 24
    clean = np.arange(n) % classes
    sub = rng.integers(0, 4, size=n)
    dirs = rng.normal(size=(classes, 1, dim)) + 0.7 * rng.normal(size=(classes, 4, dim))
    emb = dirs[clean, sub] * (1.0 + 0.15 * rng.normal(size=(n, dim)))
    labels = np.where(rng.random(n) < 0.3, rng.integers(0, classes, size=n), clean)
    strength = rng.uniform(0.5, 4.0, size=(n, 1))
    probs = softmax(rng.normal(size=(n, classes)) + strength * np.eye(classes)[clean])
    return Signals(labels=labels, probs=probs, embeddings=emb.astype(np.float32))


def run(signals: Signals, budget, **kwargs):
    return ray_select(signals.embeddings, signals.labels, signals.probs, budget, **kwargs)


@pytest.mark.parametrize("objective", ["published", "full"])
def test_one_shard_equals_single_machine(objective):
    sig = noisy_clustered_signals(n=600)
    single = Prune4ReL(objective=objective).select(sig, 0.25)
    dist = run(sig, 0.25, shards=1, objective=objective)
    np.testing.assert_array_equal(dist.indices, single.indices)
    # float32 similarities may differ in the last bit: Ray workers run BLAS on one thread
    np.testing.assert_allclose(dist.gains, single.gains, rtol=1e-6)
    assert dist.objective == pytest.approx(single.objective, rel=1e-6)
    assert ray.is_initialized()  # the caller's runtime is left running


@pytest.mark.parametrize("shards", [1, 3])
def test_target_degree_is_calibrated_once_on_the_whole_set(shards):
    sig = noisy_clustered_signals(n=600)
    tau = calibrate_tau(sig.embeddings, 30.0)
    calibrated = run(sig, 0.25, shards=shards, target_degree=30.0)
    fixed = run(sig, 0.25, shards=shards, tau=tau)
    np.testing.assert_array_equal(calibrated.indices, fixed.indices)
    assert calibrated.params["tau"] == tau and calibrated.params["target_degree"] is None
    if shards == 1:
        single = Prune4ReL(target_degree=30.0).select(sig, 0.25)
        np.testing.assert_array_equal(calibrated.indices, single.indices)


@pytest.mark.parametrize("shards", [2, 3, 6])
def test_class_partition_equals_single_machine_when_classes_never_neighbour(shards):
    # Why equal (objective "published", equal class sizes): with no edge between classes, a
    # pick from class c changes N only inside c, so on one machine the picks from c are a
    # prefix of the greedy run on c alone (ties: lowest index, kept since every subset keeps
    # the ids sorted), interleaved by a round-robin that depends on the labels only. A shard
    # holding whole classes produces the same per-class prefixes, at least q_c long (its
    # budget is >= alpha * sum of the q_c). Round 2 scores x by N(x), which only involves
    # picks, all inside the pool: it is the one-machine greedy restricted to the pool, which
    # holds every pick it would make, so each step takes the same example.
    sig = separated_signals()
    graph = exact_graph(sig.embeddings, 0.975)
    owner = np.repeat(np.arange(graph.n), graph.degrees())
    assert np.all(sig.labels[owner] == sig.labels[graph.indices])  # the premise holds
    assert graph.nnz > 5 * graph.n  # and neighbourhoods are not trivial
    single = Prune4ReL().select(sig, 0.3)
    dist = run(sig, 0.3, shards=shards, partition="class")
    np.testing.assert_array_equal(dist.indices, single.indices)
    np.testing.assert_allclose(dist.gains, single.gains, rtol=1e-6)  # float32 similarities
    assert dist.extras["pool_size"] < sig.n


@pytest.mark.parametrize(
    ("partition", "shards", "objective"),
    [("class", 2, "published"), ("class", 5, "published"), ("kmeans", 4, "published"), ("kmeans", 3, "full")],
)
def test_objective_close_to_single_machine_and_budget_respected(partition, shards, objective):
    sig = noisy_clustered_signals()
    budget = 0.2
    single = Prune4ReL(objective=objective).select(sig, budget)
    dist = run(sig, budget, shards=shards, partition=partition, objective=objective)
    full, _ = neighborhood_objective(sig, single.indices)
    ours, _ = neighborhood_objective(sig, dist.indices)
    assert ours >= 0.97 * full
    assert dist.indices.shape == (300,) and dist.gains.shape == (300,)
    assert np.unique(dist.indices).size == 300
    assert dist.indices.min() >= 0 and dist.indices.max() < sig.n
    # class balance: the same per-class counts as the published round-robin on one machine
    classes = int(sig.labels.max()) + 1
    np.testing.assert_array_equal(
        np.bincount(sig.labels[dist.indices], minlength=classes),
        np.bincount(sig.labels[single.indices], minlength=classes),
    )
    assert dist.extras["shard_seconds"].shape == dist.extras["shard_sizes"].shape
    assert dist.extras["shard_sizes"].sum() == sig.n
    assert dist.params["shards"] == shards and dist.params["partition"] == partition


def test_unbalanced_count_budget():
    sig = noisy_clustered_signals(n=500)
    dist = run(sig, 37, shards=3, partition="kmeans", balance=False)
    assert dist.indices.shape == (37,) and np.unique(dist.indices).size == 37


def test_path_form_reads_the_npy_file(tmp_path):
    sig = noisy_clustered_signals(n=800)
    path = tmp_path / "emb.npy"
    np.save(path, np.asarray(sig.embeddings))
    for partition in ("class", "kmeans"):
        from_file = ray_select(path, sig.labels, sig.probs, 0.2, shards=2, partition=partition)
        in_memory = run(sig, 0.2, shards=2, partition=partition)
        np.testing.assert_array_equal(from_file.indices, in_memory.indices)


def test_bad_inputs_raise_clear_errors(tmp_path, monkeypatch):
    sig = noisy_clustered_signals(n=200)
    cases = [
        ({"shards": 0}, "`shards` must be an integer >= 1"),
        ({"shards": True}, "`shards` must be an integer >= 1"),
        ({"shards": 6}, "exceeds the 5 classes"),
        ({"partition": "random"}, "`partition` must be one of"),
        ({"alpha": 0.5}, "`alpha` must be a finite number >= 1"),
        ({"tau": 1.5}, "`tau` must be a number in"),
        ({"seeed": 1}, "`seeed` must be one of the parameters that 'prune4rel' takes"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            run(sig, 0.2, **kwargs)
    for budget in (0, 201, 1.5):
        with pytest.raises(ValueError, match="`budget`"):
            run(sig, budget, shards=2)
    with pytest.raises(ValueError, match="must have n = 200 rows"):
        ray_select(sig.embeddings, sig.labels[:-1], sig.probs, 0.2)
    with pytest.raises(ValueError, match="does not exist"):
        ray_select(tmp_path / "missing.npy", sig.labels, sig.probs, 0.2)
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"pip install 'prune4rel\[distributed\]'"):
        run(sig, 0.2, shards=2)


def test_cli_select_with_ray(tmp_path):
    sig = noisy_clustered_signals(n=600)
    placeholder = Signals(labels=sig.labels, probs=sig.probs, embeddings=np.zeros((sig.n, 1)))
    placeholder.save(tmp_path / "s.npz")
    np.save(tmp_path / "emb.npy", np.asarray(sig.embeddings))
    out = tmp_path / "subset.npy"
    args = ["select", str(tmp_path / "s.npz"), "--fraction", "0.2", "--out", str(out)]
    sharded = ["--embeddings", str(tmp_path / "emb.npy"), "--ray", "--shards", "2", "--partition", "kmeans"]
    res = CliRunner().invoke(main, [*args, *sharded])
    assert res.exit_code == 0, res.output
    expected = run(sig, 0.2, shards=2, partition="kmeans")
    np.testing.assert_array_equal(np.load(out), expected.indices)
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["params"]["shards"] == 2 and summary["budget"] == 120

    for extra, message in [
        (["--shards", "2"], "need --ray"),
        (["--ray", "--shards", "0"], "0 is not in the range"),
        (["--ray", "--partition", "random"], "'random' is not one of"),
        (["--ray", "--method", "uniform"], "--ray runs --method prune4rel only"),
    ]:
        res = CliRunner().invoke(main, [*args, *extra])
        assert res.exit_code != 0 and message in res.output, (extra, res.output)


def test_unreachable_ray_cluster_is_a_clear_cli_error(tmp_path, monkeypatch):
    import ray

    def refuse(**kwargs):
        raise ConnectionError(f"Could not find any running Ray instance at {kwargs.get('address')}")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", refuse)
    sig = noisy_clustered_signals(n=200)
    sig.save(tmp_path / "s.npz")
    res = CliRunner().invoke(main, ["select", str(tmp_path / "s.npz"), "--fraction", "0.2", "--out",
                                    str(tmp_path / "o.npy"), "--ray-address", "10.0.0.1:6379"])
    assert res.exit_code == 2 and res.exception is not None and isinstance(res.exception, SystemExit)
    assert "cannot start or reach the Ray cluster at '10.0.0.1:6379'" in res.output
    assert not (tmp_path / "o.npy").exists()
