"""Command-line interface: ``prune4rel demo | select | methods | run | report | inspect |
convert-signals`` (also ``python -m prune4rel``).

A user's mistake is one ``Error: ...`` line and exit code 2, never a traceback (see
:mod:`prune4rel.cli_input`; ``prune4rel --debug`` shows it).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import textwrap
import time
from pathlib import Path
from typing import Any

import click

from prune4rel.arrayfiles import open_npy, read_npz
from prune4rel.cli_input import FRACTION, NonEmptyPath, Prune4ReLGroup, parse_pairs
from prune4rel.config import ALIASES
from prune4rel.data import dataset_names
from prune4rel.metrics import noise_rate
from prune4rel.neighbors import GRAPH_BACKENDS
from prune4rel.selection import available_selectors, get_selector
from prune4rel.selection.base import Selection, Selector, selector_class
from prune4rel.selection.files import summary_path, write_selection
from prune4rel.signals import Signals


def _refuse_overwriting_inputs(outputs: dict[str, Path], inputs: dict[str, Path | None]) -> None:
    """Refuse an output that is one of the inputs (the same file by its resolved path, or by
    device and inode through a link): writing it would destroy that input."""
    for out_name, out in outputs.items():
        for in_name, given in inputs.items():
            if given is None:
                continue
            same = out.resolve() == given.resolve()
            if not same and out.exists() and given.exists():
                same = out.samefile(given)
            if same:
                raise click.UsageError(
                    f"{out_name} {out} is the {in_name} file {given}: writing it would overwrite "
                    f"that input; choose another {out_name.split()[0]}"
                )


def _select_on_ray(
    data: Signals,
    embeddings_path: Path | None,
    method: str,
    budget: int | float,
    address: str | None,
    sharding: dict[str, Any],
    params: dict[str, Any],
) -> Selection:
    """``select --ray``: Prune4ReL over Ray shards, embeddings from the file when given."""
    from prune4rel.distributed.ray_select import ray_select

    if selector_class(method).name != "prune4rel":
        raise ValueError(f"--ray runs --method prune4rel only, got {method!r}")
    source = data.embeddings if embeddings_path is None else str(embeddings_path)
    return ray_select(source, data.labels, data.probs, budget, address=address, **sharding, **params)


def _selector_params(options: dict[str, Any], extra: tuple[str, ...]) -> dict[str, Any]:
    """The hyper-parameters of ``select``: its options that were given, then ``--param``."""
    params = {k: v for k, v in options.items() if v is not None}
    for key, value in parse_pairs(extra, "--param").items():
        if key in params:
            raise click.BadParameter(
                f"`{key}` is given twice (--{key.replace('_', '-')} and --param {key}=...)",
                param_hint="--param",
            )
        params[key] = value
    return params


def _configured_selector(method: str, params: dict[str, Any], quiet: bool) -> Selector:
    """The selector, with progress bars unless ``quiet`` (or set by ``--param progress=``)."""
    selector = get_selector(method, **params)
    if "progress" in selector.param_rules and "progress" not in params:
        selector.set_params(progress=not quiet)
    return selector


def _budget(fraction: float | None, count: int | None) -> int | float:
    """``select``'s subset size: the ``--fraction`` (a float) or the ``--count`` (an int)."""
    if fraction is not None and count is None:
        return fraction
    if count is not None and fraction is None:
        return count
    raise click.UsageError("give the subset size as --fraction F (in (0, 1]) or --count N, one of the two")


def _load_inputs(signals: Path, embeddings_path: Path | None, replace: bool) -> Signals:
    """The SIGNALS file, checked against the ``--embeddings`` array (memory-mapped).

    With ``replace`` the array becomes the embeddings of the returned signals (every value
    checked); otherwise only its shape is (``--ray`` tasks read their own rows).
    """
    data = Signals.load(signals)
    if embeddings_path is None:
        return data
    mapped = open_npy(embeddings_path)
    if mapped.ndim != 2 or mapped.shape[0] != data.n:
        raise ValueError(
            f"--embeddings {embeddings_path} has shape {mapped.shape}; expected (n, d) with "
            f"n = {data.n}, the examples of {signals}"
        )
    if replace:
        try:
            data = dataclasses.replace(data, embeddings=mapped)
        except ValueError as exc:
            raise ValueError(f"--embeddings {embeddings_path}: {exc}") from None
    return data


