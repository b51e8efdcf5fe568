"""The whole run configuration: its sections, seed and device; YAML and dict parsing, overrides.

A configuration is data: parsing checks every field (learner and selector parameters
against their declared rules) and looks names up in the registries but builds no learner,
selector or dataset. Run-level checks that need them are
:func:`prune4rel.pipeline.check_config`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from prune4rel.config.data import UNSET_UNWRITTEN, DataConfig
from prune4rel.config.sections import SelectionConfig, TrainConfig, WarmupConfig
from prune4rel.config.yamltext import load_yaml
from prune4rel.validation import Integer, Satisfies

__all__ = ["ALIASES", "RunConfig", "to_plain"]


def _is_device(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    if value == "auto":
        return True
    try:
        torch.device(value)
    except (RuntimeError, ValueError):
        return False
    return True


_DEVICE = Satisfies(_is_device, "'cpu', 'cuda', 'cuda:N' or 'auto'")

_SECTIONS: dict[str, type] = {
    "data": DataConfig, "warmup": WarmupConfig, "selection": SelectionConfig, "train": TrainConfig,
}
#: Flat keys accepted at the top level of a config (and by ``with_overrides``).
ALIASES: dict[str, tuple[str, ...]] = {
    "dataset": ("data.dataset",),
    "data_root": ("data.root",),
    "root": ("data.root",),
    "path": ("data.path",),
    "label_set": ("data.label_set",),
    "test_set": ("data.test_set",),
    "train_subset": ("data.train_subset",),
    "test_subset": ("data.test_subset",),
    "noise": ("data.noise",),
    "noise_rate": ("data.noise_rate",),
    "data_seed": ("data.seed",),
    "image_size": ("data.image_size",),
    "cache": ("data.cache",),
    "test_path": ("data.test_path",),
    "image_column": ("data.image_column",),
    "label_column": ("data.label_column",),
    "clean_label_column": ("data.clean_label_column",),
    "test_split": ("data.test_split",),
    "model": ("warmup.model", "train.model"),
    "learner": ("train.learner",),
    "learner_params": ("train.params",),
    "warmup_epochs": ("warmup.epochs",),
    "epochs": ("train.epochs",),
    "methods": ("selection.methods",),
    "method": ("selection.methods",),
    "fractions": ("selection.fractions",),
    "method_params": ("selection.params",),
}


@dataclass(frozen=True)
class RunConfig:
    """A whole experiment: data, warm-up, selection, training, seed and device.

    Every section validates itself on construction; errors are :class:`ValueError` naming
    the field (e.g. ```train.epochs` must be an integer >= 1, got 0``,
    ```train.params.lr` must be a number > 0, got -1``). Constraints between the learner or
    selector parameters are checked before a run, by :func:`prune4rel.pipeline.check_config`.

    Parameters
    ----------
    data : DataConfig
    warmup : WarmupConfig
    selection : SelectionConfig
    train : TrainConfig
    seed : int
        Seeds the warm-up and training networks (initialisation, shuffles, augmentations)
        and the seeded selectors. The data are seeded by ``data.seed``.
    device : str
        "cpu", "cuda", "cuda:N" or "auto" (cuda when available). Not part of the config
        hashes: a run may be resumed on another device.

    Examples
    --------
    A YAML file holds the sections (any omitted field keeps its default); flat aliases
    (:data:`ALIASES`, e.g. ``epochs``, ``fractions``) are accepted at the top level::

        seed: 0
        data: {dataset: digits, noise_rate: 0.4, train_subset: 600}
        warmup: {epochs: 8}
        selection: {methods: [prune4rel, uniform], fractions: [0.2, 0.4, 1.0],
                    params: {prune4rel: {tau: 0.9}}}
        train: {learner: elr, epochs: 30, params: {lr: 0.05, num_threads: 1}}
    """

    data: DataConfig = field(default_factory=DataConfig)
    warmup: WarmupConfig = field(default_factory=WarmupConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name, cls in _SECTIONS.items():
            value = getattr(self, name)
            if not isinstance(value, cls):
                raise ValueError(f"`{name}` must be a {cls.__name__}, got {type(value).__name__}")
        object.__setattr__(self, "seed", Integer(0).check("seed", self.seed))
        _DEVICE.check("device", self.device)

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (lists instead of tuples), as written to ``config.yaml``.

        The ``data`` fields of :data:`~prune4rel.config.data.UNSET_UNWRITTEN` appear only when
        set, so that a configuration from before they existed reads back to the same text.
        """
        tree = to_plain(asdict(self))
        tree["data"] = {k: v for k, v in tree["data"].items() if not (k in UNSET_UNWRITTEN and v is None)}
        return tree

    def to_yaml(self) -> str:
        """The configuration as YAML text."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RunConfig:
        """Build from a nested dict (sections and/or flat :data:`ALIASES`).

        Raises
        ------
        ValueError
            For an unknown key (named with its section) or an invalid value.
        """
        if not isinstance(raw, Mapping):
            raise ValueError(f"a run config must be a mapping, got {type(raw).__name__}")
        nested: dict[str, Any] = {}
        flat: dict[str, Any] = {}
        for key, value in raw.items():
            if key in _SECTIONS:
                if value is None:
                    continue
                if not isinstance(value, Mapping):
                    raise ValueError(f"`{key}` must be a mapping of its fields, got {value!r}")
                known = {f.name for f in fields(_SECTIONS[key])}
                unknown = sorted(set(value) - known)
                if unknown:
                    raise ValueError(f"unknown field(s) `{key}.{unknown[0]}`; `{key}` takes {sorted(known)}")
                nested[key] = dict(value)
            elif key in ("seed", "device"):
                nested[key] = value
            elif key in ALIASES:
                flat[key] = value
            else:
                raise ValueError(
                    f"unknown config key `{key}`; expected sections {sorted(_SECTIONS)}, "
                    f"`seed`, `device` or one of {sorted(ALIASES)}"
                )
        base = cls._build(nested)
        return base.with_overrides(flat) if flat else base

    @classmethod
    def _build(cls, nested: Mapping[str, Any]) -> RunConfig:
        kwargs: dict[str, Any] = {}
        for name, section in _SECTIONS.items():
            kwargs[name] = section(**nested.get(name, {}))
        for key in ("seed", "device"):
            if key in nested:
                kwargs[key] = nested[key]
        return cls(**kwargs)

    @classmethod
    def from_yaml(cls, path: str | Path) -> RunConfig:
        """Read a YAML config file (see the class docstring for its layout)."""
        src = Path(path)
        if src.is_dir():
            raise ValueError(f"config file {src} is a directory, not a YAML file")
        if not src.is_file():
            raise ValueError(f"config file not found: {src}")
        try:
            raw = load_yaml(src.read_text())
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ValueError(f"config file {src} is not valid YAML: {exc}") from None
        return cls.from_dict(raw or {})

    def with_overrides(self, overrides: Mapping[str, Any]) -> RunConfig:
        """A copy with fields replaced.

        Parameters
        ----------
        overrides : mapping
            Dotted keys (``"train.epochs"``, ``"train.params.lr"``, ``"seed"``) or flat
            :data:`ALIASES` (``"epochs"``, ``"model"``) to values. ``None`` is a value like
            any other: it unsets an optional field and is refused by a required one.

        Raises
        ------
        ValueError
            For an unknown field or a value its rule does not allow (naming the field).
        """
        tree = to_plain(asdict(self))  # every field, set or not
        for key, value in overrides.items():
            for dotted in ALIASES.get(key, (key,)):
                parts = dotted.split(".")
                if parts[0] not in tree:
                    raise ValueError(f"unknown config field `{dotted}`")
                node = tree
                for i, part in enumerate(parts[:-1]):
                    if not isinstance(node.get(part), dict):
                        raise ValueError(f"unknown config field `{'.'.join(parts[: i + 1])}`")
                    node = node[part]
                if len(parts) == 2 and parts[1] not in node:
                    raise ValueError(f"unknown config field `{dotted}`; `{parts[0]}` takes {sorted(node)}")
                node[parts[-1]] = value
        return type(self).from_dict(tree)


def to_plain(obj: Any) -> Any:
    """Tuples -> lists and numpy scalars -> Python, recursively (YAML- and JSON-safe)."""
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
