"""Graph-reconstruction mean average precision (MAP), shared by the map fit and ``hp.tl.embedding_quality``."""

from __future__ import annotations

import numpy as np
from scipy import sparse


def mean_average_precision(D: np.ndarray, A: sparse.csr_matrix) -> tuple[float, int]:
    """Graph-reconstruction MAP: per node rank the others by distance, average precision over its neighbours.

    Ties count pessimistically (a non-neighbour at the same distance ranks ahead). Returns ``(MAP, n_nodes)`` over
    nodes with at least one neighbour.
    """
    A = sparse.csr_matrix(A)
    aps = [
        ap for i in range(A.shape[0]) if (ap := ap_row(D[i], A.indices[A.indptr[i] : A.indptr[i + 1]], i)) is not None
    ]
    return (float(np.mean(aps)) if aps else float("nan")), len(aps)


def ap_row(d: np.ndarray, nb: np.ndarray, i: int) -> float | None:
    """Average precision of node ``i``'s neighbours ``nb`` given its distances ``d`` to all nodes."""
    nb = nb[nb != i]
    if nb.size == 0:
        return None
    dn = np.sort(d[nb])
    # rank of each neighbour = number of other nodes at least as close (ties count against), without sorting all
    # nodes: node o is at least as close as dn[k] iff fewer than k + 1 neighbours are strictly closer than it
    pos = np.searchsorted(dn, d, side="left")
    cnt = np.bincount(pos, minlength=dn.size + 1)
    cnt[pos[i]] -= 1  # node i itself is not ranked
    ranks = np.cumsum(cnt[: dn.size])
    hits = np.searchsorted(dn, dn, side="right")  # neighbours at least as close
    return float(np.mean(hits / np.maximum(ranks, 1)))