@click.group(cls=Prune4ReLGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, envvar="PRUNE4REL_DEBUG",
              help="Show the Python traceback of an error (also PRUNE4REL_DEBUG=1).")
@click.version_option(package_name="prune4rel")
def main(debug: bool) -> None:
    """Robust data pruning under label noise (Prune4ReL and baselines).

    A mistake in the input (an option, a value, a file, a path) is one `Error:` line and
    exit code 2; anything else exits with 1 and its traceback.
    """


#: DemoSettings field -> the `demo` option that sets it
_DEMO_OPTIONS = {"fractions": "--fraction", "seeds": "--seed", "methods": "--method", "noise": "--noise",
                 "epochs": "--epochs"}


@main.command()
@click.option("--fraction", "fractions", multiple=True, type=float,
              help="Share of the training set to keep, in [0.05, 1]; repeat for several [0.2 0.4 0.6].")
@click.option("--seed", "seeds", multiple=True, type=click.IntRange(0, 2**32 - 1),
              help="Seed of a split, noise, warm-up and trainings; repeat for several [0 1 2 3 4].")
@click.option("--method", "methods", multiple=True, type=click.Choice(available_selectors()),
              help="Selector compared with uniform; repeat for several "
                   "[small_loss prune4rel prune4rel_agree].")
@click.option("--noise", type=click.Choice(["worst", "random"]), default="worst", show_default=True,
              help="Human-like label noise at CIFAR-10N worst's rate (40%) or random1's (17%).")
@click.option("--epochs", type=click.IntRange(min=1), help="SOP+ epochs on each subset [30].")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default="prune4rel-demo",
              show_default=True, help="Folder for table.md, accuracy.png and results.json.")
@click.option("--workers", type=click.IntRange(min=1),
              help="Processes running the trainings [2 where the machine has 2 cores, 1 with --quick].")
@click.option("--quick", is_flag=True, help="Two seeds, two fractions, 2 epochs: a few seconds, for tests.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def demo(
    fractions: tuple[float, ...],
    seeds: tuple[int, ...],
    methods: tuple[str, ...],
    noise: str,
    epochs: int | None,
    out: Path,
    workers: int | None,
    quick: bool,
    quiet: bool,
) -> None:
    """Which subset should a re-labeling learner train on? uniform, small_loss, prune4rel and
    prune4rel_agree on scikit-learn's digits with human-like label noise (no download).

    Prints what the data is, mean ± std over seeds of test accuracy, subset noise and
    re-labeling accuracy, the difference to uniform paired by seed and a verdict; writes them
    with a plot to OUT.
    """
    from prune4rel.demo import BASELINE, QUICK, DemoSettings, run_demo
    from prune4rel.validation import ParameterError

    preset = QUICK if quick else DemoSettings()
    try:
        settings = dataclasses.replace(
            preset, fractions=tuple(sorted(set(fractions))) or preset.fractions,
            seeds=tuple(sorted(set(seeds))) or preset.seeds,
            methods=tuple(dict.fromkeys((BASELINE, *methods))) if methods else preset.methods,
            noise=noise, epochs=epochs or preset.epochs,
        )
    except ParameterError as exc:
        hint = f"'{_DEMO_OPTIONS[exc.name]}'"
        raise click.BadParameter(f"{exc.value!r}: must be {exc.allowed}", param_hint=hint) from None
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        message = f"cannot create folder {str(out)!r}: {exc.strerror}"
        raise click.BadParameter(message, param_hint="'--out'") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise click.BadParameter(f"folder {str(out)!r} is not writable", param_hint="'--out'")
    if workers is None:
        workers = 1 if quick else min(2, os.cpu_count() or 1)
    try:
        run_demo(settings, out, workers=workers, progress=not quiet, echo=click.echo)
    except OSError as exc:
        raise click.ClickException(f"cannot write the demo's output to {out}: {exc}") from exc


