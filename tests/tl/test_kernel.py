"""Unit tests of the embedding-kernel transfer readout (``hyperperturb.tl._kernel``), on tiny synthetic profiles."""

from __future__ import annotations

import numpy as np
import pytest

from hyperperturb.tl._kernel import adaptive_average, fit_kernel, predict_kernel


def _profiles(seed: int = 0):
    rng = np.random.default_rng(seed)
    E = rng.normal(size=(40, 4))  # genes x training perturbations
    emb = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    return E, emb


@pytest.mark.parametrize("geometry", ["euclidean", "poincare"])
def test_adaptive_far_targets_get_the_mean_profile(geometry):
    E, emb = _profiles()
    emb = emb * (0.3 if geometry == "poincare" else 1.0)
    far = np.array([[50.0, 50.0]]) if geometry == "euclidean" else np.array([[-0.6, -0.79]])
    P = predict_kernel(E, emb, far, tau=0.01, shrinkage=0.0, kappa=0.01, form="adaptive", geometry=geometry)
    np.testing.assert_allclose(P[:, 0], E.mean(axis=1), atol=1e-10)
    # the mixture form does not fall back: its normalised weights pick the nearest training perturbation
    M = predict_kernel(E, emb, far, tau=0.01, shrinkage=0.0, form="mixture", geometry=geometry)
    assert not np.allclose(M[:, 0], E.mean(axis=1))


def test_adaptive_very_close_target_gets_its_profile():
    E, emb = _profiles()
    close = emb[[2]] + 1e-6
    P = predict_kernel(E, emb, close, tau=0.05, shrinkage=0.0, kappa=0.01, form="adaptive", geometry="euclidean")
    np.testing.assert_allclose(P[:, 0], E[:, 2], atol=0.02 * np.abs(E).max())
    assert np.corrcoef(P[:, 0], E[:, 2])[0, 1] > 0.999
    # excluding that source, the same query can no longer copy it
    P2 = predict_kernel(
        E, emb, close, tau=0.05, shrinkage=0.0, kappa=0.01, form="adaptive", geometry="euclidean", exclude=np.array([2])
    )
    assert np.corrcoef(P2[:, 0], E[:, 2])[0, 1] < 0.9


def test_adaptive_is_nan_safe_and_kappa_zero_falls_back_to_mean():
    E, _ = _profiles()
    D = np.array([[np.inf, np.nan, np.inf, np.inf], [0.0, 1.0, 2.0, 3.0]])
    mean = np.repeat(E.mean(axis=1, keepdims=True), 2, axis=1)
    A = adaptive_average(D, E, mean, tau=0.5, kappa=0.0)
    assert np.isfinite(A).all()
    np.testing.assert_allclose(A[:, 0], mean[:, 0])  # no usable source and no prior: the mean profile


def test_fit_kernel_selects_adaptive_when_neighbours_share_profiles_and_is_deterministic():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(30, 3))  # genes x clusters
    emb, cols = [], []
    for k in range(3):  # three tight pairs of perturbations, far apart; plus far singletons with noise profiles
        for j in range(2):
            emb.append([4.0 * k, 0.01 * j])
            cols.append(centres[:, k] + 0.05 * rng.normal(size=30))
    for k in range(4):
        emb.append([100.0 + 40.0 * k, 50.0])
        cols.append(rng.normal(size=30))
    E, emb = np.column_stack(cols), np.asarray(emb)
    cv = np.ones(E.shape[1], dtype=bool)
    fit = fit_kernel(E, emb, cv, geometry="euclidean")
    assert fit == fit_kernel(E, emb, cv, geometry="euclidean")
    assert fit["form"] == "adaptive"
    assert fit["kappa"] > 0 and fit["shrinkage"] == 0.0
    assert np.isfinite(fit["cv_score"])


def test_fit_kernel_without_structure_keeps_the_mixture_form():
    E, emb = _profiles()
    fit = fit_kernel(E, emb, np.zeros(4, dtype=bool), geometry="euclidean")  # nothing scorable
    assert fit["form"] == "mixture" and fit["shrinkage"] == 1.0 and fit["kappa"] == 0.0
    assert np.isnan(fit["cv_score"])


