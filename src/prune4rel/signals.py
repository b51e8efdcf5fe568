"""Per-example signals: the input of every selector, and their versioned file format.

A :class:`Signals` object holds, for ``n`` training examples, what a short warm-up of a model
on the noisy data tells about each example:

========================  ==============  ======================================================
field                     shape / dtype   meaning
========================  ==============  ======================================================
``labels``                (n,) int64      given (possibly noisy) label, in ``[0, C)``
``probs``                 (n, C) float    softmax probabilities of an eval-mode pass
``embeddings``            (n, d) float    penultimate features of the same pass
``losses`` (optional)     (E, n) float    per-epoch training loss of each example
``correct`` (optional)    (E, n) bool     per-epoch "prediction == given label"
``margins`` (optional)    (E, n) float    per-epoch logit margin of the given label (AUM)
``clean_labels`` (opt.)   (n,) int64      true labels, for evaluation only: no selector reads it
========================  ==============  ======================================================

Files are ``.npz`` archives (uncompressed, no pickles) with a JSON header under the key
``__schema__`` holding the schema version and the shapes. Loading checks the header, each
member's CRC (done by :mod:`zipfile`) and every invariant of the constructor, so a corrupt,
truncated or mismatched file raises :class:`SignalsFileError` instead of giving wrong results.

Embeddings may have any finite magnitude: cosine similarities are computed without
overflow (:func:`prune4rel.neighbors.unit_rows`), GraNd's norms likewise, and a selector
that depends on the embeddings only up to a common factor (k-center, Moderate, ...)
selects on :meth:`Signals.with_safe_scale`, which multiplies embeddings whose largest
magnitude lies outside ``[2**-32, 2**32]`` (e.g. ``1e160``) by an exact power of two.
"""

from __future__ import annotations

import json
import math
import os
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from prune4rel._io import atomic_path
from prune4rel.arrayfiles import SignalsFileError, file_kind
from prune4rel.metrics import noise_rate

__all__ = ["SCHEMA_VERSION", "Signals", "SignalsFileError"]

SCHEMA_VERSION = 1
_FORMAT = "prune4rel.signals"
_HISTORIES = ("losses", "correct", "margins")
_PROB_ATOL = 1e-3
_REQUIRED = ("labels", "probs", "embeddings")
#: Embeddings whose largest magnitude is outside [2**-_SAFE_EXP, 2**_SAFE_EXP] are rescaled.
_SAFE_EXP = 32


def _as_array(name: str, value: Any) -> np.ndarray:
    """``np.asarray(value)``, or a ValueError naming the field for None and ragged input."""
    if value is None:
        raise ValueError(f"`{name}` is required, got None")
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"`{name}` must be a numeric array, got {type(value).__name__} ({exc})") from None


def _as_float_array(name: str, value: Any, ndim: int) -> np.ndarray:
    arr, _ = _checked_float_array(name, value, ndim)
    return arr


