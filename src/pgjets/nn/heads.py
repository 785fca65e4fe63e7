r"""Output heads for node-, edge- and graph-level tasks.

- :class:`NodeHead`: :math:`\hat{\mathbf{y}}_i = \mathrm{MLP}(\mathbf{x}_i)`
  (permutation equivariant).
- :class:`EdgeHead`: :math:`\hat{\mathbf{y}}_{ij} = \mathrm{MLP}(\mathbf{x}_i \,\Vert\, \mathbf{x}_j
  \,\Vert\, \mathbf{e}_{ij})`, or with ``symmetric=True``
  :math:`\mathrm{MLP}(\mathbf{x}_i + \mathbf{x}_j \,\Vert\, |\mathbf{x}_i - \mathbf{x}_j|
  \,\Vert\, \mathbf{e}_{ij})` so that :math:`\hat{\mathbf{y}}_{ij} = \hat{\mathbf{y}}_{ji}`
  (for symmetric edge features).
- :class:`GraphHead`: :math:`\hat{\mathbf{y}}_G = \mathrm{MLP}\big(\mathrm{pool}_{i \in G}\,
  \mathbf{x}_i\big)` (permutation invariant).
"""

from __future__ import annotations

import inspect
from typing import Callable, Optional, Sequence, Union

import torch
from torch import Tensor, nn
from torch_geometric.nn.inits import reset

from .._checks import check_input_dtype, debug_check_finite, check_ndim, check_nonempty, check_positive_int
from ..errors import InputShapeError
from .edge_conv import check_edge_index

_ACTS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
}
_NORMS = (None, "batch", "layer")


def mlp(
    channels: Sequence[int],
    dropout: float = 0.0,
    act: str = "relu",
    norm: Optional[str] = None,
    last_act: bool = False,
) -> nn.Sequential:
    r"""A multi-layer perceptron
    :math:`\mathbf{h}^{(l+1)} = \mathrm{drop}(\sigma(\mathrm{norm}(\mathbf{W}_l \mathbf{h}^{(l)} + \mathbf{b}_l)))`.

    The last linear layer has no norm, activation or dropout unless
    ``last_act=True``.

    Args:
        channels: Sizes ``[in, hidden..., out]`` (at least two entries).
        dropout: Dropout probability after each hidden activation, in ``[0, 1)``.
        act: ``"relu"``, ``"gelu"``, ``"silu"``, ``"elu"`` or ``"leaky_relu"``.
        norm: ``None``, ``"batch"`` (:class:`~torch.nn.BatchNorm1d`) or ``"layer"``.
        last_act: Also put norm/activation/dropout after the last layer.

    Shapes:
        - **input:** :math:`(*, C_{in})`
        - **output:** :math:`(*, C_{out})`
    """
    channels = [check_positive_int(c, "channels entry") for c in channels]
    if len(channels) < 2:
        raise ValueError(f"channels needs at least [in, out], got {channels}")
    if act not in _ACTS:
        raise ValueError(f"act must be one of {sorted(_ACTS)}, got {act!r}")
    if norm not in _NORMS:
        raise ValueError(f"norm must be None, 'batch' or 'layer', got {norm!r}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    layers: list[nn.Module] = []
    n_lin = len(channels) - 1
    for i in range(n_lin):
        layers.append(nn.Linear(channels[i], channels[i + 1]))
        if i < n_lin - 1 or last_act:
            if norm == "batch":
                layers.append(nn.BatchNorm1d(channels[i + 1]))
            elif norm == "layer":
                layers.append(nn.LayerNorm(channels[i + 1]))
            layers.append(_ACTS[act]())
            if dropout > 0:
                layers.append(nn.Dropout(float(dropout)))
    return nn.Sequential(*layers)


def _check_x(x: Tensor, in_channels: int, who: str) -> None:
    check_ndim(x, 2, "x", "(num_nodes, features)")
    if x.size(1) != in_channels:
        raise InputShapeError(f"x has {x.size(1)} features, {who} expects {in_channels}")
    debug_check_finite(x, "x")


class NodeHead(nn.Module):
    r"""Per-node MLP, one prediction per particle (node classification/regression).

    .. math::
        \hat{\mathbf{y}}_i = \mathrm{MLP}(\mathbf{x}_i)

    It is permutation equivariant: permuting the nodes permutes the outputs.

    Args:
        in_channels: Node feature size :math:`F`.
        out_channels: Outputs per node :math:`K`.
        hidden: Hidden layer sizes (``()`` = a single linear layer).
        dropout: Dropout in the MLP.

    Shapes:
        - **input:** ``x`` :math:`(N, F)`
        - **output:** :math:`(N, K)`
    """

    def __init__(self, in_channels: int, out_channels: int, hidden: Sequence[int] = (64,),
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.net = mlp([self.in_channels, *hidden, self.out_channels], dropout)

    def reset_parameters(self) -> None:
        """Draw the weights anew (and reset the norms), as PyG's ``MLP.reset_parameters``."""
        reset(self.net)

    def forward(self, x: Tensor) -> Tensor:
        """Score every node."""
        _check_x(x, self.in_channels, "NodeHead")
        check_input_dtype(x, self, "x")
        return self.net(x)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels})"


