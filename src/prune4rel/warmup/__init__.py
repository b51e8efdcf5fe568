"""Warm-up training and per-example signal extraction; recorders for a user's own loop.

The Lightning callback lives in :mod:`prune4rel.warmup.lightning` (extra ``[lightning]``).
"""

from prune4rel.warmup.extract import Outputs, extract_outputs, extract_signals
from prune4rel.warmup.recorder import SignalRecorder
from prune4rel.warmup.train import warmup, warmup_signals

__all__ = ["Outputs", "SignalRecorder", "extract_outputs", "extract_signals", "warmup", "warmup_signals"]
