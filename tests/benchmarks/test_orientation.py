"""The edge orientation of benchmarks/bench_orientation.py (issue 21: can the map's radius orient a network)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

_DIR = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def bo():
    sys.path.insert(0, str(_DIR))
    try:
        spec = importlib.util.spec_from_file_location("bench_orientation", _DIR / "bench_orientation.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(_DIR))
    return mod


def _chain(n: int) -> sparse.csr_matrix:
    """0 → 1 → ... → n-1."""
    return sparse.csr_matrix((np.ones(n - 1), (np.arange(n - 1), np.arange(1, n))), shape=(n, n))


def test_orient_keeps_one_direction_by_score(bo):
    D = _chain(4)
    A = D.maximum(D.T).tocsr()
    down = bo.orient(A, np.arange(4.0))  # smaller score upstream: the chain as listed
    assert (down != D).nnz == 0
    up = bo.orient(A, -np.arange(4.0))  # reversed order: every edge reversed
    assert (up != D.T).nnz == 0
    tie = bo.orient(A, np.zeros(4))  # ties keep both directions
    assert (tie != A).nnz == 0


def test_direction_share_counts_listed_edges(bo):
    D = _chain(5)
    assert bo.direction_share(D, np.arange(5.0)) == 1.0
    assert bo.direction_share(D, -np.arange(5.0)) == 0.0
    assert bo.direction_share(D, np.zeros(5)) == 0.5
    s = np.array([0.0, 1.0, 0.5, 2.0, 3.0])  # edge 1 → 2 points the wrong way
    assert bo.direction_share(D, s) == pytest.approx(0.75)
