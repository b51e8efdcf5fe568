"""What users type into the CLI: option types, ``KEY=VALUE`` pairs, and the handler that
turns their mistakes into one ``Error:`` line.

Exit codes of every ``prune4rel`` command:

- 0: done;
- 2: a user's mistake, reported as ``Error: ...`` without a traceback: a bad option or
  value (click's usage errors included), a file that is missing or not of its kind, a path
  that cannot be written (read-only file system, no permission), a missing optional
  dependency (the message says what to install);
- 1: anything else (a bug, or an interrupted run), with its traceback.

``prune4rel --debug COMMAND ...`` (or ``PRUNE4REL_DEBUG=1``) shows the traceback of a
user's mistake too.
"""

from __future__ import annotations

import errno
import math
import re
from pathlib import Path
from typing import Any

import click

from prune4rel.config import parse_value

__all__ = [
    "FRACTION",
    "USER_ERROR",
    "NonEmptyPath",
    "Prune4ReLGroup",
    "UserError",
    "parse_pairs",
    "split_names",
    "user_error_message",
]

#: Exit code of a user's mistake (the same as click's usage errors).
USER_ERROR = 2
#: pip names of optional dependencies whose module names differ.
_PIP_NAMES = {"faiss": "faiss-cpu", "sklearn": "scikit-learn", "PIL": "pillow", "yaml": "pyyaml"}
#: Names of the temporary files of atomic writes (see :mod:`prune4rel._io`).
_TEMPORARY = re.compile(r"^\..+\.tmp$")


class UserError(click.ClickException):
    """A user's mistake: one ``Error:`` line and exit code :data:`USER_ERROR`."""

    exit_code = USER_ERROR


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _os_message(exc: OSError) -> str:
    where = exc.filename if exc.filename2 is None else f"{exc.filename} -> {exc.filename2}"
    text = exc.strerror or str(exc)
    if isinstance(where, str) and _TEMPORARY.match(Path(where).name):  # an atomic write's
        text = f"cannot write in {Path(where).parent}: {text}"
    elif where is not None:
        text = f"{text}: {where}"
    if exc.errno == errno.EROFS:
        text += " (a read-only file system: choose another location)"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        text += " (check the permissions of the path, or choose another location)"
    return text


def user_error_message(exc: BaseException) -> str | None:
    """The one-line message of a user's mistake, or None when ``exc`` is not one (a bug).

    User mistakes are ``ValueError`` (:class:`~prune4rel.validation.ParameterError` and
    :class:`~prune4rel.signals.SignalsFileError` among them), ``OSError`` (paths),
    ``MemoryError`` and the ``ImportError`` of a dependency outside prune4rel.
    """
    if isinstance(exc, ImportError):
        module = (exc.name or "").split(".")[0]
        if module == "prune4rel":
            return None
        text = str(exc)
        if isinstance(exc, ModuleNotFoundError) and module:
            text += f": install the optional dependency with `pip install {_PIP_NAMES.get(module, module)}`"
        return _one_line(text)
    if isinstance(exc, OSError):
        return _one_line(_os_message(exc))
    if isinstance(exc, MemoryError):
        return _one_line(f"out of memory: {exc}")
    if isinstance(exc, ValueError):
        return _one_line(str(exc)) or type(exc).__name__
    return None


class Prune4ReLGroup(click.Group):
    """A click group whose commands report a user's mistake as one ``Error:`` line with exit
    code :data:`USER_ERROR` (see the module docstring); ``--debug`` re-raises it instead."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            if exc.exit_code == USER_ERROR:
                raise
            raise UserError(exc.format_message()) from exc
        except Exception as exc:
            message = user_error_message(exc)
            if message is None or ctx.params.get("debug"):
                raise
            raise UserError(message) from exc


class _Fraction(click.ParamType):
    """A share of the examples: a number in (0, 1]; a whole number above 1 is refused with a
    pointer to ``--count``."""

    name = "fraction"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number; give a fraction in (0, 1]", param, ctx)
        if math.isfinite(number) and 0.0 < number <= 1.0:
            return number
        hint = ""
        if math.isfinite(number) and number > 1 and number.is_integer():
            hint = f"; to keep {int(number)} examples use --count {int(number)}"
        self.fail(f"{value!r} is not a fraction in (0, 1]{hint}", param, ctx)


#: The type of ``--fraction`` options.
FRACTION = _Fraction()


class NonEmptyPath(click.Path):
    """A :class:`click.Path` that refuses an empty value (which would name the current
    directory)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("an empty path names no file or directory", param, ctx)
        return super().convert(value, param, ctx)


def parse_pairs(pairs: tuple[str, ...], option: str) -> dict[str, Any]:
    """``KEY=VALUE`` pairs as a dict, each VALUE read by :func:`~prune4rel.config.parse_value`.

    Raises
    ------
    click.BadParameter
        Naming ``option`` and the key: no ``=``, an empty key or value (``null`` is the
        spelling of None), a key given twice, or a value that is not valid YAML.
    """
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint=option)
        if key in params:
            raise click.BadParameter(f"`{key}` is given twice (again as {pair!r})", param_hint=option)
        if not raw.strip():
            raise click.BadParameter(
                f"`{key}` has no value in {pair!r}: write {key}=null for None, or leave it out "
                "for its default",
                param_hint=option,
            )
        try:
            params[key] = parse_value(raw)
        except ValueError as exc:
            raise click.BadParameter(f"`{key}`: {exc}", param_hint=option) from None
    return params


def split_names(values: tuple[str, ...]) -> list[str]:
    """Names from repeated and/or comma-separated ``--method`` values (at least one)."""
    out = [v.strip() for value in values for v in value.split(",") if v.strip()]
    if not out:
        raise click.BadParameter(f"no method name in {list(values)}", param_hint="--method")
    return out
