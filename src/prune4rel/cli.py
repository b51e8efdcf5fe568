"""Command-line interface: ``prune4rel demo | select | methods | run | report``."""

from __future__ import annotations

import dataclasses
import json
import shutil
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import click
import numpy as np
import yaml

from prune4rel._lock import LockedError
from prune4rel.data import dataset_names
from prune4rel.metrics import noise_rate
from prune4rel.neighbors import GRAPH_BACKENDS
from prune4rel.selection import available_selectors, get_selector
from prune4rel.selection.base import Selection, Selector, selector_class
from prune4rel.selection.files import summary_path, write_selection
from prune4rel.signals import Signals


def _parse_params(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs, each VALUE read as YAML (``None`` too means null)."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--param")
        params[key.strip()] = None if raw.strip() == "None" else yaml.safe_load(raw)
    return params


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
    signals: Path,
    embeddings_path: Path | None,
    method: str,
    budget: int | float,
    address: str | None,
    sharding: dict[str, Any],
    params: dict[str, Any],
) -> tuple[Signals, Selection]:
    """``select --ray``: Prune4ReL over Ray shards, embeddings from the file when given."""
    from prune4rel.distributed.ray_select import ray_select

    if selector_class(method).name != "prune4rel":
        raise ValueError(f"--ray runs --method prune4rel only, got {method!r}")
    data = Signals.load(signals)
    source = data.embeddings if embeddings_path is None else embeddings_path
    return data, ray_select(source, data.labels, data.probs, budget, address=address, **sharding, **params)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="prune4rel")
def main() -> None:
    """Robust data pruning under label noise (Prune4ReL and baselines)."""


@main.command()
@click.option("--fraction", default=0.3, show_default=True, help="Share of the training set to keep.")
@click.option("--seed", default=0, show_default=True, help="Seed of the noise, split, models and uniform.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def demo(fraction: float, seed: int, quiet: bool) -> None:
    """Prune4ReL vs. Uniform on scikit-learn's digits with 40% label noise (no download)."""
    from prune4rel.demo import run_demo

    run_demo(fraction=fraction, seed=seed, progress=not quiet)


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
@click.argument("signals", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--fraction", required=True, type=float, help="Fraction in (0, 1], or a count above 1.")
@click.option("--method", default="prune4rel", show_default=True, help="Selector name (see `methods`).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Output .npy.")
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
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
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
    fraction: float,
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

    Writes the selected indices (pick order) to OUT and a JSON summary next to it (OUT with
    suffix .json) as one unit: each file atomically, both under a lock, the summary naming
    the index file's digest (read them back with prune4rel.selection.read_selection, which
    checks it). OUT and its summary may not be SIGNALS or --embeddings.

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
    params = {k: v for k, v in options.items() if v is not None}
    params.update(_parse_params(extra))
    if fraction > 1 and not float(fraction).is_integer():
        raise click.BadParameter("a value above 1 must be a whole count", param_hint="--fraction")
    budget: int | float = fraction if fraction <= 1 else int(fraction)
    chosen = (("shards", shards), ("partition", partition), ("alpha", alpha))
    sharding = {k: v for k, v in chosen if v is not None}
    use_ray = use_ray or ray_address is not None
    if sharding and not use_ray:
        raise click.UsageError("--shards, --partition and --alpha need --ray")
    try:
        if use_ray:
            data, result = _select_on_ray(
                signals, embeddings_path, method, budget, ray_address, sharding, params
            )
        else:
            selector = get_selector(method, **params)
            if "progress" in selector.param_rules and "progress" not in params:
                selector.set_params(progress=not quiet)
            data = Signals.load(signals)
            if embeddings_path is not None:
                mapped = np.load(embeddings_path, mmap_mode="r", allow_pickle=False)
                data = dataclasses.replace(data, embeddings=mapped)
            result = selector.select(data, budget)
    except (ValueError, ImportError) as exc:
        raise click.ClickException(str(exc)) from exc
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
    try:
        summary = write_selection(out, result.indices, summary)
    except LockedError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(summary, indent=None))



