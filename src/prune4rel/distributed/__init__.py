"""Work past one process: Ray-sharded selection and torchrun (DDP) warm-up / extraction.

This layer sits on top of ``selection``, ``neighbors`` and ``warmup``; nothing below imports
it. Ray and ``torch.distributed`` are imported only inside the functions that need them, so
``import prune4rel.distributed`` works without Ray installed.
"""

from prune4rel.distributed.ray_select import PARTITIONS, ray_select

__all__ = ["PARTITIONS", "ray_select"]