def _parameter_table(cls: type[Selector], width: int) -> list[str]:
    """One line per hyper-parameter of ``cls`` (more where its allowed values wrap)."""
    rows = [(name, repr(default), allowed) for name, default, allowed in cls.describe_params()]
    if not rows:
        return ["    (no parameters)"]
    name_w = max(len("parameter"), *(len(r[0]) for r in rows))
    default_w = max(len("default"), *(len(r[1]) for r in rows))
    indent = " " * (4 + name_w + 2 + default_w + 2)
    lines = [f"    {'parameter':<{name_w}}  {'default':<{default_w}}  allowed"]
    for name, default, allowed in rows:
        wrapped = textwrap.wrap(allowed, width=max(30, width - len(indent))) or [""]
        lines.append(f"    {name:<{name_w}}  {default:<{default_w}}  {wrapped[0]}")
        lines += [indent + more for more in wrapped[1:]]
    return lines


@main.command()
@click.argument("names", nargs=-1, metavar="[METHOD]...")
def methods(names: tuple[str, ...]) -> None:
    """List the selection methods (or only METHOD...) with each parameter's default and allowed values."""
    try:
        classes = [selector_class(name) for name in names or available_selectors()]
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    width = shutil.get_terminal_size((100, 24)).columns
    for cls in classes:
        summary = (cls.__doc__ or "").strip().splitlines()[0]
        click.echo(textwrap.fill(f"{cls.name}: {summary}", width=max(30, width), subsequent_indent="    "))
        click.echo("\n".join(_parameter_table(cls, width)) + "\n")
    hint = (
        "Set a parameter with `prune4rel select --param NAME=VALUE`; VALUE is read as YAML "
        "(true, false, null or None, 0.9, {nprobe: 8})."
    )
    click.echo(textwrap.fill(hint, width=max(30, width)))


