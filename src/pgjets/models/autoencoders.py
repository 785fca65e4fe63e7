r"""Autoencoders for jet graphs and jet sets, built from :mod:`pgjets.nn`.

- :class:`GraphAutoencoder`: a node-level graph autoencoder (Kipf & Welling,
  2016) with GraphSAGE-mean layers in place of their GCN: the encoder on a
  kNN graph of ``pos`` gives one latent vector per particle; a per-node MLP
  reconstructs the features and an inner-product decoder
  :math:`\sigma(\mathbf{z}_i^\top \mathbf{z}_j)` reconstructs the kNN adjacency.
- :class:`JetVAE`: a graph-level variational autoencoder (Kingma & Welling,
  2014) with a permutation-invariant Deep Sets encoder and an MLP decoder to
  a fixed-size set of ``n_out`` particles; the reconstruction term is a
  permutation-invariant set loss (Hungarian matching or MMD).
- :class:`ConditionalVAE`: the cVAE baseline for set-to-set generation
  (Sohn et al., 2015): the condition is the pooled embedding of a truth set,
  the target set is generated from :math:`(\mathbf{z}, \mathbf{c})`.

Jets follow the jet graph convention of ``CONTRIBUTING.md`` (``x``, ``pos``,
``batch``); only ``x`` and ``batch`` are needed by the VAEs, ``pos`` by the
graph autoencoder.
"""

from __future__ import annotations

import random
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import batched_negative_sampling, to_undirected

from .._checks import (
    batch_vector,
    check_finite,
    check_ndim,
    check_nonempty,
    check_positive_int,
)
from ..errors import InputShapeError
from ..nn.deep_sets_pool import DeepSetsPool
from ..nn.gcn import SAGEMeanConv
from ..nn.heads import mlp
from ..nn.set_losses import hungarian_loss, mmd_loss
from ..ops.knn import knn_graph

_RECON = ("hungarian", "mmd")


# --------------------------------------------------------------- helpers
def gaussian_kl(mu: Tensor, logvar: Tensor, reduction: str = "mean") -> Tensor:
    r"""KL divergence of :math:`\mathcal{N}(\boldsymbol\mu, \mathrm{diag}\,e^{\log\boldsymbol\sigma^2})` from :math:`\mathcal{N}(0, I)`.

    .. math::
        D_{\mathrm{KL}}\big(q \,\|\, \mathcal{N}(0, I)\big)
        = \frac{1}{2}\sum_{d=1}^{D}\left(\mu_d^2 + \sigma_d^2 - 1 - \log\sigma_d^2\right) \ge 0,

    which is 0 exactly for :math:`\boldsymbol\mu = 0,\ \log\boldsymbol\sigma^2 = 0`.

    Args:
        mu: Posterior means, shape ``(B, D)``.
        logvar: Posterior log-variances :math:`\log\sigma^2`, shape ``(B, D)``.
        reduction: ``"mean"`` over the ``B`` rows, ``"sum"`` or ``"none"`` (``(B,)``).

    Shapes:
        - **input:** :math:`(B, D)`, :math:`(B, D)`
        - **output:** :math:`()` or :math:`(B,)`
    """
    check_ndim(mu, 2, "mu", "(batch, latent)")
    if logvar.shape != mu.shape:
        raise InputShapeError(f"logvar must have the shape of mu {tuple(mu.shape)}, got {tuple(logvar.shape)}")
    check_finite(mu, "mu")
    check_finite(logvar, "logvar")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)
    if reduction == "mean":
        return kl.mean()
    if reduction == "sum":
        return kl.sum()
    return kl


