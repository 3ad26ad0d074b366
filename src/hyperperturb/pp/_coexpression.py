"""The ``"coexpression"`` network of ``hp.pp.gene_network``: a |Pearson r| kNN gene graph from the data."""

from __future__ import annotations

import numpy as np
from anndata import AnnData
from scipy import sparse

from hyperperturb._utils import check_finite_matrix, get_matrix, logger


def _coexpression(
    adata: AnnData, *, layer: str | None, n_neighbors: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """|Pearson r| kNN graph between genes over control cells (all cells if none), streamed over cell chunks."""
    X = get_matrix(adata, layer)
    what = f"adata.layers[{layer!r}]" if layer is not None else "the expression matrix"
    check_finite_matrix(X, what=what)
    G = adata.n_vars
    if G * G * 8 > 4e9:
        msg = (
            f"network='coexpression' needs a {G} x {G} gene-gene matrix ({G * G * 8 / 1e9:.1f} GB). "
            "Subset to highly variable genes first (`hp.pp.preprocess` or `sc.pp.highly_variable_genes(..., subset=True)`)."
        )
        raise ValueError(msg)
    rows = None
    if "hp_control" in adata.obs.columns and int(adata.obs["hp_control"].sum()) >= 3:
        rows = np.flatnonzero(adata.obs["hp_control"].to_numpy(dtype=bool))
    else:
        logger.info(
            "gene_network: no control cells annotated (run hp.pp.perturbations first); correlating over all cells"
        )
    n_rows = adata.n_obs if rows is None else len(rows)
    S = np.zeros((G, G), dtype=np.float64)
    s = np.zeros(G, dtype=np.float64)
    chunk = max(1, min(10_000, int(2e8 // max(G, 1))))
    for lo in range(0, n_rows, chunk):
        hi = min(lo + chunk, n_rows)
        block = X[lo:hi] if rows is None else X[rows[lo:hi]]
        if hasattr(block, "dask"):  # a Dask array (dense or scipy-sparse chunks): this block into memory
            block = block.compute()
        if sparse.issparse(block):
            block = block.astype(np.float64)
            S += (block.T @ block).toarray()
            s += np.asarray(block.sum(0)).ravel()
        else:
            block = np.asarray(block, dtype=np.float64)
            S += block.T @ block
            s += block.sum(0)
    mu = s / n_rows
    cov = S / n_rows - np.outer(mu, mu)
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    ok = sd > 1e-12 * max(1.0, float(sd.max(initial=0.0)))
    inv = np.where(ok, 1.0 / np.where(ok, sd, 1.0), 0.0)
    R = np.abs(cov * inv[:, None] * inv[None, :])
    np.clip(R, 0.0, 1.0, out=R)
    np.fill_diagonal(R, 0.0)
    R[~ok] = 0.0
    R[:, ~ok] = 0.0
    k = min(n_neighbors, G - 1)
    if k <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), int(ok.sum())
    nb = np.argpartition(-R, kth=k - 1, axis=1)[:, :k]
    ii = np.repeat(np.arange(G), k)
    jj = nb.ravel()
    ww = R[ii, jj]
    keep = ww > 0
    return ii[keep], jj[keep], ww[keep], int(ok.sum())
