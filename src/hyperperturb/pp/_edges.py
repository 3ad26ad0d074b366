"""Edge-table helpers of ``hp.pp.gene_network``: merging, two-hop links, weight scaling, the sparse matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

_MAX_PAIRS = 5_000_000  # two-hop pairs materialised at once


def _merge_max(
    i: np.ndarray, j: np.ndarray, w: np.ndarray, *, symmetric: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop self-loops, (for ``symmetric``) orient each pair ``i < j``, merge duplicates by max weight."""
    keep = i != j
    i, j, w = i[keep], j[keep], w[keep]
    if symmetric:
        i, j = np.minimum(i, j), np.maximum(i, j)
    if len(i) == 0:
        return i.astype(np.int64), j.astype(np.int64), w.astype(np.float64)
    df = pd.DataFrame({"i": i, "j": j, "w": w}).groupby(["i", "j"], sort=True, as_index=False)["w"].max()
    return df["i"].to_numpy(np.int64), df["j"].to_numpy(np.int64), df["w"].to_numpy(np.float64)


def _two_hop(
    i: np.ndarray, j: np.ndarray, w: np.ndarray, members: np.ndarray, outside: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Pairs of ``members`` sharing a neighbour in ``outside``; weight = max over shared k of w_ik * w_kj.

    ``i, j, w`` hold each undirected edge once; ``members``/``outside`` are boolean masks over nodes.
    """
    a = np.concatenate([i, j])
    b = np.concatenate([j, i])
    ww = np.concatenate([w, w])
    sel = members[a] & outside[b]
    m, k, wk = a[sel], b[sel], ww[sel]
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64))
    if len(m) == 0:
        return empty
    order = np.argsort(k, kind="stable")
    m, k, wk = m[order], k[order], wk[order]
    ks, starts, deg = np.unique(k, return_index=True, return_counts=True)
    useful = deg >= 2
    if not useful.any():
        return empty
    # chunks of shared neighbours such that the materialised pairs stay bounded
    pairs_per_k = deg.astype(np.int64) ** 2
    bounds = np.searchsorted(np.cumsum(pairs_per_k), np.arange(1, 1 + pairs_per_k.sum() // _MAX_PAIRS + 1) * _MAX_PAIRS)
    bounds = np.unique(np.concatenate([[0], np.minimum(bounds + 1, len(ks)), [len(ks)]]))
    parts = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=False):
        if hi <= lo:
            continue
        r0 = starts[lo]
        r1 = starts[hi] if hi < len(ks) else len(k)
        df = pd.DataFrame({"k": k[r0:r1], "m": m[r0:r1], "w": wk[r0:r1]})
        pr = df.merge(df, on="k", suffixes=("a", "b"))
        pr = pr[pr["ma"].to_numpy() < pr["mb"].to_numpy()]
        if len(pr):
            parts.append(
                pd.DataFrame(
                    {"i": pr["ma"].to_numpy(), "j": pr["mb"].to_numpy(), "w": pr["wa"].to_numpy() * pr["wb"].to_numpy()}
                )
                .groupby(["i", "j"], as_index=False)["w"]
                .max()
            )
    if not parts:
        return empty
    res = pd.concat(parts).groupby(["i", "j"], as_index=False)["w"].max()
    return res["i"].to_numpy(np.int64), res["j"].to_numpy(np.int64), res["w"].to_numpy(np.float64)


def _scale_weights(w: np.ndarray, *, string_scale: bool, origin: str) -> tuple[np.ndarray, float]:
    if len(w) and w.min() < 0:
        msg = (
            f"The {origin} has negative edge weights (min {w.min():.3g}); hyperperturb needs weights in [0, 1] "
            "(interaction strength). For signed scores (e.g. correlations) pass their absolute value, "
            "e.g. `df.assign(weight=df['weight'].abs())`."
        )
        raise ValueError(msg)
    top = float(w.max()) if len(w) else 1.0
    if top <= 1.0:
        return w, 1.0
    scale = 1000.0 if (string_scale and top <= 1000.0) else top
    return w / scale, scale


def _sym_csr(i: np.ndarray, j: np.ndarray, w: np.ndarray, n: int, *, symmetric: bool) -> sparse.csr_matrix:
    if symmetric:
        i, j, w = np.concatenate([i, j]), np.concatenate([j, i]), np.concatenate([w, w])
    A = sparse.csr_matrix((w.astype(np.float32), (i, j)), shape=(n, n))
    A.sum_duplicates()
    A.eliminate_zeros()  # a zero weight (or one that underflows float32) is no edge: never an explicit zero
    A.sort_indices()
    return A


def _merge_signed(
    i: np.ndarray, j: np.ndarray, w: np.ndarray, s: np.ndarray, *, symmetric: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Like :func:`_merge_max`, carrying a sign per edge: a merged pair keeps the sign of its strongest edge.

    Ties between equally strong edges of opposite sign keep ``+1``; unknown signs (``0``) lose to known ones of
    the same strength.
    """
    keep = i != j
    i, j, w, s = i[keep], j[keep], w[keep], s[keep]
    if symmetric:
        i, j = np.minimum(i, j), np.maximum(i, j)
    if len(i) == 0:
        return i.astype(np.int64), j.astype(np.int64), w.astype(np.float64), s.astype(np.float64)
    df = pd.DataFrame({"i": i, "j": j, "w": w, "s": s, "k": np.abs(s)})
    df = df.sort_values(["i", "j", "w", "k", "s"], kind="mergesort").drop_duplicates(["i", "j"], keep="last")
    return (
        df["i"].to_numpy(np.int64),
        df["j"].to_numpy(np.int64),
        df["w"].to_numpy(np.float64),
        df["s"].to_numpy(np.float64),
    )
