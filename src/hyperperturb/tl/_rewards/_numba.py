"""Numba kernels of ``hp.tl.rewards`` (private; imported only when they are used).

The drivers are in :mod:`hyperperturb.tl._rewards._kernels`, which explains the accumulated sums. ``_csr_core`` and
``_dense_core`` are serial and release the GIL (``nogil=True``): the driver runs one per thread over a disjoint
part of the rows, each into its own accumulator, so no parallel (parfor) machinery has to be compiled or loaded.
``_csc_parallel`` (one gene per task) uses numba's own threads. All are compiled on first use and cached on disk
in the per-user folder of :mod:`hyperperturb._utils._cache`.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from hyperperturb._utils._cache import njit  # on-disk cache in a per-user folder, never in the package


@njit(nogil=True)
def _csr_core(
    indptr, indices, data, rows, lo, hi, labels, slot_cm, cm, acm, absmode, acc, check_unlabeled
):  # pragma: no cover
    bad = 0
    k = labels.shape[1]
    for q in range(lo, hi):
        i = rows[q]
        s = indptr[i]
        e = indptr[i + 1]
        if labels[i, 0] < 0:
            if check_unlabeled:
                for jj in range(s, e):
                    if not np.isfinite(data[jj]):
                        bad += 1
            continue
        for c in range(k):
            l = labels[i, c]
            if l < 0:
                break
            r = slot_cm[l]
            out = acc[l]
            if absmode[l]:
                cmr = cm[r]
                acmr = acm[r]
                for jj in range(s, e):
                    j = indices[jj]
                    out[j] += abs(data[jj] - cmr[j]) - acmr[j]
            else:
                for jj in range(s, e):
                    out[indices[jj]] += data[jj]
    return bad


@njit(nogil=True)
def _dense_core(X, rows, lo, hi, labels, slot_cm, cm, acm, absmode, acc, check_unlabeled):  # pragma: no cover
    bad = 0
    k = labels.shape[1]
    G = X.shape[1]
    for q in range(lo, hi):
        i = rows[q]
        if labels[i, 0] < 0:
            if check_unlabeled:
                for j in range(G):
                    if not np.isfinite(X[i, j]):
                        bad += 1
            continue
        for c in range(k):
            l = labels[i, c]
            if l < 0:
                break
            r = slot_cm[l]
            if absmode[l]:
                for j in range(G):
                    acc[l, j] += abs(X[i, j] - cm[r, j]) - acm[r, j]
            else:
                for j in range(G):
                    acc[l, j] += X[i, j]
    return bad


@njit(parallel=True)
def _csc_parallel(indptr, indices, data, labels, slot_cm, cm, acm, absmode, accT, check_unlabeled):  # pragma: no cover
    # one gene (column) per task: no write conflicts, accT is genes x slots
    G = indptr.shape[0] - 1
    k = labels.shape[1]
    bad = np.zeros(G, np.int64)
    for j in prange(G):
        for jj in range(indptr[j], indptr[j + 1]):
            i = indices[jj]
            v = data[jj]
            if labels[i, 0] < 0:
                if check_unlabeled and not np.isfinite(v):
                    bad[j] += 1
                continue
            for c in range(k):
                l = labels[i, c]
                if l < 0:
                    break
                r = slot_cm[l]
                if absmode[l]:
                    accT[j, l] += abs(v - cm[r, j]) - acm[r, j]
                else:
                    accT[j, l] += v
    return bad.sum()