@main.command()
@click.argument("signals", type=NonEmptyPath(dir_okay=False, path_type=Path))
@click.option("--fraction", type=FRACTION, help="Share of the examples to keep, in (0, 1].")
@click.option("--count", type=click.IntRange(min=1), help="Number of examples to keep (or --fraction).")
@click.option("--method", default="prune4rel", show_default=True, help="Selector name (see `methods`).")
@click.option("--out", required=True, type=NonEmptyPath(dir_okay=False, path_type=Path), help="Output .npy.")
@click.option("--tau", type=float, help="prune4rel: similarity threshold.")
@click.option("--eta", type=float, help="prune4rel: tanh temperature.")
@click.option("--objective", type=click.Choice(["published", "full"]), help="prune4rel: greedy rule.")
@click.option("--confidence", type=click.Choice(["max_prob", "margin"]), help="prune4rel: conf(s).")
@click.option("--backend", type=click.Choice(["auto", "dense", *GRAPH_BACKENDS]), help="prune4rel: backend.")
@click.option("--index", type=click.Choice(["flat", "ivf", "hnsw"]), help="prune4rel, faiss backend: index.")
@click.option("--engine", type=click.Choice(["auto", "python", "numba"]), help="prune4rel: greedy engine.")
@click.option("--k", type=int, help="prune4rel: cap on neighbours per example.")
@click.option("--device", help="prune4rel: 'cpu' or 'cuda'.")
@click.option("--balance/--no-balance", default=None, help="Class-balanced selection.")
@click.option("--seed", type=int, help="Seed, for methods that draw at random.")
@click.option("--param", "extra", multiple=True, metavar="KEY=VALUE", help="Any other hyper-parameter.")
@click.option(
    "--embeddings",
    "embeddings_path",
    type=NonEmptyPath(exists=True, dir_okay=False, path_type=Path),
    help="An (n, d) .npy file, read memory-mapped, that replaces the embeddings of SIGNALS.",
)
@click.option("--ray", "use_ray", is_flag=True, help="prune4rel sharded over Ray tasks (GreeDi-style merge).")
@click.option("--ray-address", metavar="ADDR", help="Ray cluster (implies --ray); default: local.")
@click.option("--shards", type=click.IntRange(min=1), help="--ray: number of shards (default 4).")
@click.option("--partition", type=click.Choice(["class", "kmeans"]), help="--ray: by class or k-means.")
@click.option("--alpha", type=float, help="--ray: candidates per shard, x its budget share (default 2).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def select(
    signals: Path,
    fraction: float | None,
    count: int | None,
    method: str,
    out: Path,
    extra: tuple[str, ...],
    quiet: bool,
    embeddings_path: Path | None,
    use_ray: bool,
    ray_address: str | None,
    shards: int | None,
    partition: str | None,
    alpha: float | None,
    **options: Any,
) -> None:
    """Select a subset from a SIGNALS file (written by Signals.save or warm-up).

    The subset size is --fraction F (a share in (0, 1]: 1 keeps every example) or --count
    N (a number of examples), one of the two. Writes the selected indices (pick order) to
    OUT and a JSON summary next to it (OUT with suffix .json) as one unit: each file
    atomically, both under a lock, the summary naming the index file's digest (read them back
    with prune4rel.selection.read_selection, which checks it). OUT and its summary may not be
    SIGNALS or --embeddings.

    With --embeddings, the embeddings come from a memory-mapped .npy file instead (large
    embeddings need not be stored in, nor loaded from, SIGNALS: save the signals with a
    placeholder such as an (n, 1) zero column).

    With --ray (or --ray-address), Prune4ReL runs sharded over Ray tasks
    (prune4rel.distributed.ray_select; --seed seeds the k-means partition); with
    --embeddings each task reads only its rows of the file.
    """
    if out.suffix == ".json":
        raise click.BadParameter("OUT gets the indices and OUT with suffix .json the summary: give OUT "
                                 "another suffix, e.g. .npy", param_hint="--out")
    _refuse_overwriting_inputs(
        {"--out": out, "--out summary": summary_path(out)},
        {"SIGNALS": signals, "--embeddings": embeddings_path},
    )
    budget = _budget(fraction, count)
    params = _selector_params(options, extra)
    chosen = (("shards", shards), ("partition", partition), ("alpha", alpha))
    sharding = {k: v for k, v in chosen if v is not None}
    use_ray = use_ray or ray_address is not None
    if sharding and not use_ray:
        raise click.UsageError("--shards, --partition and --alpha need --ray")
    selector = None if use_ray else _configured_selector(method, params, quiet)
    data = _load_inputs(signals, embeddings_path, replace=not use_ray)
    if isinstance(budget, int) and budget > data.n:
        why = f"{budget} is more than the {data.n} examples of {signals}"
        raise click.BadParameter(why, param_hint="--count")
    if selector is None:
        result = _select_on_ray(data, embeddings_path, method, budget, ray_address, sharding, params)
    else:
        result = selector.select(data, budget)
    summary = {
        "signals": str(signals),
        "embeddings": None if embeddings_path is None else str(embeddings_path),
        "method": result.method,
        "params": result.params,
        "n": data.n,
        "budget": len(result),
        "objective": result.objective,
        "seconds": round(result.seconds, 3),
        "subset_noise_rate": noise_rate(data.labels, data.clean_labels, result.indices),
    }
    summary = write_selection(out, result.indices, summary)  # a LockedError is a user's error line
    click.echo(json.dumps(summary, indent=None))



def _split_list(values: tuple[str, ...]) -> list[str]:
    out = [v.strip() for value in values for v in value.split(",") if v.strip()]
    if not out:
        raise click.BadParameter(f"no method name in {list(values)}", param_hint="--method")
    return out


#: ``run`` flags (by parameter name) and the config field each sets.
_RUN_FLAGS = {
    "dataset": "dataset", "data_root": "data.root", "data_path": "data.path", "label_set": "label_set",
    "test_set": "test_set", "train_subset": "train_subset", "test_subset": "test_subset",
    "noise": "noise", "noise_rate": "noise_rate", "model": "model", "learner": "learner",
    "warmup_epochs": "warmup_epochs", "epochs": "epochs", "seed": "seed", "data_seed": "data_seed",
    "device": "device", "test_path": "test_path", "image_size": "image_size", "cache": "cache",
    "image_column": "image_column", "label_column": "label_column",
    "clean_label_column": "clean_label_column", "test_split": "test_split",
}


