"""The network-map stage on graphs over its step budget (issue 21 item 5): edge walk, settings, MAP kept."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from hyperperturb._utils import _ball
from hyperperturb.tl._map import _network_map
from hyperperturb.tl._map._network_map import fit_network_map, large_graph_settings
from hyperperturb.tl._map._precision import ap_row as _ap_row
from hyperperturb.tl._map._precision import mean_average_precision
from hyperperturb.tl._map._sgd import rank_keys, sgd_epochs


def _noisy_tree(branching: int = 3, depth: int = 5, extra: int = 60, seed: int = 0) -> sparse.csr_matrix:
    """A tree (364 nodes by default) plus ``extra`` random edges: some nodes of degree 1, some hubs, some noise."""
    n = sum(branching**d for d in range(depth + 1))
    child = np.arange(1, n)
    parent = (child - 1) // branching
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, n, extra), rng.integers(0, n, extra)
    A = sparse.coo_matrix((np.ones(n - 1 + extra), (np.r_[child, i], np.r_[parent, j])), shape=(n, n)).tocsr()
    A = ((A + A.T) > 0).astype(np.float64).tocsr()
    A.setdiag(0)
    A.eliminate_zeros()
    return A


def _edges(A: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    coo = sparse.triu(A, k=1).tocoo()
    return np.r_[coo.row, coo.col].astype(np.int64), np.r_[coo.col, coo.row].astype(np.int64)


def _map(Z: np.ndarray, A: sparse.csr_matrix) -> float:
    return mean_average_precision(_ball.pairwise_distance(Z, Z), A)[0]


def test_shared_walk_visits_every_edge_evenly_across_calls():
    A = _noisy_tree(3, 3)
    heads, tails = _edges(A)
    m, n = heads.size, A.shape[0]
    Z = np.random.default_rng(0).uniform(-1e-3, 1e-3, size=(n, 2))
    order, cursor = np.arange(m), np.array([m], dtype=np.int64)
    visits = np.zeros(m, dtype=np.int64)
    n_visit = m // 3 + 1  # a third of the edges per epoch, not a divisor of m
    off, frozen = np.full(n, -1.0), np.zeros(n, dtype=np.bool_)
    total = 0
    for call, n_ep in enumerate((4, 1, 7, 2)):  # separate calls (burn-in, parts) share the walk
        lrs = np.full(n_ep, 0.01)
        sgd_epochs(Z, heads, tails, A.indptr, A.indices, 5, lrs, True, call, 0.0, off, frozen, False, n_visit, order,
                   cursor, visits)  # fmt: skip
        total += n_ep * n_visit
        assert visits.sum() == total
        assert visits.min() == total // m and visits.max() - visits.min() <= 1
    assert sorted(order.tolist()) == list(range(m))


def test_full_passes_visit_every_edge_once_per_epoch():
    A = _noisy_tree(3, 3)
    heads, tails = _edges(A)
    m, n = heads.size, A.shape[0]
    Z = np.random.default_rng(0).uniform(-1e-3, 1e-3, size=(n, 2))
    visits = np.zeros(m, dtype=np.int64)
    sgd_epochs(Z, heads, tails, A.indptr, A.indices, 5, np.full(3, 0.01), True, 0, 0.0, np.full(n, -1.0),
               np.zeros(n, dtype=np.bool_), False, m, np.arange(m), np.array([m]), visits)  # fmt: skip
    assert (visits == 3).all()


def test_large_graph_settings_keep_the_plain_algorithm_within_the_budget(monkeypatch):
    monkeypatch.setattr(_network_map, "STEP_BUDGET", 6e7)
    assert large_graph_settings(1000, 50, 100) == (50, 1000, 0.0)
    # over the budget with 50 negatives, but full passes fit with 22: those, every edge in every epoch, same step
    assert large_graph_settings(25_656, 50, 100) == (22, 25_656, 1.0)
    # far over it: the fewest negatives, a sample of the edges, steps that add up to the full passes' (<= 3x)
    k, n_visit, boost = large_graph_settings(113_852, 50, 100)
    assert k == _network_map.SAMPLED_NEGATIVES == 10
    assert n_visit == int(6e7 // (11 * 100)) < 113_852
    assert boost == pytest.approx(113_852 / n_visit)
    assert large_graph_settings(10**7, 50, 100)[2] == _network_map.MAX_LR_BOOST
    # a caller's smaller number of negatives is never raised
    assert large_graph_settings(113_852, 5, 1000)[0] == 5
    # no edges: nothing to sample
    assert large_graph_settings(0, 50, 100) == (50, 0, 0.0)


def test_sampled_fit_visits_every_edge_evenly_and_reports_it(monkeypatch):
    A = _noisy_tree()
    m = 2 * sparse.triu(A, k=1).nnz
    monkeypatch.setattr(_network_map, "STEP_BUDGET", m * 51 * 200 / 10)
    k, n_visit, boost = large_graph_settings(m, 50, 200)
    assert k == 10 and n_visit < m and boost > 1
    res = fit_network_map(A, dim=2, seed=0, epochs=200)
    lo, hi = res["edge_visits"]
    assert hi - lo <= 1
    assert lo >= (20 * n_visit) // m  # at least what the burn-in alone gives every edge
    full = fit_network_map(A, dim=2, seed=0, epochs=40)  # full passes fit the budget (24 negatives): all edges
    assert full["edge_visits"][0] == full["edge_visits"][1] >= 40


def _full_and_sampled(seed: int, monkeypatch: pytest.MonkeyPatch) -> tuple[float, float, dict, dict]:
    A = _noisy_tree(seed=seed)
    m = 2 * sparse.triu(A, k=1).nnz
    full = fit_network_map(A, dim=2, seed=seed, epochs=200)
    monkeypatch.setattr(_network_map, "STEP_BUDGET", m * 51 * 200 / 10)  # 10 negatives, < half the edges per epoch
    sampled = fit_network_map(A, dim=2, seed=seed, epochs=200)
    return _map(full["embedding"], A), _map(sampled["embedding"], A), full, sampled


def test_sampled_fit_on_a_tenth_of_the_budget_still_reconstructs_a_noisy_tree(monkeypatch):
    m_full, m_sampled, full, sampled = _full_and_sampled(0, monkeypatch)
    # distance evaluations per edge: visits x (negatives + 1), at most a fifth of the full passes'
    assert sampled["edge_visits"][1] * 11 < full["edge_visits"][0] * 51 / 5
    assert m_full > 0.8
    assert m_sampled > 0.7  # 0.73 with this seed (0.61 while the step dropped in the dip); a guard, not the target
    assert sampled["epochs"] == 200  # the dip after the first parts drops no step and ends nothing


def test_sampled_fit_of_a_tree_is_not_dropped_in_its_dip(monkeypatch):
    """The tree's MAP dips below its best for a third of the run, then climbs past it: no step drop in the dip."""
    _, m_sampled, _, sampled = _full_and_sampled(1, monkeypatch)
    assert sampled["epochs"] == 200
    assert m_sampled > 0.64  # 0.67 with this seed; 0.56 with the rule that dropped the step in the dip


