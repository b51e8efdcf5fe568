"""The run configuration as data: sections, parsing, overrides and the hashes of stage outputs.

Parsing checks every field and looks names up in the registries (datasets, learners,
selectors, models) but builds no learner, selector or dataset; the checks that need them
are :func:`prune4rel.pipeline.check_config`.
"""

from prune4rel.config.data import NOISE_KINDS, DataConfig
from prune4rel.config.hashing import SCHEMA_VERSION, data_key, digest, fraction_tag
from prune4rel.config.run import ALIASES, RunConfig, to_plain
from prune4rel.config.sections import RESERVED_LEARNER_PARAMS, SelectionConfig, TrainConfig, WarmupConfig

__all__ = [
    "ALIASES",
    "NOISE_KINDS",
    "RESERVED_LEARNER_PARAMS",
    "SCHEMA_VERSION",
    "DataConfig",
    "RunConfig",
    "SelectionConfig",
    "TrainConfig",
    "WarmupConfig",
    "data_key",
    "digest",
    "fraction_tag",
    "to_plain",
]
