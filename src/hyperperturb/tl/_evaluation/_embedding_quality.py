"""``hp.tl.embedding_quality``: how well a gene embedding reconstructs the gene network (NumPy only)."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pandas as pd
from scipy import sparse, stats
from scipy.sparse import csgraph

from hyperperturb._utils import _ball, _entries, as_rng, check_current, resolve
from hyperperturb._utils._validate import str_array
from hyperperturb.tl._map._precision import ap_row, mean_average_precision

_MAX_EXACT = 3000  # nodes up to which all pairs are scored


def _scale_free_distortion(d_emb: np.ndarray, d_g: np.ndarray) -> tuple[float, float]:
    """Mean ``|s d_emb - d_G| / d_G`` at the scale ``s`` that minimises it (a weighted median), and ``s``."""
    ok = (d_emb > 0) & np.isfinite(d_emb)
    if not ok.any():
        return float("nan"), float("nan")
    r = d_g[ok] / d_emb[ok]
    w = d_emb[ok] / d_g[ok]
    o = np.argsort(r)
    cw = np.cumsum(w[o])
    s = float(r[o][np.searchsorted(cw, 0.5 * cw[-1])])
    return float(np.mean(np.abs(s * d_emb - d_g) / d_g)), s


def _truth_depth(adata: Any, truth: Any) -> np.ndarray | None:
    if truth is None:
        if "depth" in adata.var:
            return adata.var["depth"].to_numpy(dtype=np.float64)
        tr = adata.uns.get("hyperperturb_truth")
        if isinstance(tr, dict) and "depth" in tr and "genes" in tr:
            s = pd.Series(np.asarray(tr["depth"], dtype=np.float64), index=str_array(tr["genes"]))
            return s.reindex(adata.var_names.astype(str)).to_numpy()
        return None
    if isinstance(truth, str):
        if truth not in adata.var:
            msg = f"`truth={truth!r}` is not a column of .var; columns are {list(adata.var.columns)[:20]}."
            raise KeyError(msg)
        col = adata.var[truth]
        if not pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
            msg = (
                f"`truth={truth!r}` names a .var column of dtype {col.dtype} (values such as "
                f"{col.astype(str).unique()[:3].tolist()}); `truth` is each gene's depth in the hierarchy, a number. "
                "Pass a numeric column (e.g. 'depth')."
            )
            raise TypeError(msg)
        return col.to_numpy(dtype=np.float64)
    try:
        arr = np.asarray(truth, dtype=np.float64)
    except (TypeError, ValueError) as e:
        msg = f"`truth` must be one number (depth) per gene, a .var column name or None; got values that are not numbers ({e})."
        raise TypeError(msg) from None
    if arr.shape != (adata.n_vars,):
        msg = f"`truth` must have one depth per gene ({adata.n_vars}), got shape {arr.shape}."
        raise ValueError(msg)
    return arr


def embedding_quality(
    data: Any,
    *,
    basis: str = "X_poincare",
    geometry: str | None = None,
    truth: str | np.ndarray | None = None,
    adjacency: str | None = None,
    n_pairs: int = 200_000,
    seed: int = 0,
    mod: str = "rna",
) -> pd.DataFrame:
    """Graph-reconstruction quality of a gene embedding.

    Scores how well distances between the genes' embedding vectors reproduce the gene network:

    ``map``
        Mean average precision: for every gene with at least one neighbour, rank all other genes by embedding
        distance and average the precision at the rank of each true neighbour (Nickel & Kiela 2017).
    ``mean_rank``
        Mean rank of a true neighbour among the other genes (1 is best).
    ``distortion``
        Mean ``|s d_emb - d_G| / d_G`` over connected gene pairs, with hop distances ``d_G`` and the single scale
        ``s`` that minimises it (the embedding is not trained to match hop counts, so the scale is fitted);
        pairs are sampled (``n_pairs``) on large graphs.
    ``spearman_depth_radius``
        With a known hierarchy (``truth``, ``.var["depth"]`` or ``.uns["hyperperturb_truth"]``): Spearman
        correlation between a gene's depth and its distance from the origin (hierarchies put roots near the
        centre of the Poincaré ball).

    Parameters
    ----------
    data
        AnnData or MuData with an embedding in ``.varm[basis]`` and the network in ``.varp[adjacency]``.
    basis
        Key of the genes x dim embedding in ``.varm``.
    geometry
        ``"poincare"`` (closed-form arcosh distance, curvature from the ``train`` ledger entry when present) or
        ``"euclidean"``. Default: the geometry recorded by the step that wrote ``basis`` (:func:`hyperperturb.tl.train` or
        :func:`hyperperturb.tl.embed_network`), else ``"poincare"``.
    truth
        Depth per gene: a ``.var`` column name or an array; ``None`` looks for synthetic ground truth.
    adjacency
        Key of the gene network in ``.varp``; ``None``: the ``key_added`` recorded by
        :func:`hyperperturb.pp.gene_network` (``"hp_adjacency"`` by default).
    n_pairs
        Number of connected pairs sampled for the distortion on graphs with more than 3000 genes.
    seed
        Seed of that sampling.
    mod
        Modality of a MuData holding RNA.

    Returns
    -------
    A DataFrame with columns ``metric``, ``value``, ``n`` (nodes or pairs used). Genes with a non-finite
    embedding row (not modelled) are left out.

    Examples
    --------
    >>> hp.tl.embedding_quality(adata)  # doctest: +SKIP
    """
    t = resolve(data, mod=mod)
    adata = t.adata
    if basis not in adata.varm:
        msg = f"No embedding .varm[{basis!r}]; .varm keys are {list(adata.varm)}. Run `hp.tl.train(adata)` first."
        raise KeyError(msg)
    if adjacency is None:
        adjacency = _entries.network_key(adata)
    if adjacency not in adata.varp:
        msg = f"No network .varp[{adjacency!r}]. Run `hp.pp.gene_network(adata, ...)` first."
        raise KeyError(msg)
    params: dict[str, Any] = {}
    for step in ("train", "embed_network"):  # the step that wrote this basis (train by default)
        p = _entries.params(adata, step)
        wrote = _entries.map_key(adata, step) == basis
        if wrote:
            check_current(adata, step, needed_by="hp.tl.embedding_quality")  # an old map against a new network
        if wrote or (not params and step == "train"):
            params = p
    if geometry is None:
        geometry = str(params.get("geometry", "poincare"))
    if geometry not in ("poincare", "euclidean"):
        msg = f"`geometry` must be 'poincare' or 'euclidean', got {geometry!r}."
        raise ValueError(msg)
    geo = _ball.geometry(geometry, params.get("curvature", params.get("c", 1.0)))
    c = geo.c
    Z = np.asarray(adata.varm[basis], dtype=np.float64)
    keep = np.isfinite(Z).all(axis=1)
    if geo.hyperbolic and keep.any() and (c * (Z[keep] ** 2).sum(1)).max() >= 1.0:
        msg = f".varm[{basis!r}] has points outside the Poincaré ball of curvature {c}; pass geometry='euclidean'."
        raise ValueError(msg)
    depth = _truth_depth(adata, truth)
    idx = np.flatnonzero(keep)
    Z = Z[idx]
    A = sparse.csr_matrix(adata.varp[adjacency])[idx][:, idx]
    A = ((A + A.T) > 0).astype(np.float64).tocsr()
    A.setdiag(0)
    A.eliminate_zeros()
    dist = geo.pairwise_distance
    rows = []
    n = idx.size
    if n <= _MAX_EXACT:
        D = dist(Z, Z)
        m_ap, n_ap = mean_average_precision(D, A)
    else:  # large graphs: MAP on a random subset of 3000 source nodes against all nodes
        rng = as_rng(seed)
        src = rng.choice(n, _MAX_EXACT, replace=False)
        aps = []
        for s0 in range(0, src.size, 500):
            ss = src[s0 : s0 + 500]
            Dsub = dist(Z[ss], Z)
            for r, i in enumerate(ss):
                ap = ap_row(Dsub[r], A.indices[A.indptr[i] : A.indptr[i + 1]], int(i))
                if ap is not None:
                    aps.append(ap)
        m_ap, n_ap = (float(np.mean(aps)) if aps else float("nan")), len(aps)
        D = None
    rows.append({"metric": "map", "value": m_ap, "n": n_ap})
    # mean rank of true neighbours
    hop = csgraph.shortest_path(A, unweighted=True, directed=False) if n <= _MAX_EXACT else None
    if D is not None:
        ranks = []
        for i in range(n):
            nb = A.indices[A.indptr[i] : A.indptr[i + 1]]
            if nb.size:
                d = np.delete(D[i], i)
                ranks.extend((np.searchsorted(np.sort(d), D[i, nb], side="right")).tolist())
        rows.append({"metric": "mean_rank", "value": float(np.mean(ranks)) if ranks else float("nan"), "n": len(ranks)})
    rng = as_rng(seed)
    if hop is not None:
        iu = np.triu_indices(n, k=1)
        dg = hop[iu]
        ok = np.isfinite(dg) & (dg > 0)
        pi, pj, dg = iu[0][ok], iu[1][ok], dg[ok]
        if pi.size > n_pairs:
            pick = rng.choice(pi.size, n_pairs, replace=False)
            pi, pj, dg = pi[pick], pj[pick], dg[pick]
        de = cast(np.ndarray, D)[pi, pj]  # D is computed whenever the exact hop matrix is
    else:
        pi = rng.integers(0, n, n_pairs)
        hop_rows = csgraph.shortest_path(A, unweighted=True, directed=False, indices=np.unique(pi))
        row_of = {v: r for r, v in enumerate(np.unique(pi))}
        pj = rng.integers(0, n, n_pairs)
        dg = hop_rows[[row_of[v] for v in pi], pj]
        ok = np.isfinite(dg) & (dg > 0)
        pi, pj, dg = pi[ok], pj[ok], dg[ok]
        de = np.asarray([dist(Z[a : a + 1], Z[b : b + 1])[0, 0] for a, b in zip(pi, pj, strict=True)])
    dist_val, scale = _scale_free_distortion(de, dg) if dg.size else (float("nan"), float("nan"))
    rows.append({"metric": "distortion", "value": dist_val, "n": int(dg.size)})
    rows.append({"metric": "distortion_scale", "value": scale, "n": int(dg.size)})
    if depth is not None:
        dep = depth[idx]
        radius = geo.radius(Z)
        ok = np.isfinite(dep)
        rho = stats.spearmanr(dep[ok], radius[ok]).statistic if ok.sum() > 2 else float("nan")
        rows.append({"metric": "spearman_depth_radius", "value": float(rho), "n": int(ok.sum())})
    return pd.DataFrame(rows, columns=["metric", "value", "n"])
