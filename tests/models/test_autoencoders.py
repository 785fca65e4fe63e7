"""Tests of pgjets.models.autoencoders (graph autoencoder, JetVAE, conditional VAE)."""

from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.data import Batch, Data

from pgjets.errors import EmptyGraphError, InputShapeError, NonFiniteError
from pgjets.models import ConditionalVAE, GraphAutoencoder, JetVAE, gaussian_kl, reparameterize


def clustered_jets(num_jets: int = 8, n: int = 20, seed: int = 0) -> Batch:
    """Point clouds made of 3 tight, well-separated clusters; x = (pos, |pos|)."""
    g = torch.Generator().manual_seed(seed)
    data = []
    for _ in range(num_jets):
        centres = torch.randn(3, 2, generator=g) * 2.0
        pos = centres[torch.randint(0, 3, (n,), generator=g)] + 0.1 * torch.randn(n, 2, generator=g)
        x = torch.cat([pos, pos.norm(dim=1, keepdim=True)], dim=1)
        data.append(Data(x=x, pos=pos))
    return Batch.from_data_list(data)


def gaussian_sets(num_jets: int = 16, n: int = 10, f: int = 3, seed: int = 0) -> Batch:
    """Sets whose particles scatter around a per-jet offset (a 1-D latent structure)."""
    g = torch.Generator().manual_seed(seed)
    data = []
    for _ in range(num_jets):
        shift = torch.randn(1, f, generator=g)
        x = shift + 0.3 * torch.randn(n, f, generator=g)
        data.append(Data(x=x, pos=x[:, :2].clone()))
    return Batch.from_data_list(data)


# ----------------------------------------------------------------- KL / reparam
def test_kl_hand_case_and_zero() -> None:
    mu = torch.zeros(3, 4)
    logvar = torch.zeros(3, 4)
    assert float(gaussian_kl(mu, logvar)) == 0.0
    # mu = (1, 2), logvar = (log 2, 0): 0.5 * [(1 + 2 - 1 - log 2) + (4 + 1 - 1 - 0)]
    mu = torch.tensor([[1.0, 2.0]])
    logvar = torch.tensor([[math.log(2.0), 0.0]])
    expected = 0.5 * ((1 + 2 - 1 - math.log(2.0)) + 4.0)
    assert float(gaussian_kl(mu, logvar)) == pytest.approx(expected, rel=1e-6)
    assert gaussian_kl(mu, logvar, reduction="none").shape == (1,)


def test_kl_nonnegative_random() -> None:
    g = torch.Generator().manual_seed(1)
    mu = 3 * torch.randn(50, 6, generator=g)
    logvar = 3 * torch.randn(50, 6, generator=g)
    assert bool((gaussian_kl(mu, logvar, reduction="none") >= 0).all())


def test_kl_bad_input() -> None:
    with pytest.raises(InputShapeError):
        gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(NonFiniteError):
        gaussian_kl(torch.tensor([[float("nan")]]), torch.zeros(1, 1))
    with pytest.raises(ValueError):
        gaussian_kl(torch.zeros(1, 1), torch.zeros(1, 1), reduction="max")


def test_reparameterize_differentiable_and_seeded() -> None:
    mu = torch.randn(4, 3, requires_grad=True)
    logvar = torch.randn(4, 3, requires_grad=True)
    z = reparameterize(mu, logvar, torch.Generator().manual_seed(0))
    z.sum().backward()
    assert torch.allclose(mu.grad, torch.ones_like(mu))
    assert logvar.grad is not None and bool((logvar.grad.abs() > 0).all())
    z2 = reparameterize(mu, logvar, torch.Generator().manual_seed(0))
    assert torch.equal(z, z2)
    # zero variance -> exactly mu
    z0 = reparameterize(mu.detach(), torch.full((4, 3), -1e4))
    assert torch.allclose(z0, mu.detach())


# ----------------------------------------------------------- graph autoencoder
def test_gae_shapes_and_errors() -> None:
    torch.manual_seed(0)
    b = clustered_jets(3, 12)
    m = GraphAutoencoder(3, latent=5, hidden=16, k=4)
    out = m(b)
    assert out["z"].shape == (36, 5)
    assert out["x_hat"].shape == (36, 3)
    assert out["edge_index"].shape == (2, 36 * 4)
    # kNN edges never cross jets
    ei = out["edge_index"]
    assert torch.equal(b.batch[ei[0]], b.batch[ei[1]])
    scores = m.decode_edges(out["z"], ei)
    assert bool(((scores >= 0) & (scores <= 1)).all())
    losses = m.loss(b)
    assert set(losses) == {"loss", "feature", "edge"} and bool(torch.isfinite(losses["loss"]))
    with pytest.raises(InputShapeError):
        m(Data(x=torch.randn(5, 4), pos=torch.randn(5, 2)))
    with pytest.raises(InputShapeError):
        m(Data(x=torch.randn(5, 3)))  # no pos
    with pytest.raises(NonFiniteError):
        m(Data(x=torch.full((5, 3), float("nan")), pos=torch.randn(5, 2)))
    with pytest.raises(EmptyGraphError):
        m(Data(x=torch.zeros(0, 3), pos=torch.zeros(0, 2)))
    with pytest.raises(ValueError):
        GraphAutoencoder(3, k=0)


