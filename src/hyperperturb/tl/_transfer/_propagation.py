"""Private: a knock-out's effect propagated along the directed, signed edges of the gene network (NumPy/SciPy).

The held-out readout (:mod:`hyperperturb.tl._transfer`) can add to its prior profile the change that the network
itself predicts for a perturbation of gene ``t``: the on-target change sent downstream along the edges,

    x_t = Σ_{k=1..K} α^{k-1} (Mᵀ)^k e_t,      Ê_p = m + β |x_{t(p)}|,

where ``M[u, v]`` is the signed strength of the edge ``u → v`` (``.varp[f"{key}_directed"]`` written by
:func:`hyperperturb.pp.gene_network`; the symmetric, optionally signed adjacency where no direction is known),
optionally divided by each target's total input strength (``norm="in"``: a gene regulated by many genes moves less
when one of them goes), ``α`` the weight of each further hop and ``β ≥ 0`` the gain that turns the propagated
change into reward units. Signs matter: two paths of opposite sign cancel, an activator's and a repressor's target
both move. ``α`` and the normalisation are chosen, and ``β`` fitted in closed form, by leave-one-out over the
training perturbations (:func:`hyperperturb.tl._transfer._transfer.fit_transfer`); the hyperbolic embedding is not used
(measured: it carries no extra information once the graph is given, see ``docs/benchmarks.md``).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

#: Hops the change is propagated.
HOPS = 3
#: Weight of each further hop relative to the previous one (0: direct targets only).
ALPHA_GRID = (0.0, 0.5, 1.0)
#: Edge normalisations: raw strengths, or divided by each target's total input strength.
NORMS = ("none", "in")
#: Shrinkage of each gene's own gain towards the common gain, relative to the mean per-gene ``Σ x²`` (``inf``: one
#: common gain for all genes).
SHRINK_GRID = (float("inf"), 1.0, 0.1)


def node_operator(
    directed: sparse.spmatrix | None,
    adjacency: sparse.spmatrix | None,
    n_nodes: int,
    *,
    sign: sparse.spmatrix | None = None,
    extra_edges: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> sparse.csr_matrix:
    """Signed edge strengths ``M[u, v]`` (``u → v``) over the ``n_nodes`` graph nodes (genes first).

    ``directed`` (genes × genes, signed) is used where given, with the edges of extra nodes (``extra_edges``:
    ``i, j, weight`` into the node list; no direction: both ways, positive); ``adjacency`` is then not read.
    Without ``directed``: the symmetric ``adjacency`` (nodes × nodes, extra edges included) times ``sign`` where
    known.
    """
    n_nodes = int(n_nodes)
    if directed is not None and sparse.csr_matrix(directed).nnz:
        Dc = sparse.coo_matrix(directed, dtype=np.float64)
        rows, cols, vals = [Dc.row], [Dc.col], [Dc.data]
        if extra_edges is not None and len(extra_edges[0]):
            i, j, w = (np.asarray(a) for a in extra_edges)
            rows += [i, j]
            cols += [j, i]
            vals += [np.abs(w).astype(np.float64)] * 2
    else:
        Ac = sparse.coo_matrix(adjacency, dtype=np.float64)
        rows, cols, vals = [Ac.row], [Ac.col], [Ac.data]
        if sign is not None:  # signs of the genes block (extra nodes have none)
            S = sparse.csr_matrix(sign, dtype=np.float64)
            inside = (Ac.row < S.shape[0]) & (Ac.col < S.shape[1])
            sg = np.ones(Ac.nnz)
            sg[inside] = np.where(np.asarray(S[Ac.row[inside], Ac.col[inside]]).ravel() < 0, -1.0, 1.0)
            vals = [Ac.data * sg]
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    keep = (r < n_nodes) & (c < n_nodes) & (r != c)
    M = sparse.csr_matrix((v[keep], (r[keep], c[keep])), shape=(n_nodes, n_nodes))
    M.sum_duplicates()
    M.eliminate_zeros()
    return M


def normalise(M: sparse.csr_matrix, norm: str) -> sparse.csr_matrix:
    """``M`` with each column divided by the target's total input strength (``"in"``), or unchanged (``"none"``)."""
    if norm == "none":
        return M
    if norm != "in":
        msg = f"Unknown propagation normalisation {norm!r}; expected one of {NORMS}. Re-run `hp.tl.train`."
        raise ValueError(msg)
    s = np.asarray(abs(M).sum(axis=0)).ravel()
    inv = np.where(s > 0, 1.0 / np.where(s > 0, s, 1.0), 0.0)
    return sparse.csr_matrix(M @ sparse.diags(inv))


def propagate(M: sparse.csr_matrix, sources: np.ndarray, *, alpha: float, hops: int = HOPS) -> np.ndarray:
    """Signed propagated change ``Σ_k α^{k-1} (Mᵀ)^k e_s``: nodes × ``len(sources)`` (source ``-1``: zeros)."""
    sources = np.asarray(sources, dtype=np.int64)
    n = M.shape[0]
    out = np.zeros((n, sources.size))
    ok = np.flatnonzero((sources >= 0) & (sources < n))
    if not ok.size or M.nnz == 0:
        return out
    MT = sparse.csr_matrix(M.T)
    X = np.zeros((n, ok.size))
    X[sources[ok], np.arange(ok.size)] = 1.0
    acc = np.zeros_like(X)
    w = 1.0
    for _ in range(int(hops)):
        X = MT @ X
        acc += w * X
        if not alpha:
            break
        w *= float(alpha)
    out[:, ok] = acc
    return out


