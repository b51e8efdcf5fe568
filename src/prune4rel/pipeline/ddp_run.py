"""The torchrun entry point: a run configuration's warm-up on every rank, Signals from rank 0.

Command line (one machine, two processes; ``--nnodes``/``--rdzv-endpoint`` for several)::

    torchrun --standalone --nproc_per_node 2 -m prune4rel.pipeline.ddp_run \\
        --config run.yaml --out signals.npz

reads the ``data``, ``warmup``, ``seed`` and ``device`` fields of a
:class:`~prune4rel.config.RunConfig`, warms the network up on all ranks with
:func:`~prune4rel.distributed.ddp.ddp_warmup` and writes the
:class:`~prune4rel.signals.Signals` file once, from rank 0, atomically. Started without
torchrun (no ``WORLD_SIZE`` in the environment) it runs the ordinary one-process warm-up.
"""

from __future__ import annotations

from pathlib import Path

import click

from prune4rel.config import RunConfig
from prune4rel.data import load_dataset
from prune4rel.distributed.ddp import ddp_warmup, distributed
from prune4rel.learners import get_learner

__all__ = ["main"]


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Run config (YAML); its data, warmup, seed and device fields are used.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Signals .npz.")
@click.option("--epochs", type=int, help="Override warmup.epochs.")
@click.option("--device", help="Override the config's device: cpu, cuda or auto.")
@click.option("--backend", type=click.Choice(["gloo", "nccl"]), help="Process-group backend.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def main(config_path: str, out: Path, epochs: int | None, device: str | None, backend: str | None,
         quiet: bool) -> None:
    """Warm-up on every rank of a torchrun job; rank 0 writes the Signals to OUT."""
    try:
        config = RunConfig.from_yaml(config_path)
        if epochs is not None:
            config = config.with_overrides({"warmup.epochs": epochs})
        with distributed(device or config.device, backend) as ctx:
            dataset = load_dataset(config.data)
            w = config.warmup
            learner = get_learner(w.learner, model=w.model, device=ctx.device, seed=config.seed, **w.params)
            signals = ddp_warmup(learner, dataset, w.epochs, progress=not quiet)
            if ctx.rank == 0:
                signals.save(out)
                click.echo(f"wrote {out}: n={signals.n}, epochs={w.epochs}, ranks={ctx.world_size}, "
                           f"{signals.meta['seconds']:.1f} s")
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


if __name__ == "__main__":
    main()
