"""Streaming segment sums behind ``hp.tl.rewards`` (numba kernels + chunk drivers; private).

Every cell row carries up to ``k`` *slot* labels (``labels[i, :]``, ``-1`` padding at the end). A slot is one
(perturbation or control) × (pooled or group) combination; slot ``l`` is centred on the control-mean row
``slot_cm[l]``. For each slot and gene the kernels accumulate, in float64,

* ``absmode[l]`` true: ``sum_i (|x_ig - cm_g| - |cm_g|)`` over the slot's cells, *stored values only*. A zero
  entry contributes ``|0 - cm_g| - |cm_g| = 0`` whatever the sign of ``cm_g``, so the mean absolute deviation
  is recovered exactly as ``(S + n_l * |cm_g|) / n_l`` without ever visiting implicit zeros;
* ``absmode[l]`` false: ``sum_i x_ig`` (signed rewards: ``S / n_l - cm_g``).

Dense rows use the same formulas, so the finalisation is shared. Non-finite values in labelled rows propagate
into the accumulators (checked afterwards); unlabelled rows are scanned for NaN/inf when ``check_unlabeled``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from numba import prange
from scipy import sparse

from hyperperturb._utils._cache import njit  # on-disk cache in a per-user folder, never in the package

#: Upper bound (bytes) for the per-thread accumulators of the row-parallel kernels.
_ACC_BUDGET = 256 * 2**20


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
def _csr_parallel(
    indptr, indices, data, rows, bounds, labels, slot_cm, cm, acm, absmode, acc3, check_unlabeled
):  # pragma: no cover
    nt = acc3.shape[0]
    bad = np.zeros(nt, np.int64)
    for t in prange(nt):
        bad[t] = _csr_core(
            indptr,
            indices,
            data,
            rows,
            bounds[t],
            bounds[t + 1],
            labels,
            slot_cm,
            cm,
            acm,
            absmode,
            acc3[t],
            check_unlabeled,
        )
    return bad.sum()


@njit(parallel=True)
def _dense_parallel(X, rows, bounds, labels, slot_cm, cm, acm, absmode, acc3, check_unlabeled):  # pragma: no cover
    nt = acc3.shape[0]
    bad = np.zeros(nt, np.int64)
    for t in prange(nt):
        bad[t] = _dense_core(
            X, rows, bounds[t], bounds[t + 1], labels, slot_cm, cm, acm, absmode, acc3[t], check_unlabeled
        )
    return bad.sum()


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


class Slots:
    """The labelled-row problem handed to the drivers (all small, O(cells) or O(slots × genes))."""

    def __init__(self, labels: np.ndarray, slot_cm: np.ndarray, cm: np.ndarray, absmode: np.ndarray) -> None:
        self.labels = np.ascontiguousarray(labels, dtype=np.int32)
        self.slot_cm = np.ascontiguousarray(slot_cm, dtype=np.int32)
        self.cm = np.ascontiguousarray(cm, dtype=np.float64)
        self.acm = np.abs(self.cm)
        self.absmode = np.ascontiguousarray(absmode, dtype=np.bool_)

    @property
    def n_slots(self) -> int:
        return int(self.slot_cm.shape[0])

    def rows(self, lo: int, hi: int) -> Slots:
        new = object.__new__(Slots)
        new.labels, new.slot_cm, new.cm, new.acm, new.absmode = (
            self.labels[lo:hi],
            self.slot_cm,
            self.cm,
            self.acm,
            self.absmode,
        )
        return new

    def take(self, idx: np.ndarray) -> Slots:
        new = self.rows(0, 0)
        new.labels = np.ascontiguousarray(self.labels[idx])
        return new


def _n_threads(n_slots: int, n_genes: int) -> int:
    per = max(1, n_slots * n_genes * 8)
    return int(max(1, min(numba.get_num_threads(), _ACC_BUDGET // per)))


def _is_dask(X: Any) -> bool:
    return type(X).__module__.startswith("dask") and hasattr(X, "dask")


def _canonical(X: Any) -> Any:
    """A CSR/CSC matrix without duplicate entries (copied only when needed)."""
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()
    return X


def _order(labels: np.ndarray, check_unlabeled: bool) -> np.ndarray:
    """Rows to visit, grouped by first slot label so each slot's accumulator row stays in cache.

    Unlabelled rows are visited (first) only when they must be scanned for NaN/inf.
    """
    first = labels[:, 0]
    key = first.astype(np.int16) if first.size and int(first.max()) < 2**15 else first  # int16: numpy radix sort
    order = np.argsort(key, kind="stable")
    if not check_unlabeled:
        order = order[int((first < 0).sum()) :]
    return order.astype(np.int64)


def _bounds(work: np.ndarray, nt: int) -> np.ndarray:
    """Split a visiting order into ``nt`` parts of about equal work (cumulative ``work`` per visited row)."""
    n = work.size
    if n == 0:
        return np.zeros(nt + 1, dtype=np.int64)
    cum = np.cumsum(work)
    b = np.searchsorted(cum, np.linspace(0, cum[-1], nt + 1)[1:-1], side="left").astype(np.int64)
    return np.concatenate([[0], b, [n]]).astype(np.int64)


def _in_memory(X: Any, s: Slots, acc3: np.ndarray, rows: np.ndarray, check: bool) -> int:
    """Add ``rows`` (a visiting order) of an in-memory CSR or dense matrix into ``acc3``; returns the non-finite count."""
    nt = acc3.shape[0]
    if sparse.issparse(X):
        b = _bounds(np.diff(X.indptr)[rows] + 1, nt)
        return int(
            _csr_parallel(
                X.indptr, X.indices, X.data, rows, b, s.labels, s.slot_cm, s.cm, s.acm, s.absmode, acc3, check
            )
        )
    b = _bounds(np.ones(rows.size), nt)
    return int(_dense_parallel(X, rows, b, s.labels, s.slot_cm, s.cm, s.acm, s.absmode, acc3, check))


def _as_chunk(block: Any) -> Any:
    """A row chunk as CSR (canonical) or a NumPy array."""
    if sparse.issparse(block):
        block = block.tocsr() if block.format != "csr" else block
        if not block.has_canonical_format:
            block.sum_duplicates()
        return block
    if hasattr(block, "todense") and not isinstance(block, np.ndarray):  # e.g. pydata sparse in a dask chunk
        block = sparse.csr_matrix(block.to_scipy_sparse()) if hasattr(block, "to_scipy_sparse") else block.todense()
    block = np.asarray(block)
    return block.astype(np.float32) if block.dtype == np.float16 else block  # numba has no float16


def segment_sums(
    X: Any,
    s: Slots,
    *,
    chunk_size: int,
    rows: np.ndarray | None = None,
    check_unlabeled: bool = True,
    progress: Callable[[Any], Any] = lambda it: it,
) -> tuple[np.ndarray, int]:
    """Stream over the cells of ``X`` once; return ``(S, n_nonfinite)`` with ``S`` of shape slots × genes.

    ``rows`` (sorted indices) restricts reading to those rows for out-of-core matrices (others are unlabelled).
    In-memory matrices are read in place (no copy); backed datasets are read ``chunk_size`` rows at a time;
    Dask arrays are reduced block-wise (parallel, never computed whole).
    """
    n, G = X.shape
    L = s.n_slots
    if _is_dask(X):
        return _dask_sums(X, s, check_unlabeled)
    if sparse.issparse(X) and X.format == "csc":
        X = _canonical(X)
        accT = np.zeros((G, L), dtype=np.float64)
        bad = 0
        for _ in progress([0]):
            bad = int(
                _csc_parallel(
                    X.indptr, X.indices, X.data, s.labels, s.slot_cm, s.cm, s.acm, s.absmode, accT, check_unlabeled
                )
            )
        return np.ascontiguousarray(accT.T), bad
    acc3 = np.zeros((_n_threads(L, G), L, G), dtype=np.float64)
    bad = 0
    in_memory_csr = sparse.issparse(X) and X.format == "csr"
    # float16 (dense only: scipy.sparse has none) goes through the chunked path, upcast one chunk at a time
    if in_memory_csr or (isinstance(X, np.ndarray) and X.dtype != np.float16):
        if in_memory_csr:
            X = _canonical(X)
        order = _order(s.labels, check_unlabeled)
        for lo in progress(list(range(0, max(order.size, 1), chunk_size))):
            bad += _in_memory(X, s, acc3, order[lo : lo + chunk_size], check_unlabeled)
        return acc3.sum(axis=0), bad
    # out of core (backed h5ad, h5py/zarr datasets) or other sparse formats: read row chunks
    if rows is not None:
        rows = np.asarray(rows, dtype=np.int64)
        starts = list(range(0, len(rows), chunk_size))
        for a in progress(starts):
            idx = rows[a : a + chunk_size]
            block = _as_chunk(X[idx])
            sub = s.take(idx)
            bad += _in_memory(block, sub, acc3, _order(sub.labels, check_unlabeled), check_unlabeled)
        return acc3.sum(axis=0), bad
    starts = list(range(0, n, chunk_size))
    for lo in progress(starts):
        hi = min(lo + chunk_size, n)
        block = _as_chunk(X[lo:hi])
        sub = s.rows(lo, hi)
        bad += _in_memory(block, sub, acc3, _order(sub.labels, check_unlabeled), check_unlabeled)
    return acc3.sum(axis=0), bad


def _dask_block(xb, lab, cm, *, slot_cm, absmode, check_unlabeled):  # pragma: no cover - runs inside dask
    """One block: slots × block-genes partial sums, plus one extra row holding the non-finite count."""
    xb = _as_chunk(xb)
    L = slot_cm.shape[0]
    G = xb.shape[1]
    acc = np.zeros((L + 1, G), dtype=np.float64)
    cm = np.ascontiguousarray(cm, dtype=np.float64)
    lab = np.ascontiguousarray(lab, dtype=np.int32)
    acm = np.abs(cm)
    # serial kernels: dask already runs blocks in parallel, and nested numba pools are not thread-safe
    rows = _order(lab, check_unlabeled)
    if sparse.issparse(xb):
        bad = _csr_core(
            xb.indptr, xb.indices, xb.data, rows, 0, rows.size, lab, slot_cm, cm, acm, absmode, acc[:L], check_unlabeled
        )
    else:
        bad = _dense_core(xb, rows, 0, rows.size, lab, slot_cm, cm, acm, absmode, acc[:L], check_unlabeled)
    acc[L, 0] = bad
    return acc[None]


def _dask_sums(X: Any, s: Slots, check_unlabeled: bool) -> tuple[np.ndarray, int]:
    import dask.array as da

    lab = da.from_array(s.labels, chunks=(X.chunks[0], s.labels.shape[1]))
    cm = da.from_array(s.cm, chunks=(s.cm.shape[0], X.chunks[1]))
    L = s.n_slots
    parts = da.blockwise(
        _dask_block,
        "ilj",
        X,
        "ij",
        lab,
        "ik",
        cm,
        "rj",
        new_axes={"l": L + 1},
        adjust_chunks={"i": 1},
        concatenate=True,
        dtype=np.float64,
        meta=np.empty((0, 0, 0), dtype=np.float64),
        slot_cm=s.slot_cm,
        absmode=s.absmode,
        check_unlabeled=check_unlabeled,
    )
    total = np.asarray(parts.sum(axis=0).compute())
    return np.ascontiguousarray(total[:L]), int(round(total[L].sum()))
