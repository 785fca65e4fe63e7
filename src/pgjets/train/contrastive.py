"""``pgjets.train.contrastive``: old import path of the NT-Xent loss, now in :mod:`pgjets.nn.contrastive`."""

from __future__ import annotations

from ..nn.contrastive import NTXentLoss, nt_xent_loss

__all__ = ["nt_xent_loss", "NTXentLoss"]
