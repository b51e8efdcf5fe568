"""Warm-up training and per-example signal extraction."""

from prune4rel.warmup.train import warmup, warmup_signals

__all__ = ["warmup", "warmup_signals"]
