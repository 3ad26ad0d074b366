"""NumPy maths of the Poincaré ball (curvature ``c > 0``) for code that must not import TensorFlow.

The TensorFlow twin is :mod:`hyperperturb.nn._geometry`; ``tests/_utils/test_ball.py`` checks that both agree.
Points are rows of ``(n, dim)`` arrays strictly inside the ball ``c |x|^2 < 1``; every function works in float64.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


def radius(x: np.ndarray, *, c: float = 1.0, max_norm: float = MAX_NORM) -> np.ndarray:
    """Geodesic distance of each row from the origin, ``2 artanh(sqrt(c) |x|) / sqrt(c)``.

    ``sqrt(c) |x|`` is clipped to ``max_norm`` (rows on or outside the boundary get the radius of that norm).
    """
    sc = np.sqrt(c)
    return 2.0 / sc * np.arctanh(np.clip(sc * np.linalg.norm(_f64(x), axis=-1), 0.0, max_norm))


def checked_radius(x: np.ndarray, *, c: float = 1.0, what: str = "the embedding") -> np.ndarray:
    """:func:`radius` of rows that must lie strictly inside the ball: a :class:`ValueError` for any other row."""
    sc = np.sqrt(c)
    norm = np.linalg.norm(_f64(x), axis=-1) * sc
    if np.any(norm >= 1):
        worst = float(norm.max() / sc)
        msg = (
            f"{what} has points on or outside the Poincaré ball of curvature {c} (largest norm {worst:.4g} >= "
            f"{1 / sc:.4g}). Pass the curvature it was trained with, or re-run `hp.tl.train`."
        )
        raise ValueError(msg)
    return radius(x, c=c, max_norm=float(np.nextafter(1.0, 0.0)))


def norm_at_radius(d: float | np.ndarray, *, c: float = 1.0) -> float | np.ndarray:
    """Euclidean norm of a point at geodesic distance ``d`` from the origin, ``tanh(sqrt(c) d / 2) / sqrt(c)``."""
    return np.tanh(np.sqrt(c) * d / 2) / np.sqrt(c)


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


def geodesic_segments(u: np.ndarray, v: np.ndarray, radius: float, n: int = 24) -> np.ndarray:
    """Points along the geodesics of the Poincaré disk of boundary ``radius`` between rows of ``u`` and ``v``.

    A geodesic is the arc of the circle through ``u`` and ``v`` that meets the boundary at right angles (a straight
    segment when ``u``, ``v`` and the origin are collinear). Returns an array of shape ``(n_edges, n, 2)``.
    """
    u = np.asarray(u, dtype=float).reshape(-1, 2)
    v = np.asarray(v, dtype=float).reshape(-1, 2)
    t = np.linspace(0.0, 1.0, n)
    out = u[:, None, :] + (v - u)[:, None, :] * t[None, :, None]  # straight by default
    det = u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]
    scale = np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1)
    curved = np.abs(det) > 1e-6 * np.maximum(scale, 1e-12)
    if curved.any():
        uu, vv, dd = u[curved], v[curved], det[curved]
        bu = (np.sum(uu**2, axis=1) + radius**2) / 2
        bv = (np.sum(vv**2, axis=1) + radius**2) / 2
        # solve [uu; vv] o = [bu; bv] for the centre o of the orthogonal circle
        ox = (bu * vv[:, 1] - bv * uu[:, 1]) / dd
        oy = (uu[:, 0] * bv - vv[:, 0] * bu) / dd
        o = np.stack([ox, oy], axis=1)
        r = np.linalg.norm(uu - o, axis=1)
        a1 = np.arctan2(uu[:, 1] - oy, uu[:, 0] - ox)
        a2 = np.arctan2(vv[:, 1] - oy, vv[:, 0] - ox)
        delta = (a2 - a1 + np.pi) % (2 * np.pi) - np.pi  # the minor arc lies inside the disk
        ang = a1[:, None] + delta[:, None] * t[None, :]
        out[curved] = o[:, None, :] + r[:, None, None] * np.stack([np.cos(ang), np.sin(ang)], axis=2)
    return out


@dataclass(frozen=True)
class Geometry:
    """The space of an embedding: the Poincaré ball of curvature ``c``, or Euclidean space (``c`` is then 1).

    The one place that tells the two geometries apart for NumPy code (:func:`geometry` builds it).
    """

    name: str  # "poincare" or "euclidean"
    c: float = 1.0

    @property
    def hyperbolic(self) -> bool:
        """Whether this is the Poincaré ball."""
        return self.name == "poincare"

    def pairwise_distance(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """All distances between the rows of ``X`` and of ``Y`` (geodesic in the ball, else Euclidean)."""
        return pairwise_distance(X, Y, c=self.c) if self.hyperbolic else euclidean_pairwise_distance(X, Y)

    def radius(self, x: np.ndarray) -> np.ndarray:
        """Distance of each row from the origin."""
        return radius(x, c=self.c) if self.hyperbolic else np.linalg.norm(x, axis=1)


def geometry(name: Any, curvature: Any = 1.0) -> Geometry:
    """The geometry ``name``: ``"poincare"`` (curvature ``curvature``); any other name is Euclidean (curvature 1)."""
    if name == "poincare":
        return Geometry("poincare", float(curvature))
    return Geometry("euclidean", 1.0)