def _checked_float_array(name: str, value: Any, ndim: int) -> tuple[np.ndarray, float]:
    """The array (integers as float32) and its largest magnitude; ValueError on NaN/inf."""
    arr = _as_array(name, value)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise ValueError(f"`{name}` must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"`{name}` must have {ndim} dimensions, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
    # chunked along the first axis: a memory-mapped (n, d) array is checked without an
    # (n, d) boolean temporary and without being loaded whole
    step = max(1, (1 << 24) // max(1, int(np.prod(arr.shape[1:]))))
    bad, largest = 0, 0.0
    for lo in range(0, max(arr.shape[0], 1), step):
        part = arr[lo : lo + step]
        bad += int(np.size(part) - np.count_nonzero(np.isfinite(part)))
        if not bad and part.size:
            largest = max(largest, float(part.max()), -float(part.min()))
    if bad:
        raise ValueError(f"`{name}` contains {bad} NaN or infinite value(s)")
    return arr, largest


def _plain_meta(value: Any, where: str) -> Any:
    """``meta`` as JSON-safe values (numpy scalars become Python ones), or a ValueError
    naming the entry that cannot be stored."""
    if isinstance(value, np.generic) and not isinstance(value, (np.void, np.object_)):
        return value.item()
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain_meta(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise ValueError(f"`{where}` keys must be strings, got {key!r}")
        return {k: _plain_meta(v, f"{where}[{k!r}]") for k, v in value.items()}
    hint = " (convert it with .tolist())" if isinstance(value, np.ndarray) else ""
    raise ValueError(
        f"`{where}` must hold JSON values (str, int, float, bool, None, lists and str-keyed "
        f"mappings of them), got {type(value).__name__}{hint}"
    )


def _as_label_array(name: str, value: Any, n: int | None, num_classes: int | None) -> np.ndarray:
    arr = _as_array(name, value)
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be 1-D of length n, got shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"`{name}` must hold integer class ids")
    elif not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"`{name}` must hold integer class ids, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"`{name}` has length {arr.shape[0]}, expected n = {n}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"`{name}` holds a negative class id ({arr.min()})")
    if num_classes is not None and arr.size and arr.max() >= num_classes:
        raise ValueError(f"`{name}` holds class id {arr.max()} but `probs` has only {num_classes} columns")
    return arr


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(arr)
    arr.setflags(write=False)
    return arr


def _plain_file_message(src: Path, names: list[str]) -> str:
    """How to convert a plain ``.npz`` (no schema header) into a signals file."""
    return (
        f"{src} is not a prune4rel signals file (no __schema__ header; it holds {sorted(names)}). "
        f"Convert it once: prune4rel convert-signals {src} OUT.npz "
        "[--key labels=NAME --key probs=NAME --key embeddings=NAME ...] "
        "(or Signals.from_arrays(np.load(path), keys={...}).save(OUT))"
    )


@dataclass(frozen=True, eq=False)
class Signals:
    """Validated per-example arrays for ``n`` examples (see the module docstring).

    Parameters
    ----------
    labels : array-like of int, shape (n,)
        Given (noisy) labels in ``[0, C)``.
    probs : array-like of float, shape (n, C)
        Softmax probabilities: rows are non-negative and sum to 1 (tolerance 1e-3).
    embeddings : array-like of float, shape (n, d)
        Feature vectors, e.g. penultimate activations. Zero rows are allowed.
    losses, margins : array-like of float, shape (E, n), optional
        Per-epoch training loss / logit margin of each example over ``E`` warm-up epochs.
    correct : array-like of bool, shape (E, n), optional
        Per-epoch correctness (prediction equals the given label).
    clean_labels : array-like of int, shape (n,), optional
        True labels, for evaluation only. Selectors never read them.
    meta : mapping of str to JSON values, optional
        Free-form record (producer, epochs, ...), saved in the file's header; numpy scalars
        are stored as Python numbers, arrays are refused (use ``.tolist()``).

    Raises
    ------
    ValueError
        On a missing field, a wrong shape or dtype, NaN/inf, labels out of range,
        probability rows that are negative or do not sum to one, ``n == 0``, or ``meta``
        that JSON cannot hold. The message names the field.

    """

    labels: np.ndarray
    probs: np.ndarray
    embeddings: np.ndarray
    losses: np.ndarray | None = None
    correct: np.ndarray | None = None
    margins: np.ndarray | None = None
    clean_labels: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        probs = _as_float_array("probs", self.probs, 2)
        n, num_classes = probs.shape
        if n == 0:
            raise ValueError("`probs` is empty: Signals need at least one example (n >= 1)")
        if num_classes < 1:
            raise ValueError("`probs` must have at least one class column")
        if np.any(probs < 0):
            raise ValueError("`probs` holds negative values: pass softmax probabilities")
        row_sums = probs.sum(axis=1, dtype=np.float64)
        worst = int(np.argmax(np.abs(row_sums - 1.0)))
        if abs(row_sums[worst] - 1.0) > _PROB_ATOL:
            raise ValueError(
                f"`probs` rows must sum to 1; row {worst} sums to {row_sums[worst]:.6f}"
                " (pass softmax probabilities, not logits)"
            )
        labels = _as_label_array("labels", self.labels, n, num_classes)
        emb, largest = _checked_float_array("embeddings", self.embeddings, 2)
        object.__setattr__(self, "_largest", largest)
        if emb.shape[0] != n:
            raise ValueError(f"`embeddings` has {emb.shape[0]} rows, expected n = {n}")
        if emb.shape[1] < 1:
            raise ValueError("`embeddings` must have at least one feature column")
        object.__setattr__(self, "probs", _readonly(probs))
        object.__setattr__(self, "labels", _readonly(labels))
        object.__setattr__(self, "embeddings", _readonly(emb))
        for name in _HISTORIES:
            value = getattr(self, name)
            if value is None:
                continue
            if name == "correct":
                arr = np.asarray(value)
                if arr.ndim != 2 or (arr.dtype != bool and not np.isin(arr, (0, 1)).all()):
                    raise ValueError(f"`correct` must be a boolean (E, n) array, got {arr.shape}")
                arr = arr.astype(bool, copy=False)  # a memory-mapped bool history stays mapped
            else:
                arr = _as_float_array(name, value, 2)
            if arr.shape[1] != n or arr.shape[0] < 1:
                raise ValueError(f"`{name}` must have shape (epochs >= 1, n = {n}), got {arr.shape}")
            object.__setattr__(self, name, _readonly(arr))
        if self.clean_labels is not None:
            clean = _as_label_array("clean_labels", self.clean_labels, n, num_classes)
            object.__setattr__(self, "clean_labels", _readonly(clean))
        if not isinstance(self.meta, Mapping):
            raise ValueError(f"`meta` must be a mapping of str to JSON values, got {self.meta!r:.60}")
        object.__setattr__(self, "meta", _plain_meta(self.meta, "meta"))

    # ------------------------------------------------------------------ properties
    @property
    def n(self) -> int:
        """Number of examples."""
        return int(self.labels.shape[0])

    @property
    def num_classes(self) -> int:
        """Number of classes ``C`` (columns of ``probs``)."""
        return int(self.probs.shape[1])

    def has(self, name: str) -> bool:
        """Whether the optional field ``name`` is present."""
        return getattr(self, name, None) is not None

    def with_safe_scale(self) -> Signals:
        """These signals, or a copy whose embeddings are multiplied by the power of two that
        brings their largest magnitude into [0.5, 1) when it lies outside [2**-32, 2**32].

        The scaling is exact, so a selection that depends on the embeddings only up to a
        common factor is unchanged, and its float32 or float64 arithmetic cannot overflow or
        underflow. A warning says when it happens.
        """
        largest = float(self.__dict__["_largest"])
        if largest == 0.0 or 2.0**-_SAFE_EXP <= largest <= 2.0**_SAFE_EXP:
            return self
        exponent = math.frexp(largest)[1]
        warnings.warn(
            f"`embeddings` have largest magnitude {largest:.3g}: selecting on them multiplied "
            f"by 2**{-exponent} (exact; the selection does not depend on a common scale)",
            UserWarning,
            stacklevel=3,
        )
        scaled = np.ldexp(self.embeddings, -exponent).astype(self.embeddings.dtype, copy=False)
        return replace(self, embeddings=scaled)

    def noise_rate(self) -> float | None:
        """Share of given labels that differ from ``clean_labels`` (None without them), by
        :func:`prune4rel.metrics.noise_rate`."""
        return noise_rate(self.labels, self.clean_labels)

    def subset(self, indices: np.ndarray) -> Signals:
        """Signals restricted to ``indices`` (histories are sliced along examples)."""
        idx = np.asarray(indices, dtype=np.int64)
        kwargs: dict[str, Any] = {"meta": self.meta}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "meta" or value is None:
                continue
            kwargs[f.name] = value[:, idx] if f.name in _HISTORIES else value[idx]
        return Signals(**kwargs)

    @classmethod
    def from_arrays(
        cls,
        arrays: Mapping[str, Any],
        keys: Mapping[str, str] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> Signals:
        """Signals from plain arrays stored under other names (e.g. a foreign ``.npz``).

        Parameters
        ----------
        arrays : mapping of str to array-like
            The source arrays, e.g. ``np.load("file.npz")``. Arrays no field maps to are
            ignored.
        keys : mapping of str to str, optional
            ``field -> source name``, e.g. ``{"labels": "y", "probs": "p"}``. A field left
            out is read from the source array of the same name when there is one.
            ``"logits"`` may be mapped instead of ``"probs"``: the probabilities are then its
            row-wise softmax (float32).
        meta : mapping, optional
            Entries of the result's ``meta``; ``meta["source_keys"]`` records the field to
            source name mapping used.

        Returns
        -------
        Signals

        Raises
        ------
        ValueError
            When ``keys`` names an unknown field or a missing source array, when a required
            field (labels, probs or logits, embeddings) has no source, when both probs and
            logits are given, or when the arrays break an invariant of :class:`Signals`.
        """
        names = set(arrays)
        known = {f.name for f in fields(cls)} - {"meta"}
        wanted = dict(keys or {})
        unknown = sorted(set(wanted) - known - {"logits"})
        if unknown:
            raise ValueError(
                f"`keys` names unknown field(s) {unknown}; fields are {sorted(known | {'logits'})}"
            )
        missing = {f: s for f, s in wanted.items() if s not in names}
        if missing:
            raise ValueError(
                f"`keys` maps {missing} but `arrays` has no such array(s); it has {sorted(names)}"
            )
        if "probs" in wanted and "logits" in wanted:
            raise ValueError("`keys` maps both `probs` and `logits`: give one of them")
        sources = {f: wanted.get(f, f) for f in (*sorted(known), "logits")}
        sources = {f: s for f, s in sources.items() if s in names}
        if "probs" in sources and "logits" in sources:  # same-named arrays: probs win unless mapped
            sources.pop("probs" if "logits" in wanted else "logits")
        required = [f for f in ("labels", "embeddings") if f not in sources]
        if "probs" not in sources and "logits" not in sources:
            required.insert(1, "probs")
        if required:
            raise ValueError(
                f"no source array for {required}: `arrays` has {sorted(names)}; "
                "map them with `keys`, e.g. keys={'labels': 'y'} (CLI: --key labels=y)"
            )
        values = {f: np.asarray(arrays[s]) for f, s in sources.items() if f != "logits"}
        if "logits" in sources:
            logits = _as_float_array("logits", arrays[sources["logits"]], 2).astype(np.float64)
            z = np.exp(logits - logits.max(axis=1, keepdims=True))
            values["probs"] = (z / z.sum(axis=1, keepdims=True)).astype(np.float32)
        return cls(**values, meta={**dict(meta or {}), "source_keys": sources})

    # ------------------------------------------------------------------ file format
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the signals to ``path`` (``.npz``) atomically and return the path."""
        dest = Path(path)
        arrays: dict[str, np.ndarray] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "meta" and value is not None:
                arrays[f.name] = value
        header = {
            "format": _FORMAT,
            "schema_version": SCHEMA_VERSION,
            "n": self.n,
            "num_classes": self.num_classes,
            "dim": int(self.embeddings.shape[1]),
            "arrays": {k: [list(v.shape), str(v.dtype)] for k, v in arrays.items()},
            "meta": self.meta,
        }
        arrays["__schema__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        with atomic_path(dest) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]
        return dest

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Signals:
        """Read and validate a file written by :meth:`save`.

        Raises
        ------
        SignalsFileError
            When the file is missing, not a signals file, corrupt or truncated, of an
            unknown schema version, or its arrays disagree with its header or each other.
        """
        src = Path(path)
        kind = file_kind(src, "signals file")
        if kind == "npy":
            raise SignalsFileError(
                f"{src} is a single .npy array, not a signals file (an .npz written by "
                "Signals.save or `prune4rel convert-signals`); an (n, d) embeddings array goes "
                "to `prune4rel select --embeddings`"
            )
        if kind != "npz":
            raise SignalsFileError(f"{src} is not a signals file: {kind}")
        try:
            with np.load(src, allow_pickle=False) as npz:
                if "__schema__" not in npz.files:
                    raise SignalsFileError(_plain_file_message(src, npz.files))
                header = json.loads(npz["__schema__"].tobytes().decode())
                data = {k: npz[k] for k in npz.files if k != "__schema__"}
        except SignalsFileError:
            raise
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError) as exc:
            raise SignalsFileError(f"cannot read signals file {src}: corrupt or truncated ({exc})") from exc
        if not isinstance(header, dict) or not isinstance(header.get("arrays", {}), dict):
            raise SignalsFileError(f"{src}: the __schema__ header is not a prune4rel header")
        if header.get("format") != _FORMAT:
            raise SignalsFileError(f"{src}: header format {header.get('format')!r} is not {_FORMAT!r}")
        version = header.get("schema_version")
        if version != SCHEMA_VERSION:
            raise SignalsFileError(
                f"{src}: schema version {version} is not supported (this prune4rel reads {SCHEMA_VERSION})"
            )
        expected = header.get("arrays", {})
        if set(expected) != set(data):
            raise SignalsFileError(
                f"{src}: arrays {sorted(data)} do not match the header's {sorted(expected)}"
            )
        missing = [name for name in _REQUIRED if name not in data]
        if missing:
            raise SignalsFileError(f"{src}: required array(s) {missing} missing (it holds {sorted(data)})")
        for key, entry in expected.items():
            if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], list)):
                raise SignalsFileError(f"{src}: the header's entry for `{key}` is malformed: {entry!r}")
            shape, dtype = entry
            if list(data[key].shape) != shape or str(data[key].dtype) != dtype:
                raise SignalsFileError(
                    f"{src}: array `{key}` has shape {data[key].shape} dtype {data[key].dtype}, "
                    f"header says {tuple(shape)} {dtype}"
                )
        known = {f.name for f in fields(cls)} - {"meta"}
        unknown = set(data) - known
        if unknown:
            raise SignalsFileError(f"{src}: unknown arrays {sorted(unknown)}")
        try:
            return cls(**data, meta=header.get("meta") or {})
        except ValueError as exc:
            raise SignalsFileError(f"{src}: invalid signals: {exc}") from exc

    def __repr__(self) -> str:
        opt = [name for name in (*_HISTORIES, "clean_labels") if self.has(name)]
        return (
            f"Signals(n={self.n}, classes={self.num_classes}, dim={self.embeddings.shape[1]}"
            + (f", with={opt}" if opt else "")
            + ")"
        )
