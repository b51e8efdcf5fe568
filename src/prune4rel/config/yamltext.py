"""YAML as users write it: config files, ``--set`` and ``--param`` values.

Safe YAML 1.1 (no Python objects), as PyYAML reads it, with one addition: numbers in
exponent notation without a dot or a sign (``1e-3``, ``5e4``, ``1.5e3``) are numbers, not
strings. Booleans are ``true``/``false``, ``yes``/``no`` and ``on``/``off`` (lower case,
capitalised or upper case); ``null``, ``~`` and, on a command line, ``None`` are None.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = ["load_yaml", "parse_value"]


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, reading ``1e-3`` as a float."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def load_yaml(text: str) -> Any:
    """The value of a YAML document.

    Raises
    ------
    yaml.YAMLError
        When ``text`` is not valid YAML.
    """
    return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader


def parse_value(text: str) -> Any:
    """One value typed on a command line, read as YAML (``None`` means null too).

    Raises
    ------
    ValueError
        When ``text`` is not valid YAML (e.g. ``[0.9``), saying where.
    """
    if text.strip() == "None":
        return None
    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValueError(f"cannot read {text!r} as a YAML value ({problem})") from None
