"""A small AnnData carrying hand-written ``hp.tl.train`` outputs (shared by tests/pl and tests/get).

Load it from other test folders with :func:`load` (tests run with ``--import-mode=importlib``, so this file is not
importable as a package module).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from hyperperturb._utils import record

PERTURBATIONS = ["STAT1", "JAK2", "IFNGR1", "IRF1", "SPI1", "CUL3"]
MEASURED_TARGETS = ["STAT1", "JAK2", "IRF1"]
EXTRA_NODES = ["IFNGR1", "SPI1"]


def make_trained(
    n_genes: int = 40, *, dim: int = 2, curvature: float = 1.0, seed: int = 0, n_cells: int = 30, n_epochs: int = 12
) -> AnnData:
    """Seeded AnnData (``n_cells`` x ``n_genes``) with every array that ``hp.tl.train`` writes, filled by hand."""
    rng = np.random.default_rng(seed)
    names = MEASURED_TARGETS + [f"G{i:02d}" for i in range(n_genes - len(MEASURED_TARGETS))]
    n_p = len(PERTURBATIONS)
    R = 1 / np.sqrt(curvature)
    # hierarchy: a few general genes near the centre, the rest towards the boundary
    direction = rng.normal(size=(n_genes, dim))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    frac = np.concatenate([rng.uniform(0.05, 0.35, 6), rng.uniform(0.5, 0.95, n_genes - 6)])
    emb = direction * (frac * R)[:, None]
    logits = rng.normal(size=(n_genes, n_p)) * 2
    policy = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    reward = np.abs(rng.normal(size=(n_genes, n_p))) * rng.uniform(0.1, 1.0, size=(n_genes, 1))
    target = reward / reward.sum(1, keepdims=True)
    value_target = reward.mean(1)
    value = value_target + rng.normal(scale=0.02, size=n_genes)
    a = sparse.random(n_genes, n_genes, density=0.12, random_state=seed, format="csr")
    a = ((a + a.T) / 2).tocsr()
    a.setdiag(0)
    a.eliminate_zeros()
    a.data = np.clip(a.data, 0.05, 1.0)
    X = sparse.random(n_cells, n_genes, density=0.3, random_state=seed, format="csr", dtype=np.float32)
    var = pd.DataFrame(
        {
            "module": pd.Categorical(rng.choice(["interferon", "myeloid", "housekeeping"], n_genes)),
            "mean_expr": rng.gamma(2.0, 1.0, n_genes),
        },
        index=names,
    )
    adata = AnnData(X=X, var=var)
    adata.obs_names = [f"cell{i}" for i in range(n_cells)]
    adata.varm["X_poincare"] = emb
    adata.varm["hp_policy"] = policy
    adata.varm["hp_reward"] = reward
    adata.varm["hp_policy_target"] = target
    adata.var["hp_value"] = value
    adata.var["hp_value_target"] = value_target
    adata.varp["hp_adjacency"] = a
    epochs = np.arange(n_epochs)
    pol = 1.5 * np.exp(-epochs / 4) + 0.2
    val = 0.8 * np.exp(-epochs / 3) + 0.05
    record(
        adata,
        "perturbations",
        {
            "params": {"key": "perturbation"},
            "key": "perturbation",
            "control": ["non-targeting"],
            "names": np.asarray(PERTURBATIONS),
            "targets": np.asarray(PERTURBATIONS),
            "n_cells": np.full(n_p, 5),
        },
    )
    record(
        adata, "rewards", {"params": {"signed": False}, "perturbations": np.asarray(PERTURBATIONS), "n_zero_reward": 0}
    )
    pdir = rng.normal(size=(n_p, dim))
    pdir /= np.linalg.norm(pdir, axis=1, keepdims=True)
    edir = rng.normal(size=(len(EXTRA_NODES), dim))
    edir /= np.linalg.norm(edir, axis=1, keepdims=True)
    record(
        adata,
        "train",
        {
            "params": {
                "curvature": curvature,
                "dim": dim,
                "geometry": "poincare",
                "key_added": "X_poincare",
                "epochs": n_epochs,
            },
            "history": {
                "loss": pol + 0.5 * val,
                "policy_loss": pol,
                "value_loss": val,
                "val_policy_loss": pol * 1.1,
                "learning_rate": 1e-2 * np.exp(-epochs / 10) * (0.75 + 0.25 * np.cos(epochs)),
                "complexity": np.minimum(1.0, 0.3 + epochs / n_epochs),
            },
            "perturbations": np.asarray(PERTURBATIONS),
            "perturbation_embedding": pdir * 0.6 * R,
            "extra_nodes": np.asarray(EXTRA_NODES),
            "extra_embedding": edir * 0.7 * R,
            "seed": seed,
        },
    )
    return adata
