from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperperturb.nn import Euclidean, PoincareBall, get_manifold

SETTINGS = settings(max_examples=25, deadline=None)


def ball_points(rng: np.random.Generator, n: int, d: int, c: float, max_radius: float) -> np.ndarray:
    """Random points with norms uniform in [0, max_radius / sqrt(c))."""
    u = rng.normal(size=(n, d))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    r = rng.uniform(0, max_radius, size=(n, 1)) / np.sqrt(c)
    return u * r


def arcosh_distance(x: np.ndarray, y: np.ndarray, c: float) -> np.ndarray:
    x2 = (x**2).sum(-1)
    y2 = (y**2).sum(-1)
    arg = 1 + 2 * c * ((x - y) ** 2).sum(-1) / ((1 - c * x2) * (1 - c * y2))
    return np.arccosh(arg) / np.sqrt(c)


cases = st.tuples(
    st.integers(0, 2**31 - 1),  # seed
    st.integers(1, 8),  # dim
    st.sampled_from([0.3, 1.0, 2.5]),  # curvature
    st.sampled_from([0.5, 0.9, 0.99]),  # max radius (fraction of the ball radius)
)


@SETTINGS
@given(cases)
def test_exp_log_identities(case):
    seed, d, c, r = case
    rng = np.random.default_rng(seed)
    ball = PoincareBall(c, dtype="float64")
    x = ball_points(rng, 16, d, c, r)
    y = ball_points(rng, 16, d, c, r)
    np.testing.assert_allclose(ball.expmap(x, ball.logmap(x, y)), y, atol=1e-8)
    np.testing.assert_allclose(ball.expmap0(ball.logmap0(y)), y, atol=1e-8)
    # log ∘ exp on tangent vectors of moderate Riemannian length
    u = rng.normal(size=(16, d)) * 0.3
    u = u / ball.lambda_x(x).numpy()
    np.testing.assert_allclose(ball.logmap(x, ball.expmap(x, u)), u, atol=1e-7, rtol=1e-6)
    np.testing.assert_allclose(ball.logmap0(ball.expmap0(u)), u, atol=1e-8)


@SETTINGS
@given(cases)
def test_distance_closed_form_symmetry_triangle(case):
    seed, d, c, r = case
    rng = np.random.default_rng(seed)
    ball = PoincareBall(c, dtype="float64")
    x, y, z = (ball_points(rng, 12, d, c, r) for _ in range(3))
    dxy = ball.distance(x, y).numpy()
    np.testing.assert_allclose(dxy, arcosh_distance(x, y, c), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dxy, ball.distance(y, x).numpy(), rtol=1e-9, atol=1e-10)
    assert np.all(ball.distance(x, y).numpy() + ball.distance(y, z).numpy() >= ball.distance(x, z).numpy() - 1e-8)
    np.testing.assert_allclose(ball.distance(x, x).numpy(), 0, atol=1e-7)
    np.testing.assert_allclose(ball.dist0(x).numpy(), ball.distance(np.zeros_like(x), x).numpy(), rtol=1e-9)
    # pairwise helper: [n, m] matrix equal to the broadcast distance, zero diagonal
    pw = ball.pairwise_distance(x, y).numpy()
    assert pw.shape == (12, 12)
    np.testing.assert_allclose(pw, ball.distance(x[:, None], y[None]).numpy(), rtol=1e-6, atol=1e-6)
    # arcosh(1 + e) ~ sqrt(2e): a rounding error e ~ 1e-12 of the argument gives ~1e-6 on the diagonal near the rim
    np.testing.assert_allclose(np.diag(ball.pairwise_distance(x).numpy()), 0, atol=1e-5)


@SETTINGS
@given(cases)
def test_mobius_left_cancellation_and_gyration(case):
    seed, d, c, r = case
    rng = np.random.default_rng(seed)
    ball = PoincareBall(c, dtype="float64")
    x, y, w = (ball_points(rng, 10, d, c, r) for _ in range(3))
    np.testing.assert_allclose(ball.mobius_add(-x, ball.mobius_add(x, y, project=False), project=False), y, atol=1e-7)
    # the closed-form gyration equals its definition ⊖(x⊕y) ⊕ (x ⊕ (y ⊕ w))
    ma = ball._mobius_add
    ref = ma(-ma(x, y), ma(x, ma(y, w)))
    np.testing.assert_allclose(ball.gyration(x, y, w), ref, atol=1e-8)


