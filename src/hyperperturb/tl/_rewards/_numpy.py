"""NumPy/SciPy twin of the numba CSR kernel of ``hp.tl.rewards`` (private; imports no numba).

Used for in-memory CSR matrices while the numba kernel is not compiled yet (see ``_kernels.engine``): a
first call then pays no numba import and no compilation. It gives **bit-identical** sums to the numba path: it
splits the rows into the same per-thread parts (same visiting order, same chunks, same bounds) and adds every
stored value into its part's float64 accumulator with :func:`numpy.add.at`, which adds element by element in
order, exactly like the kernel's ``out[j] += ...`` loop; the parts are then summed over threads the same way.
Values are formed with the same float64 operations (``|x - c| - |c|`` or ``x``), so the rounding is the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse

from ._slots import Slots, _bounds, _order

#: Stored values handled per NumPy step (bounded temporaries that stay in cache).
_BLOCK = 1 << 16
#: Stored values per gather of rows (``X[rows]``): the copy stays small, so its memory is reused.
_GATHER = 1 << 18


def _add_rows(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    keyrow: np.ndarray,
    cmrow: np.ndarray | None,
    s: Slots,
    acc: np.ndarray,
) -> None:
    """Add the stored values of CSR rows (``indptr`` starting at 0) into the flat accumulator ``acc``, in order.

    ``keyrow``: flat accumulator offset of each row (thread, slot); ``cmrow``: flat offset of its control-mean row
    (``None`` for plain sums of ``x``; else ``|x - c| - |c|`` is added). The rows are taken in blocks of about
    :data:`_BLOCK` stored values (a longer row is a block of its own), so every temporary is small and its memory is
    reused from block to block: a first call pays no page faults for matrix-sized index arrays.
    """
    nnz = int(indptr[-1])
    if nnz == 0:
        return
    ln = np.diff(indptr)
    cuts = np.searchsorted(indptr, np.arange(0, nnz, _BLOCK), side="right") - 1  # row holding each block start
    cuts[0] = 0
    cuts = np.unique(np.append(cuts, ln.size))
    one_cm = cmrow is not None and bool((cmrow == cmrow[0]).all()) if cmrow is not None and cmrow.size else True
    cm0: Any = None if cmrow is None or not one_cm else s.cm.ravel()[int(cmrow[0]) :]
    cmf = s.cm.ravel()
    for r0, r1 in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
        a, e = int(indptr[r0]), int(indptr[r1])
        if a == e:
            continue
        j = indices[a:e]
        k = np.repeat(keyrow[r0:r1], ln[r0:r1])
        k += j
        if cmrow is None:
            v = data[a:e].astype(np.float64)
        else:
            if cm0 is not None:
                c = np.take(cm0, j, mode="wrap")  # j < genes: "wrap" is the fast, unchecked gather
            else:
                cidx = np.repeat(cmrow[r0:r1], ln[r0:r1])
                cidx += j
                c = np.take(cmf, cidx)
            v = np.subtract(data[a:e], c, dtype=np.float64)  # float32 data are promoted exactly, as in the kernel
            np.abs(v, out=v)
            np.abs(c, out=c)
            v -= c
        np.add.at(acc, k, v)


def _pieces(lengths: np.ndarray, size: int) -> list[tuple[int, int]]:
    """Consecutive ranges of rows (``lengths``: stored values per row) holding about ``size`` stored values each."""
    if lengths.size == 0:
        return []
    cum = np.cumsum(lengths)
    cuts = np.searchsorted(cum, np.arange(size, int(cum[-1]), size), side="left") + 1
    b = np.unique(np.concatenate([[0], np.minimum(cuts, lengths.size), [lengths.size]])).tolist()
    return list(zip(b[:-1], b[1:], strict=True))


def csr_sums(
    X: sparse.csr_matrix, s: Slots, *, nt: int, chunk_size: int, check_unlabeled: bool
) -> tuple[np.ndarray, int]:
    """``(S, n_nonfinite)`` of a canonical in-memory CSR matrix; the same numbers as the numba path with ``nt`` threads.

    One label per cell, one kind of slot (absolute or plain) and one control-mean row (the default pooled call):
    the matrix is read in storage order — within a slot and thread that is the kernel's order (ascending rows), so
    nothing is copied. Otherwise the visited rows are gathered in the kernel's visiting order, one per label.
    """
    n, G = X.shape
    L = s.n_slots
    labels = s.labels
    rowlen = np.diff(X.indptr)
    order = _order(labels, check_unlabeled)
    thread = np.empty(order.size, dtype=np.int64)
    for lo in range(0, order.size, chunk_size):  # the kernel's parts: per chunk of the visiting order
        b = _bounds(rowlen[order[lo : lo + chunk_size]] + 1, nt)
        thread[lo : lo + chunk_size] = np.repeat(np.arange(nt, dtype=np.int64), np.diff(b))
    first = labels[:, 0]
    unl = order[first[order] < 0]
    bad = 0
    if check_unlabeled and unl.size:
        for p0, p1 in _pieces(rowlen[unl], _GATHER):
            data = X[unl[p0:p1]].data
            bad += int(data.size - np.count_nonzero(np.isfinite(data)))
    used = np.unique(labels[labels >= 0])
    modes, cms = np.unique(s.absmode[used]), np.unique(s.slot_cm[used])
    slot_base = s.slot_cm.astype(np.int64) * G
    storage = labels.shape[1] == 1 and modes.size <= 1 and cms.size <= 1 and 2 * (order.size - unl.size) >= n
    if storage:
        trash = nt * L * G  # rows not visited (or unlabelled) add into one extra row that is dropped
        acc = np.zeros(trash + G, dtype=np.float64)
        keyrow = np.full(n, trash, dtype=np.int64)
        lab = order[first[order] >= 0]
        keyrow[lab] = (thread[first[order] >= 0] * L + first[lab]) * G
        cmrow = None if used.size == 0 or not bool(modes[0]) else np.full(1, slot_base[used[0]], dtype=np.int64)
        for lo in range(0, n, chunk_size):
            hi = min(lo + chunk_size, n)
            a, e = int(X.indptr[lo]), int(X.indptr[hi])
            kr = keyrow[lo:hi]
            _add_rows(X.indptr[lo : hi + 1] - a, X.indices[a:e], X.data[a:e], kr, _fill(cmrow, kr.size), s, acc)
        return _over_threads(acc[:trash], nt, L, G), bad
    acc = np.zeros(nt * L * G, dtype=np.float64)
    for lo in range(0, order.size, chunk_size):
        rows = order[lo : lo + chunk_size]
        lab = labels[rows]
        valid = lab >= 0
        nval = valid.sum(axis=1)
        rexp = np.repeat(rows, nval)  # one entry per (row, label), row-major: the kernel's order
        slot = lab[valid].astype(np.int64)
        keyrow = (np.repeat(thread[lo : lo + chunk_size], nval) * L + slot) * G
        am = s.absmode[slot]
        for mode in (True, False):  # a slot is either absolute or plain, so each keeps its own order
            sel = am == mode
            if not sel.any():
                continue
            rr, kr = rexp[sel], keyrow[sel]
            cr = slot_base[slot[sel]] if mode else None
            for p0, p1 in _pieces(rowlen[rr], _GATHER):  # gathered a few rows at a time, in order
                sub = X[rr[p0:p1]]
                _add_rows(sub.indptr, sub.indices, sub.data, kr[p0:p1], None if cr is None else cr[p0:p1], s, acc)
    return _over_threads(acc, nt, L, G), bad


def _over_threads(acc: np.ndarray, nt: int, L: int, G: int) -> np.ndarray:
    """The per-thread accumulators summed (one thread: the accumulator itself, not a copy)."""
    acc3 = acc.reshape(nt, L, G)
    return acc3[0] if nt == 1 else acc3.sum(axis=0)


def _fill(cmrow: np.ndarray | None, n: int) -> np.ndarray | None:
    return None if cmrow is None else np.broadcast_to(cmrow, (n,))
