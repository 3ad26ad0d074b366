"""Unit tests of the residual transfer readout (``tl._transfer._transfer``), against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from hyperperturb.tl._evaluation._metrics import residual_pearson
from hyperperturb.tl._transfer._transfer import (
    fit_transfer,
    graph_distances,
    loo_priors,
    predict_transfer,
    prior_profile,
    transfer,
    transfer_weights,
)


@pytest.mark.parametrize("n", [5, 6, 7])
@pytest.mark.parametrize("prior", ["mean", "median", "midpoint"])
def test_loo_priors_equal_the_statistic_without_each_column(n, prior):
    rng = np.random.default_rng(n)
    E = rng.normal(size=(9, n))
    E[0] = 1.0  # ties
    E[1, :3] = 2.0
    cols = np.arange(n)
    got = loo_priors(E, cols, prior)
    f = {"median": np.median, "mean": np.mean, "midpoint": lambda x, axis: (np.median(x, axis) + x.mean(axis)) / 2}[
        prior
    ]
    want = np.column_stack([f(np.delete(E, c, axis=1), axis=1) for c in cols])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_loo_median_above_the_exact_bound_is_the_full_median():
    E = np.random.default_rng(0).normal(size=(4, 12))
    got = loo_priors(E, np.array([0, 5]), "median", exact_up_to=10)
    np.testing.assert_array_equal(got, np.repeat(np.median(E, axis=1)[:, None], 2, axis=1))


def test_unknown_prior_is_refused():
    with pytest.raises(ValueError, match="prior"):
        prior_profile(np.ones((2, 3)), "mode")


def test_graph_distances_are_hop_counts():
    # path 0-1-2-3, node 4 isolated
    A = sparse.csr_matrix((np.ones(6), ([0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2])), shape=(5, 5))
    D = graph_distances(A, np.array([0, 3, -1, 0]), np.array([0, 1, 2, 3, 4, -1]))
    inf = np.inf
    want = np.array(
        [[0, 1, 2, 3, inf, inf], [3, 2, 1, 0, inf, inf], [inf] * 6, [0, 1, 2, 3, inf, inf]], dtype=np.float64
    )
    np.testing.assert_array_equal(D, want)
    np.testing.assert_array_equal(graph_distances(sparse.csr_matrix((5, 5)), np.array([0]), np.array([1])), [[inf]])


def test_transfer_is_the_pseudo_count_average_by_hand():
    E = np.array([[1.0, 3.0], [0.0, 2.0]])  # genes x sources
    P0 = np.array([[2.0], [1.0]])  # prior of the one row
    D = np.array([[0.0, np.log(2.0)]])  # weights exp(-D/1) = 1, 1/2
    W = transfer_weights(D, None, tau=1.0, gamma=0.0)
    np.testing.assert_allclose(W, [[1.0, 0.5]])
    kappa = 0.5
    # (κ P0 + Σ w E_q) / (Σ w + κ)
    want = (kappa * P0[:, 0] + 1.0 * E[:, 0] + 0.5 * E[:, 1]) / (1.5 + kappa)
    np.testing.assert_allclose(transfer(E, P0, W, kappa)[:, 0], want)
    # reliability: a source of reliability 0 has no weight when gamma = 1
    W = transfer_weights(D, np.array([1.0, 0.0]), tau=1.0, gamma=1.0)
    np.testing.assert_allclose(W, [[1.0, 0.0]])
    # no finite distance: the prior
    np.testing.assert_allclose(
        transfer(E, P0, transfer_weights(np.full((1, 2), np.inf), None, tau=1.0, gamma=0), 0.0), P0
    )


def test_predict_transfer_never_reads_a_rows_own_column():
    rng = np.random.default_rng(2)
    E = rng.normal(size=(20, 6))
    D = np.abs(rng.normal(size=(3, 6)))
    exclude = np.array([1, -1, 4])
    kw = {"source": "graph", "tau": 0.7, "kappa": 0.3, "gamma": 1.0, "rel": rng.random(6), "exclude": exclude}
    for prior in ("mean", "median"):
        a = predict_transfer(E, D, prior=prior, **kw)
        E2 = E.copy()
        E2[:, 1] *= 50.0  # row 0's own column
        b = predict_transfer(E2, D, prior=prior, **kw)
        np.testing.assert_allclose(a[:, 0], b[:, 0])
        assert not np.allclose(a[:, 1], b[:, 1])  # the others do use it
        # source "none": the prior (leave-one-out prior for an excluded row)
        p = predict_transfer(E, D, prior=prior, **{**kw, "source": "none"})
        f = np.median if prior == "median" else np.mean
        np.testing.assert_allclose(p[:, 1], f(E, axis=1))
        np.testing.assert_allclose(p[:, 0], f(np.delete(E, 1, axis=1), axis=1))
    with pytest.raises(ValueError, match="source"):
        predict_transfer(E, D, prior="mean", **{**kw, "source": "flat"})


def _clustered_screen(seed: int, n_clusters: int = 4, per: int = 3, n_genes: int = 60):
    """Perturbations in graph cliques with a shared response per clique, plus a common response."""
    rng = np.random.default_rng(seed)
    common = rng.gamma(2.0, size=n_genes)
    cols, nodes = [], []
    for k in range(n_clusters):
        resp = np.zeros(n_genes)
        resp[rng.choice(n_genes, 8, replace=False)] = rng.normal(scale=2.0, size=8)
        for j in range(per):
            cols.append(common + resp + 0.1 * rng.normal(size=n_genes))
            nodes.append(k * per + j)
    n = len(cols)
    rows, cols_i = [], []
    for k in range(n_clusters):  # cliques, chained by one edge
        m = list(range(k * per, (k + 1) * per))
        for a in m:
            for b in m:
                if a != b:
                    rows.append(a)
                    cols_i.append(b)
        if k:
            rows += [k * per, k * per - 1]
            cols_i += [k * per - 1, k * per]
    A = sparse.csr_matrix((np.ones(len(rows)), (rows, cols_i)), shape=(n, n))
    return np.column_stack(cols), A, np.asarray(nodes)


def test_fit_transfer_uses_the_graph_when_neighbours_share_responses_and_is_deterministic():
    E, A, nodes = _clustered_screen(0)
    n = E.shape[1]
    cv = np.arange(n)
    D = graph_distances(A, nodes, nodes)
    rng = np.random.default_rng(5)
    D_noise = np.abs(rng.normal(size=(n, n))) + 1.0
    fit = fit_transfer(E, cv, distances={"graph": D, "embedding": D_noise}, rel=np.ones(n), target_row=np.full(n, -1))
    again = fit_transfer(E, cv, distances={"graph": D, "embedding": D_noise}, rel=np.ones(n), target_row=np.full(n, -1))
    assert fit == again
    assert fit["form"] == "residual" and fit["source"] == "graph"
    assert fit["transfer_cv_gain"] > 0.2 and fit["cv_score"] > 0.8
    # the reported score is the leave-one-out residual score of the chosen readout (recomputed by hand)
    preds = []
    for j in cv:
        others = np.delete(np.arange(n), j)
        Dj = D[[j]][:, others]
        rel = np.ones(others.size)
        P = predict_transfer(E[:, others], Dj, prior=fit["prior"], source="graph", tau=fit["tau"],
                             kappa=fit["kappa"], gamma=fit["gamma"], rel=rel)  # fmt: skip
        preds.append(residual_pearson(P[:, 0], E[:, j], E[:, others].mean(axis=1)))
    assert fit["cv_score"] == pytest.approx(np.mean(preds), abs=1e-9)


def test_fit_transfer_prefers_the_median_when_a_few_strong_perturbations_pull_the_mean():
    rng = np.random.default_rng(3)
    n_genes, n = 50, 12
    base = rng.gamma(2.0, size=n_genes)
    E = base[:, None] + 0.05 * rng.normal(size=(n_genes, n))
    E[:10, :2] += 5.0  # two strong perturbations, unrelated to any distance
    D = np.abs(rng.normal(size=(n, n)))
    fit = fit_transfer(E, np.arange(n), distances={"embedding": D}, rel=None, target_row=np.full(n, -1))
    # the residual score cannot tell the median from any prior between it and the mean (a correlation with the
    # deviation from the mean): the tie keeps the midpoint, which ranks whole profiles nearly as the mean does
    assert fit["prior"] == "midpoint"
    assert fit["source"] == "none"
    assert fit["gamma"] == 0.0  # no reliability given
    med = [residual_pearson(np.median(np.delete(E, j, 1), 1), E[:, j], np.delete(E, j, 1).mean(1)) for j in range(n)]
    assert fit["cv_score"] == pytest.approx(np.mean(med), abs=1e-9)
    mean_score = [residual_pearson(np.delete(E, j, 1).mean(1), E[:, j], np.delete(E, j, 1).mean(1)) for j in range(n)]
    assert fit["cv_score"] > np.nanmean(np.nan_to_num(mean_score))


def test_midpoint_prior_is_halfway_between_mean_and_median():
    E = np.array([[0.0, 1.0, 5.0], [2.0, 2.0, 8.0]])
    np.testing.assert_allclose(prior_profile(E, "midpoint"), [(1.0 + 2.0) / 2, (2.0 + 4.0) / 2])


def test_fit_transfer_keeps_the_on_target_term_only_when_it_helps():
    rng = np.random.default_rng(1)
    n_genes, n = 30, 8
    E = rng.normal(scale=0.05, size=(n_genes, n)) + 1.0
    rows = np.arange(n)
    E[rows, rows] += 2.0  # each perturbation moves its own target gene strongly
    fit = fit_transfer(E, np.arange(n), distances={}, rel=None, target_row=rows)
    others_amp = np.mean([E[t, t] - np.delete(E[t], t).mean() for t in rows])
    assert fit["on_target"] == pytest.approx(others_amp) and fit["on_target_cv_gain"] > 0
    E2 = rng.normal(scale=0.05, size=(n_genes, n)) + 1.0
    E2[rows, rows] += np.where(rows % 2, 2.0, -2.0)  # half up, half down: the others' mean points the wrong way
    assert fit_transfer(E2, np.arange(n), distances={}, rel=None, target_row=rows)["on_target"] == 0.0
    assert fit_transfer(E, np.arange(n), distances={}, rel=None, target_row=np.full(n, -1))["on_target"] == 0.0


def test_fit_transfer_with_too_few_perturbations_is_the_mean():
    E = np.random.default_rng(0).normal(size=(10, 2))
    fit = fit_transfer(E, np.arange(2), distances={}, rel=None, target_row=np.full(2, -1))
    assert fit["prior"] == "mean" and fit["source"] == "none" and np.isnan(fit["cv_score"])


def test_one_standard_error_rule_by_hand():
    from hyperperturb.tl._transfer._transfer import _beats

    ref = np.zeros(4)
    assert _beats(np.array([0.1, 0.1, 0.1, 0.1]), ref)  # a consistent gain (no spread)
    # mean gain 0.1, sd 0.41, standard error 0.21: not enough
    assert not _beats(np.array([0.5, -0.4, 0.2, 0.1]), ref)
    assert not _beats(np.array([0.5, np.nan, np.nan, 0.4]), ref)  # fewer than 3 paired columns
    assert not _beats(np.array([-0.1, -0.1, -0.1]), np.zeros(3))


def test_transfer_from_neighbours_that_do_not_respond_alike_is_not_kept():
    # the graph pairs perturbations whose profiles are unrelated: a chance gain must not pass the rule
    rng = np.random.default_rng(11)
    n_genes, n = 60, 12
    E = rng.gamma(2.0, size=n_genes)[:, None] + rng.normal(scale=1.0, size=(n_genes, n))
    nodes = np.arange(n)
    rows = np.concatenate([nodes[:-1], nodes[1:]])
    cols = np.concatenate([nodes[1:], nodes[:-1]])
    A = sparse.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n))  # a path
    fit = fit_transfer(E, nodes, distances={"graph": graph_distances(A, nodes, nodes)}, rel=None,
                       target_row=np.full(n, -1))  # fmt: skip
    assert fit["source"] == "none" and fit["transfer_cv_gain"] == 0.0


def test_loo_set_is_capped_on_large_screens_and_unchanged_on_small_ones():
    from hyperperturb.tl._transfer._transfer import MAX_LOO, loo_subset

    rng = np.random.default_rng(3)
    n = MAX_LOO + 100
    cv = rng.random(n) < 0.95  # more than MAX_LOO scorable
    assert cv.sum() > MAX_LOO
    sub = loo_subset(cv)
    assert sub.sum() == MAX_LOO and not (sub & ~cv).any()  # only scorable perturbations are left out
    np.testing.assert_array_equal(sub, loo_subset(cv))  # seeded: the same set every call
    # small screens: every scorable perturbation
    small = cv[:50]
    np.testing.assert_array_equal(loo_subset(small), small)
    np.testing.assert_array_equal(loo_subset(cv, max_loo=10**9), cv)


@pytest.mark.parametrize("geometry", ["poincare", "euclidean"])
def test_pairwise_distance_is_the_geodesic_of_the_geometry(geometry):
    from hyperperturb._utils import _ball
    from hyperperturb.tl._transfer._transfer import pairwise_distance

    rng = np.random.default_rng(5)
    X, Y = 0.3 * rng.normal(size=(4, 2)), 0.3 * rng.normal(size=(3, 2))
    ref = _ball.pairwise_distance(X, Y, c=1.0) if geometry == "poincare" else _ball.euclidean_pairwise_distance(X, Y)
    np.testing.assert_allclose(pairwise_distance(X, Y, geometry=geometry), ref)