def _run_overrides(given: dict[str, tuple[str, Any]], sets: tuple[str, ...]) -> dict[str, Any]:
    """Config overrides from the flags that were ``given`` (option -> (field, value)) and
    ``--set`` pairs; a field that two of them set is a ``click.BadParameter``."""
    pairs = [*given.items(), *((f"--set {k}=...", (k, v)) for k, v in parse_pairs(sets, "--set").items())]
    setters: dict[str, str] = {}
    for option, (key, _) in pairs:
        for field in ALIASES.get(key, (key,)):
            if field in setters:
                why = f"`{field}` is set twice: by {setters[field]} and by {option}"
                raise click.BadParameter(why, param_hint="--set")
            setters[field] = option
    return {key: value for _, (key, value) in pairs}


@main.command()
@click.option("--config", "config_path", type=NonEmptyPath(dir_okay=False, path_type=Path),
              help="YAML run config (see prune4rel.config.RunConfig); flags override it.")
@click.option("--dataset", help=f"One of {', '.join(dataset_names())}.")
@click.option("--data-root", help="Dataset folder (CIFAR-10N: cifar10.npz and cifar10n_labels.npz).")
@click.option("--data-path", help="For --dataset arrays: the .npz file; for image_csv: the training CSV; "
              "for hf: a folder written by datasets' save_to_disk.")
@click.option("--test-path", help="For --dataset image_csv: a test CSV; for hf: a test save_to_disk folder "
              "(default: hold out 20%).")
@click.option("--image-column", help="For --dataset hf: the image column (default image).")
@click.option("--label-column", help="For --dataset hf: the given-label column (default label).")
@click.option("--clean-label-column", help="For --dataset hf: a column of true labels (evaluation only).")
@click.option("--test-split", help="For --dataset hf: the test split of a DatasetDict (default: test).")
@click.option("--image-size", type=int, help="Image-file datasets: decode at this size (default 64).")
@click.option("--cache", help="Image-file datasets: decode into memory-mapped .npy files in this folder.")
@click.option("--label-set",
              help="CIFAR-10N labels: worst, aggre, random1..3, clean; CIFAR-100N: noisy, clean.")
@click.option("--test-set", help="CIFAR-10 test set: exact1k or jpeg10k.")
@click.option("--train-subset", type=int, help="Keep only the first N training examples.")
@click.option("--test-subset", type=int, help="Keep only the first N test examples.")
@click.option("--noise", help="Synthetic noise kind: symmetric or asymmetric.")
@click.option("--noise-rate", type=float, help="Synthetic noise rate in [0, 1).")
@click.option("--model", help="Network for warm-up and training (auto, mlp, small_cnn, airbench, ...).")
@click.option("--learner", help="Learner trained on each subset (ce, elr, sop, sop+, ...).")
@click.option("--method", "methods", multiple=True, help="Selector(s); repeat or comma-separate.")
@click.option("--fractions", help="Comma-separated fractions in (0, 1]; 1.0 = full-data reference.")
@click.option("--warmup-epochs", type=int, help="Warm-up epochs.")
@click.option("--epochs", type=int, help="Training epochs on each subset.")
@click.option("--seed", type=int, help="Seed of the networks and seeded selectors.")
@click.option("--data-seed", type=int, help="Seed of the digits split and synthetic noise (default 0).")
@click.option("--device", help="cpu, cuda, cuda:N or auto.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Any config field by dotted name, e.g. train.params.lr=0.1 (value parsed as YAML).")
@click.option("--out", type=NonEmptyPath(file_okay=False, path_type=Path),
              help="Run directory (required unless --print-config).")
@click.option("--no-resume", is_flag=True, help="Recompute every stage instead of reusing finished ones.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--print-config", is_flag=True,
              help="Print the resolved configuration (flags applied) as YAML for --config, and exit.")
