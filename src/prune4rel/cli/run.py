"""`prune4rel run` and `report`: a whole experiment in a run directory, and its summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from prune4rel.cli.input import NonEmptyPath, parse_pairs, split_names
from prune4rel.config import ALIASES
from prune4rel.data import dataset_names

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


@click.command(short_help="Run or resume an experiment into a run directory.")
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
    given["--method"] = ("methods", split_names(methods) if methods else None)
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


@click.command(short_help="Tabulate and plot the results of run directories.")
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
