r"""Slot attention (Locatello et al., 2020) over batches of node sets.

A small number of *slots* per graph compete for the input nodes of their
graph: every input node distributes its attention over the slots (softmax over
slots), each slot then takes the attention-weighted mean of the values of the
nodes it won, and a GRU plus a residual MLP update the slot.  Repeated
``iters`` times, this turns a set of particles into a set of object-like
slots, e.g. for set generation or particle reconstruction.

Implemented as a :class:`~torch_geometric.nn.MessagePassing` layer on the
complete bipartite graph ``node -> slot`` within each graph, so graphs with
different numbers of nodes and of slots share one batch without padding.
"""

from __future__ import annotations

import math
from typing import Optional, Union

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import scatter, softmax

from .._checks import check_input_dtype, debug_check_finite, check_ndim, check_positive_int, check_sorted, is_debug
from ..errors import InputShapeError
from ..ops.sizes import ptr_from_counts


def _sorted_batch(batch: Tensor, name: str) -> Tensor:
    """``batch`` as long; its values (sorted, non-negative) are checked in debug mode only (host reads)."""
    check_ndim(batch, 1, name, "(num_elements,)")
    batch = batch.to(torch.long)
    if is_debug():
        check_sorted(batch, f"{name} must be sorted in ascending order")
        if batch.numel() and int(batch.min()) < 0:
            raise InputShapeError(f"{name} must be non-negative")
    return batch


def bipartite_complete_edges(batch: Tensor, slot_batch: Tensor, num_graphs: int) -> Tensor:
    r"""All edges ``node -> slot`` between nodes and slots of the same graph.

    Args:
        batch: Graph of each input node (sorted), ``(N,)``.
        slot_batch: Graph of each slot (sorted), ``(S,)``.
        num_graphs: Number of graphs :math:`B`.

    Returns:
        ``edge_index`` ``(2, E)``, :math:`E = \sum_b n_b s_b`; row 0 indexes
        nodes, row 1 slots; edges are grouped by node.

    Shapes:
        - **output:** :math:`(2, E)`
    """
    device = batch.device
    s_count = torch.bincount(slot_batch, minlength=num_graphs)
    s_ptr = ptr_from_counts(s_count)[:-1]
    per_node = s_count[batch]  # number of slots each node talks to
    src = torch.repeat_interleave(torch.arange(batch.numel(), device=device), per_node)
    offset = torch.arange(src.numel(), device=device) - ptr_from_counts(per_node)[:-1][src]
    dst = s_ptr[batch[src]] + offset
    return torch.stack([src, dst])


