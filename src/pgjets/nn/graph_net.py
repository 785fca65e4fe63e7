r"""``GraphNet``: stack any pgjets (or PyG, or plain torch) layers under any head.

.. math::
    f(G) = \mathrm{head}\big(\ell_L \circ \sigma \circ \cdots \circ \sigma \circ \ell_1 (G)\big)

Each layer's ``forward`` signature is read once, at construction (as PyG does
for ``MessagePassing``).  At call time a layer receives, *by name*, what it
asks for from the running graph state

``x``, ``edge_index``, ``edge_attr``, ``pos``, ``pt``, ``batch``, ``num_graphs``

(plus the aliases ``index`` = ``batch`` and ``dim_size`` = ``num_graphs`` used by
PyG ``Aggregation`` modules).  A module whose first parameter is not one of
these names (``nn.Linear``, ``nn.Sequential``, activations) gets ``x``
positionally.  A layer gets every optional argument it names whenever the
state holds it: :class:`~pgjets.nn.DeepSetsLayer` (``forward(x, batch,
edge_index)``) on a batch with edges (a kNN cloud) therefore pools over each
node's neighbours, not over its whole graph; give it graphs without
``edge_index`` (sets) for the whole-set layer.

A layer that returns a tensor updates ``x``.  One that returns a named tuple
or a ``Data`` object updates every field it carries among ``x``,
``edge_index``, ``edge_attr``, ``pos``, ``pt``, ``batch`` (e.g.
:class:`~pgjets.nn.grid_pool.GridPool`'s ``GridGraph``), so coarsening layers
can sit anywhere in the stack; node attributes it does not return (such as
``pt``) are dropped when the number of nodes changes.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, NamedTuple, Optional, Sequence

import torch
from torch import Tensor, nn
from torch_geometric.nn.inits import reset

from .._checks import check_ndim, check_nonempty
from ..errors import InputShapeError

#: Names of the running graph state.
STATE_KEYS = ("x", "edge_index", "edge_attr", "pos", "pt", "batch", "num_graphs")
#: Parameter names that are routed to a state entry of another name.
ALIASES = {"index": "batch", "dim_size": "num_graphs"}
_NODE_KEYS = ("x", "pos", "pt", "batch")
_UPDATABLE = ("x", "edge_index", "edge_attr", "pos", "pt", "batch")


class _Route(NamedTuple):
    positional_x: bool
    names: tuple[tuple[str, str], ...]  # (parameter name, state key)
    required: frozenset[str]  # parameter names without default


def _route(module: Callable, where: str) -> _Route:
    """Read the forward signature of ``module`` once."""
    fn = module.forward if isinstance(module, nn.Module) else module
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError) as exc:  # pragma: no cover - builtins without signature
        raise ValueError(f"cannot read the forward signature of {where}: {exc}") from exc
    params = [p for p in sig.parameters.values()
              if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]
    known = set(STATE_KEYS) | set(ALIASES)
    positional_x = bool(params) and params[0].name not in known
    names = []
    required = set()
    for i, p in enumerate(params):
        if positional_x and i == 0:
            continue
        if p.name in known:
            names.append((p.name, ALIASES.get(p.name, p.name)))
            if p.default is inspect.Parameter.empty:
                required.add(p.name)
        elif p.default is inspect.Parameter.empty and p.kind != inspect.Parameter.KEYWORD_ONLY:
            raise ValueError(
                f"{where} has a required forward argument {p.name!r} that GraphNet cannot provide "
                f"(it routes {', '.join(STATE_KEYS)})"
            )
    return _Route(positional_x, tuple(names), frozenset(required))


def _call(module: Callable, route: _Route, state: dict[str, Any], where: str) -> Any:
    kwargs: dict[str, Any] = {}
    for param, key in route.names:
        value = state.get(key)
        if value is None:
            if param in route.required:
                raise InputShapeError(f"{where} needs {key!r} but the graph has none")
            continue
        kwargs[param] = value
    if route.positional_x:
        return module(state["x"], **kwargs)
    return module(**kwargs)


class GraphNet(nn.Module):
    r"""A stack of layers under a head, with arguments routed by name.

    .. math::
        \mathbf{X}^{(l)} = \sigma\big(\ell_l(\mathbf{X}^{(l-1)}, \ldots)\big), \qquad
        \hat{\mathbf{y}} = \mathrm{head}(\mathbf{X}^{(L)}, \ldots)

    Args:
        encoder_layers: Layers applied in order (any modules; see the module
            docstring for how their arguments are found).
        head: Output head, e.g. :class:`~pgjets.nn.heads.NodeHead`,
            :class:`~pgjets.nn.heads.EdgeHead` (gets ``edge_index``/``edge_attr``)
            or :class:`~pgjets.nn.heads.GraphHead` (gets ``batch``, ``pt``,
            ``num_graphs``), or any module.
        activation: Optional callable :math:`\sigma` applied to ``x`` after every
            layer (default: none).

    Shapes:
        - **input:** ``Data``/``Batch`` with ``x`` :math:`(N, F)` and whatever the
          layers need (``edge_index`` :math:`(2, E)`, ``pos`` :math:`(N, 2)`, ``pt`` :math:`(N,)`, ...)
        - **output:** what the head returns (:math:`(N, K)`, :math:`(E, K)` or :math:`(B, K)`)
    """

    def __init__(self, encoder_layers: Sequence[nn.Module], head: nn.Module,
                 activation: Optional[Callable[[Tensor], Tensor]] = None) -> None:
        super().__init__()
        layers = list(encoder_layers)
        for i, layer in enumerate(layers):
            if not isinstance(layer, nn.Module):
                raise ValueError(f"encoder_layers[{i}] must be an nn.Module, got {type(layer).__name__}")
        if not isinstance(head, nn.Module):
            raise ValueError(f"head must be an nn.Module, got {type(head).__name__}")
        if activation is not None and not callable(activation):
            raise ValueError("activation must be callable or None")
        self.layers = nn.ModuleList(layers)
        self.head = head
        self.activation = activation
        self._routes = [_route(m, f"layer {i} ({m.__class__.__name__})") for i, m in enumerate(layers)]
        self._head_route = _route(head, f"head ({head.__class__.__name__})")

    @staticmethod
    def _initial_state(data: Any) -> dict[str, Any]:
        x = getattr(data, "x", None)
        if not isinstance(x, Tensor):
            raise InputShapeError("GraphNet needs data.x (num_nodes, features)")
        check_ndim(x, 2, "data.x", "(num_nodes, features)")
        check_nonempty(x.size(0), "graph")
        state: dict[str, Any] = {k: getattr(data, k, None) for k in _UPDATABLE}
        if state["batch"] is None:
            state["batch"] = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
            state["num_graphs"] = 1
        else:
            n = getattr(data, "num_graphs", None)
            state["num_graphs"] = int(n) if n is not None else int(state["batch"].max()) + 1
        return state

    def _update(self, state: dict[str, Any], out: Any, where: str) -> None:
        if isinstance(out, Tensor):
            state["x"] = out
            return
        fields = getattr(out, "_fields", None)
        if fields is not None:  # NamedTuple
            new = {k: getattr(out, k) for k in fields if k in _UPDATABLE}
        elif hasattr(out, "keys") and callable(out.keys):  # Data / dict
            new = {k: out[k] for k in out.keys() if k in _UPDATABLE}
        else:
            raise TypeError(f"{where} returned {type(out).__name__}; expected a Tensor, a NamedTuple or Data")
        if not isinstance(new.get("x"), Tensor):
            raise TypeError(f"{where} returned no x")
        n_old, n_new = state["x"].size(0), new["x"].size(0)
        if n_new != n_old:
            for key in ("pos", "pt", "batch"):  # stale node attributes
                if key not in new:
                    state[key] = None
            if "edge_index" not in new:
                state["edge_index"] = state["edge_attr"] = None
            if new.get("batch") is None:
                raise InputShapeError(f"{where} changed the number of nodes but returned no batch")
        state.update({k: v for k, v in new.items()})

    def encode(self, data: Any) -> dict[str, Any]:
        """Run the layers; return the final graph state (``x``, ``edge_index``,
        ``edge_attr``, ``pos``, ``pt``, ``batch``, ``num_graphs``)."""
        state = self._initial_state(data)
        for i, (layer, route) in enumerate(zip(self.layers, self._routes)):
            where = f"layer {i} ({layer.__class__.__name__})"
            self._update(state, _call(layer, route, state, where), where)
            if self.activation is not None:
                state["x"] = self.activation(state["x"])
        return state

    def embed(self, data: Any) -> Tensor:
        """Node embeddings after the last layer (before the head), shape :math:`(N', F')`."""
        return self.encode(data)["x"]

    def reset_parameters(self) -> None:
        """Reset every layer and the head (``reset_parameters`` where a module has one, else its children)."""
        for layer in self.layers:
            reset(layer)
        reset(self.head)

    def forward(self, data: Any) -> Any:
        """Run the layers and the head."""
        state = self.encode(data)
        return _call(self.head, self._head_route, state, f"head ({self.head.__class__.__name__})")

    def __repr__(self) -> str:
        inner = ", ".join(repr(m) for m in self.layers)
        return f"{self.__class__.__name__}([{inner}], head={self.head!r})"


__all__ = ["GraphNet", "STATE_KEYS", "ALIASES"]
