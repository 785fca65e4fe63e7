"""``pgjets.train.set_losses``: old import path of the set losses, now in :mod:`pgjets.nn.set_losses`."""

from __future__ import annotations

from ..nn.set_losses import hungarian_loss, mmd_loss, proxy_loss, set_distances, set_of_sets_mmd

__all__ = ["hungarian_loss", "mmd_loss", "proxy_loss", "set_distances", "set_of_sets_mmd"]