class SlotAttention(MessagePassing):
    r"""Slot attention layer.

    With inputs :math:`\mathbf{x}_i` (normalised by a LayerNorm), keys
    :math:`\mathbf{k}_i = W_k \mathbf{x}_i`, values :math:`\mathbf{v}_i = W_v
    \mathbf{x}_i` and slots :math:`\mathbf{s}_j` of the same graph, one
    iteration computes

    .. math::
        a_{ij} = \operatorname{softmax}_{j}\!\left(
            \frac{\mathbf{k}_i \cdot W_q \operatorname{LN}(\mathbf{s}_j)}{\sqrt{C}}\right)
        + \epsilon,\qquad
        \mathbf{u}_j = \frac{\sum_i a_{ij} \mathbf{v}_i}{\sum_i a_{ij}},

    .. math::
        \mathbf{s}_j \leftarrow \operatorname{GRU}(\mathbf{u}_j, \mathbf{s}_j),\qquad
        \mathbf{s}_j \leftarrow \mathbf{s}_j + \operatorname{MLP}(\operatorname{LN}(\mathbf{s}_j)).

    The softmax runs over the *slots* of the node's graph (slots compete for
    nodes); the mean runs over the nodes.  Initial slots are either given
    (``slots`` with ``slot_batch``; any number per graph) or ``num_slots`` per
    graph drawn from a learned Gaussian
    :math:`\mathbf{s}_j \sim \mathcal{N}(\boldsymbol{\mu}, \operatorname{diag}\boldsymbol{\sigma}^2)`
    (pass ``generator`` to :meth:`forward` to make the draw reproducible, also
    in eval mode).

    Args:
        in_channels: Input feature size :math:`F`.
        slot_channels: Slot size :math:`C`.
        num_slots: Slots per graph for the learned initialisation (optional).
        iters: Number of iterations (>= 1).
        hidden: Hidden size of the residual MLP.
        eps: :math:`\epsilon` added to the attention before the weighted mean.

    Shapes:
        - **input:** ``x`` :math:`(N, F)`, ``batch`` :math:`(N,)`,
          ``slots`` :math:`(S, C)`, ``slot_batch`` :math:`(S,)`
        - **output:** slots :math:`(S, C)`; with ``return_attention`` also
          ``(edge_index (2, E), attention (E,))`` of the last iteration
          (softmax over slots, before :math:`\epsilon`)
    """

    def __init__(
        self,
        in_channels: int,
        slot_channels: int,
        num_slots: Optional[int] = None,
        iters: int = 3,
        hidden: int = 128,
        eps: float = 1e-8,
    ) -> None:
        super().__init__(aggr="sum", flow="source_to_target")
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.slot_channels = check_positive_int(slot_channels, "slot_channels")
        self.num_slots = None if num_slots is None else check_positive_int(num_slots, "num_slots")
        self.iters = check_positive_int(iters, "iters")
        self.hidden = check_positive_int(hidden, "hidden")
        if not eps >= 0:
            raise ValueError(f"eps must be >= 0, got {eps!r}")
        self.eps = float(eps)
        c = self.slot_channels
        self.norm_input = nn.LayerNorm(self.in_channels)
        self.norm_slots = nn.LayerNorm(c)
        self.norm_mlp = nn.LayerNorm(c)
        self.lin_q = nn.Linear(c, c, bias=False)
        self.lin_k = nn.Linear(self.in_channels, c, bias=False)
        self.lin_v = nn.Linear(self.in_channels, c, bias=False)
        self.gru = nn.GRUCell(c, c)
        self.mlp = nn.Sequential(nn.Linear(c, self.hidden), nn.ReLU(), nn.Linear(self.hidden, c))
        if self.num_slots is not None:  # the learned initialisation; unused (no gradient, DDP error) without
            self.slots_mu = nn.Parameter(torch.zeros(1, c))
            self.slots_log_sigma = nn.Parameter(torch.zeros(1, c))
        else:
            self.register_parameter("slots_mu", None)
            self.register_parameter("slots_log_sigma", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for m in (self.norm_input, self.norm_slots, self.norm_mlp, self.lin_q, self.lin_k, self.lin_v, self.gru):
            m.reset_parameters()
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                m.reset_parameters()
        for w in (self.slots_mu, self.slots_log_sigma):
            # without num_slots the draws go to a scratch tensor, so the random stream (and every
            # seeded model built after this layer) is the same as when the parameters existed
            nn.init.xavier_uniform_(w if w is not None else torch.empty(1, self.slot_channels))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        if self.slots_mu is None:  # checkpoints from before the learned init was dropped without num_slots
            for key in ("slots_mu", "slots_log_sigma"):
                state_dict.pop(prefix + key, None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def init_slots(
        self, num_graphs: int, device: torch.device, generator: Optional[torch.Generator] = None
    ) -> tuple[Tensor, Tensor]:
        r"""Draw ``num_slots`` learned-Gaussian slots per graph.

        Args:
            num_graphs: Number of graphs :math:`B`.
            device: Device of the result.
            generator: Optional random generator (CPU or on ``device``).

        Shapes:
            - **output:** slots :math:`(B \cdot K, C)`, slot_batch :math:`(B \cdot K,)`
        """
        if self.num_slots is None:
            raise ValueError("SlotAttention was built without num_slots; pass slots and slot_batch")
        total = num_graphs * self.num_slots
        gdev = generator.device if generator is not None else device
        noise = torch.randn(total, self.slot_channels, generator=generator, device=gdev,
                            dtype=self.slots_mu.dtype).to(device)
        slots = self.slots_mu + self.slots_log_sigma.exp() * noise
        slot_batch = torch.arange(num_graphs, device=device).repeat_interleave(self.num_slots)
        return slots, slot_batch

    def forward(
        self,
        x: Tensor,
        batch: Optional[Tensor] = None,
        slots: Optional[Tensor] = None,
        slot_batch: Optional[Tensor] = None,
        num_graphs: Optional[int] = None,
        return_attention: bool = False,
        generator: Optional[torch.Generator] = None,
    ) -> Union[Tensor, tuple[Tensor, tuple[Tensor, Tensor]]]:
        r"""Run ``iters`` rounds of slot attention.

        Args:
            x: Input node features ``(N, F)``.
            batch: Graph of each node, sorted ``(N,)`` (default: one graph).
            slots: Initial slots ``(S, C)`` (default: learned init, needs ``num_slots``).
            slot_batch: Graph of each given slot, sorted ``(S,)`` (default: all in graph 0).
            num_graphs: Number of graphs (default: inferred from ``batch``/``slot_batch``).
            return_attention: Also return ``(edge_index, attention)``.
            generator: Random generator for the learned initialisation.
        """
        check_ndim(x, 2, "x", "(num_nodes, in_channels)")
        check_input_dtype(x, self, "x")
        if x.size(1) != self.in_channels:
            raise InputShapeError(f"x must have {self.in_channels} features, got shape {tuple(x.shape)}")
        debug_check_finite(x, "x")
        n = x.size(0)
        if batch is None:
            batch = torch.zeros(n, dtype=torch.long, device=x.device)
        batch = _sorted_batch(batch, "batch")
        if batch.numel() != n:
            raise InputShapeError(f"batch has {batch.numel()} entries but x has {n} nodes")
        if slots is not None:
            check_ndim(slots, 2, "slots", "(num_slots, slot_channels)")
            if slots.size(1) != self.slot_channels:
                raise InputShapeError(
                    f"slots must have {self.slot_channels} channels, got shape {tuple(slots.shape)}"
                )
            debug_check_finite(slots, "slots")
            if slot_batch is None:
                slot_batch = torch.zeros(slots.size(0), dtype=torch.long, device=x.device)
            slot_batch = _sorted_batch(slot_batch, "slot_batch")
            if slot_batch.numel() != slots.size(0):
                raise InputShapeError(
                    f"slot_batch has {slot_batch.numel()} entries but there are {slots.size(0)} slots"
                )
        elif slot_batch is not None:
            raise ValueError("slot_batch was given without slots")
        if num_graphs is None:
            num_graphs = int(batch.max()) + 1 if n else 0
            if slot_batch is not None and slot_batch.numel():
                num_graphs = max(num_graphs, int(slot_batch.max()) + 1)
            num_graphs = max(num_graphs, 1)
        elif is_debug() and ((n and int(batch.max()) >= num_graphs) or (
            slot_batch is not None and slot_batch.numel() and int(slot_batch.max()) >= num_graphs
        )):
            raise InputShapeError(f"batch or slot_batch refers to a graph >= num_graphs={num_graphs}")
        if slots is None:
            slots, slot_batch = self.init_slots(num_graphs, x.device, generator)
            # num_slots slots per graph, in graph order: every node meets slots b*S .. b*S+S-1 of its
            # graph b (the edges of bipartite_complete_edges, of a size known from the shapes: no host sync)
            per = int(self.num_slots)
            src = torch.arange(n, device=x.device).unsqueeze(1).expand(n, per).reshape(-1)
            dst = (batch.unsqueeze(1) * per + torch.arange(per, device=x.device)).reshape(-1)
            edge_index = torch.stack([src, dst])
        else:
            assert slot_batch is not None
            edge_index = bipartite_complete_edges(batch, slot_batch, num_graphs)
        num_s = slots.size(0)
        xn = self.norm_input(x)
        k = self.lin_k(xn)
        v = self.lin_v(xn)
        scale = 1.0 / math.sqrt(self.slot_channels)
        src, dst = edge_index[0], edge_index[1]
        attn = k.new_zeros(edge_index.size(1))
        for _ in range(self.iters):
            prev = slots
            q = self.lin_q(self.norm_slots(slots))
            logits = (k[src] * q[dst]).sum(-1) * scale
            attn = softmax(logits, src, num_nodes=n)  # competition over slots
            a = attn + self.eps
            denom = scatter(a, dst, dim=0, dim_size=num_s, reduce="sum")
            weight = a / denom[dst].clamp_min(1e-30)
            updates = self.propagate(edge_index, x=(v, slots), weight=weight, size=(n, num_s))
            slots = self.gru(updates, prev)
            slots = slots + self.mlp(self.norm_mlp(slots))
        if return_attention:
            return slots, (edge_index, attn)
        return slots

    def message(self, x_j: Tensor, weight: Tensor) -> Tensor:
        return weight.unsqueeze(-1) * x_j

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.slot_channels}, "
            f"num_slots={self.num_slots}, iters={self.iters})"
        )


__all__ = ["SlotAttention", "bipartite_complete_edges"]
