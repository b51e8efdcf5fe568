"""The configuration hashes that stage outputs carry, and the fraction tag of file names.

These are a contract: a run directory resumes only while they stay as they are
(``tests/test_resume_compat.py`` checks one written at commit 2a1b647).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

from prune4rel.config.data import UNSET_UNWRITTEN, DataConfig

__all__ = ["SCHEMA_VERSION", "data_key", "digest", "fraction_tag"]

#: Version of the hashed layout, and of the result and checkpoint formats.
SCHEMA_VERSION = 1
#: DataConfig fields added after the first schema: hashed only when set, so that earlier run
#: directories stay resumable.
_LATER_DATA_FIELDS = ("image_size", "cache", "test_path", *UNSET_UNWRITTEN)


def digest(*parts: Any) -> str:
    """16 hex digits of SHA-256 over ``parts`` as canonical JSON (sorted keys)."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def data_key(data: DataConfig) -> str:
    """The hash of a data section, as every stage hash includes it."""
    fields = {  # where the decoded images are cached does not change them
        k: v for k, v in asdict(data).items() if k != "cache" and not (k in _LATER_DATA_FIELDS and v is None)
    }
    if fields["label_set"] is None:  # hashed as its former default, "worst", for every dataset
        fields["label_set"] = "worst"
    return digest("data", SCHEMA_VERSION, fields)


def fraction_tag(fraction: float) -> str:
    """How a fraction appears in stage file names (``0.4`` -> ``"0.4"``, ``1`` -> ``"1.0"``)."""
    return str(float(fraction))
