"""Warm-up training and per-example signal extraction."""

from prune4rel.scoring.warmup import warmup

__all__ = ["warmup"]
