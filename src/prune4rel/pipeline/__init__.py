"""One experiment run: run-level checks, the stages, the run directory, resume.

A run warms a network up on the noisy training set once, turns it into
:class:`~prune4rel.signals.Signals`, lets every configured selector pick a subset at every
configured fraction, and trains a learner on each subset. Everything goes into one run
directory, each file written atomically (see :mod:`prune4rel._io`)::

    run_dir/config.yaml                      the resolved configuration
    run_dir/manifest.json                    every file name the runs wrote here (what
                                             resume=False may delete)
    run_dir/.prune4rel.lock                  held while a run uses the directory
    run_dir/signals.npz                      warm-up Signals (shared by all selections)
    run_dir/ckpt_warmup.pt                   per-epoch warm-up checkpoint, deleted once the
                                             Signals are written
    run_dir/subset_<method>_<fraction>.npy   selected dataset indices, pick order
    run_dir/subset_<method>_<fraction>.json  its provenance (config hash, seconds, noise, and the
                                             selector's own scalar facts, e.g. the tau used)
    run_dir/metrics_<method>_<fraction>.jsonl  one line per training epoch
    run_dir/result_<method>_<fraction>.json  the final result (keys: :data:`RESULT_KEYS`)
    run_dir/ckpt_<method>_<fraction>.pt      per-epoch checkpoint, deleted once the result
                                             is written

Fraction ``1.0`` is the full-data reference: no warm-up or selection is needed, and it is
trained once under the method name ``"full"``, whatever the configured methods.

Resume
------
Every stage output stores a hash of the configuration it depends on (the data, the warm-up,
the selector and its parameters, the training settings and the seed; not the device nor
the progress flag). With ``resume=True`` a stage whose output exists and carries the same
hash is skipped; an output with another hash is recomputed and overwritten. An interrupted
warm-up or training continues from its last per-epoch checkpoint (network, optimizers,
per-example learner state, RNG states, and the warm-up's recorded histories or the
training's metrics so far) and, on CPU, ends bit-identical to an uninterrupted run (the
same Signals, subsets and results). On CUDA the same holds under
``torch.use_deterministic_algorithms(True)`` (with ``CUBLAS_WORKSPACE_CONFIG=:4096:8``;
checked on an H200); without it, GPU kernels make even two uninterrupted runs differ
slightly. A checkpoint or stage output that cannot be read (corrupt, truncated, another
format), and a checkpoint of another configuration or whose state does not fit, is
**redone**, with a :class:`ResumeWarning`: every write is atomic, so such a file was
damaged or left from outside and recomputing is always correct. A run directory holds one
data / warm-up / seed setting; pointing a run with another one at it is an error unless
``resume=False``, which first deletes the files that run's manifest names (and nothing else:
a user's own files there stay). One run at a time: a second run on a directory in use is
refused with the first one's pid, host and start time.

Modules
-------
- :mod:`~prune4rel.pipeline.checks`: :func:`check_config`, what parsing cannot check
  (learner and selector parameters against their learner and selector).
- :mod:`~prune4rel.pipeline.stages`: warm-up, selection and training with their files;
  :mod:`~prune4rel.pipeline.checkpoints`: their per-epoch checkpoints.
- :mod:`~prune4rel.pipeline.run_dir`: one data / warm-up / seed setting per directory, its
  lock and its manifest.
- :mod:`~prune4rel.pipeline.run`: :func:`run_experiment`.
- :mod:`~prune4rel.pipeline.ddp_run`: the torchrun warm-up entry point.

The configuration classes live in :mod:`prune4rel.config` and :func:`load_dataset` in
:mod:`prune4rel.data`; they are re-exported here.
"""

from prune4rel._io import ResumeWarning
from prune4rel.config import (
    ALIASES,
    DataConfig,
    RunConfig,
    SelectionConfig,
    TrainConfig,
    WarmupConfig,
)
from prune4rel.data import load_dataset
from prune4rel.devices import resolve_device
from prune4rel.pipeline.checks import check_config
from prune4rel.pipeline.run import FULL_METHOD, RESULT_KEYS, run_experiment

__all__ = [
    "ALIASES",
    "FULL_METHOD",
    "RESULT_KEYS",
    "DataConfig",
    "ResumeWarning",
    "RunConfig",
    "SelectionConfig",
    "TrainConfig",
    "WarmupConfig",
    "check_config",
    "load_dataset",
    "resolve_device",
    "run_experiment",
]