def test_gae_edge_decoder_learns_knn_adjacency() -> None:
    torch.manual_seed(0)
    b = clustered_jets(8, 20, seed=3)
    m = GraphAutoencoder(3, latent=8, hidden=32, k=4)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    first = None
    for _ in range(50):
        losses = m.loss(b)
        first = losses["loss"].item() if first is None else first
        opt.zero_grad()
        losses["loss"].backward()
        opt.step()
    assert losses["loss"].item() < 0.5 * first
    m.eval()
    with torch.no_grad():
        out = m(b)
        z, ei = out["z"], out["edge_index"]
        true_scores = m.decode_edges(z, ei)
        # random pairs inside the same jet that are not kNN edges
        g = torch.Generator().manual_seed(7)
        n = b.num_nodes
        src = torch.randint(0, n, (2000,), generator=g)
        dst = (src // 20) * 20 + torch.randint(0, 20, (2000,), generator=g)
        adj = torch.zeros(n, n, dtype=torch.bool)
        adj[ei[0], ei[1]] = True
        adj[ei[1], ei[0]] = True
        keep = ~adj[src, dst] & (src != dst)
        neg_scores = m.decode_edges(z, torch.stack([src[keep], dst[keep]]))
    assert keep.sum() > 500
    assert float(true_scores.mean()) > float(neg_scores.mean()) + 0.1


# ----------------------------------------------------------------- JetVAE
def test_jetvae_shapes_sample_and_errors() -> None:
    torch.manual_seed(0)
    b = gaussian_sets(4, 7, 3)
    m = JetVAE(3, latent=5, hidden=16, n_out=6)
    out = m(b, generator=torch.Generator().manual_seed(0))
    assert out["mu"].shape == (4, 5) and out["logvar"].shape == (4, 5)
    assert out["x_hat"].shape == (24, 3)
    assert torch.equal(out["x_hat_batch"], torch.arange(4).repeat_interleave(6))
    assert out["loss"].dim() == 0 and out["kl"].item() >= 0
    x, batch = m.sample(5, torch.Generator().manual_seed(1))
    assert x.shape == (30, 3) and batch.shape == (30,) and int(batch.max()) == 4
    x2, _ = m.sample(5, torch.Generator().manual_seed(1))
    assert torch.equal(x, x2)
    mmd = JetVAE(3, latent=5, hidden=16, n_out=6, recon="mmd")(b)
    assert bool(torch.isfinite(mmd["loss"]))
    with pytest.raises(ValueError):
        JetVAE(3, recon="chamfer")
    with pytest.raises(InputShapeError):
        m(Data(x=torch.randn(4, 2)))
    with pytest.raises(EmptyGraphError):
        m(Data(x=torch.zeros(0, 3)))
    with pytest.raises(InputShapeError):
        m.decode(torch.zeros(2, 4))


def test_jetvae_encoder_permutation_invariant() -> None:
    torch.manual_seed(0)
    b = gaussian_sets(3, 9, 3)
    m = JetVAE(3, latent=4, hidden=16, n_out=5).eval()
    perm = torch.cat([torch.randperm(9) + 9 * j for j in range(3)])
    mu, logvar = m.encode(b.x, b.batch)
    mu_p, logvar_p = m.encode(b.x[perm], b.batch[perm])
    assert (mu - mu_p).abs().max() < 1e-5
    assert (logvar - logvar_p).abs().max() < 1e-5


def test_jetvae_loss_decreases() -> None:
    torch.manual_seed(0)
    b = gaussian_sets(16, 10, 3)
    m = JetVAE(3, latent=4, hidden=32, n_out=10, beta=0.1)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(50):
        out = m(b, generator=g)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(out["loss"].item())
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5


# ---------------------------------------------------------------- cVAE
def test_cvae_shapes_and_learning() -> None:
    torch.manual_seed(0)
    truth = gaussian_sets(12, 8, 3, seed=1)
    g = torch.Generator().manual_seed(2)
    smeared = Batch.from_data_list([
        Data(x=d.x[:, :2] + 0.05 * torch.randn(d.num_nodes, 2, generator=g)) for d in truth.to_data_list()
    ])
    m = ConditionalVAE(2, 3, latent=4, hidden=32, n_out=8, beta=0.1)
    out = m(smeared, truth)
    assert out["x_hat"].shape == (12 * 8, 2) and out["mu"].shape == (12, 4)
    assert out["kl"].item() >= 0
    x, batch = m.sample(truth, torch.Generator().manual_seed(0))
    assert x.shape == (96, 2) and int(batch.max()) == 11
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        out = m(smeared, truth, generator=g)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(out["loss"].item())
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5
    with pytest.raises(InputShapeError):  # graph counts differ
        m(smeared, Batch.from_data_list(truth.to_data_list()[:5]))
    with pytest.raises(InputShapeError):  # wrong condition width
        m(smeared, smeared)


def test_cvae_condition_encoder_permutation_invariant() -> None:
    torch.manual_seed(0)
    truth = gaussian_sets(2, 6, 3)
    m = ConditionalVAE(2, 3, latent=4, hidden=16, n_out=4).eval()
    perm = torch.cat([torch.randperm(6), torch.randperm(6) + 6])
    c1 = m.embed_condition(truth)
    c2 = m.embed_condition(Data(x=truth.x[perm], batch=truth.batch[perm]))
    assert (c1 - c2).abs().max() < 1e-5


# -------------------------------------------------------- real jets (slow)
@pytest.mark.slow
def test_jetvae_and_gae_on_real_jets() -> None:
    from pgjets.data import generate_jets, JetDataset

    torch.manual_seed(0)
    table = generate_jets("qcd", 40, seed=3, fast=True)
    ds = JetDataset.from_table(table, representation="cloud", k=None, feature_set="kinematic")
    b = next(ds.batches(40))
    x = b.x
    b.x = (x - x.mean(0)) / x.std(0).clamp_min(1e-6)  # standardised features
    m = JetVAE(b.x.size(1), latent=8, hidden=64, n_out=30, beta=0.05)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(40):
        out = m(b, generator=g)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(out["loss"].item())
    assert all(math.isfinite(v) for v in losses)
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5

    gae = GraphAutoencoder(b.x.size(1), latent=8, hidden=32, k=8)
    opt = torch.optim.Adam(gae.parameters(), lr=1e-2)
    first = gae.loss(b)["loss"].item()
    for _ in range(30):
        loss = gae.loss(b)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert gae.loss(b)["loss"].item() < 0.8 * first


def test_conditional_vae_given_counts_trains_and_samples_the_first_n_outputs():
    from pgjets.errors import InputShapeError

    torch.manual_seed(0)
    model = ConditionalVAE(3, 3, latent=4, hidden=16, n_out=6, given_counts=True)
    target = Data(x=torch.randn(5, 3), batch=torch.tensor([0, 0, 0, 1, 1]))
    cond = Data(x=torch.randn(7, 3), batch=torch.tensor([0, 0, 0, 0, 1, 1, 1]))
    out = model(target, cond, generator=torch.Generator().manual_seed(1))
    assert out["x_hat"].shape == (5, 3) and out["x_hat_batch"].tolist() == [0, 0, 0, 1, 1]
    x, b = model.sample(cond, generator=torch.Generator().manual_seed(2), counts=torch.tensor([3, 2]))
    assert x.shape == (5, 3) and b.tolist() == [0, 0, 0, 1, 1]
    with pytest.raises(InputShapeError, match="counts"):
        model.sample(cond)
    with pytest.raises(ValueError, match="beta"):
        ConditionalVAE(3, 3, beta=float("inf"))


def test_graph_autoencoder_loss_is_reproducible_from_torch_and_uses_undirected_edges():
    import random

    from torch_geometric.utils import to_undirected

    torch.manual_seed(0)
    model = GraphAutoencoder(3, hidden=8, latent=2, k=4)
    g = torch.Generator().manual_seed(0)
    data = Batch.from_data_list([Data(x=torch.randn(12, 3, generator=g), pos=torch.randn(12, 2, generator=g))
                                 for _ in range(3)])
    losses = []
    for _ in range(2):
        torch.manual_seed(5)
        random.seed(12345 + len(losses))  # Python's random must not matter
        losses.append(float(model.loss(data)["edge"]))
    assert losses[0] == losses[1]
    state = random.getstate()
    model.loss(data)
    assert random.getstate() == state  # the caller's Python random state is left alone
    out = model(data)
    assert to_undirected(out["edge_index"]).size(1) > out["edge_index"].size(1)  # kNN edges are one-way
