"""Build the node list, node features, adjacency and targets of the training graph from an AnnData / MuData.

Private: ``tl`` is the only bridge between AnnData and :mod:`hyperperturb.nn`; this module stays NumPy/SciPy only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import LinearOperator, svds

from hyperperturb._utils import _entries, as_rng, logger, obs_indexer, protein_mod_name, resolve_protein
from hyperperturb._utils._data import Target
from hyperperturb._utils._schema import NetworkEntry, RewardsEntry, find, read
from hyperperturb._utils._stored import check_adjacency, check_matrix, check_vector

PROTEIN_SUFFIX = " (protein)"
_NO_EDGES = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
FEATURES = (
    "control_mean",
    "noise_floor",
    "frac_nonzero",
    "log_degree",
    "pc1",
    "pc2",
    "pc3",
    "pc4",
    "max_abs_protein_corr",
    "unmeasured",
    "protein",
)
N_PCS = 4
MAX_CONTROL_CELLS = 2000
CHUNK = 5000


@dataclass
class GraphInputs:
    """Everything the model needs, as NumPy / SciPy objects."""

    nodes: list[str]
    n_genes: int
    n_extra: int
    n_prot: int
    prot_names: list[str]
    adjacency: sparse.csr_matrix  # raw symmetric weights, n_nodes x n_nodes, no self loops
    extra_edges: dict[str, np.ndarray]  # edges not in .varp (to extra and protein nodes), indices into nodes
    features: np.ndarray  # n_nodes x n_features (standardised)
    feature_names: list[str]
    perturbations: list[str]
    targets: list[str]  # target of each perturbation, by node name (as mapped by gene_network's mapping=)
    target_node: np.ndarray  # int per perturbation, -1 if the target is not a node
    reward: np.ndarray  # n_nodes x n_perts (0 for rows without a target)
    value_target: np.ndarray  # n_nodes
    row_weight: np.ndarray  # n_nodes, 1 where the node has targets
    prot_adata: Any = None
    baseline: np.ndarray | None = None  # n_nodes: control noise floor B (0 where unknown)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_nodes(self) -> int:
        """Number of graph nodes."""
        return len(self.nodes)


def _rows(X: Any, idx: np.ndarray) -> Any:
    block = X[idx]
    if hasattr(block, "compute"):
        block = block.compute()
    return block


def control_index(adata, rng: np.random.Generator) -> np.ndarray:
    if "hp_control" in adata.obs:
        idx = np.flatnonzero(np.asarray(adata.obs["hp_control"], dtype=bool))
    else:
        idx = np.arange(adata.n_obs)
    if len(idx) == 0:
        idx = np.arange(adata.n_obs)
    return idx


def _rows_in_order(X: Any, idx: np.ndarray) -> Any:
    """Rows ``idx`` of ``X`` in the order given (reads sorted rows, as backed/h5py data need, then reorders)."""
    if len(idx) == 0 or np.all(np.diff(idx) > 0):
        return _rows(X, idx)
    order = np.argsort(idx, kind="stable")
    block = _rows(X, idx[order])
    inv = np.empty_like(order)
    inv[order] = np.arange(len(order))
    return block[inv]


def _protein_rows(adata, prot_adata, cidx: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """RNA control rows that have protein measurements and the protein rows of the same cells (by ``obs_names``).

    Rule for protein measured on a subset of cells: protein statistics use the control cells present in both
    modalities; cells only in the protein modality are not used. No shared control cell is an error.
    """
    if prot_adata is None:
        return cidx, cidx
    m = obs_indexer(adata.obs_names, prot_adata.obs_names, what=f"the protein modality {name!r}")
    sub = m[cidx]
    keep = sub >= 0
    if not keep.any():
        msg = (
            f"None of the {len(cidx)} control cells of the RNA modality is in the protein modality {name!r} "
            "(cells are matched by obs_names); protein features cannot be computed. Check the obs_names of both "
            "modalities (e.g. barcode suffixes), or train without proteins (remove the modality)."
        )
        raise ValueError(msg)
    if not keep.all():
        logger.info(
            "hp.tl.train: %d of %d control cells have no protein measurement in %r; protein features use the other %d",
            int((~keep).sum()),
            len(cidx),
            name,
            int(keep.sum()),
        )
    return cidx[keep], sub[keep]


def control_stats(X: Any, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, mean absolute deviation and fraction non-zero per column over rows ``idx``, streamed in chunks."""
    n_cols = X.shape[1]
    s = np.zeros(n_cols)
    nz = np.zeros(n_cols)
    for start in range(0, len(idx), CHUNK):
        b = _rows(X, idx[start : start + CHUNK])
        if sparse.issparse(b):
            b = sparse.csr_matrix(b, dtype=np.float64)
            s += np.asarray(b.sum(0)).ravel()
            nz += np.asarray((b != 0).sum(0)).ravel()
        else:
            b = np.asarray(b, dtype=np.float64)
            s += b.sum(0)
            nz += (b != 0).sum(0)
    mean = s / len(idx)
    mad = np.zeros(n_cols)
    for start in range(0, len(idx), CHUNK):
        b = _rows(X, idx[start : start + CHUNK])
        b = b.toarray() if sparse.issparse(b) else np.asarray(b)  # at most CHUNK rows at a time
        mad += np.abs(b.astype(np.float64) - mean).sum(0)
    return mean, mad / len(idx), nz / len(idx)