@pytest.mark.xfail(strict=True, reason="known gap: 10 negatives per edge, not the step rule (0.73 vs 0.83)")
def test_sampled_fit_on_a_tenth_of_the_budget_keeps_the_map_of_full_passes(monkeypatch):
    """Issue 21 item 5's "without losing MAP" on a small noisy tree at a tenth of the budget: not met.

    Without any step drop the sampled map reaches 0.73; the same tree with 10 negatives per edge on every edge in
    every epoch at the unscaled step reaches 0.61, with 50 negatives 0.83: the gap is the negatives the budget
    leaves, which the large graphs need (25 negatives cost CollecTRI MAP).
    """
    m_full, m_sampled, _, _ = _full_and_sampled(0, monkeypatch)
    assert m_sampled >= m_full - 0.05


def test_reconstruction_ranks_as_the_geodesic_distance():
    A = _noisy_tree(3, 4)
    Z = _ball.project(np.random.default_rng(0).uniform(-0.7, 0.7, size=(A.shape[0], 3)))
    src = np.arange(0, A.shape[0], 3)
    got = _network_map._reconstruction(Z, A, True, np.random.default_rng(0), nodes=src)
    D = _ball.pairwise_distance(Z[src], Z)
    aps = [_ap_row(D[k], A.indices[A.indptr[i] : A.indptr[i + 1]], int(i)) for k, i in enumerate(src)]
    assert got == pytest.approx(np.mean([a for a in aps if a is not None]), abs=1e-12)
    keys = rank_keys(Z, src.astype(np.int64), True)
    assert (np.argsort(keys, axis=1, kind="stable")[:, :20] == np.argsort(D, axis=1, kind="stable")[:, :20]).all()