class EdgeHead(nn.Module):
    r"""Per-edge MLP on the two end nodes (and optional edge features).

    For an edge :math:`j \to i` (``edge_index[0] = j``, ``edge_index[1] = i``):

    .. math::
        \hat{\mathbf{y}}_{ij} = \mathrm{MLP}\big(\mathbf{x}_i \,\Vert\, \mathbf{x}_j
        \,\Vert\, \mathbf{e}_{ij}\big)

    or, with ``symmetric=True``, a score that does not depend on the direction:

    .. math::
        \hat{\mathbf{y}}_{ij} = \mathrm{MLP}\big(\mathbf{x}_i + \mathbf{x}_j \,\Vert\,
        |\mathbf{x}_i - \mathbf{x}_j| \,\Vert\, \mathbf{e}_{ij}\big)

    Args:
        in_channels: Node feature size :math:`F`.
        out_channels: Outputs per edge :math:`K`.
        edge_dim: Edge feature size :math:`D` (0 = no edge features).
        hidden: Hidden layer sizes.
        symmetric: Make the score independent of the edge direction.
        dropout: Dropout in the MLP.

    Shapes:
        - **input:** ``x`` :math:`(N, F)`, ``edge_index`` :math:`(2, E)`,
          ``edge_attr`` :math:`(E, D)` (only when ``edge_dim > 0``)
        - **output:** :math:`(E, K)`
    """

    def __init__(self, in_channels: int, out_channels: int, edge_dim: int = 0, hidden: Sequence[int] = (64,),
                 symmetric: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        if isinstance(edge_dim, bool) or int(edge_dim) != edge_dim or edge_dim < 0:
            raise ValueError(f"edge_dim must be a non-negative integer, got {edge_dim!r}")
        self.edge_dim = int(edge_dim)
        self.symmetric = bool(symmetric)
        self.net = mlp([2 * self.in_channels + self.edge_dim, *hidden, self.out_channels], dropout)

    def reset_parameters(self) -> None:
        """Draw the weights anew (and reset the norms), as PyG's ``MLP.reset_parameters``."""
        reset(self.net)

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Optional[Tensor] = None) -> Tensor:
        """Score every edge of ``edge_index``."""
        _check_x(x, self.in_channels, "EdgeHead")
        check_input_dtype(x, self, "x")
        check_edge_index(edge_index, x.size(0))  # shape and dtype; the values in debug mode (a host sync)
        src, dst = edge_index[0], edge_index[1]
        xi, xj = x.index_select(0, dst), x.index_select(0, src)  # deterministic backward (see EdgeConvBlock)
        parts = [xi + xj, (xi - xj).abs()] if self.symmetric else [xi, xj]
        if self.edge_dim:
            if edge_attr is None:
                raise InputShapeError(f"EdgeHead(edge_dim={self.edge_dim}) needs edge_attr")
            check_ndim(edge_attr, 2, "edge_attr", "(num_edges, edge_dim)")
            if edge_attr.shape != (edge_index.size(1), self.edge_dim):
                raise InputShapeError(
                    f"edge_attr must have shape ({edge_index.size(1)}, {self.edge_dim}), "
                    f"got {tuple(edge_attr.shape)}"
                )
            debug_check_finite(edge_attr, "edge_attr")
            parts.append(edge_attr.to(x.dtype))
        return self.net(torch.cat(parts, dim=-1))

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
                f"edge_dim={self.edge_dim}, symmetric={self.symmetric})")


_POOLS = {"mean": "mean", "sum": "sum", "add": "sum", "max": "max"}


