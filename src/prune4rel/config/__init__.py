"""The run configuration as data: sections, parsing, overrides and the hashes of stage outputs.

Parsing checks every field, looks names up in the registries (datasets, learners,
selectors, models) and checks every learner and selector parameter against its declared
rule, but builds no learner, selector or dataset; constraints between parameters, which
need them, are :func:`prune4rel.pipeline.check_config`.
"""

from prune4rel.config.data import NOISE_KINDS, DataConfig
from prune4rel.config.hashing import SCHEMA_VERSION, data_key, digest, fraction_tag
from prune4rel.config.run import ALIASES, RunConfig, to_plain
from prune4rel.config.sections import RESERVED_LEARNER_PARAMS, SelectionConfig, TrainConfig, WarmupConfig
from prune4rel.config.yamltext import load_yaml, parse_value

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
    "load_yaml",
    "parse_value",
    "to_plain",
]