def test_predict_kernel_rejects_unknown_form():
    E, emb = _profiles()
    with pytest.raises(ValueError, match="form"):
        predict_kernel(E, emb, emb, tau=1.0, shrinkage=0.0, form="bogus", geometry="euclidean")


def test_residual_metric_of_the_mean_is_zero_and_perfect_is_one():
    from hyperperturb.tl._kernel import residual_pearson_topk

    rng = np.random.default_rng(0)
    O = rng.normal(size=(40, 3))
    mean = rng.normal(size=(40, 1))
    np.testing.assert_array_equal(residual_pearson_topk(np.repeat(mean, 3, 1), O, mean), 0.0)
    np.testing.assert_allclose(residual_pearson_topk(O, O, mean), 1.0)


def test_on_target_term_kept_only_when_leave_one_out_improves():
    from hyperperturb.tl._kernel import fit_on_target

    rng = np.random.default_rng(1)
    n_genes, n = 30, 6
    E = rng.normal(scale=0.05, size=(n_genes, n)) + 1.0
    rows = np.arange(n)
    E[rows, rows] += 2.0  # each perturbation moves its own target gene strongly
    cv = np.arange(n)
    means = (E.sum(1, keepdims=True) - E) / (n - 1)
    fit = fit_on_target(E, rows, means.copy(), means, cv)
    assert fit["on_target"] > 1.5 and fit["on_target_cv_gain"] > 0
    E2 = rng.normal(scale=0.05, size=(n_genes, n)) + 1.0  # targets do not move: no term
    means2 = (E2.sum(1, keepdims=True) - E2) / (n - 1)
    assert fit_on_target(E2, rows, means2.copy(), means2, cv)["on_target"] == 0.0
    assert fit_on_target(E, np.full(n, -1), means.copy(), means, cv)["on_target"] == 0.0  # no measured target


def test_loo_set_is_capped_on_large_screens_and_unchanged_on_small_ones():
    from hyperperturb.tl._kernel import MAX_LOO, loo_subset

    rng = np.random.default_rng(3)
    n = MAX_LOO + 100
    cv = rng.random(n) < 0.95  # more than MAX_LOO scorable
    assert cv.sum() > MAX_LOO
    sub = loo_subset(cv)
    assert sub.sum() == MAX_LOO and not (sub & ~cv).any()  # only scorable perturbations are left out
    np.testing.assert_array_equal(sub, loo_subset(cv))  # seeded: the same set every call
    E = rng.normal(size=(30, n))
    emb = rng.normal(scale=0.1, size=(n, 2))
    fit = fit_kernel(E, emb, cv, geometry="poincare")
    assert fit["n_cv"] == MAX_LOO
    # small screens: every scorable perturbation, and the same fit as without a cap
    small = cv[:50]
    np.testing.assert_array_equal(loo_subset(small), small)
    a = fit_kernel(E[:, :50], emb[:50], small, geometry="poincare")
    b = fit_kernel(E[:, :50], emb[:50], small, geometry="poincare", max_loo=10**9)
    assert a == b or all(a[k] == b[k] or (a[k] != a[k] and b[k] != b[k]) for k in a)
    assert a["n_cv"] == int(small.sum())


def test_cached_adaptive_products_match_adaptive_average():
    from hyperperturb.tl._kernel import _adaptive_combine, _adaptive_weights

    rng = np.random.default_rng(4)
    E = rng.normal(size=(25, 12))
    D = np.abs(rng.normal(size=(5, 12)))
    D[0, 3] = np.inf
    mean = rng.normal(size=(25, 5))
    W = _adaptive_weights(D, 0.3)
    for kappa in (0.001, 1.0):
        np.testing.assert_array_equal(
            _adaptive_combine(E @ W.T, W.sum(axis=1), mean, kappa), adaptive_average(D, E, mean, tau=0.3, kappa=kappa)
        )