class GraphHead(nn.Module):
    r"""Pooling over the nodes of each graph followed by an MLP.

    .. math::
        \hat{\mathbf{y}}_G = \mathrm{MLP}\Big(\mathrm{pool}_{i \in G}\, \mathbf{x}_i\Big)

    With :class:`~pgjets.nn.energy_flow_pool.EnergyFlowPool` the pooling is the
    IRC-safe :math:`\sum_{i \in G} z_i \mathbf{x}_i`, :math:`z_i = p_{T,i} / \sum_{j \in G} p_{T,j}`.

    Args:
        in_channels: Size of the pooled vector fed to the MLP (for ``"mean"``,
            ``"sum"``, ``"max"``: the node feature size; for a module pool: its
            output size, e.g. ``num_seeds * channels`` for
            :class:`~pgjets.nn.pma.PMAPool`).
        out_channels: Outputs per graph :math:`K`.
        pool: ``"mean"``, ``"sum"`` (or ``"add"``), ``"max"``, or a pooling module
            (a PyG ``Aggregation``-style ``pool(x, index, dim_size=B)``; pools
            whose forward takes ``pt``, such as ``EnergyFlowPool``, are called as
            ``pool(x, batch, dim_size=B, pt=pt)``).
        hidden: Hidden sizes of the MLP.
        dropout: Dropout in the MLP.

    Shapes:
        - **input:** ``x`` :math:`(N, F)`, ``batch`` :math:`(N,)` (optional, one graph
          if ``None``), ``pt`` :math:`(N,)` (pools that need it)
        - **output:** :math:`(B, K)`
    """

    def __init__(self, in_channels: int, out_channels: int, pool: Union[str, nn.Module] = "mean",
                 hidden: Sequence[int] = (64,), dropout: float = 0.0) -> None:
        super().__init__()
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        if isinstance(pool, str):
            if pool not in _POOLS:
                raise ValueError(f"pool must be one of {sorted(_POOLS)} or a module, got {pool!r}")
            self._reduce: Optional[str] = _POOLS[pool]
            self.pool: Optional[nn.Module] = None
            self._pool_takes_pt = False
        elif isinstance(pool, nn.Module):
            self._reduce = None
            self.pool = pool
            self._pool_takes_pt = "pt" in inspect.signature(pool.forward).parameters
        else:
            raise ValueError(f"pool must be a string or an nn.Module, got {type(pool).__name__}")
        self.net = mlp([self.in_channels, *hidden, self.out_channels], dropout)

    def reset_parameters(self) -> None:
        """Draw the weights anew (and reset the norms), as PyG's ``MLP.reset_parameters``."""
        reset(self.net)
        if self.pool is not None:
            reset(self.pool)

    def forward(self, x: Tensor, batch: Optional[Tensor] = None, pt: Optional[Tensor] = None,
                num_graphs: Optional[int] = None) -> Tensor:
        """Pool every graph and apply the MLP."""
        check_ndim(x, 2, "x", "(num_nodes, features)")
        check_input_dtype(x, self, "x")
        check_nonempty(x.size(0), "batch of graphs")
        debug_check_finite(x, "x")
        if batch is None:
            batch = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
        check_ndim(batch, 1, "batch", "(num_nodes,)")
        if batch.numel() != x.size(0):
            raise InputShapeError(f"batch has {batch.numel()} entries but x has {x.size(0)} nodes")
        size = int(num_graphs) if num_graphs is not None else int(batch.max()) + 1
        if self._reduce is not None:
            from torch_geometric.utils import scatter

            h = scatter(x, batch, dim=0, dim_size=size, reduce=self._reduce)
        elif self._pool_takes_pt:
            if pt is None:
                raise InputShapeError(f"{self.pool.__class__.__name__} pooling needs pt (N,)")
            h = self.pool(x, batch, dim_size=size, pt=pt)
        else:
            h = self.pool(x, batch, dim_size=size)
        if h.dim() != 2 or h.size(1) != self.in_channels:
            raise InputShapeError(
                f"pooled features have shape {tuple(h.shape)}, GraphHead(in_channels={self.in_channels}) "
                f"expects ({size}, {self.in_channels})"
            )
        return self.net(h)

    def __repr__(self) -> str:
        pool = self._reduce if self._reduce is not None else self.pool.__class__.__name__
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, pool={pool})"


__all__ = ["mlp", "NodeHead", "EdgeHead", "GraphHead"]