def pca_loadings(X: Any, idx: np.ndarray, mean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gene loadings (``V·s/sqrt(n)``) of the top principal components of the (capped) control cells."""
    n_cols = X.shape[1]
    out = np.zeros((n_cols, N_PCS))
    if len(idx) > MAX_CONTROL_CELLS:
        idx = np.sort(rng.choice(idx, MAX_CONTROL_CELLS, replace=False))
    B = _rows(X, idx)
    B = sparse.csr_matrix(B, dtype=np.float64) if sparse.issparse(B) else np.asarray(B, dtype=np.float64)
    n = B.shape[0]
    k = min(N_PCS, n - 1, n_cols - 1)
    if k < 1:
        return out
    ones = np.ones(n)
    op = LinearOperator(
        (n, n_cols),
        matvec=lambda v: B @ np.ravel(v) - ones * (mean @ np.ravel(v)),
        rmatvec=lambda u: B.T @ np.ravel(u) - mean * np.ravel(u).sum(),
        dtype=np.float64,
    )
    v0 = rng.standard_normal(min(n, n_cols))
    try:
        _, s, vt = svds(op, k=k, v0=v0)
    except Exception as e:  # noqa: BLE001 - PCA features are optional; fall back to zeros
        logger.info("hp.tl.train: PCA of control cells failed (%s); PCA features set to 0", e)
        return out
    order = np.argsort(-s)
    s, vt = s[order], vt[order]
    load = (vt.T * s) / np.sqrt(max(n - 1, 1))
    signs = np.sign(load[np.abs(load).argmax(0), np.arange(k)])
    signs[signs == 0] = 1
    out[:, :k] = load * signs
    return out


def _corr_with_proteins(
    X: Any, P: Any, idx: np.ndarray, rng: np.random.Generator, pidx: np.ndarray | None = None
) -> np.ndarray:
    """Pearson correlation genes × proteins over (capped) control cells.

    ``idx`` are rows of ``X``; ``pidx`` the rows of ``P`` holding the same cells (joined by ``obs_names``).
    """
    pidx = idx if pidx is None else pidx
    if len(idx) > MAX_CONTROL_CELLS:
        pos = np.sort(rng.choice(len(idx), MAX_CONTROL_CELLS, replace=False))
        idx, pidx = idx[pos], pidx[pos]
    G: Any = _rows(X, idx)
    G = sparse.csr_matrix(G, dtype=np.float64) if sparse.issparse(G) else np.asarray(G, dtype=np.float64)
    Pb = _rows_in_order(P, pidx)
    Pb = Pb.toarray() if sparse.issparse(Pb) else np.asarray(Pb, dtype=np.float64)
    n = G.shape[0]
    gm = np.asarray(G.mean(0)).ravel()
    pm = Pb.mean(0)
    cross = np.asarray(G.T @ Pb) / n - np.outer(gm, pm)
    gsq = np.asarray(G.multiply(G).mean(0)).ravel() if sparse.issparse(G) else (G**2).mean(0)
    gsd = np.sqrt(np.maximum(gsq - gm**2, 0))
    psd = Pb.std(0)
    den = np.outer(gsd, psd)
    return np.where(den > 1e-12, cross / np.maximum(den, 1e-12), 0.0)


def standardise(F: np.ndarray) -> np.ndarray:
    mu = F.mean(0)
    sd = F.std(0)
    sd[sd < 1e-12] = 1.0
    return np.clip((F - mu) / sd, -5, 5)


def _check_finite(arr, name: str) -> None:
    """Refuse a stored target with NaN or inf values (read in row blocks: no full-size temporary)."""
    arr = np.asarray(arr)
    for i in range(0, arr.shape[0], 4096):
        if not np.isfinite(arr[i : i + 4096]).all():
            msg = f"{name} contains NaN or inf values. Re-run `hp.tl.rewards(adata)` on finite expression data."
            raise ValueError(msg)


def symmetric_adjacency(rows: list, cols: list, vals: list, n_nodes: int) -> sparse.csr_matrix:
    """The node adjacency of training and prediction from edge lists (one builder, so the two cannot drift).

    Self-loops, non-finite and non-positive weights are dropped; weights are clipped to [0, 1], duplicates summed
    and capped at 1, and the matrix is symmetrised by the larger of the two directions.
    """
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    keep = (r != c) & np.isfinite(v) & (v > 0)
    adj = sparse.coo_matrix((np.clip(v[keep], 0, 1), (r[keep], c[keep])), shape=(n_nodes, n_nodes)).tocsr()
    adj.sum_duplicates()
    adj.data = np.minimum(adj.data, 1.0)
    return adj.maximum(adj.T).tocsr()


@dataclass
class _Proteins:
    """The protein modality of a training: its name, protein names, matrix and AnnData (``None`` when absent)."""

    name: str | None = None
    names: list[str] = field(default_factory=list)
    matrix: Any = None
    adata: Any = None


@dataclass
class _GeneStats:
    """Per-gene control statistics: the feature mean, the spread (stored baseline if any), fraction non-zero, PCs."""

    mean: np.ndarray
    spread: np.ndarray
    frac: np.ndarray
    pcs: np.ndarray
    baseline: np.ndarray | None


def _extra_nodes(adata, net: NetworkEntry | None, n_genes: int) -> tuple[list[str], tuple[np.ndarray, ...]]:
    """Unmeasured network nodes and their edges (indices into ``[*genes, *extra]``; out-of-range edges dropped).

    The edges are matched to the genes by their endpoints' names where the entry stores them (a gene subset or
    reorder after ``hp.pp.gene_network`` keeps them on the right genes), by the stored positions otherwise.
    """
    extra = list(net.extra_nodes) if net is not None else []
    if net is None:
        ei, ej, ew = _NO_EDGES
    else:
        ex = _entries.network_extra_edges(adata)
        ei, ej, ew = ex["i"], ex["j"], ex["weight"]
    n = n_genes + len(extra)
    ok = (ei >= 0) & (ej >= 0) & (ei < n) & (ej < n)
    return extra, (ei[ok], ej[ok], ew[ok])


def _protein_modality(t: Target, prot_mod: str, use_protein: bool) -> _Proteins:
    prot_name = protein_mod_name(t.data, prot_mod, mod=t.mod) if (use_protein and t.mod is not None) else None
    prot = resolve_protein(t, prot_name if t.mod is not None else prot_mod) if use_protein else None
    if prot is None:
        return _Proteins(name=prot_name)
    names, P, prot_adata = prot
    return _Proteins(name=prot_name, names=names, matrix=P, adata=prot_adata)


def _gene_stats(adata, X: Any, cidx: np.ndarray, rng: np.random.Generator) -> _GeneStats:
    """Control statistics of the genes; stored values are validated (finite), never silently zeroed."""
    mean, mad, frac = control_stats(X, cidx)
    cm = check_vector(adata, "hp_control_mean", step="rewards", needed_by="hp.tl.train")
    bl = check_vector(adata, "hp_reward_baseline", step="rewards", needed_by="hp.tl.train", nonnegative=True)
    pcs = pca_loadings(X, cidx, mean, rng)
    return _GeneStats(
        mean=mean if cm is None else cm, spread=mad if bl is None else bl, frac=frac, pcs=pcs, baseline=bl
    )


def _network_edges(adata, net: NetworkEntry | None) -> tuple[list, list, list, bool]:
    """Edge lists of the gene network in ``.varp`` (empty without one) and whether there is one."""
    A_checked = check_adjacency(adata, needed_by="hp.tl.train")
    if A_checked is None:
        return [], [], [], False
    # stored zeros are not edges; an empty graph without a network entry was not chosen on purpose either
    if not (A_checked.data > 0).any() and not (net is not None and _allow_empty(net)):
        msg = (
            f"hp.tl.train: .varp[{_entries.network_key(adata)!r}] has no edge (no positive weight). Training on "
            "an empty graph "
            "needs an explicit choice: re-run `hp.pp.gene_network(adata, network, allow_empty=True)`, or build "
            "a network with edges."
        )
        raise ValueError(msg)
    A = A_checked.tocoo()
    return [A.row], [A.col], [A.data.astype(np.float64)], True


def _protein_stats(
    adata, X: Any, prot: _Proteins, cidx: np.ndarray, rng: np.random.Generator
) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Control statistics of the proteins and their correlation with the genes (cells joined by ``obs_names``)."""
    g_rows, p_rows = _protein_rows(adata, prot.adata, cidx, str(prot.name))
    pstats = control_stats(prot.matrix, np.sort(p_rows))
    corr = np.nan_to_num(_corr_with_proteins(X, prot.matrix, g_rows, rng, p_rows))
    return pstats, corr