def reparameterize(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
    r"""Draw :math:`\mathbf{z} = \boldsymbol\mu + e^{\frac12\log\boldsymbol\sigma^2}\odot\boldsymbol\epsilon`, :math:`\boldsymbol\epsilon \sim \mathcal{N}(0, I)`.

    The draw is differentiable with respect to ``mu`` and ``logvar`` (the
    reparameterisation trick); the noise comes from ``generator`` if given.

    Shapes:
        - **input:** :math:`(B, D)`, :math:`(B, D)`
        - **output:** :math:`(B, D)`
    """
    if logvar.shape != mu.shape:
        raise InputShapeError(f"logvar must have the shape of mu {tuple(mu.shape)}, got {tuple(logvar.shape)}")
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
    return mu + torch.exp(0.5 * logvar) * eps


def _unpack(data: Any, in_channels: int, name: str) -> tuple[Tensor, Tensor, int]:
    """Checked ``(x, batch, num_graphs)`` of a PyG ``Data``/``Batch``."""
    x = getattr(data, "x", None)
    if not isinstance(x, Tensor):
        raise InputShapeError(f"{name} must have a tensor attribute x (num_nodes, features)")
    check_ndim(x, 2, f"{name}.x", "(num_nodes, features)")
    check_nonempty(x.size(0), name)
    if x.size(1) != in_channels:
        raise InputShapeError(f"{name}.x has {x.size(1)} features, the model expects {in_channels}")
    check_finite(x, f"{name}.x")
    batch = batch_vector(getattr(data, "batch", None), x.size(0), x.device)
    num_graphs = int(batch.max()) + 1
    return x, batch, num_graphs


def _set_recon(pred: Tensor, pred_batch: Tensor, target: Tensor, target_batch: Tensor, recon: str,
               unmatched_cost: float) -> Tensor:
    if recon == "hungarian":
        return hungarian_loss(pred, target, pred_batch, target_batch, cost="l2", allow_unequal=True,
                              unmatched_cost=unmatched_cost)
    return mmd_loss(pred, target, x_batch=pred_batch, y_batch=target_batch)


# ------------------------------------------------------ graph autoencoder
class GraphAutoencoder(nn.Module):
    r"""Graph autoencoder with a feature decoder and an inner-product edge decoder.

    The encoder builds the kNN graph :math:`\mathcal{E}` of ``pos`` per jet
    (``k`` neighbours) and applies GraphSAGE-mean layers
    (:class:`~pgjets.nn.gcn.SAGEMeanConv`; Kipf & Welling use GCN layers), the last one linear:

    .. math::
        \mathbf{Z} = \mathrm{SAGE}_L\circ\cdots\circ\mathrm{SAGE}_1(\mathbf{X}, \mathcal{E})
        \in \mathbb{R}^{N\times d}.

    Two decoders read the per-node latents: a per-node MLP
    :math:`\hat{\mathbf{x}}_i = g(\mathbf{z}_i)` and the inner-product
    decoder of Kipf & Welling (2016)

    .. math::
        \hat{A}_{ij} = \sigma(\mathbf{z}_i^\top \mathbf{z}_j).

    The loss is the feature mean squared error plus the binary cross
    entropy of the edge decoder on the kNN edges :math:`\mathcal{E}`
    (positives) and as many sampled non-edges :math:`\mathcal{E}^-` of the
    same jets (negative sampling)

    .. math::
        \mathcal{L} = \frac{1}{NF}\sum_{i}\lVert\hat{\mathbf{x}}_i - \mathbf{x}_i\rVert^2
        + \lambda\Big(-\frac{1}{|\mathcal{E}|}\sum_{(j,i)\in\mathcal{E}} \log\hat{A}_{ij}
        - \frac{1}{|\mathcal{E}^-|}\sum_{(j,i)\in\mathcal{E}^-} \log(1-\hat{A}_{ij})\Big).

    Args:
        in_channels: Node feature size :math:`F`.
        latent: Latent size :math:`d` per node.
        hidden: Hidden size of the graph and MLP layers.
        k: Neighbours of the kNN graph (jets with fewer particles use all of them).
        num_layers: :class:`~pgjets.nn.gcn.SAGEMeanConv` layers (>= 1).
        edge_weight: Weight :math:`\lambda` of the edge term.

    Shapes:
        - **input:** ``data.x`` :math:`(N, F)`, ``data.pos`` :math:`(N, 2)`, ``data.batch`` :math:`(N,)`
        - **output:** :meth:`forward` returns ``z`` :math:`(N, d)`, ``x_hat`` :math:`(N, F)`,
          ``edge_index`` :math:`(2, E)`
    """

    def __init__(self, in_channels: int, latent: int = 16, hidden: int = 64, k: int = 8,
                 num_layers: int = 2, edge_weight: float = 1.0) -> None:
        super().__init__()
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.latent = check_positive_int(latent, "latent")
        self.hidden = check_positive_int(hidden, "hidden")
        self.k = check_positive_int(k, "k")
        num_layers = check_positive_int(num_layers, "num_layers")
        self.edge_weight = float(edge_weight)
        sizes = [in_channels] + [hidden] * (num_layers - 1) + [latent]
        self.convs = nn.ModuleList(
            SAGEMeanConv(sizes[i], sizes[i + 1], act="relu" if i < num_layers - 1 else None)
            for i in range(num_layers)
        )
        self.feature_decoder = mlp([latent, hidden, in_channels])

    def graph(self, pos: Tensor, batch: Tensor | None = None) -> Tensor:
        """The kNN graph of ``pos`` used as encoder input and edge target, ``(2, E)``."""
        check_ndim(pos, 2, "pos", "(num_nodes, 2)")
        check_finite(pos, "pos")
        return knn_graph(pos, self.k, batch=batch, loop=False)

    def encode(self, x: Tensor, edge_index: Tensor) -> Tensor:
        """Per-node latents :math:`\\mathbf{Z}` ``(N, d)``."""
        h = x
        for conv in self.convs:
            h = conv(h, edge_index)
        return h

    def decode_features(self, z: Tensor) -> Tensor:
        """Reconstructed node features ``(N, F)``."""
        return self.feature_decoder(z)

    @staticmethod
    def decode_edges(z: Tensor, edge_index: Tensor, sigmoid: bool = True) -> Tensor:
        r"""Edge scores :math:`\sigma(\mathbf{z}_j^\top\mathbf{z}_i)` (logits if ``sigmoid=False``), ``(E,)``."""
        check_ndim(edge_index, 2, "edge_index", "(2, num_edges)")
        logits = (z[edge_index[0]] * z[edge_index[1]]).sum(-1)
        return torch.sigmoid(logits) if sigmoid else logits

    def forward(self, data: Any) -> dict[str, Tensor]:
        """Encode and decode a jet batch; see the class docstring."""
        x, batch, _ = _unpack(data, self.in_channels, "data")
        pos = getattr(data, "pos", None)
        if not isinstance(pos, Tensor):
            raise InputShapeError("data must have a tensor attribute pos (num_nodes, 2)")
        check_ndim(pos, 2, "pos", "(num_nodes, 2)")
        if pos.size(0) != x.size(0):
            raise InputShapeError(f"pos has {pos.size(0)} rows but x has {x.size(0)} nodes")
        edge_index = self.graph(pos, batch)
        z = self.encode(x, edge_index)
        return {"z": z, "x_hat": self.decode_features(z), "edge_index": edge_index, "batch": batch}

    def loss(self, data: Any) -> dict[str, Tensor]:
        r"""Feature MSE + weighted edge BCE with negative sampling (see the class docstring).

        The decoder :math:`\sigma(\mathbf{z}_i \cdot \mathbf{z}_j)` is symmetric, so the
        positive edges are the kNN graph made undirected (a kNN edge is often one-way),
        and negatives are drawn from the pairs joined in neither direction.  They are
        drawn from the global torch RNG (PyG's sampler uses Python's ``random`` for small
        graphs: it is seeded from torch here, and its state restored), so
        ``torch.manual_seed`` makes the loss reproducible.
        Returns a dict with ``loss``, ``feature`` and ``edge``.
        """
        out = self(data)
        z, ei, batch = out["z"], out["edge_index"], out["batch"]
        feature = F.mse_loss(out["x_hat"], data.x)
        if ei.size(1) == 0:
            edge = z.new_zeros(())
        else:
            ei = to_undirected(ei, num_nodes=z.size(0))
            state = random.getstate()
            try:
                random.seed(int(torch.randint(0, 2**62, (1,))))
                neg = batched_negative_sampling(ei, batch, num_neg_samples=None)
            finally:
                random.setstate(state)
            pos_logit = self.decode_edges(z, ei, sigmoid=False)
            edge = F.binary_cross_entropy_with_logits(pos_logit, torch.ones_like(pos_logit))
            if neg.size(1) > 0:
                neg_logit = self.decode_edges(z, neg, sigmoid=False)
                edge = edge + F.binary_cross_entropy_with_logits(neg_logit, torch.zeros_like(neg_logit))
        return {"loss": feature + self.edge_weight * edge, "feature": feature, "edge": edge}


# ----------------------------------------------------------------- JetVAE
class _SetEncoder(nn.Module):
    r"""Deep Sets encoder :math:`\rho\big(\frac1n\sum_i\phi(\mathbf{x}_i)\big)`."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int) -> None:
        super().__init__()
        self.phi = mlp([in_channels, hidden, hidden])
        self.pool = DeepSetsPool("mean")
        self.rho = mlp([hidden, hidden, out_channels])

    def forward(self, x: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
        return self.rho(self.pool(torch.relu(self.phi(x)), batch, dim_size=num_graphs))


def _set_vae_settings(module: nn.Module, in_channels: int, latent: int, hidden: int, n_out: int,
                      beta: float, recon: str, unmatched_cost: float) -> None:
    """Validate and store the settings :class:`JetVAE` and :class:`ConditionalVAE` share."""
    if recon not in _RECON:
        raise ValueError(f"recon must be one of {_RECON}, got {recon!r}")
    if not 0 <= beta < float("inf"):
        raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
    if not 0 <= unmatched_cost < float("inf"):
        raise ValueError(f"unmatched_cost must be a finite number >= 0, got {unmatched_cost!r}")
    module.in_channels = check_positive_int(in_channels, "in_channels")
    module.latent = check_positive_int(latent, "latent")
    module.hidden = check_positive_int(hidden, "hidden")
    module.n_out = check_positive_int(n_out, "n_out")
    module.beta = float(beta)
    module.recon = recon
    module.unmatched_cost = float(unmatched_cost)


class JetVAE(nn.Module):
    r"""Graph-level VAE that encodes a jet to one latent vector and decodes a fixed-size set.

    Encoder (permutation invariant, Deep Sets):

    .. math::
        (\boldsymbol\mu, \log\boldsymbol\sigma^2) = \rho\Big(\frac{1}{n}\sum_{i=1}^{n}\phi(\mathbf{x}_i)\Big),
        \qquad \mathbf{z} = \boldsymbol\mu + \boldsymbol\sigma\odot\boldsymbol\epsilon,\
        \boldsymbol\epsilon\sim\mathcal{N}(0, I).

    Decoder: an MLP :math:`\mathbb{R}^d \to \mathbb{R}^{n_{out}\times F}`
    giving a set of ``n_out`` particles. The loss (negative ELBO, with a
    :math:`\beta` weight as in :math:`\beta`-VAE) is

    .. math::
        \mathcal{L} = \mathcal{L}_{\mathrm{set}}(\hat{X}, X)
        + \beta\,\frac{1}{B}\sum_b D_{\mathrm{KL}}\big(q(\mathbf{z}_b\,|\,X_b)\,\|\,\mathcal{N}(0, I)\big)

    where :math:`\mathcal{L}_{\mathrm{set}}` is
    :func:`~pgjets.nn.hungarian_loss` (squared distance of
    the optimal matching; jets with :math:`n \ne n_{out}` pay
    ``unmatched_cost`` per unmatched particle) or
    :func:`~pgjets.nn.mmd_loss` per jet, and the KL term is
    :func:`gaussian_kl`.  Scales: the Hungarian term is a mean per *particle*
    (total matched cost over :math:`\sum_b \max(n_{out}, n_b)`), the MMD term and
    the KL term means per *jet*; so with ``recon="hungarian"`` the loss is the
    negative ELBO per particle only up to the KL weight, which acts as about
    :math:`n_{out}\,\beta` per jet (choose :math:`\beta` accordingly).

    Args:
        in_channels: Particle feature size :math:`F`.
        latent: Latent size :math:`d`.
        hidden: Hidden size.
        n_out: Particles per decoded jet.
        beta: KL weight :math:`\beta`.
        recon: ``"hungarian"`` or ``"mmd"``.
        unmatched_cost: Hungarian penalty per unmatched particle.

    Shapes:
        - **input:** ``data.x`` :math:`(N, F)`, ``data.batch`` :math:`(N,)`
        - **output:** dict with ``loss``, ``recon``, ``kl`` :math:`()`, ``mu``, ``logvar``
          :math:`(B, d)`, ``x_hat`` :math:`(B\,n_{out}, F)`, ``x_hat_batch`` :math:`(B\,n_{out},)`
    """

    def __init__(self, in_channels: int, latent: int = 8, hidden: int = 64, n_out: int = 30,
                 beta: float = 1.0, recon: str = "hungarian", unmatched_cost: float = 1.0) -> None:
        super().__init__()
        _set_vae_settings(self, in_channels, latent, hidden, n_out, beta, recon, unmatched_cost)
        self.encoder = _SetEncoder(in_channels, hidden, 2 * latent)
        self.decoder = mlp([latent, hidden, hidden, n_out * in_channels])

    def encode(self, x: Tensor, batch: Tensor | None = None, num_graphs: int | None = None
               ) -> tuple[Tensor, Tensor]:
        """Posterior parameters ``(mu, logvar)``, each ``(B, d)``."""
        b = batch_vector(batch, x.size(0), x.device)
        nb = int(b.max()) + 1 if num_graphs is None else int(num_graphs)
        mu, logvar = self.encoder(x, b, nb).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """Decoded particles ``(B * n_out, F)`` and their batch vector."""
        check_ndim(z, 2, "z", "(batch, latent)")
        if z.size(1) != self.latent:
            raise InputShapeError(f"z has {z.size(1)} columns, the model's latent size is {self.latent}")
        out = self.decoder(z).view(-1, self.in_channels)
        batch = torch.arange(z.size(0), device=z.device).repeat_interleave(self.n_out)
        return out, batch

    def forward(self, data: Any, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Negative ELBO of a jet batch; see the class docstring."""
        x, batch, nb = _unpack(data, self.in_channels, "data")
        mu, logvar = self.encode(x, batch, nb)
        z = reparameterize(mu, logvar, generator)
        x_hat, x_hat_batch = self.decode(z)
        rec = _set_recon(x_hat, x_hat_batch, x, batch, self.recon, self.unmatched_cost)
        kl = gaussian_kl(mu, logvar)
        return {"loss": rec + self.beta * kl, "recon": rec, "kl": kl, "mu": mu, "logvar": logvar,
                "x_hat": x_hat, "x_hat_batch": x_hat_batch}

    @torch.no_grad()
    def sample(self, num: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Draw ``num`` jets from the prior: particles ``(num * n_out, F)`` and batch vector."""
        num = check_positive_int(num, "num")
        p = next(self.parameters())
        z = torch.randn(num, self.latent, generator=generator, dtype=p.dtype, device=p.device)
        return self.decode(z)


# ---------------------------------------------------------------- cVAE
class ConditionalVAE(nn.Module):
    r"""Conditional VAE baseline for set-to-set generation (e.g. truth jet -> smeared jet).

    A Deep Sets encoder turns the condition set :math:`C` into an embedding
    :math:`\mathbf{c} = \rho_c\big(\frac{1}{m}\sum_j\phi_c(\mathbf{c}_j)\big)`.
    The posterior sees the target set :math:`X` and :math:`\mathbf{c}`,

    .. math::
        (\boldsymbol\mu, \log\boldsymbol\sigma^2) =
        h\Big(\Big[\rho\big(\tfrac{1}{n}\textstyle\sum_i\phi(\mathbf{x}_i)\big),\ \mathbf{c}\Big]\Big),

    the decoder maps :math:`[\mathbf{z}, \mathbf{c}]` to ``n_out`` particles.
    The prior is the fixed :math:`\mathcal{N}(0, I)` (not a learned
    :math:`p(\mathbf{z}|\mathbf{c})`), so the loss is

    .. math::
        \mathcal{L} = \mathcal{L}_{\mathrm{set}}(\hat{X}, X)
        + \beta\,D_{\mathrm{KL}}\big(q(\mathbf{z}\,|\,X, C)\,\|\,\mathcal{N}(0, I)\big)

    with :math:`\mathcal{L}_{\mathrm{set}}` and the KL term as in
    :class:`JetVAE`; at generation time :math:`\mathbf{z}\sim\mathcal{N}(0, I)`.

    With ``given_counts=True`` the number :math:`n_b` of particles of every set is
    given (the seed's :math:`q(X \mid C, N)`): the first :math:`\min(n_b, n_{out})`
    outputs of jet :math:`b` are its set, in the loss as in :meth:`sample`
    (``counts=``).  Without it every set has ``n_out`` outputs, and a Hungarian
    loss with fewer targets matches any subset of them, so that keeping the first
    :math:`n_b` at generation would keep outputs the loss never trained.

    Args:
        in_channels: Target particle feature size :math:`F`.
        cond_channels: Condition particle feature size.
        latent: Latent size :math:`d`.
        hidden: Hidden size (also the size of :math:`\mathbf{c}`).
        n_out: Particles per generated set.
        beta: KL weight.
        recon: ``"hungarian"`` or ``"mmd"``.
        unmatched_cost: Hungarian penalty per unmatched particle.
        given_counts: The set sizes are given (see above).

    Shapes:
        - **input:** ``target.x`` :math:`(N, F)`, ``cond.x`` :math:`(M, F_c)`, same number
          of graphs :math:`B`
        - **output:** dict with ``loss``, ``recon``, ``kl`` :math:`()`, ``mu``, ``logvar``
          :math:`(B, d)`, ``x_hat`` :math:`(B\,n_{out}, F)`, ``x_hat_batch``
    """

    def __init__(self, in_channels: int, cond_channels: int, latent: int = 8, hidden: int = 64,
                 n_out: int = 30, beta: float = 1.0, recon: str = "hungarian",
                 unmatched_cost: float = 1.0, given_counts: bool = False) -> None:
        super().__init__()
        _set_vae_settings(self, in_channels, latent, hidden, n_out, beta, recon, unmatched_cost)
        self.given_counts = bool(given_counts)
        self.cond_channels = check_positive_int(cond_channels, "cond_channels")
        self.cond_encoder = _SetEncoder(cond_channels, hidden, hidden)
        self.target_encoder = _SetEncoder(in_channels, hidden, hidden)
        self.posterior = mlp([2 * hidden, hidden, 2 * latent])
        self.decoder = mlp([latent + hidden, hidden, hidden, n_out * in_channels])

    def embed_condition(self, cond: Any) -> Tensor:
        """Condition embedding :math:`\\mathbf{c}` ``(B, hidden)``."""
        c, cb, nb = _unpack(cond, self.cond_channels, "cond")
        return self.cond_encoder(c, cb, nb)

    def decode(self, z: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        """Particles ``(B * n_out, F)`` and batch vector from latents ``z`` and embeddings ``c``."""
        check_ndim(z, 2, "z", "(batch, latent)")
        if z.size(0) != c.size(0) or z.size(1) != self.latent:
            raise InputShapeError(f"z must be ({c.size(0)}, {self.latent}), got {tuple(z.shape)}")
        out = self.decoder(torch.cat([z, c], dim=-1)).view(-1, self.in_channels)
        batch = torch.arange(z.size(0), device=z.device).repeat_interleave(self.n_out)
        return out, batch

    def forward(self, target: Any, cond: Any, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Negative ELBO of ``target`` given ``cond``; see the class docstring."""
        x, xb, nb = _unpack(target, self.in_channels, "target")
        c = self.embed_condition(cond)
        if c.size(0) != nb:
            raise InputShapeError(f"target has {nb} graphs but cond has {c.size(0)}")
        t = self.target_encoder(x, xb, nb)
        mu, logvar = self.posterior(torch.cat([t, c], dim=-1)).chunk(2, dim=-1)
        z = reparameterize(mu, logvar, generator)
        x_hat, x_hat_batch = self.decode(z, c)
        if self.given_counts:  # the first n_b outputs are jet b's set
            x_hat, x_hat_batch = self._first(x_hat, torch.bincount(xb, minlength=nb))
        rec = _set_recon(x_hat, x_hat_batch, x, xb, self.recon, self.unmatched_cost)
        kl = gaussian_kl(mu, logvar)
        return {"loss": rec + self.beta * kl, "recon": rec, "kl": kl, "mu": mu, "logvar": logvar,
                "x_hat": x_hat, "x_hat_batch": x_hat_batch}

    def _first(self, x_hat: Tensor, counts: Tensor) -> tuple[Tensor, Tensor]:
        """The first ``min(counts[b], n_out)`` of the ``n_out`` outputs of every jet, and their batch vector."""
        c = counts.clamp_max(self.n_out)
        keep = (torch.arange(self.n_out, device=x_hat.device).unsqueeze(0) < c.unsqueeze(1)).reshape(-1)
        return x_hat[keep], torch.arange(c.numel(), device=x_hat.device).repeat_interleave(c)

    @torch.no_grad()
    def sample(self, cond: Any, generator: torch.Generator | None = None,
               counts: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
        """Generate one set per condition graph with :math:`\\mathbf{z}\\sim\\mathcal{N}(0, I)`.

        ``counts`` (one per graph): keep the first ``min(counts[b], n_out)`` outputs of jet
        :math:`b` (needed with ``given_counts=True``); without, all ``n_out``.
        """
        c = self.embed_condition(cond)
        z = torch.randn(c.size(0), self.latent, generator=generator, dtype=c.dtype, device=c.device)
        x_hat, batch = self.decode(z, c)
        if counts is None:
            if self.given_counts:
                raise InputShapeError("this ConditionalVAE was trained with given_counts=True: pass counts")
            return x_hat, batch
        counts = torch.as_tensor(counts, device=x_hat.device).long().reshape(-1)
        if counts.numel() != c.size(0):
            raise InputShapeError(f"counts must hold one size per condition graph ({c.size(0)}), got {counts.numel()}")
        return self._first(x_hat, counts)


__all__ = ["ConditionalVAE", "GraphAutoencoder", "JetVAE", "gaussian_kl", "reparameterize"]
