"""Unit tests of the kernel readouts of older ledgers and the shared helpers (``hyperperturb.tl._transfer._kernel``)."""

from __future__ import annotations

import numpy as np
import pytest

from hyperperturb.tl._transfer._kernel import adaptive_average, predict_kernel


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


def test_predict_kernel_rejects_unknown_form():
    E, emb = _profiles()
    with pytest.raises(ValueError, match="form"):
        predict_kernel(E, emb, emb, tau=1.0, shrinkage=0.0, form="bogus", geometry="euclidean")


def test_loo_set_is_capped_on_large_screens_and_unchanged_on_small_ones():
    from hyperperturb.tl._transfer._kernel import MAX_LOO, loo_subset

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


def test_cached_adaptive_products_match_adaptive_average():
    from hyperperturb.tl._transfer._kernel import _adaptive_combine, _adaptive_weights

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
