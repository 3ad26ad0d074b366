"""``hp.pp.preprocess``: the original HyperPerturb design's scanpy pipeline as one convenience call."""

from __future__ import annotations

import contextlib
import sys
import warnings
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from hyperperturb._utils import (
    _entries,
    as_rng,
    check_finite_matrix,
    check_unique_names,
    logger,
    record,
    resolve,
)
from hyperperturb._utils._data import update_mudata
from hyperperturb._utils._quiet import quiet_tensorflow_start
from hyperperturb._utils._schema import PreprocessEntry
from hyperperturb._utils._warn import warn

_STEP = "preprocess"


def _stratified_subsample(labels: pd.Series | None, n_obs: int, max_cells: int, seed: int) -> np.ndarray:
    """Boolean mask of a seeded random subsample; with ``labels``, proportional per group, at least one per group."""
    rng = as_rng(seed)
    mask = np.zeros(n_obs, dtype=bool)
    if labels is None:
        mask[rng.choice(n_obs, size=max_cells, replace=False)] = True
        return mask
    codes = pd.Categorical(labels.astype(str).fillna("nan")).codes
    sizes = np.bincount(codes)
    quota = np.minimum(sizes, np.maximum(1, np.floor(max_cells * sizes / n_obs).astype(np.int64)))
    # hand out what rounding left over, to the largest groups that still have cells
    left = max_cells - int(quota.sum())
    while left > 0:
        room = sizes - quota
        if room.sum() == 0:
            break
        order = np.argsort(-room, kind="stable")[: min(left, int((room > 0).sum()))]
        quota[order] += 1
        left -= len(order)
    perm = rng.permutation(n_obs)
    rank = pd.Series(codes[perm]).groupby(codes[perm]).cumcount().to_numpy()
    mask[perm[rank < quota[codes[perm]]]] = True
    return mask


def _count_check(X: Any) -> None:
    block = X[: min(500, X.shape[0])]
    vals = block.data if sparse.issparse(block) else np.asarray(block).ravel()
    if vals.size and (vals.min() < 0 or not np.all(np.mod(vals, 1) == 0)):
        warn(
            "adata.X does not look like raw counts (it has negative or non-integer values). hp.pp.preprocess "
            "normalises and log-transforms X; on already normalised data run only the steps you need with scanpy.",
            UserWarning,
        )


def _neighbors(adata: AnnData, *, n_neighbors: int, n_pcs: int, seed: int) -> None:
    """``sc.pp.neighbors``; if its approximate-kNN path fails on ``csr_array`` (newer SciPy), exact kNN instead.

    scanpy computes the connectivities with umap-learn, whose package import loads TensorFlow when it is installed
    (for ``umap.ParametricUMAP``). That first import happens here, inside :func:`quiet_tensorflow_start`, so
    TensorFlow's C++ start-up lines do not land on the user's stderr (nothing is hidden when TensorFlow or umap is
    already loaded, or when the user set ``TF_CPP_MIN_LOG_LEVEL`` to 0 or 1).
    """
    import scanpy as sc

    if "umap" not in sys.modules:
        with quiet_tensorflow_start(), contextlib.suppress(ImportError):
            import umap  # noqa: F401  (umap-learn; its import may load TensorFlow)

    try:
        sc.pp.neighbors(adata, n_neighbors=n_neighbors, n_pcs=n_pcs, random_state=seed)
    except AttributeError as e:  # scanpy <= 1.11 calls .getnnz on the csr_array that newer transformers return
        if "getnnz" not in str(e):
            raise
        from sklearn.base import BaseEstimator, TransformerMixin
        from sklearn.neighbors import KNeighborsTransformer

        class _ExactKnn(TransformerMixin, BaseEstimator):
            def __init__(self, n_neighbors: int = 15) -> None:
                self.n_neighbors = n_neighbors

            def fit(self, X: Any, y: Any = None) -> _ExactKnn:
                self.knn_ = KNeighborsTransformer(n_neighbors=self.n_neighbors, algorithm="brute", mode="distance").fit(
                    X
                )
                return self

            def transform(self, X: Any) -> sparse.csr_matrix:
                return sparse.csr_matrix(self.knn_.transform(X))

        logger.info("preprocess: approximate kNN failed (%s); using exact kNN (sklearn, brute force)", e)
        sc.pp.neighbors(adata, n_neighbors=n_neighbors, n_pcs=n_pcs, transformer=_ExactKnn(n_neighbors))


def _protected_genes(adata: AnnData, labels: pd.Series | None) -> set[str]:
    """Measured perturbation targets: kept even when they are not highly variable."""
    names: set[str] = set()
    names |= set(_entries.perturbation_targets(adata))
    if labels is not None:
        names |= set(labels.dropna().astype(str).unique())
    return names & set(map(str, adata.var_names))


