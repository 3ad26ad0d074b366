"""Tiny synthetic objects and a snapshot helper for the ``hp.pp`` tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse


def tiny_screen(n_per: int = 6, n_genes: int = 8, seed: int = 0, *, counts: bool = False) -> AnnData:
    """Controls + 3 perturbations (A, B, C) + 2 'multiple' cells, log-normalised unless ``counts``."""
    rng = np.random.default_rng(seed)
    labels = ["non-targeting"] * n_per + ["A"] * n_per + ["B"] * n_per + ["C"] * n_per + ["multiple"] * 2
    n = len(labels)
    X = rng.poisson(3.0, size=(n, n_genes)).astype(np.float32)
    if not counts:
        X = np.log1p(X / X.sum(1, keepdims=True) * 100).astype(np.float32)
    obs = pd.DataFrame({"perturbation": labels}, index=[f"c{i}" for i in range(n)])
    var = pd.DataFrame(index=[f"G{i}" for i in range(n_genes)])
    return AnnData(sparse.csr_matrix(X), obs=obs, var=var)


def snapshot(adata: AnnData) -> dict:
    """Everything a failed call must leave untouched."""
    X = adata.X
    X = X.toarray() if sparse.issparse(X) else np.asarray(X)
    return {
        "obs": list(adata.obs.columns),
        "var": list(adata.var.columns),
        "obsm": list(adata.obsm.keys()),
        "varp": list(adata.varp.keys()),
        "varm": list(adata.varm.keys()),
        "layers": list(adata.layers.keys()),
        "uns": {k: sorted(v) if isinstance(v, dict) else v for k, v in adata.uns.items() if k == "hyperperturb"}
        | {"_keys": sorted(adata.uns.keys())},
        "X": X.copy(),
        "shape": adata.shape,
    }


def assert_unchanged(adata: AnnData, before: dict) -> None:
    after = snapshot(adata)
    for k in before:
        if k == "X":
            np.testing.assert_array_equal(after["X"], before["X"])
        else:
            assert after[k] == before[k], k