def run(
    config_path: Path | None,
    methods: tuple[str, ...],
    fractions: str | None,
    sets: tuple[str, ...],
    out: Path | None,
    no_resume: bool,
    quiet: bool,
    print_config: bool,
    **flags: Any,
) -> None:
    """Run (or resume) an experiment: warm-up, selection, training, results in OUT.

    Flags and --set override the --config file; a field set twice on the command line (by
    a flag and --set, or by two --set) is an error. Start a config file with
    `prune4rel run [flags] --print-config > run.yaml`.
    """
    from prune4rel.pipeline import RunConfig, check_config, run_experiment

    if out is None and not print_config:
        raise click.UsageError("Missing option '--out' (the run directory).")
    given = {f"--{name.replace('_', '-')}": (key, flags[name]) for name, key in _RUN_FLAGS.items()}
    given["--method"] = ("methods", _split_list(methods) if methods else None)
    given["--fractions"] = ("fractions", fractions)
    overrides = _run_overrides({opt: kv for opt, kv in given.items() if kv[1] is not None}, sets)
    config = RunConfig.from_yaml(config_path) if config_path is not None else RunConfig()
    config = config.with_overrides(overrides)
    if print_config:
        check_config(config)
        click.echo(config.to_yaml(), nl=False)
        return
    assert out is not None  # checked above
    summary = run_experiment(config, out, resume=not no_resume, progress=not quiet)
    for r in summary["results"]:
        relabel = "n/a" if r["relabel_acc"] is None else f"{r['relabel_acc']:.1%}"
        noise = "n/a" if r["subset_noise_rate"] is None else f"{r['subset_noise_rate']:.1%}"
        click.echo(
            f"{r['method']:>14s} {r['fraction']:<5g} size {r['subset_size']:>6d}  noise {noise:>6s}  "
            f"test best {r['test_acc_best']:.1%} last {r['test_acc_last']:.1%}  re-label {relabel}"
        )
    click.echo(f"results in {summary['run_dir']} (test set: {summary['results'][0]['test_set']})")


@main.command()
@click.argument("runs", nargs=-1, required=True, type=NonEmptyPath(exists=True, path_type=Path))
@click.option("--out", type=NonEmptyPath(dir_okay=False, path_type=Path),
              help="Markdown table file (default: print it).")
@click.option("--plot", type=NonEmptyPath(dir_okay=False, path_type=Path),
              help="Accuracy-vs-fraction plot, in the format of its suffix (.png, .pdf, .svg, .jpg, ...).")
@click.option("--paired-against", "paired_against", multiple=True, metavar="METHOD",
              help="Add test-accuracy differences against METHOD, paired by seed (repeatable).")
def report(
    runs: tuple[Path, ...], out: Path | None, plot: Path | None, paired_against: tuple[str, ...]
) -> None:
    """Summarise the result_*.json files of RUNS (run directories, searched recursively)."""
    from prune4rel.report import write_report

    text = write_report(runs, out, plot, paired_against)
    if out is None:
        click.echo(text)
    else:
        click.echo(f"wrote {out}" + (f" and {plot}" if plot else ""))


def _clean_labels(spec: str) -> Any:
    """``FILE.npy`` or ``FILE.npz:KEY`` (``clean_label`` when KEY is left out) as an array."""
    path, key = spec.rsplit(":", 1) if ".npz:" in spec else (spec, "")
    if not path.endswith(".npz"):
        return open_npy(path)
    arrays, name = read_npz(path), key or "clean_label"
    if name not in arrays:
        raise click.BadParameter(f"{path} has no array {name!r}; it has {sorted(arrays)}",
                                 param_hint="--clean-labels")
    return arrays[name]


