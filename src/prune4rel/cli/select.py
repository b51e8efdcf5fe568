"""`prune4rel select`, `methods` and `convert-signals`: selection from a signals file."""

from __future__ import annotations

import dataclasses
import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import click

from prune4rel.arrayfiles import open_npy, read_npz
from prune4rel.cli.input import FRACTION, NonEmptyPath, parse_pairs
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


@click.command(short_help="List the selectors and their parameters.")
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


@click.command(short_help="Select a subset from a signals file.")
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
@click.option("--device", help="prune4rel: 'cpu', 'auto', 'cuda' or 'cuda:N'.")
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


@click.command("convert-signals", short_help="Turn a plain .npz of arrays into a signals file.")
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
