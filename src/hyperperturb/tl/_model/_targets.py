"""Private: the training targets of ``hp.tl.train`` (excess over each node's noise floor, value units)."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse


def excess_targets(g: Any, trainable: np.ndarray, *, signed: bool, as_sparse: bool = False) -> dict[str, Any]:
    """Leak-free targets on top of each node's control noise floor ``B`` (only the training columns are read).

    ``E = max(R - B, 0)`` over the training perturbations; the policy target is ``E`` (normalised over the active
    perturbations in the loss), the value target the mean of ``E`` per node in units of ``unit`` (its mean over
    nodes with targets), so that the value head works on O(1) numbers whatever the scale of the rewards. ``E`` is
    float32 (what the model trains on), computed in row blocks without a full-size float64 temporary, and a
    ``scipy.sparse`` CSR matrix with ``as_sparse`` (exact: entries at or below the floor are zero).
    """
    B = np.zeros(g.n_nodes)
    if g.baseline is not None and not signed:
        B = np.where(g.row_weight > 0, np.nan_to_num(g.baseline), 0.0)
    n_p = g.reward.shape[1]
    v = np.zeros(g.n_nodes)
    blocks = []
    dense = np.empty((0 if as_sparse else g.n_nodes, n_p), dtype=np.float32)
    every = bool(np.all(trainable))
    step = max(1, min(4096, (1 << 22) // max(n_p, 1)))  # rows per block: small temporaries at genome scale
    for i in range(0, g.n_nodes, step):
        sl = slice(i, min(i + step, g.n_nodes))
        R = np.abs(g.reward[sl]) if signed else g.reward[sl]
        e = np.clip(R - B[sl, None], 0.0, None)
        e[:, ~trainable] = 0.0
        v[sl] = e.mean(1) if every else e[:, trainable].mean(1)
        if as_sparse:
            blocks.append(sparse.csr_matrix(e.astype(np.float32)))
        else:
            dense[sl] = e
    E: Any = dense
    if as_sparse:
        E = sparse.vstack(blocks, format="csr") if blocks else sparse.csr_matrix((0, n_p), dtype=np.float32)
    v = np.where(g.row_weight > 0, v, 0.0)
    rows = g.row_weight > 0
    # one unit per modality: protein rewards (e.g. ADT counts) live on another scale than log expression
    is_prot = np.zeros(g.n_nodes, dtype=bool)
    is_prot[g.n_nodes - g.n_prot :] = g.n_prot > 0
    units = np.ones(g.n_nodes)
    unit_by_kind = {}
    for kind, sel in (("genes", ~is_prot), ("proteins", is_prot)):
        r = rows & sel
        u = float(v[r].mean()) if r.any() and v[r].mean() > 0 else 1.0
        units[sel] = u
        unit_by_kind[kind] = u
    return {
        "baseline": B,
        "excess": E,
        "value": v / units,
        "unit": unit_by_kind["genes"],
        "unit_protein": unit_by_kind["proteins"],
        "units": units,
        "signed": signed,
    }