def _protein_edges(genes: list[str], prot: _Proteins, corr: np.ndarray, first: int) -> list[tuple[np.ndarray, ...]]:
    """Edges from each protein node (``first + k``) to its coding gene and to genes correlated with it."""
    coding = None
    if prot.adata is not None and "gene" in prot.adata.var:
        coding = list(map(str, prot.adata.var["gene"]))
    upper = {g.upper(): i for i, g in enumerate(genes)}
    edges: list[tuple[np.ndarray, ...]] = []
    for k, pname in enumerate(prot.names):
        pid = first + k
        code = coding[k] if coding is not None else pname
        linked = set()
        gi = upper.get(str(code).upper())
        if gi is not None:
            edges.append((np.array([gi]), np.array([pid]), np.array([1.0])))
            linked.add(gi)
        top = np.argsort(-np.abs(corr[:, k]))[:5]
        close = [g for g in top if abs(corr[g, k]) >= 0.3 and g not in linked]
        if close:
            edges.append((np.asarray(close, dtype=np.int64), np.full(len(close), pid), np.abs(corr[close, k])))
    return edges


def _node_features(
    n_genes: int,
    n_extra: int,
    adj: sparse.csr_matrix,
    gs: _GeneStats,
    pstats: tuple[np.ndarray, ...] | None,
    corr: np.ndarray | None,
) -> np.ndarray:
    """The standardised node features (columns :data:`FEATURES`)."""
    F = np.zeros((adj.shape[0], len(FEATURES)))
    first_prot = n_genes + n_extra
    if pstats is not None and corr is not None:
        F[:n_genes, FEATURES.index("max_abs_protein_corr")] = np.abs(corr).max(1)
        F[first_prot:, FEATURES.index("max_abs_protein_corr")] = np.abs(corr).max(0)
        F[first_prot:, 0], F[first_prot:, 1], F[first_prot:, 2] = pstats
    F[:n_genes, 0] = gs.mean
    F[:n_genes, 1] = gs.spread
    F[:n_genes, 2] = gs.frac
    F[:, 3] = np.log1p(np.asarray(adj.sum(1)).ravel())
    F[:n_genes, 4 : 4 + N_PCS] = gs.pcs
    F[n_genes:first_prot, FEATURES.index("unmeasured")] = 1.0
    F[first_prot:, FEATURES.index("protein")] = 1.0
    return standardise(np.nan_to_num(F))


