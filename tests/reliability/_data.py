"""Tiny screens and a NumPy reference of the cell-level pass, for the reliability matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

CONTROL = "non-targeting"


def screen(
    n_per: int = 5,
    n_genes: int = 12,
    perts: tuple[str, ...] = ("G0", "G1", "G2"),
    *,
    seed: int = 0,
    fmt: str = "csr",
    dtype: type = np.float32,
) -> AnnData:
    """Controls + ``perts`` (``n_per`` cells each) on genes ``G0..``; log-normalised values in ``fmt``."""
    rng = np.random.default_rng(seed)
    labels = [CONTROL] * (2 * n_per) + [p for p in perts for _ in range(n_per)]
    n = len(labels)
    X = np.log1p(rng.poisson(2.0, size=(n, n_genes))).astype(dtype)
    # perturbed cells lose their target gene: a real effect to find
    for i, lab in enumerate(labels):
        if lab != CONTROL and lab.startswith("G") and int(lab[1:]) < n_genes:
            X[i, int(lab[1:])] = 0
    obs = pd.DataFrame({"perturbation": pd.Categorical(labels)}, index=[f"c{i}" for i in range(n)])
    var = pd.DataFrame(index=[f"G{i}" for i in range(n_genes)])
    mats = {
        "csr": sparse.csr_matrix,
        "csc": sparse.csc_matrix,
        "coo": sparse.coo_matrix,
        "dense": np.asarray,
    }
    return AnnData(mats[fmt](X), obs=obs, var=var)


def reference_rewards(
    X: np.ndarray, labels: np.ndarray, control: list[str], ignore: list[str], *, signed: bool = False
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Plain NumPy: perturbation names, control mean per gene, genes x perturbations mean (abs) LFC."""
    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(labels, dtype=object)
    is_ctrl = np.isin(labels, control)
    names = sorted({str(v) for v in labels if v not in control and v not in ignore})
    cm = X[is_ctrl].mean(0)
    R = np.zeros((X.shape[1], len(names)))
    for j, p in enumerate(names):
        d = X[labels == p] - cm
        R[:, j] = d.mean(0) if signed else np.abs(d).mean(0)
    return names, cm, R


def rewarded() -> AnnData:
    """:func:`screen` with the design, a 4-gene chain network (G0-G1-G2-G3) and rewards."""
    import hyperperturb as hp

    a = screen()
    hp.pp.perturbations(a)
    hp.pp.gene_network(a, pd.DataFrame({"a": ["G0", "G1", "G2"], "b": ["G1", "G2", "G3"]}))
    hp.tl.rewards(a, verbose=False)
    return a