def candidate_profiles(M: sparse.csr_matrix, sources: np.ndarray, n_genes: int) -> dict[str, np.ndarray]:
    """``{"norm/alpha": |x|}`` genes × sources for every candidate of :data:`NORMS` × :data:`ALPHA_GRID`."""
    out: dict[str, np.ndarray] = {}
    for norm in NORMS:
        Mn = normalise(M, norm)
        for alpha in ALPHA_GRID:
            out[f"{norm}/{alpha:g}"] = np.abs(propagate(Mn, sources, alpha=alpha))[:n_genes]
    return out


def parse_candidate(name: str) -> tuple[str, float]:
    """``"norm/alpha"`` → ``(norm, alpha)``."""
    norm, alpha = name.split("/")
    return norm, float(alpha)


def loo_gain(R: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Least-squares gain ``β ≥ 0`` of ``R ≈ β B`` fitted without each column in turn (one per column)."""
    num = (R * B).sum(axis=0)
    den = (B * B).sum(axis=0)
    tn, td = num.sum(), den.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = (tn - num) / (td - den)
    return np.clip(np.where(np.isfinite(beta), beta, 0.0), 0.0, None)


def loo_gene_gain(R: np.ndarray, B: np.ndarray, shrink: float) -> np.ndarray:
    """Per-gene gains ``β_g ≥ 0`` of ``R[g] ≈ β_g B[g]`` fitted without each column: genes × columns.

    ``β_g = (Σ_q R_gq B_gq + λ β̄) / (Σ_q B_gq² + λ)`` (shrunk towards the common leave-one-out gain ``β̄`` with
    ``λ = shrink × mean_g Σ_q B_gq²``); ``shrink=inf`` gives the common gain for every gene.
    """
    common = loo_gain(R, B)[None, :]
    if not np.isfinite(shrink):
        return np.repeat(common, R.shape[0], axis=0)
    rb, bb = R * B, B * B
    srb, sbb = rb.sum(axis=1, keepdims=True), bb.sum(axis=1, keepdims=True)
    lam = float(shrink) * max(float(sbb[sbb > 0].mean()) if (sbb > 0).any() else 1.0, 1e-300)
    return np.clip((srb - rb + lam * common) / (sbb - bb + lam), 0.0, None)


def gene_gain(R: np.ndarray, B: np.ndarray, shrink: float) -> np.ndarray:
    """Per-gene gains over all columns (:func:`loo_gene_gain` without leaving a column out): one per gene."""
    common = full_gain(R, B)
    if not np.isfinite(shrink):
        return np.full(R.shape[0], common)
    srb, sbb = (R * B).sum(axis=1), (B * B).sum(axis=1)
    lam = float(shrink) * max(float(sbb[sbb > 0].mean()) if (sbb > 0).any() else 1.0, 1e-300)
    return np.clip((srb + lam * common) / (sbb + lam), 0.0, None)


def full_gain(R: np.ndarray, B: np.ndarray) -> float:
    """Least-squares gain ``β ≥ 0`` of ``R ≈ β B`` over all columns."""
    den = float((B * B).sum())
    return max(float((R * B).sum()) / den, 0.0) if den > 0 else 0.0


def network_operator(adata, n_nodes: int, n_genes: int, extra_edges: dict) -> sparse.csr_matrix:
    """:func:`node_operator` of the network stored by :func:`hyperperturb.pp.gene_network` on ``adata``.

    ``extra_edges`` are the edges of the extra nodes stored by training (``i``, ``j``, ``weight``); the directed
    and sign matrices are found through the network's ledger entry.
    """
    from hyperperturb._utils._schema import NetworkEntry, find
    from hyperperturb.tl._graph._inputs import stored_adjacency

    i = np.asarray(extra_edges["i"], dtype=np.int64).ravel()
    j = np.asarray(extra_edges["j"], dtype=np.int64).ravel()
    w = np.asarray(extra_edges["weight"], dtype=np.float64).ravel()
    inside = (i < n_nodes) & (j < n_nodes)  # edges to protein nodes are not part of the gene network
    extra_edges = {"i": i[inside], "j": j[inside], "weight": w[inside]}
    net = find(adata, NetworkEntry, needed_by="hp.tl.train")
    found = {}
    for name in ("directed_key", "sign_key"):
        key = None if net is None else getattr(net, name)
        found[name] = adata.varp[key] if key is not None and key in adata.varp else None
    directed = found["directed_key"]
    A = None if directed is not None else stored_adjacency(adata, int(n_nodes), int(n_genes), extra_edges)
    ee = (extra_edges["i"], extra_edges["j"], extra_edges["weight"])
    return node_operator(directed, A, int(n_nodes), sign=found["sign_key"], extra_edges=ee)
