"""Command-line interface: ``prune4rel demo | select | methods | run | report | inspect |
convert-signals`` (also ``python -m prune4rel``), one module per group of commands.

A user's mistake is one ``Error: ...`` line and exit code 2, never a traceback (see
:mod:`prune4rel.cli.input`; ``prune4rel --debug`` shows it).
"""

from __future__ import annotations

import click

from prune4rel.cli.demo import demo
from prune4rel.cli.input import Prune4ReLGroup
from prune4rel.cli.inspect import inspect_command
from prune4rel.cli.run import report, run
from prune4rel.cli.select import convert_signals, methods, select

__all__ = ["main"]


@click.group(cls=Prune4ReLGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, envvar="PRUNE4REL_DEBUG",
              help="Show the Python traceback of an error (also PRUNE4REL_DEBUG=1).")
@click.version_option(package_name="prune4rel")
def main(debug: bool) -> None:
    """Robust data pruning under label noise (Prune4ReL and baselines).

    A mistake in the input (an option, a value, a file, a path) is one `Error:` line and
    exit code 2; anything else exits with 1 and its traceback.
    """


for _command in (demo, methods, select, run, report, inspect_command, convert_signals):
    main.add_command(_command)
