r"""``GraphNet``: stack any pgjets (or PyG) layers under any head.

.. math::
    f(G) = \mathrm{head}\big(\ell_L \circ \cdots \circ \ell_1 (G)\big)

Each layer's ``forward`` signature is read once; at call time it receives, by
name, what it asks for from the running graph state (``x``, ``edge_index``,
``edge_attr``, ``pos``, ``pt``, ``batch``).  A layer that returns a tensor
updates ``x``; one that returns a named tuple or ``Data`` with some of those
fields (e.g. :class:`~pgjets.nn.grid_pool.GridPool`) updates them all, so
pooling layers that coarsen the graph can sit anywhere in the stack.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Optional, Sequence

import torch
from torch import Tensor, nn

STATE_KEYS = ("x", "edge_index", "edge_attr", "pos", "pt", "batch", "num_graphs")


def _wanted(module: nn.Module) -> list[str]:
    """State names the module's forward takes; ``["*x"]`` = x positionally (plain torch modules)."""
    params = list(inspect.signature(module.forward).parameters)
    names = [p for p in params if p in STATE_KEYS]
    if params and params[0] not in STATE_KEYS:
        return ["*x"] + names
    return names


class GraphNet(nn.Module):
    """A stack of layers under a head.

    Args:
        encoder_layers: Layers applied in order.
        head: Output head (node, edge or graph head, or any module).
        activation: Optional callable applied to ``x`` after every layer.

    Shapes:
        - **input:** ``Data``/``Batch``
        - **output:** what the head returns
    """

    def __init__(self, encoder_layers: Sequence[nn.Module], head: nn.Module,
                 activation: Optional[Callable[[Tensor], Tensor]] = None) -> None:
        super().__init__()
        self.layers = nn.ModuleList(encoder_layers)
        self.head = head
        self.activation = activation
        self._args = [_wanted(m) for m in self.layers]
        self._head_args = _wanted(head)

    def _state(self, data: Any) -> dict[str, Any]:
        state = {k: getattr(data, k, None) for k in STATE_KEYS if k != "num_graphs"}
        if state["batch"] is None and state["x"] is not None:
            state["batch"] = torch.zeros(state["x"].size(0), dtype=torch.long, device=state["x"].device)
        state["num_graphs"] = int(getattr(data, "num_graphs", 1) or 1)
        return state

    def embed(self, data: Any) -> dict[str, Any]:
        """Run the layers; return the final graph state (``state["x"]`` are the node embeddings)."""
        state = self._state(data)
        for layer, names in zip(self.layers, self._args):
            args = (state["x"],) if names and names[0] == "*x" else ()
            out = layer(*args, **{n: state[n] for n in names if n in state and (state[n] is not None or n == "x")})
            if isinstance(out, Tensor):
                state["x"] = out
            else:
                for key in ("x", "edge_index", "edge_attr", "pos", "batch"):
                    value = getattr(out, key, None)
                    if value is not None:
                        state[key] = value
            if self.activation is not None:
                state["x"] = self.activation(state["x"])
        return state

    def forward(self, data: Any) -> Any:
        state = self.embed(data)
        return self.head(**{n: state[n] for n in self._head_args if state.get(n) is not None})


__all__ = ["GraphNet"]
