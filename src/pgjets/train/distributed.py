r"""Multi-process training on torch DDP (``pgjets train --ddp`` under ``torchrun``).

``torchrun`` (or SLURM via ``srun torchrun``) sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; :func:`init_from_env`
joins the process group (gloo on CPU, nccl on GPU).  The
:class:`~pgjets.train.trainer.Trainer` then wraps the model in
``DistributedDataParallel``, writes checkpoints from rank 0 only and averages
the training loss over ranks.  A streaming
:class:`~pgjets.data.jet_dataset.JetDataset` shards itself: every epoch the
seeded permutation of its chunks is cut into ``world_size`` disjoint shares of
equal size, rank :math:`r` reads only share :math:`r`, and every rank makes
:math:`\lfloor\lfloor N/W\rfloor / B\rfloor` steps (the remainder, fewer than
one batch per rank, is dropped as ``DistributedSampler`` with ``drop_last``
does); the global batch is ``world_size * batch_size``.  Other data sources get
every ``world_size``-th batch of the full stream (equal counts).
"""

from __future__ import annotations

import os
from typing import Any, Optional

import torch

from ..errors import DistributedSetupError


def init_from_env(backend: Optional[str] = None) -> tuple[int, int]:
    """Join the process group described by torchrun's environment; return ``(rank, world_size)``.

    Raises :class:`~pgjets.errors.DistributedSetupError` (a ``RuntimeError`` and a
    usage error: the CLI prints one line and exits 2) when the variables are missing.
    """
    import torch.distributed as dist

    missing = [v for v in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
    if missing:
        raise DistributedSetupError(
            f"--ddp needs the torchrun environment ({', '.join(missing)} unset): launch with "
            "torchrun --nproc_per_node N -m pgjets.cli train --ddp ..."
        )
    if not dist.is_initialized():
        if backend is None:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size()


def barrier(group: Any = None) -> None:
    """Wait for all ranks (no-op outside a process group); ``group``: a group of :func:`waiting_group`."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier(group=group)


#: How long the ranks of :func:`waiting_group` wait for rank 0 (seconds): a week.
WAIT_TIMEOUT_S = 7 * 24 * 3600.0


def waiting_group(timeout_s: float = WAIT_TIMEOUT_S) -> Any:
    """A gloo group of all ranks whose :func:`barrier` waits up to ``timeout_s`` (the default process
    group gives up after 30 minutes), for the ranks that wait while rank 0 does long work alone
    (``--generate``); ``None`` outside a process group.  A collective: every rank calls it, in the
    same order.  A rank that fails still ends the job at once (torchrun stops the others)."""
    import datetime

    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return None
    return dist.new_group(backend="gloo", timeout=datetime.timedelta(seconds=timeout_s))


def is_main_process() -> bool:
    """``True`` on rank 0 or outside a process group."""
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


__all__ = ["init_from_env", "barrier", "is_main_process"]