@SETTINGS
@given(cases)
def test_transport_preserves_riemannian_norm(case):
    seed, d, c, r = case
    rng = np.random.default_rng(seed)
    ball = PoincareBall(c, dtype="float64")
    x, y = (ball_points(rng, 10, d, c, r) for _ in range(2))
    v = rng.normal(size=(10, d))
    np.testing.assert_allclose(ball.norm(y, ball.transport(x, y, v)), ball.norm(x, v), rtol=1e-7)
    np.testing.assert_allclose(ball.transport0(y, v), ball.transport(np.zeros_like(y), y, v), atol=1e-10)
    # inner products are preserved too
    w = rng.normal(size=(10, d))
    np.testing.assert_allclose(
        ball.inner(y, ball.transport(x, y, v), ball.transport(x, y, w)), ball.inner(x, v, w), rtol=1e-6, atol=1e-9
    )


def test_mobius_matvec_identity_and_zero():
    ball = PoincareBall(1.0, dtype="float64")
    x = tf.constant([[0.3, -0.2, 0.1], [0.0, 0.0, 0.0]], tf.float64)
    np.testing.assert_allclose(ball.mobius_matvec(np.eye(3), x), x, atol=1e-12)
    out = ball.mobius_matvec(np.zeros((2, 3)), x).numpy()
    assert out.shape == (2, 2) and np.all(out == 0)
    M = np.random.default_rng(0).normal(size=(4, 3))
    # kernel layout (d_in, d_out) gives the same as M (d_out, d_in)
    np.testing.assert_allclose(ball.mobius_linear(x, M.T), ball.mobius_matvec(M, x), atol=1e-12)
    # M ⊗ x = exp0(M log0(x)) (Ganea et al. 2018)
    np.testing.assert_allclose(ball.mobius_matvec(M, x), ball.expmap0(ball.logmap0(x) @ tf.constant(M.T)), atol=1e-10)


def test_egrad2rgrad_and_lambda():
    ball = PoincareBall(2.0, dtype="float64")
    x = np.array([[0.1, 0.4], [0.0, 0.0]])
    g = np.array([[1.0, -2.0], [3.0, 0.5]])
    lam = 2 / (1 - 2.0 * (x**2).sum(-1, keepdims=True))
    np.testing.assert_allclose(ball.lambda_x(x), lam)
    np.testing.assert_allclose(ball.egrad2rgrad(x, g), g / lam**2)
    np.testing.assert_allclose(ball.inner(x, g), lam[:, 0] ** 2 * (g**2).sum(-1))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("c", [0.5, 1.0, 3.0])
def test_outputs_strictly_inside_ball_at_and_beyond_boundary(dtype, c):
    ball = PoincareBall(c, dtype=dtype)
    radius = 1 / np.sqrt(c)
    eps = {"float32": 4e-3, "float64": 1e-5}[dtype]
    d = np.ones((1, 3)) / np.sqrt(3)
    x = tf.constant(np.concatenate([d * radius, d * radius * 1.5, d * radius * (1 - 1e-7), d * 1e6]), dtype)
    big = tf.constant(np.full((4, 3), 1e4), dtype)
    outs = {
        "proj": ball.proj(x),
        "expmap0": ball.expmap0(big),
        "expmap": ball.expmap(ball.proj(x), big),
        "mobius_add": ball.mobius_add(ball.proj(x), ball.proj(x)),
        "mobius_matvec": ball.mobius_matvec(np.eye(3) * 1e3, ball.proj(x)),
    }
    for name, out in outs.items():
        norms = np.linalg.norm(out.numpy().astype(np.float64), axis=-1)
        assert np.all(np.isfinite(norms)), name
        assert np.all(norms * np.sqrt(c) <= 1 - eps + 1e-6), (name, norms)
        assert np.all(norms * np.sqrt(c) < 1), name
    # distances of projected boundary points stay finite, logmap0 finite
    assert np.all(np.isfinite(ball.distance(ball.proj(x), -ball.proj(x)).numpy()))
    assert np.all(np.isfinite(ball.logmap0(x).numpy()))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_finite_gradients_at_origin_zero_rows_and_boundary(dtype):
    ball = PoincareBall(1.0, dtype=dtype)
    zero = np.zeros((2, 4))
    near = np.ones((2, 4)) / 2 * (1 - 1e-7)  # within 1e-7 of the boundary
    pts = tf.Variable(np.concatenate([zero, near]), dtype=dtype)
    other = tf.constant(np.concatenate([zero, -near]), dtype)
    ops = {
        "expmap0": lambda p: ball.expmap0(p),
        "logmap0": lambda p: ball.logmap0(p),
        "expmap": lambda p: ball.expmap(ball.proj(p), p),
        "logmap": lambda p: ball.logmap(ball.proj(p), ball.proj(other)),
        "distance": lambda p: ball.distance(p, other),
        "distance_self": lambda p: ball.distance(p, p),
        "pairwise": lambda p: ball.pairwise_distance(ball.proj(p)),
        "dist0": lambda p: ball.dist0(p),
        "proj": lambda p: ball.proj(p),
        "mobius_add": lambda p: ball.mobius_add(p, other),
        "mobius_matvec": lambda p: ball.mobius_matvec(tf.eye(4, dtype=dtype), p),
        "transport": lambda p: ball.transport(ball.proj(p), ball.proj(other), p),
        "norm": lambda p: ball.norm(ball.proj(p), p),
    }
    for name, fn in ops.items():
        with tf.GradientTape() as tape:
            out = fn(pts)
            loss = tf.reduce_sum(out)
        grad = tape.gradient(loss, pts)
        assert np.all(np.isfinite(out.numpy())), name
        assert grad is not None and np.all(np.isfinite(grad.numpy())), name


