r"""The Lorentz group equivariant block (LGEB) of LorentzNet (Gong et al., JHEP 07 (2022) 030,
arXiv:2201.08187).

Every particle carries scalar features :math:`\mathbf{h}_i` and a four-vector
:math:`x_i = (E, p_x, p_y, p_z)_i`.  Messages on the (fully connected) jet graph
see the four-vectors only through the Minkowski products

.. math::
    \langle x, y \rangle = x^0 y^0 - x^1 y^1 - x^2 y^2 - x^3 y^3,
    \qquad \psi(z) = \operatorname{sign}(z) \log(|z| + 1),

which are unchanged by every Lorentz transformation :math:`\Lambda`.  One block
computes

.. math::
    \mathbf{m}_{ij} &= \phi_e\big(\mathbf{h}_i, \mathbf{h}_j,
        \psi(\lVert x_i - x_j \rVert^2), \psi(\langle x_i, x_j \rangle)\big),
    \qquad \mathbf{m}_{ij} \leftarrow \phi_m(\mathbf{m}_{ij})\, \mathbf{m}_{ij}, \\
    x_i' &= x_i + c \underset{j \in \mathcal{N}(i)}{\mathrm{mean}}\; \phi_x(\mathbf{m}_{ij})\,(x_i - x_j), \\
    \mathbf{h}_i' &= \mathbf{h}_i + \phi_h\Big(\mathbf{h}_i, \sum_{j \in \mathcal{N}(i)} \mathbf{m}_{ij},
        \mathbf{a}_i\Big),

with :math:`\phi_m(\mathbf{m}) = \sigma(w^\top \mathbf{m} + b)` a scalar edge gate,
:math:`\phi_e` = Linear (no bias) - BatchNorm - ReLU - Linear - ReLU, :math:`\phi_h`
= Linear - BatchNorm - ReLU - Linear, :math:`\phi_x` = Linear - ReLU - Linear
(no bias, initialised with gain :math:`10^{-3}`) and :math:`\mathbf{a}_i` optional
node attributes (LorentzNet feeds the input scalars to every block).  Since
:math:`\mathbf{m}_{ij}` is Lorentz invariant and :math:`x_i - x_j` transforms like a
four-vector, :math:`\mathbf{h}'` is invariant and :math:`x'` equivariant:

.. math::
    \mathrm{LGEB}(\mathbf{h}, \Lambda x) = (\mathbf{h}', \Lambda x').

Differences from the authors' code: the update of :math:`x` is not clamped to
:math:`[-100, 100]` (a safeguard that the authors note is never active and that
would break exact equivariance), and there is no unused dropout argument.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import scatter

from .._checks import check_input_dtype, check_positive_int
from ..errors import InputShapeError
from ..ops.padded import rowwise

#: Minkowski metric signature (+, -, -, -) as a row to multiply with.
_METRIC = (1.0, -1.0, -1.0, -1.0)


def minkowski_dot(a: Tensor, b: Tensor) -> Tensor:
    r"""Minkowski inner product :math:`\langle a, b \rangle = a^0 b^0 - \vec a \cdot \vec b`.

    Shapes:
        - **input:** :math:`(*, 4)`, :math:`(*, 4)`
        - **output:** :math:`(*)`
    """
    prod = a * b
    return prod[..., 0] - prod[..., 1:].sum(-1)


def psi(z: Tensor) -> Tensor:
    r""":math:`\psi(z) = \operatorname{sign}(z) \log(|z| + 1)`, the LorentzNet normalisation.

    Shapes:
        - **input / output:** any shape
    """
    return torch.sign(z) * torch.log1p(z.abs())


class LorentzConv(MessagePassing):
    r"""Lorentz group equivariant block (LGEB), the layer of LorentzNet.

    .. math::
        \mathbf{m}_{ij} = \phi_m(\tilde{\mathbf{m}}_{ij})\,\tilde{\mathbf{m}}_{ij},\quad
        \tilde{\mathbf{m}}_{ij} = \phi_e\big(\mathbf{h}_i, \mathbf{h}_j,
            \psi(\lVert x_i - x_j \rVert^2), \psi(\langle x_i, x_j \rangle)\big)

    .. math::
        x_i' = x_i + c \underset{j}{\mathrm{mean}}\, \phi_x(\mathbf{m}_{ij})(x_i - x_j), \qquad
        \mathbf{h}_i' = \mathbf{h}_i + \phi_h\Big(\mathbf{h}_i, \sum_j \mathbf{m}_{ij}, \mathbf{a}_i\Big)

    ``h_out`` is invariant and ``x_out`` equivariant under proper orthochronous
    Lorentz transformations of ``x`` (checked by
    :func:`pgjets.symmetry.lorentz_conv_errors`).  Edges follow PyG:
    ``edge_index[0]`` is the sender :math:`j`, ``edge_index[1]`` the receiver
    :math:`i`; LorentzNet uses the fully connected jet graph
    (:func:`pgjets.graphs.set.fully_connected_edge_index`).  A node without
    incoming edges keeps :math:`x_i` and gets :math:`\sum_j \mathbf{m}_{ij} = 0`.

    Args:
        channels: Size :math:`C` of the scalar features (input and output).
        hidden_channels: Width of :math:`\phi_e, \phi_h, \phi_x` (default ``channels``).
        attr_channels: Size of the optional node attributes :math:`\mathbf{a}_i` (0 = none).
        c_weight: Step :math:`c` of the four-vector update (0.005 for top tagging in the
            authors' configuration).
        last_layer: No update of :math:`x` (and no :math:`\phi_x`): ``x_out`` is ``x``.

    Shapes:
        - **input:** ``h`` :math:`(N, C)`, ``x`` :math:`(N, 4)` = :math:`(E, p_x, p_y, p_z)`,
          ``edge_index`` :math:`(2, E)`, ``node_attr`` :math:`(N, A)` (optional)
        - **output:** ``(h_out, x_out)`` of shapes :math:`(N, C)` and :math:`(N, 4)`
    """

    def __init__(
        self,
        channels: int,
        hidden_channels: Optional[int] = None,
        attr_channels: int = 0,
        c_weight: float = 0.005,
        last_layer: bool = False,
    ) -> None:
        super().__init__(aggr="add")
        self.channels = check_positive_int(channels, "channels")
        self.hidden_channels = (self.channels if hidden_channels is None
                                else check_positive_int(hidden_channels, "hidden_channels"))
        if int(attr_channels) < 0:
            raise ValueError(f"attr_channels must be >= 0, got {attr_channels}")
        self.attr_channels = int(attr_channels)
        self.c_weight = float(c_weight)
        self.last_layer = bool(last_layer)
        c, hid = self.channels, self.hidden_channels
        self.phi_e = nn.Sequential(
            nn.Linear(2 * c + 2, hid, bias=False), nn.BatchNorm1d(hid), nn.ReLU(),
            nn.Linear(hid, hid), nn.ReLU())
        self.phi_m = nn.Sequential(nn.Linear(hid, 1), nn.Sigmoid())
        self.phi_h = nn.Sequential(
            nn.Linear(hid + c + self.attr_channels, hid), nn.BatchNorm1d(hid), nn.ReLU(),
            nn.Linear(hid, c))
        self.phi_x: Optional[nn.Sequential] = None
        if not self.last_layer:
            self.phi_x = nn.Sequential(nn.Linear(hid, hid), nn.ReLU(), nn.Linear(hid, 1, bias=False))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.modules():
            if m is not self and hasattr(m, "reset_parameters") and not isinstance(m, MessagePassing):
                m.reset_parameters()
        if self.phi_x is not None:
            nn.init.xavier_uniform_(self.phi_x[-1].weight, gain=0.001)

    def _check(self, h: Tensor, x: Tensor, node_attr: Optional[Tensor]) -> None:
        """Shape and dtype checks (metadata only: no host synchronisation)."""
        check_input_dtype(h, self, "h")
        check_input_dtype(x, self, "x")
        if h.dim() != 2 or h.size(1) != self.channels:
            raise InputShapeError(f"h must be (num_nodes, {self.channels}), got {tuple(h.shape)}")
        if x.dim() != 2 or x.size(1) != 4 or x.size(0) != h.size(0):
            raise InputShapeError(f"x must be (num_nodes, 4) = (E, px, py, pz) with {h.size(0)} rows, "
                                  f"got {tuple(x.shape)}")
        if self.attr_channels:
            if node_attr is None or node_attr.dim() != 2 or node_attr.shape != (h.size(0), self.attr_channels):
                got = None if node_attr is None else tuple(node_attr.shape)
                raise InputShapeError(f"node_attr must be ({h.size(0)}, {self.attr_channels}), got {got}")

    def forward(self, h: Tensor, x: Tensor, edge_index: Tensor,
                node_attr: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
        self._check(h, x, node_attr)
        n = h.size(0)
        # one pass over the edges: the C message channels are summed, the 4 of the
        # four-vector update averaged (see aggregate)
        a, b = self._node_terms(h)
        out = self.propagate(edge_index, a=a, b=b, x=x, size=(n, n))
        agg, dx = out[:, :self.hidden_channels], out[:, self.hidden_channels:]
        parts = [h, agg] if node_attr is None or not self.attr_channels else [h, agg, node_attr]
        h_out = h + self.phi_h(torch.cat(parts, dim=-1))
        x_out = x if self.last_layer else x + self.c_weight * dx
        return h_out, x_out

    def _node_terms(self, h: Tensor) -> tuple[Tensor, Tensor]:
        r"""The first linear map of :math:`\phi_e` split per node: :math:`(W_1 \mathbf{h}, W_2 \mathbf{h})`.

        :math:`W(\mathbf{h}_i \Vert \mathbf{h}_j \Vert \mathbf{e}) = W_1\mathbf{h}_i + W_2\mathbf{h}_j
        + W_3\mathbf{e}` is computed per node and gathered per edge (no concatenation per edge).
        """
        c = self.channels
        w = self.phi_e[0].weight
        return h @ w[:, :c].t(), h @ w[:, c:2 * c].t()

    def _gated(self, pre: Tensor, x_i: Tensor, x_j: Tensor) -> Tensor:
        diff = x_i - x_j
        inv = torch.stack([psi(minkowski_dot(diff, diff)), psi(minkowski_dot(x_i, x_j))], dim=-1)
        pre = pre + inv.to(pre.dtype) @ self.phi_e[0].weight[:, 2 * self.channels:].t()
        m = rowwise(self.phi_e[1:], pre)
        return m * rowwise(self.phi_m, m)

    def edge_message(self, h_i: Tensor, h_j: Tensor, x_i: Tensor, x_j: Tensor) -> Tensor:
        r"""Gated invariant message :math:`\mathbf{m}_{ij}` (any leading shape).

        Shapes:
            - **input:** ``h_i, h_j`` :math:`(*, C)`, ``x_i, x_j`` :math:`(*, 4)`
            - **output:** :math:`(*, C_{hid})`
        """
        a, _ = self._node_terms(h_i)
        _, b = self._node_terms(h_j)
        return self._gated(a + b, x_i, x_j)

    def message(self, a_i: Tensor, b_j: Tensor, x_i: Tensor, x_j: Tensor) -> Tensor:  # type: ignore[override]
        m = self._gated(a_i + b_j, x_i, x_j)
        if self.phi_x is None:
            return m
        return torch.cat([m, self.phi_x(m).to(x_i.dtype) * (x_i - x_j)], dim=-1)

    def aggregate(self, inputs: Tensor, index: Tensor, ptr: Optional[Tensor] = None,  # type: ignore[override]
                  dim_size: Optional[int] = None) -> Tensor:
        c = self.hidden_channels
        summed = scatter(inputs[:, :c], index, 0, dim_size=dim_size, reduce="sum")
        if self.phi_x is None:
            return summed
        mean = scatter(inputs[:, c:], index, 0, dim_size=dim_size, reduce="mean")
        return torch.cat([summed, mean], dim=-1)

    def forward_padded(self, h: Tensor, x: Tensor, mask: Tensor,
                       node_attr: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
        r"""The block on padded, fully connected jets (inference path, static shapes).

        Every valid particle receives from every other valid particle of its jet
        (no self loops), as on the graph of
        :func:`~pgjets.graphs.set.fully_connected_edge_index`.

        Shapes:
            - **input:** ``h`` :math:`(B, N, C)`, ``x`` :math:`(B, N, 4)`, ``mask`` :math:`(B, N)`,
              ``node_attr`` :math:`(B, N, A)` (optional)
            - **output:** ``(h_out, x_out)`` of shapes :math:`(B, N, C)`, :math:`(B, N, 4)`
        """
        B, N, _ = h.shape
        eye = torch.eye(N, dtype=torch.bool, device=h.device)
        pair = (mask.unsqueeze(2) & mask.unsqueeze(1) & ~eye).unsqueeze(-1)  # [b, i, j]: j -> i
        a, b = self._node_terms(h)
        x_i, x_j = x.unsqueeze(2).expand(B, N, N, 4), x.unsqueeze(1).expand(B, N, N, 4)
        m = self._gated(a.unsqueeze(2) + b.unsqueeze(1), x_i, x_j) * pair.to(h.dtype)
        agg = m.sum(2)
        parts = [h, agg] if node_attr is None or not self.attr_channels else [h, agg, node_attr]
        h_out = h + rowwise(self.phi_h, torch.cat(parts, dim=-1))
        if self.phi_x is None:
            return h_out, x
        w = pair.to(x.dtype)
        trans = (rowwise(self.phi_x, m).to(x.dtype) * (x_i - x_j) * w).sum(2)
        deg = w.sum(2).clamp_min(1.0)
        return h_out, x + self.c_weight * trans / deg

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.channels}, hidden_channels={self.hidden_channels}, "
                f"attr_channels={self.attr_channels}, c_weight={self.c_weight}, last_layer={self.last_layer})")


__all__ = ["LorentzConv", "minkowski_dot", "psi"]
