r"""Output heads for node-, edge- and graph-level tasks.

- :class:`NodeHead`: :math:`\hat y_i = \mathrm{MLP}(\mathbf{x}_i)` (equivariant).
- :class:`EdgeHead`: :math:`\hat y_{ij} = \mathrm{MLP}(\mathbf{x}_i \Vert \mathbf{x}_j \Vert \mathbf{e}_{ij})`,
  or with ``symmetric=True`` :math:`\mathrm{MLP}(\mathbf{x}_i + \mathbf{x}_j \Vert |\mathbf{x}_i - \mathbf{x}_j| \Vert \mathbf{e}_{ij})`
  so that :math:`\hat y_{ij} = \hat y_{ji}`.
- :class:`GraphHead`: :math:`\hat y_G = \mathrm{MLP}(\mathrm{pool}_{i \in G}\, \mathbf{x}_i)` (invariant).
"""

from __future__ import annotations

import inspect
from typing import Optional, Sequence, Union

import torch
from torch import Tensor, nn

from .._checks import check_ndim
from ..errors import InputShapeError


def mlp(channels: Sequence[int], dropout: float = 0.0, act: str = "relu", norm: Optional[str] = None,
        last_act: bool = False) -> nn.Sequential:
    """Linear layers ``channels[0] -> ... -> channels[-1]`` with activation, optional norm and dropout."""
    acts = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}
    if act not in acts:
        raise ValueError(f"act must be one of {sorted(acts)}, got {act!r}")
    layers: list[nn.Module] = []
    n = len(channels) - 1
    for i, (a, b) in enumerate(zip(channels[:-1], channels[1:])):
        layers.append(nn.Linear(a, b))
        if i < n - 1 or last_act:
            if norm == "batch":
                layers.append(nn.BatchNorm1d(b))
            elif norm == "layer":
                layers.append(nn.LayerNorm(b))
            layers.append(acts[act]())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class NodeHead(nn.Module):
    """Per-node MLP. Shapes: :math:`(N, F) \\to (N, K)`."""

    def __init__(self, in_channels: int, out_channels: int, hidden: Sequence[int] = (64,), dropout: float = 0.0) -> None:
        super().__init__()
        self.net = mlp([in_channels, *hidden, out_channels], dropout)

    def forward(self, x: Tensor) -> Tensor:
        check_ndim(x, 2, "x", "(num_nodes, features)")
        return self.net(x)


class EdgeHead(nn.Module):
    """Per-edge MLP on the two end nodes (and edge features).

    Args:
        in_channels: Node feature size.
        out_channels: Output size per edge.
        edge_dim: Edge feature size (0 = none).
        hidden: Hidden sizes.
        symmetric: Make the score independent of the edge direction.

    Shapes:
        - **input:** ``x`` :math:`(N, F)`, ``edge_index`` :math:`(2, E)`, ``edge_attr`` :math:`(E, D)`
        - **output:** :math:`(E, K)`
    """

    def __init__(self, in_channels: int, out_channels: int, edge_dim: int = 0, hidden: Sequence[int] = (64,),
                 symmetric: bool = False) -> None:
        super().__init__()
        self.edge_dim, self.symmetric = edge_dim, symmetric
        self.net = mlp([2 * in_channels + edge_dim, *hidden, out_channels])

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Optional[Tensor] = None) -> Tensor:
        check_ndim(x, 2, "x", "(num_nodes, features)")
        xi, xj = x[edge_index[1]], x[edge_index[0]]
        feats = [xi + xj, (xi - xj).abs()] if self.symmetric else [xi, xj]
        if self.edge_dim:
            if edge_attr is None or edge_attr.size(-1) != self.edge_dim:
                raise InputShapeError(f"EdgeHead expects edge_attr with {self.edge_dim} features")
            feats.append(edge_attr)
        return self.net(torch.cat(feats, -1))


_POOLS = {"mean": "global_mean_pool", "sum": "global_add_pool", "max": "global_max_pool"}


class GraphHead(nn.Module):
    """Pooling followed by an MLP.

    Args:
        in_channels: Node feature size (after pooling, for module pools: their output size).
        out_channels: Output size per graph.
        pool: ``"mean"``, ``"sum"``, ``"max"`` or a pooling module called as
            ``pool(x, batch, dim_size=B)`` (or ``pool(x, pt, batch, dim_size=B)``
            when its forward takes ``pt``, as :class:`~pgjets.nn.energy_flow_pool.EnergyFlowPool`).
        hidden: Hidden sizes of the MLP.
        dropout: Dropout in the MLP.

    Shapes:
        - **input:** ``x`` :math:`(N, F)`, ``batch`` :math:`(N,)`
        - **output:** :math:`(B, K)`
    """

    def __init__(self, in_channels: int, out_channels: int, pool: Union[str, nn.Module] = "mean",
                 hidden: Sequence[int] = (64,), dropout: float = 0.0) -> None:
        super().__init__()
        if isinstance(pool, str) and pool not in _POOLS:
            raise ValueError(f"pool must be one of {sorted(_POOLS)} or a module, got {pool!r}")
        self.pool = pool
        self._pool_takes_pt = isinstance(pool, nn.Module) and "pt" in inspect.signature(pool.forward).parameters
        self.net = mlp([in_channels, *hidden, out_channels], dropout)

    def forward(self, x: Tensor, batch: Optional[Tensor] = None, pt: Optional[Tensor] = None,
                num_graphs: Optional[int] = None) -> Tensor:
        check_ndim(x, 2, "x", "(num_nodes, features)")
        if batch is None:
            batch = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
        size = num_graphs if num_graphs is not None else int(batch.max()) + 1
        if isinstance(self.pool, str):
            import torch_geometric.nn as pygnn

            h = getattr(pygnn, _POOLS[self.pool])(x, batch, size=size)
        elif self._pool_takes_pt:
            if pt is None:
                raise InputShapeError("this pooling needs pt (e.g. EnergyFlowPool)")
            h = self.pool(x, pt, batch, dim_size=size)
        else:
            h = self.pool(x, batch, dim_size=size)
        return self.net(h)


__all__ = ["mlp", "NodeHead", "EdgeHead", "GraphHead"]