@pytest.mark.parametrize("c", [1.0, 4.0])
def test_float64_distance_near_the_rim_is_not_capped(c):
    """float64 points may sit 1e-5 from the rim: the Möbius distance agrees with the closed form there.

    A float32-sized artanh clamp (1 - 1e-7) capped it at 16.6 / sqrt(c) for two opposite rim points (exact 24.4).
    """
    ball = PoincareBall(c, dtype="float64")
    r = (1 - 1e-5) / np.sqrt(c)
    x = tf.constant([[r, 0.0], [r, 0.0]], tf.float64)
    y = tf.constant([[-r, 0.0], [0.0, 0.99999 / np.sqrt(c)]], tf.float64)
    d = ball.distance(x, y).numpy().ravel()
    p = np.diag(ball.pairwise_distance(x, y).numpy())
    exact = 2 * float(ball.dist0(x[:1]).numpy().ravel()[0])
    np.testing.assert_allclose(d, p, rtol=1e-6)  # 1e-5 from the rim: ~5e-8 apart in float64
    np.testing.assert_allclose(d[0], exact, rtol=1e-6)
    assert d[0] > 16.7 / np.sqrt(c)


def test_euclidean_counterpart():
    e = Euclidean(dtype="float64")
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(2, 5, 3))
    np.testing.assert_allclose(e.mobius_add(x, y), x + y)
    np.testing.assert_allclose(e.expmap0(x), x)
    np.testing.assert_allclose(e.logmap(x, y), y - x)
    np.testing.assert_allclose(e.distance(x, y), np.linalg.norm(x - y, axis=-1))
    np.testing.assert_allclose(e.pairwise_distance(x, y), np.linalg.norm(x[:, None] - y[None], axis=-1), atol=1e-7)
    M = rng.normal(size=(2, 3))
    np.testing.assert_allclose(e.mobius_matvec(M, x), x @ M.T)
    v = tf.Variable(np.zeros((2, 3)))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(e.distance(v, tf.zeros_like(v)))
    assert np.all(np.isfinite(tape.gradient(loss, v).numpy()))
    assert e.curvature == 0.0


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf")])
def test_curvature_must_be_positive(bad):
    with pytest.raises(ValueError, match="curvature"):
        PoincareBall(bad)


def test_bad_dtype_and_geometry():
    with pytest.raises(ValueError, match="dtype"):
        PoincareBall(1.0, dtype="int32")
    with pytest.raises(ValueError, match="geometry"):
        get_manifold("spherical")
    with pytest.raises(TypeError, match="curvature"):
        PoincareBall("one")


def test_learnable_curvature_is_softplus_positive_and_trainable():
    ball = PoincareBall(0.7, learnable=True)
    assert ball.variable is not None and ball.variable.trainable
    assert ball.curvature == pytest.approx(0.7, rel=1e-5)
    ball.variable.assign(-50.0)  # an optimizer pushing far down keeps c > 0
    assert ball.curvature > 0
    ball.variable.assign(0.0)
    x = tf.constant([[0.2, 0.3]])
    with tf.GradientTape() as tape:
        d = ball.dist0(x)
    g = tape.gradient(d, ball.variable)
    assert g is not None and np.isfinite(g.numpy())


def test_get_manifold_roundtrip():
    b = get_manifold("poincare", curvature=2.0, dtype="float64")
    b2 = get_manifold(b.get_config())
    assert isinstance(b2, PoincareBall) and b2.curvature == 2.0 and b2.dtype == "float64"
    assert isinstance(get_manifold(Euclidean().get_config()), Euclidean)
    assert get_manifold(b) is b
