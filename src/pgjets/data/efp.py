r"""Energy flow polynomials (Komiske, Metodiev & Thaler, arXiv:1712.07124).

Every multigraph :math:`G` with vertices :math:`V` and edges :math:`E` defines
an IRC-safe jet observable

.. math::
    \mathrm{EFP}_G = \sum_{i_1 = 1}^{M} \cdots \sum_{i_{|V|} = 1}^{M}
        z_{i_1} \cdots z_{i_{|V|}} \prod_{(k, l) \in E} \theta_{i_k i_l},
    \qquad z_i = \frac{p_{T,i}}{\sum_j p_{T,j}},\quad
    \theta_{ij} = \Delta R_{ij}^{\beta}

(:math:`\Delta R^2 = \Delta y^2 + \Delta\phi^2` with the rapidity :math:`y`, the
``hadr`` measure of the paper and of ``energyflow`` on four-vectors, :math:`\beta = 1` by
default; ``angles="pseudorapidity"`` uses :math:`\eta` instead).  The degree :math:`d = |E|` is the number of edges; the EFPs of a
disconnected graph are products of those of its connected ("prime") parts.
The EFPs of degree :math:`1 \le d \le 5` are 101 multigraphs (1, 3, 8, 23
and 66 of degree 1 to 5; 102 with the constant empty graph), 53 of them
prime (1, 2, 5, 12 and 33), the linear-classifier baseline of JetCLR.

The multigraphs are enumerated here by brute force (all edge multisets on
:math:`n \le d + 1` vertices, kept if connected and using every vertex,
deduplicated by a canonical form under all vertex relabellings), so pgjets
needs neither ``energyflow`` (whose ``wasserstein`` dependency pins
``numpy < 2``) nor ``igraph``.  Each prime EFP is one ``numpy.einsum`` over
padded jets with an optimised contraction order (multi-edges become powers
of :math:`\theta`).
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np

from ..errors import InputShapeError
from .table import JetTable

Graph = tuple[int, tuple[tuple[int, int], ...]]  # (number of vertices, sorted edge list)


def _connected(n: int, edges: tuple[tuple[int, int], ...]) -> bool:
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in edges:
        parent[find(a)] = find(b)
    return len({find(v) for v in range(n)}) == 1


def _canonical(n: int, edges: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    best = None
    for perm in itertools.permutations(range(n)):
        e = tuple(sorted(tuple(sorted((perm[a], perm[b]))) for a, b in edges))
        if best is None or e < best:
            best = e
    return best  # type: ignore[return-value]


@lru_cache(maxsize=None)
def prime_multigraphs(max_degree: int = 5) -> tuple[Graph, ...]:
    r"""Connected multigraphs without self loops of degree :math:`1 \le d \le d_{max}`, up to isomorphism.

    .. math::
        G = (n, E),\quad |E| = d,\quad n \le d + 1

    Sorted by degree, then number of vertices, then edge list.

    Args:
        max_degree: :math:`d_{max}` (at most 6; the enumeration is brute force).

    Shapes:
        - **output:** a tuple of ``(n_vertices, edges)``
    """
    if not (isinstance(max_degree, int) and 1 <= max_degree <= 6):
        raise ValueError(f"max_degree must be an integer in [1, 6], got {max_degree!r}")
    out: list[Graph] = []
    for d in range(1, max_degree + 1):
        seen: set[tuple[int, tuple[tuple[int, int], ...]]] = set()
        found: list[Graph] = []
        for n in range(2, d + 2):
            pairs = list(itertools.combinations(range(n), 2))
            for edges in itertools.combinations_with_replacement(pairs, d):
                if len({v for e in edges for v in e}) != n or not _connected(n, edges):
                    continue
                canon = _canonical(n, edges)
                if (n, canon) in seen:
                    continue
                seen.add((n, canon))
                found.append((n, canon))
        out.extend(sorted(found))
    return tuple(out)


@lru_cache(maxsize=None)
def efp_basis(max_degree: int = 5) -> tuple[tuple[int, ...], ...]:
    r"""All EFPs of degree :math:`\le d_{max}` as multisets of prime graphs.

    Each entry lists indices into :func:`prime_multigraphs` whose product is
    the EFP (a prime graph is a one-element tuple); sorted by degree.

    .. math::
        \mathrm{EFP}_{G_1 \sqcup G_2} = \mathrm{EFP}_{G_1}\,\mathrm{EFP}_{G_2}

    Args:
        max_degree: :math:`d_{max}`.

    Shapes:
        - **output:** a tuple of index tuples (101 for :math:`d_{max} = 5`)
    """
    primes = prime_multigraphs(max_degree)
    deg = [len(e) for _, e in primes]
    out = []
    for k in range(1, max_degree + 1):
        for combo in itertools.combinations_with_replacement(range(len(primes)), k):
            if sum(deg[i] for i in combo) <= max_degree:
                out.append(combo)
    out.sort(key=lambda c: (sum(deg[i] for i in c), len(c), c))
    return tuple(out)


def _einsum_spec(n: int, edges: tuple[tuple[int, int], ...]) -> tuple[str, list[tuple[tuple[int, int], int]]]:
    letters = "abcdefgh"
    mult: dict[tuple[int, int], int] = {}
    for e in edges:
        mult[e] = mult.get(e, 0) + 1
    terms = [f"Z{letters[v]}" for v in range(n)] + [f"Z{letters[a]}{letters[b]}" for a, b in mult]
    return ",".join(terms) + "->Z", list(mult.items())


def efp_padded(z: np.ndarray, theta: np.ndarray, max_degree: int = 5, prime_only: bool = False) -> np.ndarray:
    r"""EFPs of padded jets from energy fractions and pairwise angles.

    .. math::
        \mathrm{EFP}_G(b) = \sum_{i_1 \dots i_n} \prod_v z_{b i_v} \prod_{(k,l)\in E} \theta_{b\, i_k i_l}

    Args:
        z: ``(B, M)`` energy fractions, 0 for padding.
        theta: ``(B, M, M)`` pairwise angular distances (symmetric, zero diagonal).
        max_degree: :math:`d_{max}`.
        prime_only: Only the prime (connected) EFPs.

    Shapes:
        - **input:** ``z`` :math:`(B, M)`, ``theta`` :math:`(B, M, M)`
        - **output:** :math:`(B, K)` (:math:`K = 53` prime or 101 in all for :math:`d_{max} = 5`)
    """
    if z.ndim != 2 or theta.shape != (*z.shape, z.shape[1]):
        raise InputShapeError(f"z must be (B, M) and theta (B, M, M), got {z.shape} and {theta.shape}")
    primes = prime_multigraphs(max_degree)
    powers: dict[int, np.ndarray] = {1: theta}
    cols = []
    for n, edges in primes:
        spec, mult = _einsum_spec(n, edges)
        ops = [z] * n
        for _, k in mult:
            if k not in powers:
                powers[k] = theta**k
            ops.append(powers[k])
        cols.append(np.einsum(spec, *ops, optimize="greedy"))
    prime = np.stack(cols, axis=1)
    if prime_only:
        return prime
    return np.stack([np.prod(prime[:, list(c)], axis=1) for c in efp_basis(max_degree)], axis=1)


def jet_efps(table: JetTable, max_degree: int = 5, beta: float = 1.0, prime_only: bool = False,
             max_constituents: int = 0, batch_size: int = 256, angles: str = "rapidity") -> np.ndarray:
    r"""EFPs of every jet of a table (:math:`z_i = p_{T,i}/p_{T,J}`, :math:`\theta_{ij} = \Delta R_{ij}^\beta`).

    Jets are processed in batches padded to their largest multiplicity
    (sorted by multiplicity first, so padding stays small).

    Args:
        table: The jets.
        max_degree: :math:`d_{max}`.
        beta: Angular exponent :math:`\beta`.
        prime_only: Only the prime EFPs.
        max_constituents: Keep only the hardest ``max_constituents`` particles
            of each jet (0: all); EFPs are IRC safe, so dropping the softest
            particles changes them little and bounds the cost (:math:`O(M^3)`
            for graphs with cycles).
        batch_size: Jets per einsum.
        angles: ``"rapidity"`` (:math:`\Delta R^2 = \Delta y^2 + \Delta\phi^2`, FastJet's
            :math:`y`: :func:`~pgjets.data.observables.rapidity`; the EFP paper's hadronic
            measure) or ``"pseudorapidity"`` (:math:`\Delta\eta^2 + \Delta\phi^2`; equal for
            massless constituents).

    Returns:
        ``(J, K)`` float64 array.

    Shapes:
        - **output:** :math:`(J, K)`
    """
    from .features import wrap_phi

    if not isinstance(table, JetTable):
        raise TypeError(f"table must be a JetTable, got {type(table).__name__}")
    if not beta > 0:
        raise ValueError(f"beta must be > 0, got {beta!r}")
    for name, value, low in (("max_degree", max_degree, 1), ("max_constituents", max_constituents, 0),
                             ("batch_size", batch_size, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if angles not in ("rapidity", "pseudorapidity"):
        raise ValueError(f"angles must be 'rapidity' or 'pseudorapidity', got {angles!r}")
    px, py, pz, e = (np.asarray(getattr(table, k), dtype=np.float64) for k in ("px", "py", "pz", "E"))
    pt = np.hypot(px, py)
    if angles == "rapidity":
        from .observables import rapidity

        eta = rapidity(px, py, pz, e)
    else:
        eta = np.arcsinh(pz / np.maximum(pt, 1e-12))
    phi = np.arctan2(py, px)
    off = table.offsets
    n = np.diff(off)
    order = np.argsort(n, kind="stable")
    k_out = len(prime_multigraphs(max_degree)) if prime_only else len(efp_basis(max_degree))
    out = np.zeros((len(table), k_out))
    for s in range(0, len(order), batch_size):
        jets = order[s:s + batch_size]
        m = int(n[jets].max()) if len(jets) else 0
        if max_constituents:
            m = min(m, int(max_constituents))
        if m == 0:
            continue
        z = np.zeros((len(jets), m))
        et = np.zeros((len(jets), m))
        ph = np.zeros((len(jets), m))
        for r, j in enumerate(jets):
            a, b = int(off[j]), int(off[j + 1])
            idx = a + np.argsort(-pt[a:b], kind="stable")[:m]
            c = len(idx)
            z[r, :c] = pt[idx]
            et[r, :c] = eta[idx]
            ph[r, :c] = phi[idx]
        tot = z.sum(1, keepdims=True)
        z = np.divide(z, tot, out=np.zeros_like(z), where=tot > 0)
        dphi = wrap_phi(ph[:, :, None] - ph[:, None, :])
        theta = np.sqrt((et[:, :, None] - et[:, None, :]) ** 2 + dphi**2) ** beta
        out[jets] = efp_padded(z, theta, max_degree, prime_only)
    return out


__all__ = ["efp_basis", "efp_padded", "jet_efps", "prime_multigraphs"]