def _split_list(values: tuple[str, ...]) -> list[str] | None:
    out = [v.strip() for value in values for v in value.split(",") if v.strip()]
    return out or None


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML run config (see prune4rel.config.RunConfig); flags override it.")
@click.option("--dataset", help=f"One of {', '.join(dataset_names())}.")
@click.option("--data-root", help="Dataset folder (CIFAR-10N: cifar10.npz and cifar10n_labels.npz).")
@click.option("--data-path", help="For --dataset arrays: the .npz file; for image_csv: the training CSV.")
@click.option("--test-path", help="For --dataset image_csv: a test CSV (default: hold out 20%).")
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
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run directory.")
@click.option("--no-resume", is_flag=True, help="Recompute every stage instead of reusing finished ones.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def run(
    config_path: Path | None,
    methods: tuple[str, ...],
    fractions: str | None,
    sets: tuple[str, ...],
    out: Path,
    no_resume: bool,
    quiet: bool,
    **flags: Any,
) -> None:
    """Run (or resume) an experiment: warm-up, selection, training, results in OUT."""
    from prune4rel.pipeline import RunConfig, run_experiment

    overrides: dict[str, Any] = {
        "dataset": flags["dataset"], "data.root": flags["data_root"], "data.path": flags["data_path"],
        "label_set": flags["label_set"], "test_set": flags["test_set"],
        "train_subset": flags["train_subset"], "test_subset": flags["test_subset"],
        "noise": flags["noise"], "noise_rate": flags["noise_rate"], "model": flags["model"],
        "learner": flags["learner"], "methods": _split_list(methods), "fractions": fractions,
        "warmup_epochs": flags["warmup_epochs"], "epochs": flags["epochs"], "seed": flags["seed"],
        "data_seed": flags["data_seed"], "device": flags["device"], "test_path": flags["test_path"],
        "image_size": flags["image_size"], "cache": flags["cache"],
    }
    try:
        config = RunConfig.from_yaml(config_path) if config_path is not None else RunConfig()
        config = config.with_overrides(overrides)
        config = config.with_overrides(_parse_params(sets))
        summary = run_experiment(config, out, resume=not no_resume, progress=not quiet)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    for r in summary["results"]:
        relabel = "n/a" if r["relabel_acc"] is None else f"{r['relabel_acc']:.1%}"
        noise = "n/a" if r["subset_noise_rate"] is None else f"{r['subset_noise_rate']:.1%}"
        click.echo(
            f"{r['method']:>14s} {r['fraction']:<5g} size {r['subset_size']:>6d}  noise {noise:>6s}  "
            f"test best {r['test_acc_best']:.1%} last {r['test_acc_last']:.1%}  re-label {relabel}"
        )
    click.echo(f"results in {summary['run_dir']} (test set: {summary['results'][0]['test_set']})")


@main.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Markdown table file (default: print it).")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path),
              help="Accuracy-vs-fraction plot, in the format of its suffix (.png, .pdf, .svg, .jpg, ...).")
@click.option("--paired-against", "paired_against", multiple=True, metavar="METHOD",
              help="Add test-accuracy differences against METHOD, paired by seed (repeatable).")
def report(
    runs: tuple[Path, ...], out: Path | None, plot: Path | None, paired_against: tuple[str, ...]
) -> None:
    """Summarise the result_*.json files of RUNS (run directories, searched recursively)."""
    from prune4rel.report import write_report

    try:
        text = write_report(runs, out, plot, paired_against)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if out is None:
        click.echo(text)
    else:
        click.echo(f"wrote {out}" + (f" and {plot}" if plot else ""))


@main.command("convert-signals")
@click.argument("src", metavar="IN.npz", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("dest", metavar="OUT.npz", type=click.Path(dir_okay=False, path_type=Path))
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
    try:
        with np.load(src, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, AttributeError, zipfile.BadZipFile) as exc:
        raise click.ClickException(f"cannot read {src} as an .npz archive of arrays ({exc})") from exc
    if "__schema__" in arrays:
        raise click.ClickException(f"{src} is already a prune4rel signals file (read it with Signals.load)")
    # 0-d entries (e.g. a noise-set name) cannot be fields: they go into meta
    scalars = {k: v.item() for k, v in arrays.items() if v.ndim == 0 and k not in mapping.values()}
    try:
        signals = Signals.from_arrays(arrays, mapping, meta={"converted_from": src.name, **scalars})
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
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