@main.command("inspect")
@click.argument("signals", type=NonEmptyPath(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=NonEmptyPath(file_okay=False, path_type=Path),
              help="Output folder.")
@click.option("--method", "methods", multiple=True, default=("prune4rel",), show_default=True,
              help="Selector whose selection, rank and N(x; S) go into the table (repeat or comma-separate).")
@click.option("--fraction", default=0.3, show_default=True, type=FRACTION, help="Budget of every selection.")
@click.option("--tau", default=0.975, show_default=True, type=float,
              help="Similarity threshold of the graph (degree, N(x; S)) and of the Prune4ReL selectors.")
@click.option("--param", "extra", multiple=True, metavar="METHOD.KEY=VALUE",
              help="A hyper-parameter of one method, e.g. cleanlab.pred_probs=given (VALUE read as YAML).")
@click.option("--clean-labels", metavar="FILE[:KEY]",
              help="True labels for evaluation, if SIGNALS has none: an .npy, or an .npz and its key "
              "(default key clean_label).")
@click.option("--quiet", is_flag=True, help="No progress bars or step lines.")
def inspect_command(
    signals: Path, out: Path, methods: tuple[str, ...], fraction: float, tau: float,
    extra: tuple[str, ...], clean_labels: str | None, quiet: bool,
) -> None:
    """Per-example table, plots and a one-page summary of a SIGNALS file, in OUT.

    Writes examples.csv and examples.parquet (given and predicted label, confidence,
    agreement, tau-degree, per method its rank and N(x; S) at --fraction, clean label),
    confidence.png, degree.png, relabel_vs_neighborhood.png (with clean labels) and
    summary.md (noise estimates, per-class counts, what fraction to keep).
    """
    from prune4rel.inspect import inspect_signals

    params: dict[str, dict[str, Any]] = {}
    for key, value in parse_pairs(extra, "--param").items():
        method, dot, name = key.partition(".")
        if not dot or not method or not name:
            raise click.BadParameter(f"expected METHOD.KEY=VALUE, got {key!r}", param_hint="--param")
        params.setdefault(method, {})[name] = value
    start = time.perf_counter()
    data = Signals.load(signals)
    if clean_labels is not None:
        data = dataclasses.replace(data, clean_labels=_clean_labels(clean_labels))
    result = inspect_signals(
        data, out, methods=_split_list(methods) or ["prune4rel"], fraction=fraction, tau=tau,
        params=params, source=signals.name, progress=not quiet, log=None if quiet else click.echo,
    )
    for note in result.notes:
        click.echo(f"note: {note}")
    click.echo(f"wrote {', '.join(p.name for p in result.files.values())} to {out} "
               f"({time.perf_counter() - start:.1f} s)")


@main.command("convert-signals")
@click.argument("src", metavar="IN.npz", type=NonEmptyPath(exists=True, dir_okay=False, path_type=Path))
@click.argument("dest", metavar="OUT.npz", type=NonEmptyPath(dir_okay=False, path_type=Path))
@click.option("--key", "keys", multiple=True, metavar="FIELD=NAME",
              help="Read FIELD (labels, probs or logits, embeddings, losses, correct, margins, "
              "clean_labels) from array NAME; fields left out use the array of their own name.")
def convert_signals(src: Path, dest: Path, keys: tuple[str, ...]) -> None:
    """Convert a plain .npz of arrays (any key names) into a prune4rel signals file."""
    _refuse_overwriting_inputs({"OUT.npz": dest}, {"IN.npz": src})
    mapping: dict[str, str] = {}
    for pair in keys:
        name, sep, source = (part.strip() for part in pair.partition("="))
        if not sep or not name or not source or name in mapping:
            raise click.BadParameter(f"expected FIELD=NAME once per field, got {pair!r}", param_hint="--key")
        mapping[name] = source
    arrays = read_npz(src)
    if "__schema__" in arrays:
        raise click.ClickException(f"{src} is already a prune4rel signals file (read it with Signals.load)")
    # 0-d entries (e.g. a noise-set name) cannot be fields: they go into meta
    scalars = {k: v.item() for k, v in arrays.items() if v.ndim == 0 and k not in mapping.values()}
    signals = Signals.from_arrays(arrays, mapping, meta={"converted_from": src.name, **scalars})
    ignored = sorted(set(arrays) - set(signals.meta["source_keys"].values()) - set(scalars))
    signals.save(dest)
    click.echo(f"wrote {dest}: {signals!r}")
    click.echo("  fields: " + ", ".join(f"{f} <- {k}" for f, k in signals.meta["source_keys"].items()))
    if scalars:
        click.echo("  meta: " + ", ".join(f"{k}={v!r}" for k, v in scalars.items()))
    if ignored:
        click.echo(f"  ignored arrays: {', '.join(ignored)}")


if __name__ == "__main__":
    main()
