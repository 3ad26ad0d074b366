"""Private: a knock-out's effect propagated along the directed, signed edges of the gene network (NumPy/SciPy).

The held-out readout (:mod:`hyperperturb.tl._transfer`) can add to its prior profile the change that the network
itself predicts for a perturbation of gene ``t``: the on-target change sent downstream along the edges,

    x_t = Σ_{k=1..K} α^{k-1} (Mᵀ)^k e_t,      Ê_p = m + β |x_{t(p)}|,

where ``M[u, v]`` is the signed strength of the edge ``u → v`` (``.varp[f"{key}_directed"]`` written by
:func:`hyperperturb.pp.gene_network`; the symmetric, optionally signed adjacency where no direction is known),
optionally divided by each target's total input strength (``norm="in"``: a gene regulated by many genes moves less
when one of them goes), ``α`` the weight of each further hop and ``β ≥ 0`` the gain that turns the propagated
change into reward units. With ``norm="in-log"`` the in-normalised change is read as the *fraction of its input*
each gene loses (a repressed gene: gains) and turned into the shift of its log expression that such a change makes,
``|L_g − log1p(expm1(L_g) · max(1 − x_g, 0))|`` with ``L_g`` the gene's control mean of log1p expression
(``.var["hp_control_mean"]``): a gene losing its only input drops by all of ``L_g``, one losing half of it by
``log 2`` when well expressed, and a lowly expressed gene by little. Rewards are shifts of log expression, so
this is the same change in the rewards' units; measured on knock-out screens with a known network it raised the
leave-one-out score of the propagation by 0.019–0.031 with the true network (``docs/benchmarks.md``). Signs matter: two paths of opposite sign cancel, an activator's and a repressor's target
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
#: Edge normalisations scanned in training: raw strengths, or the fraction of each target's input turned into a log
#: shift (``"in-log"``, needs every gene's control mean; without usable ones ``"in"`` is scanned in its place).
NORMS = ("none", "in-log")
#: Every normalisation a stored model may name (``"in"``: divided by the input strength, the change used as is; the
#: grid of earlier versions).
KNOWN_NORMS = ("none", "in", "in-log")
#: Largest control mean (log1p units) read by ``"in-log"``: beyond it ``expm1`` would overflow (data not log-scaled).
MAX_LOG_LEVEL = 30.0
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
    extra_directed: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> sparse.csr_matrix:
    """Signed edge strengths ``M[u, v]`` (``u → v``) over the ``n_nodes`` graph nodes (genes first).

    ``directed`` (genes × genes, signed) is used where given, with the edges of extra nodes: ``extra_directed``
    (``i → j``, weight × sign, into the node list: an unmeasured regulator's edges as listed) and the pairs of
    ``extra_edges`` it does not cover (``i, j, weight``, no direction, e.g. two-hop links: both ways, positive);
    ``adjacency`` is then not read. Without ``directed``: the symmetric ``adjacency`` (nodes × nodes, extra edges
    included) times ``sign`` where known.
    """
    n_nodes = int(n_nodes)
    has_directed = directed is not None and sparse.csr_matrix(directed).nnz > 0
    has_extra_directed = extra_directed is not None and len(extra_directed[0]) > 0
    if has_directed or has_extra_directed:  # (every regulator unmeasured: only the extra nodes' edges are directed)
        Dc = sparse.coo_matrix(directed if has_directed else (n_nodes, n_nodes), dtype=np.float64)
        rows, cols, vals = [Dc.row], [Dc.col], [Dc.data]
        covered: set[tuple[int, int]] = set()
        if extra_directed is not None and has_extra_directed:
            di, dj, dw = (np.asarray(a) for a in extra_directed)
            rows.append(di.astype(np.int64))
            cols.append(dj.astype(np.int64))
            vals.append(dw.astype(np.float64))
            covered = {(min(a, b), max(a, b)) for a, b in zip(di.tolist(), dj.tolist(), strict=True)}
        if extra_edges is not None and len(extra_edges[0]):
            i, j, w = (np.asarray(a) for a in extra_edges)
            free = np.array(
                [(min(a, b), max(a, b)) not in covered for a, b in zip(i.tolist(), j.tolist(), strict=True)], dtype=bool
            )
            i, j, w = i[free], j[free], w[free]
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
    """``M`` with each column divided by the target's total input strength (``"in"``, ``"in-log"``), or unchanged."""
    if norm == "none":
        return M
    if norm not in KNOWN_NORMS:
        msg = f"Unknown propagation normalisation {norm!r}; expected one of {KNOWN_NORMS}. Re-run `hp.tl.train`."
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


def usable_level(level: np.ndarray | None, n_genes: int) -> np.ndarray | None:
    """The genes' control means as ``"in-log"`` reads them, or ``None`` where they cannot be log1p levels.

    ``None`` when missing, of the wrong length, not finite, or negative anywhere (a scaled or centred layer);
    values above :data:`MAX_LOG_LEVEL` are capped.
    """
    if level is None:
        return None
    lv = np.asarray(level, dtype=np.float64).ravel()
    if lv.size != n_genes or not np.isfinite(lv).all() or (lv < 0).any():
        return None
    return np.minimum(lv, MAX_LOG_LEVEL)


def log_shift(x: np.ndarray, level: np.ndarray) -> np.ndarray:
    """``|L − log1p(expm1(L) · max(1 − x, 0))|``: the log1p shift of genes losing the input fractions ``x``.

    ``x`` (genes × columns, signed) is the in-normalised propagated change: ``x = 1`` all of a gene's input lost
    (its log expression drops by all of ``L``), ``x < 0`` input gained. ``level`` is ``L`` per gene.
    """
    L = np.asarray(level, dtype=np.float64)[:, None]
    x = np.asarray(x, dtype=np.float64)
    keep = np.clip(1.0 - x, 0.0, None)
    return np.where(x == 0.0, 0.0, np.abs(L - np.log1p(np.expm1(L) * keep)))  # untouched genes: exactly 0


def profile(
    M: sparse.csr_matrix, sources: np.ndarray, n_genes: int, *, norm: str, alpha: float, level: np.ndarray | None
) -> np.ndarray:
    """The propagated change of one candidate, genes × ``len(sources)``, in the units the readout's gain scales.

    ``M`` is the raw node operator (:func:`node_operator`); ``"in-log"`` needs ``level`` (:func:`usable_level`).
    """
    x = propagate(normalise(M, norm), sources, alpha=alpha)[:n_genes]
    if norm != "in-log":
        return np.abs(x)
    lv = usable_level(level, n_genes)
    if lv is None:
        msg = (
            "The propagation readout 'in-log' needs every gene's control mean of log expression "
            "(.var['hp_control_mean'], finite and non-negative); re-run `hp.tl.rewards` and `hp.tl.train`."
        )
        raise ValueError(msg)
    return log_shift(x, lv)


def candidate_profiles(
    M: sparse.csr_matrix, sources: np.ndarray, n_genes: int, level: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """``{"norm/alpha": change}`` genes × sources for every candidate of :data:`NORMS` × :data:`ALPHA_GRID`.

    ``"in-log"`` needs usable control means (``level``, :func:`usable_level`); without them (no rewards' control
    mean, or a layer that is not log1p-scaled) the in-normalised change is offered as it is (``"in"``) instead.
    """
    out: dict[str, np.ndarray] = {}
    ok = usable_level(level, n_genes) is not None
    for norm in NORMS:
        if norm == "in-log" and not ok:
            norm = "in"
        for alpha in ALPHA_GRID:
            out[f"{norm}/{alpha:g}"] = profile(M, sources, n_genes, norm=norm, alpha=alpha, level=level)
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
    return node_operator(
        directed, A, int(n_nodes), sign=found["sign_key"], extra_edges=ee,
        extra_directed=_extra_directed(adata, int(n_nodes), int(n_genes)),
    )  # fmt: skip


def _extra_directed(adata, n_nodes: int, n_genes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The network's directed edges of extra nodes as positions in ``[*var_names, *extra_nodes]`` (or ``None``).

    Every reader (training, the stored model, design) lays its graph out as the genes followed by the network's
    extra nodes in their stored order; another layout keeps the undirected edges.
    """
    from hyperperturb._utils import _entries

    ed = _entries.network_extra_directed(adata)
    extra = _entries.network_extra_nodes(adata)
    if ed is None or n_genes != adata.n_vars or n_nodes != n_genes + len(extra):
        return None
    i, j, w = _entries.edges_by_name(ed[0], ed[1], ed[2], adata.var_names, extra)
    return i, j, w