def preprocess(
    data: AnnData | Any,
    *,
    min_genes: int = 200,
    min_cells: int = 3,
    n_top_genes: int = 1000,
    max_value: float | None = 10,
    max_cells: int | None = None,
    n_pcs: int = 50,
    n_neighbors: int = 15,
    neighbors: bool = True,
    perturbation_key: str | None = None,
    seed: int = 0,
    layer_key: str = "hp_lognorm",
    copy: bool = False,
) -> AnnData | Any | None:
    """Filter, normalise, log-transform, select genes, scale, PCA and neighbours with scanpy, in one call.

    The original HyperPerturb design's pipeline: :func:`scanpy.pp.filter_cells`, :func:`scanpy.pp.filter_genes`,
    :func:`scanpy.pp.normalize_total`, :func:`scanpy.pp.log1p`, :func:`scanpy.pp.highly_variable_genes`
    (``flavor="seurat"`` on the log data), :func:`scanpy.pp.scale` (capped at ``max_value``),
    :func:`scanpy.pp.pca` and :func:`scanpy.pp.neighbors`. Nothing is re-implemented.

    Parameters
    ----------
    data
        AnnData with raw counts in ``X``, or MuData with the RNA modality ``"rna"`` (only that modality is
        processed; align the others afterwards, e.g. with ``mu.pp.intersect_obs(mdata)``).
    min_genes
        Minimum detected genes per cell. Capped at 10 % of the number of genes (with a log message) so that
        small gene panels are not wiped out.
    min_cells
        Minimum cells per gene. Capped at 10 % of the number of cells.
    n_top_genes
        Number of highly variable genes to keep. The object is subset to them plus every measured perturbation
        target (from ``perturbation_key`` labels or the :func:`hyperperturb.pp.perturbations` ledger), which is
        kept even if not highly variable. ``var["highly_variable"]`` flags the HVGs.
    max_value
        Cap of the scaled values (``None``: no cap). Sparse data are scaled without centring (stays sparse; PCA
        centres implicitly); dense data are centred.
    max_cells
        If set, a seeded random subsample of at most this many cells (taken before filtering), stratified by
        ``perturbation_key`` when given so that every perturbation keeps at least one cell. Off by default.
    n_pcs
        Principal components (capped by the data size).
    n_neighbors
        Neighbours of the cell kNN graph.
    neighbors
        Build the cell kNN graph (:func:`scanpy.pp.neighbors`, for exploratory analysis such as UMAP/Leiden).
        hyperperturb's own steps never use it; ``False`` skips it, which saves minutes on large screens (the
        first call in a session also pays a one-off compilation of scanpy's kNN code).
    perturbation_key
        Column of ``.obs`` with perturbation labels (stratifies ``max_cells``, protects target genes).
    seed
        Seed of the subsample, PCA and neighbours.
    layer_key
        Layer keeping the normalised log1p expression before scaling; recorded in the ledger so that
        :func:`hyperperturb.pp.log_fold_change` and :func:`hyperperturb.tl.rewards` use it by default.
    copy
        Return a processed copy instead of modifying ``data``.

    Returns
    -------
    ``None``, or the processed copy if ``copy=True``. Subsets cells and genes; writes ``X`` (scaled),
    ``.layers[layer_key]``, ``.obsm["X_pca"]``, ``.obsp["distances"/"connectivities"]``, scanpy's ``.uns``
    entries and ``.uns["hyperperturb"]["preprocess"]`` (``params``, ``layer``, ``n_cells_in``, ``n_genes_in``,
    ``n_cells``, ``n_genes``, ``min_genes``/``min_cells`` actually used, ``protected_genes``).

    Examples
    --------
    >>> hp.pp.preprocess(adata, perturbation_key="perturbation", n_top_genes=2000)  # doctest: +SKIP
    """
    import scanpy as sc

    t = resolve(data, mod="rna")
    adata = t.adata
    if adata.isbacked:
        msg = "hp.pp.preprocess subsets and rewrites the object and needs it in memory: run `adata = adata.to_memory()` first."
        raise ValueError(msg)
    check_unique_names(adata)
    for name, val in (
        ("min_genes", min_genes),
        ("min_cells", min_cells),
        ("n_top_genes", n_top_genes),
        ("n_pcs", n_pcs),
        ("n_neighbors", n_neighbors),
    ):
        if not isinstance(val, int | np.integer) or val < (0 if name.startswith("min") else 1):
            msg = f"`{name}` must be a {'non-negative' if name.startswith('min') else 'positive'} integer, got {val!r}."
            raise ValueError(msg)
    labels = None
    if perturbation_key is not None:
        if perturbation_key not in adata.obs.columns:
            msg = f"Column {perturbation_key!r} not found in obs; obs columns are {list(adata.obs.columns)}. Pass the right `perturbation_key=`."
            raise KeyError(msg)
        labels = adata.obs[perturbation_key]
    if max_cells is not None and (not isinstance(max_cells, int | np.integer) or max_cells < 2):
        msg = f"`max_cells` must be an integer >= 2 or None, got {max_cells!r}."
        raise ValueError(msg)
    if layer_key in adata.layers:
        msg = f"adata.layers[{layer_key!r}] already exists; was preprocess run before? Pass another `layer_key=` or delete the layer."
        raise ValueError(msg)
    check_finite_matrix(adata.X)
    _count_check(adata.X)

    # cells: optional subsample, then filtering (masks only; nothing written yet)
    n_in, g_in = adata.shape
    keep_cells = np.ones(n_in, dtype=bool)
    if max_cells is not None and max_cells < n_in:
        keep_cells = _stratified_subsample(labels, n_in, int(max_cells), seed)
    eff_min_genes = min(int(min_genes), max(1, adata.n_vars // 10))
    eff_min_cells = min(int(min_cells), max(1, int(keep_cells.sum()) // 10))
    if eff_min_genes != min_genes or eff_min_cells != min_cells:
        logger.info(
            "preprocess: small data (%d cells x %d genes); using min_genes=%d, min_cells=%d",
            int(keep_cells.sum()),
            adata.n_vars,
            eff_min_genes,
            eff_min_cells,
        )
    sub = adata[keep_cells]
    cell_ok, _ = sc.pp.filter_cells(sub, min_genes=eff_min_genes, inplace=False)
    idx_cells = np.flatnonzero(keep_cells)[cell_ok]
    if len(idx_cells) < 3:
        msg = (
            f"Filtering left {len(idx_cells)} of {n_in} cells (min_genes={eff_min_genes}). Lower `min_genes=` or "
            "check that X holds counts."
        )
        raise ValueError(msg)
    gene_ok, _ = sc.pp.filter_genes(adata[idx_cells], min_cells=eff_min_cells, inplace=False)
    if gene_ok.sum() < 2:
        msg = f"Filtering left {int(gene_ok.sum())} of {g_in} genes (min_cells={eff_min_cells}). Lower `min_cells=`."
        raise ValueError(msg)

    work = adata[idx_cells][:, gene_ok].copy()
    sc.pp.normalize_total(work)
    sc.pp.log1p(work)
    work.layers[layer_key] = work.X.copy()
    n_hvg = min(int(n_top_genes), work.n_vars)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)  # zero-variance genes in tiny data
        sc.pp.highly_variable_genes(work, n_top_genes=n_hvg, flavor="seurat")
    protected = sorted(_protected_genes(work, labels))
    hvg = work.var["highly_variable"].to_numpy(dtype=bool)
    keep_genes = hvg | work.var_names.isin(protected)
    # protected targets kept *on top of* the HVGs (those already highly variable are counted once, as HVGs)
    n_added = int((keep_genes & ~hvg).sum())
    n_hvg_kept = int(hvg.sum())
    work = work[:, keep_genes].copy()
    sc.pp.scale(work, max_value=max_value, zero_center=not sparse.issparse(work.X))
    n_comps = int(min(n_pcs, work.n_obs - 1, work.n_vars - 1))
    sc.pp.pca(work, n_comps=n_comps, random_state=seed)
    if neighbors:
        _neighbors(work, n_neighbors=int(min(n_neighbors, work.n_obs - 1)), n_pcs=n_comps, seed=seed)

    entry = PreprocessEntry(
        layer=layer_key,
        n_cells_in=n_in,
        n_genes_in=g_in,
        n_cells=work.n_obs,
        n_genes=work.n_vars,
        min_genes_used=eff_min_genes,
        min_cells_used=eff_min_cells,
        protected_genes=np.asarray(protected, dtype=str),
        params={
            "min_genes": int(min_genes),
            "min_cells": int(min_cells),
            "n_top_genes": int(n_top_genes),
            "max_value": max_value,
            "max_cells": max_cells,
            "n_pcs": int(n_pcs),
            "n_neighbors": int(n_neighbors),
            "neighbors": bool(neighbors),
            "perturbation_key": perturbation_key,
            "seed": int(seed),
            "layer_key": layer_key,
        },
    )
    record(work, _STEP, entry.to_uns())
    logger.info(
        "preprocess: %d -> %d cells, %d -> %d genes (%d HVGs + %d perturbation targets kept although not highly "
        "variable; %d targets protected in all), %d PCs",
        n_in,
        work.n_obs,
        g_in,
        work.n_vars,
        n_hvg_kept,
        n_added,
        len(protected),
        n_comps,
    )
    if copy:
        if t.mod is not None:
            out = t.data.copy()
            out.mod[t.mod] = work
            update_mudata(out)
            return out
        return work
    # write back in place: subset the user's object, then carry over what scanpy computed
    cell_names = work.obs_names
    adata._inplace_subset_obs(adata.obs_names.get_indexer(cell_names))
    adata._inplace_subset_var(adata.var_names.get_indexer(work.var_names))
    adata.X = work.X
    for k in work.layers:
        adata.layers[k] = work.layers[k]
    for col in work.obs.columns:
        adata.obs[col] = work.obs[col].to_numpy()
    for col in work.var.columns:
        adata.var[col] = work.var[col].to_numpy()
    for k in work.obsm:
        adata.obsm[k] = work.obsm[k]
    for k in work.varm:
        adata.varm[k] = work.varm[k]
    for k in work.obsp:
        adata.obsp[k] = work.obsp[k]
    for k, v in work.uns.items():
        adata.uns[k] = v
    return t.done(False)
