"""The NumPy ball maths (_utils/_ball.py) agree with the TensorFlow geometry (nn/_geometry.py) and with each other."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperperturb._utils import _ball


def _points(seed: int, n: int, dim: int, c: float, scale: float = 0.9) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim))
    r = rng.uniform(0, scale, size=(n, 1))
    return x / np.linalg.norm(x, axis=1, keepdims=True) * r / np.sqrt(c)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), dim=st.integers(2, 6), c=st.sampled_from([0.5, 1.0, 2.0]))
def test_distance_properties(seed, dim, c):
    x, y, z = (_points(seed + k, 8, dim, c) for k in range(3))
    d = _ball.distance(x, y, c=c)
    np.testing.assert_allclose(d, _ball.distance(y, x, c=c), rtol=1e-10, atol=1e-10)  # symmetric
    assert (d >= 0).all()
    np.testing.assert_allclose(_ball.distance(x, x, c=c), 0.0, atol=1e-6)
    assert (d <= _ball.distance(x, z, c=c) + _ball.distance(z, y, c=c) + 1e-9).all()  # triangle inequality
    np.testing.assert_allclose(np.diag(_ball.pairwise_distance(x, y, c=c)), d, rtol=1e-8, atol=1e-7)
    np.testing.assert_allclose(_ball.radius(x, c=c), _ball.distance(x, np.zeros_like(x), c=c), rtol=1e-8, atol=1e-8)
    # exp0/log0 are inverse; Möbius translation is an isometry
    np.testing.assert_allclose(_ball.expmap0(_ball.logmap0(x, c=c), c=c), x, rtol=1e-7, atol=1e-10)
    m = _points(seed + 7, 1, dim, c)[0]
    moved = _ball.recenter(np.vstack([x, y]), m, c=c)
    np.testing.assert_allclose(_ball.distance(moved[:8], moved[8:], c=c), d, rtol=1e-6, atol=1e-6)


def test_einstein_midpoint_of_symmetric_points_is_the_origin_and_of_one_point_is_itself():
    x = np.array([[0.5, 0.0], [-0.5, 0.0]])
    np.testing.assert_allclose(_ball.einstein_midpoint(x), 0.0, atol=1e-12)
    np.testing.assert_allclose(_ball.einstein_midpoint(x[:1]), x[0], atol=1e-12)


def test_project_keeps_points_inside():
    x = np.array([[2.0, 0.0], [0.1, 0.2]])
    p = _ball.project(x)
    assert np.linalg.norm(p[0]) == pytest.approx(_ball.MAX_NORM)
    np.testing.assert_array_equal(p[1], x[1])


def test_agrees_with_tensorflow_geometry():
    tf = pytest.importorskip("tensorflow")
    from hyperperturb.nn._geometry import PoincareBall

    for c in (0.5, 1.0, 2.0):
        ball = PoincareBall(c, dtype="float64")
        x, y = _points(1, 6, 3, c), _points(2, 6, 3, c)
        X, Y = tf.constant(x), tf.constant(y)
        np.testing.assert_allclose(_ball.distance(x, y, c=c), ball.distance(X, Y).numpy(), rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(_ball.pairwise_distance(x, y, c=c), ball.pairwise_distance(X, Y).numpy(), rtol=1e-6)
        np.testing.assert_allclose(_ball.mobius_add(x, y, c=c), ball.mobius_add(X, Y).numpy(), rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(_ball.expmap0(y, c=c), ball.expmap0(Y).numpy(), rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(_ball.logmap0(x, c=c), ball.logmap0(X).numpy(), rtol=1e-6, atol=1e-10)
        np.testing.assert_allclose(_ball.radius(x, c=c), ball.dist0(X).numpy(), rtol=1e-6, atol=1e-9)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), c=st.sampled_from([0.5, 1.0, 2.0]))
def test_norm_at_radius_inverts_radius_and_checked_radius(seed, c):
    x = _points(seed, 10, 3, c)
    r = _ball.radius(x, c=c)
    np.testing.assert_allclose(_ball.norm_at_radius(r, c=c), np.linalg.norm(x, axis=1), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(_ball.checked_radius(x, c=c), r)  # inside the ball: the same numbers


def test_checked_radius_refuses_points_outside_the_ball():
    with pytest.raises(ValueError, match="outside the Poincaré ball of curvature 2"):
        _ball.checked_radius(np.array([[0.8, 0.0]]), c=2.0, what=".varm['X']")


def test_geodesic_segments_end_points_and_straight_diameters():
    u, v = np.array([[0.3, 0.1], [0.2, 0.0]]), np.array([[-0.1, 0.5], [-0.4, 0.0]])
    seg = _ball.geodesic_segments(u, v, 1.0, n=11)
    np.testing.assert_allclose(seg[:, 0], u, atol=1e-12)
    np.testing.assert_allclose(seg[:, -1], v, atol=1e-12)
    np.testing.assert_allclose(seg[1, :, 1], 0.0, atol=1e-12)  # through the origin: a straight diameter
    assert (np.linalg.norm(seg, axis=2) < 1.0).all()


def test_geometry_object_dispatches_to_the_ball_or_euclidean_maths():
    rng = np.random.default_rng(0)
    X, Y = rng.uniform(-0.3, 0.3, (5, 3)), rng.uniform(-0.3, 0.3, (4, 3))
    ball = _ball.geometry("poincare", 0.5)
    assert ball.hyperbolic and ball.c == 0.5 and ball.name == "poincare"
    np.testing.assert_array_equal(ball.pairwise_distance(X, Y), _ball.pairwise_distance(X, Y, c=0.5))
    np.testing.assert_array_equal(ball.radius(X), _ball.radius(X, c=0.5))
    flat = _ball.geometry("euclidean", 7.0)  # the curvature of a Euclidean map is 1, whatever is passed
    assert not flat.hyperbolic and flat.c == 1.0
    np.testing.assert_array_equal(flat.pairwise_distance(X, Y), _ball.euclidean_pairwise_distance(X, Y))
    np.testing.assert_array_equal(flat.radius(X), np.linalg.norm(X, axis=1))
