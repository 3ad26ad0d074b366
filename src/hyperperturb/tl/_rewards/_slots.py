"""The labelled-row problem of the segment sums and its split into per-thread parts (private).

Shared by the drivers (``_kernels``) and the NumPy twin of the CSR kernel (``_numpy``), so neither imports the
other.
"""

from __future__ import annotations

import numpy as np


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
