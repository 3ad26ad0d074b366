"""NumPy maths of the Poincaré ball (curvature ``c > 0``) for code that must not import TensorFlow.

The TensorFlow twin is :mod:`hyperperturb.nn._geometry`; ``tests/_utils/test_ball.py`` checks that both agree.
Points are rows of ``(n, dim)`` arrays strictly inside the ball ``c |x|^2 < 1``; every function works in float64.
"""

from __future__ import annotations

import numpy as np

#: Largest allowed ``sqrt(c) |x|`` after :func:`project` (geoopt's float64 ``eps``).
MAX_NORM = 1.0 - 1e-5


def _f64(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def project(x: np.ndarray, *, c: float = 1.0, max_norm: float = MAX_NORM) -> np.ndarray:
    """Pull rows with ``sqrt(c) |x| > max_norm`` back onto that radius (other rows unchanged)."""
    x = _f64(x)
    n = np.linalg.norm(x, axis=-1, keepdims=True) * np.sqrt(c)
    return np.where(n > max_norm, x * (max_norm / np.maximum(n, 1e-300)), x)


def mobius_add(x: np.ndarray, y: np.ndarray, *, c: float = 1.0) -> np.ndarray:
    """Möbius addition ``x ⊕_c y`` (row-wise, broadcasting)."""
    x, y = _f64(x), _f64(y)
    xy = (x * y).sum(-1, keepdims=True)
    x2 = (x * x).sum(-1, keepdims=True)
    y2 = (y * y).sum(-1, keepdims=True)
    num = (1 + 2 * c * xy + c * y2) * x + (1 - c * x2) * y
    den = 1 + 2 * c * xy + c * c * x2 * y2
    return num / np.maximum(den, 1e-15)


def expmap0(u: np.ndarray, *, c: float = 1.0) -> np.ndarray:
    """Exponential map at the origin: tangent vectors to points of the ball."""
    u = _f64(u)
    sc = np.sqrt(c)
    n = np.maximum(np.linalg.norm(u, axis=-1, keepdims=True), 1e-15)
    return project(np.tanh(sc * n) * u / (sc * n), c=c)


def logmap0(x: np.ndarray, *, c: float = 1.0) -> np.ndarray:
    """Logarithmic map at the origin: points of the ball to tangent vectors."""
    x = _f64(x)
    sc = np.sqrt(c)
    n = np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-15)
    return np.arctanh(np.clip(sc * n, 0.0, MAX_NORM)) * x / (sc * n)


def radius(x: np.ndarray, *, c: float = 1.0) -> np.ndarray:
    """Geodesic distance of each row from the origin, ``2 artanh(sqrt(c) |x|) / sqrt(c)``."""
    sc = np.sqrt(c)
    return 2.0 / sc * np.arctanh(np.clip(sc * np.linalg.norm(_f64(x), axis=-1), 0.0, MAX_NORM))


def distance(x: np.ndarray, y: np.ndarray, *, c: float = 1.0) -> np.ndarray:
    """Geodesic distance between matching rows of ``x`` and ``y`` (broadcasting)."""
    x, y = _f64(x), _f64(y)
    sq = ((x - y) ** 2).sum(-1)
    den = np.maximum((1 - c * (x * x).sum(-1)) * (1 - c * (y * y).sum(-1)), 1e-15)
    return np.arccosh(1 + 2 * c * sq / den) / np.sqrt(c)


def pairwise_distance(X: np.ndarray, Y: np.ndarray, *, c: float = 1.0) -> np.ndarray:
    """All geodesic distances between the rows of ``X`` and of ``Y`` (``len(X) × len(Y)``)."""
    X, Y = _f64(X), _f64(Y)
    x2, y2 = (X * X).sum(1), (Y * Y).sum(1)
    sq = np.maximum(x2[:, None] + y2[None, :] - 2.0 * X @ Y.T, 0.0)
    den = np.maximum((1.0 - c * x2)[:, None] * (1.0 - c * y2)[None, :], 1e-15)
    return np.arccosh(1.0 + 2.0 * c * sq / den) / np.sqrt(c)


def euclidean_pairwise_distance(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """All Euclidean distances between the rows of ``X`` and of ``Y``."""
    X, Y = _f64(X), _f64(Y)
    return np.sqrt(np.maximum((X * X).sum(1)[:, None] + (Y * Y).sum(1)[None, :] - 2.0 * X @ Y.T, 0.0))


def einstein_midpoint(x: np.ndarray, weights: np.ndarray | None = None, *, c: float = 1.0) -> np.ndarray:
    """Weighted Einstein midpoint of the rows of ``x`` (computed in the Klein model), a point of the ball."""
    x = _f64(x) * np.sqrt(c)  # unit ball
    x2 = (x * x).sum(1, keepdims=True)
    k = 2 * x / (1 + x2)  # Klein coordinates
    gamma = 1.0 / np.sqrt(np.maximum(1 - (k * k).sum(1, keepdims=True), 1e-15))
    w = np.ones((len(x), 1)) if weights is None else _f64(weights).reshape(-1, 1)
    m = (w * gamma * k).sum(0) / max(float((w * gamma).sum()), 1e-300)
    m2 = float((m * m).sum())
    p = m / (1 + np.sqrt(max(1 - m2, 0.0)))
    return project(p / np.sqrt(c), c=c)


def recenter(x: np.ndarray, centre: np.ndarray, *, c: float = 1.0) -> np.ndarray:
    """Move ``centre`` to the origin by the isometry ``z ↦ (-centre) ⊕ z`` (all distances are preserved)."""
    return project(mobius_add(-_f64(centre)[None, :], _f64(x), c=c), c=c)
