"""Run-level checks that need the registries: do the configured parameters suit the learners
and selectors they are for?

Parsing a :class:`~prune4rel.config.RunConfig` checks each field (and each parameter by
its rule) on its own and builds nothing; :func:`check_config` builds each configured
learner (no network is built before ``fit``) and selector once, so that parameters that do
not go together are reported before any work starts.
"""

from __future__ import annotations

from prune4rel.config import RunConfig
from prune4rel.learners import get_learner
from prune4rel.selection import get_selector

__all__ = ["check_config"]


def check_config(config: RunConfig) -> None:
    """Check that every learner and selector accepts its configured parameters.

    Parameters
    ----------
    config : RunConfig

    Raises
    ------
    ValueError
        Naming the section, e.g. ```train.params` (learner 'elr'): ...`` or
        ```selection.params.prune4rel`: ...``.
    """
    if not isinstance(config, RunConfig):
        raise ValueError(f"`config` must be a RunConfig, got {type(config).__name__}")
    for name, section in (("warmup", config.warmup), ("train", config.train)):
        try:
            get_learner(section.learner, model=section.model, device="cpu", seed=0, **section.params)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"`{name}.params` (learner {section.learner!r}): {exc}") from None
    for method, params in config.selection.params.items():
        try:
            get_selector(method, **params)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"`selection.params.{method}`: {exc}") from None