def _gene_target_rows(
    adata, n_nodes: int, n_p: int, baseline: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Reward, value target, row weight and baseline of all nodes, filled for the gene rows (0 elsewhere)."""
    n_genes = adata.n_vars
    reward = np.zeros((n_nodes, n_p))
    value = np.zeros(n_nodes)
    weight = np.zeros(n_nodes)
    reward[:n_genes] = np.asarray(adata.varm["hp_reward"], dtype=np.float64)
    _check_finite(adata.varm["hp_policy_target"], "hp_policy_target")  # not copied: training uses the excess
    value[:n_genes] = np.asarray(adata.var["hp_value_target"], dtype=np.float64)
    weight[:n_genes] = 1.0
    full_baseline = np.zeros(n_nodes)
    if baseline is not None:
        full_baseline[:n_genes] = baseline
    return reward, value, weight, full_baseline


def _stored_protein_targets(
    prot_adata: Any, rew: RewardsEntry, n_prot: int, n_p: int
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None] | None:
    """Reward, policy and value targets of the proteins: from the protein AnnData, else from the rewards entry."""
    if prot_adata is not None and "hp_reward" in prot_adata.varm:
        kw: dict[str, Any] = {"step": "rewards", "needed_by": "hp.tl.train (protein modality)"}
        check_matrix(prot_adata, "hp_reward", (n_prot, n_p), **kw)
        check_matrix(prot_adata, "hp_policy_target", (n_prot, n_p), row_sums=True, **kw)
        check_vector(prot_adata, "hp_value_target", nonnegative=True, **kw)
        check_vector(prot_adata, "hp_reward_baseline", nonnegative=True, **kw)
        return (
            np.asarray(prot_adata.varm["hp_reward"], dtype=np.float64),
            np.asarray(prot_adata.varm["hp_policy_target"], dtype=np.float64)
            if "hp_policy_target" in prot_adata.varm
            else None,
            np.asarray(prot_adata.var["hp_value_target"], dtype=np.float64)
            if "hp_value_target" in prot_adata.var
            else None,
        )
    if rew.protein is not None:
        pe = rew.protein
        return (
            np.asarray(pe["reward"], dtype=np.float64),
            np.asarray(pe["policy_target"], dtype=np.float64),
            np.asarray(pe["value_target"], dtype=np.float64),
        )
    return None


def _fill_protein_target_rows(
    rows: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], prot_adata: Any, rew: RewardsEntry, sl: slice
) -> None:
    """Write the protein targets into the protein rows ``sl`` of ``rows`` (left at 0 if absent or mis-shaped)."""
    reward, value, weight, baseline = rows
    n_prot, n_p = sl.stop - sl.start, reward.shape[1]
    pr = _stored_protein_targets(prot_adata, rew, n_prot, n_p)
    if pr is None or pr[0].shape != (n_prot, n_p):
        return
    R = np.nan_to_num(pr[0])
    val = pr[2] if pr[2] is not None else R.mean(1)
    reward[sl], value[sl], weight[sl] = R, np.nan_to_num(val), 1.0
    pb = None
    if prot_adata is not None and "hp_reward_baseline" in prot_adata.var:
        pb = np.asarray(prot_adata.var["hp_reward_baseline"], dtype=np.float64)
    elif rew.protein is not None:
        pb = np.asarray(rew.protein["baseline"], dtype=np.float64).ravel()
    if pb is not None and pb.shape == (n_prot,):
        baseline[sl] = np.nan_to_num(pb)


def build_graph_inputs(t: Target, *, prot_mod: str = "prot", seed: int = 0, use_protein: bool = True) -> GraphInputs:
    """Assemble the training graph of ``t`` (validated ledger entries ``perturbations`` / ``rewards`` expected)."""
    from hyperperturb._utils import get_matrix

    adata = t.adata
    rng = as_rng(seed)
    rew = read(adata, RewardsEntry, needed_by="hp.tl.train")
    perts = list(rew.perturbations)
    tmap = _entries.target_of(adata)
    net = find(adata, NetworkEntry, needed_by="hp.tl.train")
    # the node of each target: its own name, or the id hp.pp.gene_network(mapping=...) found it under
    node_of = net.target_nodes if net is not None else {}
    targets = [node_of.get(tg, tg) for tg in (tmap.get(p, p) for p in perts)]

    # nodes: measured genes, unmeasured network nodes, proteins
    genes = list(map(str, adata.var_names))
    extra, extra_edges = _extra_nodes(adata, net, len(genes))
    prot = _protein_modality(t, prot_mod, use_protein)
    n_genes, n_extra, n_prot = len(genes), len(extra), len(prot.names)
    nodes = genes + extra + [f"{p}{PROTEIN_SUFFIX}" for p in prot.names]
    n_nodes = len(nodes)

    # control statistics (the order of the random draws is part of the result: PCA, then protein correlation)
    X = get_matrix(adata)
    cidx = control_index(adata, rng)
    if "hp_control" not in adata.obs:
        logger.warning("hp.tl.train: obs['hp_control'] is absent; node features use all cells, not only controls")
    gs = _gene_stats(adata, X, cidx, rng)
    rows, cols, vals, has_net = _network_edges(adata, net)
    pstats, corr, edges = None, None, [extra_edges]
    if n_prot:
        pstats, corr = _protein_stats(adata, X, prot, cidx, rng)
        edges += _protein_edges(genes, prot, corr, n_genes + n_extra)

    # adjacency over all nodes, features
    ei, ej, ew = (np.concatenate(e) for e in zip(*edges, strict=True))
    ei, ej = ei.astype(np.int64), ej.astype(np.int64)
    adj = symmetric_adjacency([*rows, ei, ej], [*cols, ej, ei], [*vals, ew, ew], n_nodes)
    F = _node_features(n_genes, n_extra, adj, gs, pstats, corr)

    # targets
    target_rows = _gene_target_rows(adata, n_nodes, len(perts), gs.baseline)
    if n_prot:
        _fill_protein_target_rows(target_rows, prot.adata, rew, slice(n_genes + n_extra, n_nodes))
    reward, value, weight, baseline = target_rows
    node_index = {n: i for i, n in enumerate(nodes[: n_genes + n_extra])}
    target_node = np.array([node_index.get(tg, -1) for tg in targets], dtype=np.int64)
    info = {"has_network": has_net, "n_control_cells": len(cidx), "prot_mod": prot.name}
    return GraphInputs(
        nodes=nodes,
        n_genes=n_genes,
        n_extra=n_extra,
        n_prot=n_prot,
        prot_names=prot.names,
        adjacency=adj,
        extra_edges={"i": ei, "j": ej, "weight": ew},
        features=F.astype(np.float32),
        feature_names=list(FEATURES),
        perturbations=perts,
        targets=targets,
        target_node=target_node,
        reward=reward,
        value_target=value,
        row_weight=weight,
        prot_adata=prot.adata,
        info=info,
        baseline=baseline,
    )


def _allow_empty(net: NetworkEntry) -> bool:
    return bool(net.params["allow_empty"])


def stored_adjacency(
    adata, n_nodes: int, n_genes: int, extra_edges: dict[str, Any], *, needed_by: str = "hp.tl.predict"
) -> sparse.csr_matrix:
    """Rebuild the node adjacency from the gene network in ``.varp`` and the edges stored by training."""
    rows, cols, vals = [], [], []
    A0 = check_adjacency(adata, needed_by=needed_by)
    if A0 is not None:
        A = A0.tocoo()
        rows.append(A.row)
        cols.append(A.col)
        vals.append(A.data.astype(np.float64))
    ei = np.asarray(extra_edges["i"], dtype=np.int64).ravel()
    ej = np.asarray(extra_edges["j"], dtype=np.int64).ravel()
    ew = np.asarray(extra_edges["weight"], dtype=np.float64).ravel()
    rows += [ei, ej]
    cols += [ej, ei]
    vals += [ew, ew]
    return symmetric_adjacency(rows, cols, vals, n_nodes)
