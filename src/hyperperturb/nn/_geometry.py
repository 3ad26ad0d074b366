"""Poincaré-ball manifold as TensorFlow ops (numerically stable port of geoopt's formulas), and ``get_manifold``.

The flat twin ``Euclidean`` is in ``_euclidean.py``, the shared safe ops and constants in ``_tensor_ops.py``.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ._euclidean import Euclidean
from ._tensor_ops import (
    BOUNDARY_EPS,
    MIN_DENOM,
    MIN_SQNORM,
    _check_dtype,
    _dot,
    _inverse_softplus,
    _last_axis_matmul,
    _safe_norm,
    _sqnorm,
    artanh,
    tanh,
)

__all__ = ["Euclidean", "PoincareBall", "get_manifold"]


class PoincareBall:
    r"""The Poincaré ball of curvature :math:`-c` (``c > 0``) as TensorFlow operations.

    Points are the last axis of a tensor with ``c |x|^2 < 1``; every op broadcasts over leading axes.
    The formulas are those of geoopt's stereographic model (``k = -c``) with its stability measures:
    squared norms are clamped at ``1e-30`` before every square root, artanh arguments at ``±(1 - 1e-7)``,
    tanh arguments at ``±15``, denominators at ``1e-15``, and every op that produces a point projects it
    to at most ``(1 - eps) / sqrt(c)`` from the origin, with ``eps = 4e-3`` (float32) or ``1e-5`` (float64).

    Parameters
    ----------
    curvature
        ``c > 0``; the ball has radius ``1 / sqrt(c)`` and sectional curvature ``-c``.
    dtype
        ``"float32"`` or ``"float64"``: dtype of the curvature variable when ``learnable`` and the
        preferred dtype of layers built on this manifold. Operations run in the dtype of their inputs.
    learnable
        If true, the curvature is a trainable Keras variable parametrised as ``c = softplus(raw)``, so it
        stays positive whatever the optimizer does. Assign the manifold (or :attr:`variable`) to a Keras
        layer attribute so that the variable is tracked and saved.

    Examples
    --------
    >>> ball = PoincareBall(curvature=1.0)
    >>> x = ball.expmap0(tf.constant([[0.3, 0.1]]))
    >>> d = ball.distance(x, ball.expmap0(tf.constant([[0.0, -0.4]])))
    """

    name = "poincare"

    def __init__(self, curvature: float = 1.0, *, dtype: str = "float32", learnable: bool = False) -> None:
        try:
            c = float(curvature)
        except (TypeError, ValueError):
            msg = f"curvature must be a positive number, got {curvature!r}."
            raise TypeError(msg) from None
        if not np.isfinite(c) or c <= 0:
            msg = (
                f"curvature must be > 0 (the ball has curvature -c), got {curvature!r}. "
                "For flat space use Euclidean() / geometry='euclidean'."
            )
            raise ValueError(msg)
        self._curvature = c
        self.dtype = _check_dtype(dtype)
        self.learnable = bool(learnable)
        self.variable: keras.Variable | None = None
        if self.learnable:
            self.variable = keras.Variable(_inverse_softplus(c), dtype=self.dtype, trainable=True, name="raw_curvature")

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe); a learnable curvature is stored at its current value."""
        return {"name": self.name, "curvature": self.curvature, "dtype": self.dtype, "learnable": self.learnable}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> PoincareBall:
        """Rebuild from :meth:`get_config`."""
        config = {k: v for k, v in config.items() if k != "name"}
        return cls(**config)

    def __repr__(self) -> str:
        return f"PoincareBall(curvature={self.curvature:g}, dtype={self.dtype!r}, learnable={self.learnable})"

    @property
    def curvature(self) -> float:
        """Current curvature ``c`` as a Python float."""
        if self.variable is not None:
            return float(tf.nn.softplus(tf.convert_to_tensor(self.variable)).numpy())
        return self._curvature

    def c(self, dtype: Any = None) -> tf.Tensor:
        """Curvature ``c`` as a tensor (``softplus(raw)`` when learnable) in ``dtype``."""
        dtype = dtype or self.dtype
        if self.variable is not None:
            return tf.cast(tf.nn.softplus(tf.convert_to_tensor(self.variable)), dtype)
        return tf.constant(self._curvature, dtype=dtype)

    def _sqrt_c(self, dtype: Any) -> tf.Tensor:
        return tf.sqrt(self.c(dtype))

    # --------------------------------------------------------------- basics
    def lambda_x(self, x: tf.Tensor, *, keepdims: bool = True) -> tf.Tensor:
        r"""Conformal factor :math:`\lambda_x = 2 / (1 - c|x|^2)` (denominator clamped at 1e-15)."""
        x = tf.convert_to_tensor(x)
        c = self.c(x.dtype)
        return 2.0 / tf.maximum(1.0 - c * _sqnorm(x, keepdims), tf.cast(MIN_DENOM, x.dtype))

    def inner(self, x: tf.Tensor, u: tf.Tensor, v: tf.Tensor | None = None, *, keepdims: bool = False) -> tf.Tensor:
        r"""Riemannian inner product :math:`\lambda_x^2 \langle u, v\rangle` of tangent vectors at ``x``."""
        u = tf.convert_to_tensor(u)
        v = u if v is None else tf.convert_to_tensor(v, dtype=u.dtype)
        return tf.square(self.lambda_x(x, keepdims=keepdims)) * _dot(u, v, keepdims)

    def norm(self, x: tf.Tensor, u: tf.Tensor, *, keepdims: bool = False) -> tf.Tensor:
        r"""Riemannian norm :math:`\lambda_x |u|` of a tangent vector ``u`` at ``x`` (safe at ``u = 0``)."""
        u = tf.convert_to_tensor(u)
        return self.lambda_x(x, keepdims=keepdims) * _safe_norm(u, keepdims)

    def proj(self, x: tf.Tensor) -> tf.Tensor:
        """Project points onto the closed ball of radius ``(1 - eps) / sqrt(c)`` (dtype-aware ``eps``)."""
        x = tf.convert_to_tensor(x)
        eps = BOUNDARY_EPS.get(x.dtype.base_dtype, 4e-3)
        maxnorm = (1.0 - eps) / self._sqrt_c(x.dtype)
        norm = _safe_norm(x)
        return tf.where(norm > maxnorm, x / norm * maxnorm, x)

    def proj_tan(self, x: tf.Tensor, u: tf.Tensor) -> tf.Tensor:
        """Project onto the tangent space at ``x`` (the identity on the ball)."""
        return tf.convert_to_tensor(u)

    def random_normal(self, shape: Any, *, std: float = 1e-2, seed: int | None = None, dtype: Any = None) -> tf.Tensor:
        """Points ``expmap0(N(0, std^2))`` near the origin (seeded)."""
        u = keras.random.normal(shape, stddev=std, seed=seed, dtype=dtype or self.dtype)
        return self.expmap0(u)

    # ----------------------------------------------------- Möbius operations
    def _mobius_add(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        c = self.c(x.dtype)
        x2 = _sqnorm(x)
        y2 = _sqnorm(y)
        xy = _dot(x, y)
        num = (1.0 + 2.0 * c * xy + c * y2) * x + (1.0 - c * x2) * y
        denom = 1.0 + 2.0 * c * xy + c * c * x2 * y2
        return num / tf.maximum(denom, tf.cast(MIN_DENOM, x.dtype))

    def mobius_add(self, x: tf.Tensor, y: tf.Tensor, *, project: bool = True) -> tf.Tensor:
        r"""Möbius addition :math:`x \oplus_c y`."""
        x = tf.convert_to_tensor(x)
        y = tf.convert_to_tensor(y, dtype=x.dtype)
        res = self._mobius_add(x, y)
        return self.proj(res) if project else res

    def _mobius_matvec_from_mx(self, mx: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
        sqrt_c = self._sqrt_c(x.dtype)
        x_norm = _safe_norm(x)
        mx_norm = _safe_norm(mx)
        res = tanh(mx_norm / x_norm * artanh(sqrt_c * x_norm)) * mx / (mx_norm * sqrt_c)
        is_zero = tf.reduce_all(tf.equal(mx, 0), axis=-1, keepdims=True)
        return self.proj(tf.where(is_zero, tf.zeros_like(res), res))

    def mobius_matvec(self, M: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
        r"""Möbius matrix-vector product :math:`M \otimes_c x` for a matrix ``M`` of shape ``(d_out, d_in)``.

        ``x`` has shape ``(..., d_in)``; the result has shape ``(..., d_out)``. Rows with ``M x = 0``
        (including ``x = 0``) map to the origin.
        """
        x = tf.convert_to_tensor(x)
        M = tf.convert_to_tensor(M, dtype=x.dtype)
        return self._mobius_matvec_from_mx(tf.linalg.matvec(M, x) if x.shape.rank == 1 else x @ tf.transpose(M), x)

    def mobius_linear(self, x: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
        """Möbius matvec with a Keras-layout ``kernel`` of shape ``(d_in, d_out)``: ``kernel^T ⊗ x``."""
        x = tf.convert_to_tensor(x)
        kernel = tf.convert_to_tensor(kernel, dtype=x.dtype)
        return self._mobius_matvec_from_mx(_last_axis_matmul(x, kernel), x)

    # ------------------------------------------------- exponential / log maps
    def expmap(self, x: tf.Tensor, u: tf.Tensor) -> tf.Tensor:
        r"""Exponential map :math:`\exp_x(u) = x \oplus \tanh(\sqrt c \lambda_x |u| / 2)\, u / (\sqrt c |u|)`."""
        x = tf.convert_to_tensor(x)
        u = tf.convert_to_tensor(u, dtype=x.dtype)
        sqrt_c = self._sqrt_c(x.dtype)
        u_norm = _safe_norm(u)
        second = tanh(sqrt_c / 2.0 * self.lambda_x(x) * u_norm) * u / (sqrt_c * u_norm)
        return self.proj(self._mobius_add(x, second))

    def expmap0(self, u: tf.Tensor) -> tf.Tensor:
        r"""Exponential map at the origin :math:`\exp_0(u) = \tanh(\sqrt c |u|)\, u / (\sqrt c |u|)`."""
        u = tf.convert_to_tensor(u)
        sqrt_c = self._sqrt_c(u.dtype)
        u_norm = _safe_norm(u)
        return self.proj(tanh(sqrt_c * u_norm) * u / (sqrt_c * u_norm))

    def logmap(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        r"""Logarithmic map :math:`\log_x(y) = \frac{2}{\sqrt c \lambda_x} \operatorname{artanh}(\sqrt c |w|) \frac{w}{|w|}`, :math:`w = (-x) \oplus y`."""
        x = tf.convert_to_tensor(x)
        y = tf.convert_to_tensor(y, dtype=x.dtype)
        sqrt_c = self._sqrt_c(x.dtype)
        w = self._mobius_add(-x, y)
        w_norm = _safe_norm(w)
        return 2.0 / (sqrt_c * self.lambda_x(x)) * artanh(sqrt_c * w_norm) * w / w_norm

    def logmap0(self, y: tf.Tensor) -> tf.Tensor:
        r"""Logarithmic map at the origin :math:`\log_0(y) = \operatorname{artanh}(\sqrt c |y|)\, y / (\sqrt c |y|)`."""
        y = tf.convert_to_tensor(y)
        sqrt_c = self._sqrt_c(y.dtype)
        y_norm = _safe_norm(y)
        return artanh(sqrt_c * y_norm) * y / (sqrt_c * y_norm)

    # -------------------------------------------------------------- distances
    def distance(self, x: tf.Tensor, y: tf.Tensor, *, keepdims: bool = False) -> tf.Tensor:
        r"""Geodesic distance :math:`d(x, y) = \frac{2}{\sqrt c} \operatorname{artanh}(\sqrt c |(-x) \oplus y|)` (broadcasting)."""
        x = tf.convert_to_tensor(x)
        y = tf.convert_to_tensor(y, dtype=x.dtype)
        sqrt_c = self._sqrt_c(x.dtype)
        w = self._mobius_add(-x, y)
        return 2.0 / sqrt_c * artanh(sqrt_c * _safe_norm(w, keepdims))

    def dist0(self, x: tf.Tensor, *, keepdims: bool = False) -> tf.Tensor:
        r"""Distance to the origin :math:`2 \operatorname{artanh}(\sqrt c |x|) / \sqrt c`."""
        x = tf.convert_to_tensor(x)
        sqrt_c = self._sqrt_c(x.dtype)
        return 2.0 / sqrt_c * artanh(sqrt_c * _safe_norm(x, keepdims))

    def pairwise_distance(self, x: tf.Tensor, y: tf.Tensor | None = None) -> tf.Tensor:
        r"""All distances between ``x`` of shape ``(..., n, d)`` and ``y`` of shape ``(..., m, d)``: ``(..., n, m)``.

        Uses the closed form :math:`\operatorname{arcosh}\big(1 + 2c|x-y|^2 / ((1-c|x|^2)(1-c|y|^2))\big)/\sqrt c`
        with one matrix product (memory ``O(n m)``, not ``O(n m d)``); ``arcosh(1 + t)`` is evaluated as
        ``log1p(t + sqrt(t (t + 2)))`` with the square root made safe.
        """
        x = tf.convert_to_tensor(x)
        y = x if y is None else tf.convert_to_tensor(y, dtype=x.dtype)
        c = self.c(x.dtype)
        x2 = _sqnorm(x)  # (..., n, 1)
        y2 = tf.linalg.matrix_transpose(_sqnorm(y))  # (..., 1, m)
        sq = tf.maximum(x2 + y2 - 2.0 * tf.matmul(x, y, transpose_b=True), 0.0)
        denom = tf.maximum((1.0 - c * x2) * (1.0 - c * y2), tf.cast(MIN_DENOM, x.dtype))
        t = 2.0 * c * sq / denom
        root = tf.sqrt(tf.maximum(t * (t + 2.0), tf.cast(MIN_SQNORM, x.dtype)))
        return tf.math.log1p(t + root) / tf.sqrt(c)

    # ------------------------------------------------ gradients and transport
    def egrad2rgrad(self, x: tf.Tensor, g: tf.Tensor) -> tf.Tensor:
        r"""Riemannian gradient from a Euclidean one: :math:`g / \lambda_x^2 = g (1 - c|x|^2)^2 / 4`."""
        x = tf.convert_to_tensor(x)
        g = tf.convert_to_tensor(g, dtype=x.dtype)
        return g / tf.square(self.lambda_x(x))

    def gyration(self, u: tf.Tensor, v: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
        r"""Gyration :math:`\operatorname{gyr}[u, v] w = \ominus(u \oplus v) \oplus (u \oplus (v \oplus w))`.

        Closed form (Ungar) with the denominator clamped at 1e-15; checked against the definition in the tests.
        """
        c = self.c(u.dtype)
        u2 = _sqnorm(u)
        v2 = _sqnorm(v)
        uv = _dot(u, v)
        uw = _dot(u, w)
        vw = _dot(v, w)
        c2 = c * c
        a = -c2 * uw * v2 + c * vw + 2.0 * c2 * uv * vw
        b = -c2 * vw * u2 - c * uw
        d = 1.0 + 2.0 * c * uv + c2 * u2 * v2
        return w + 2.0 * (a * u + b * v) / tf.maximum(d, tf.cast(MIN_DENOM, u.dtype))

    def transport(self, x: tf.Tensor, y: tf.Tensor, v: tf.Tensor) -> tf.Tensor:
        r"""Parallel transport of ``v`` from ``T_x`` to ``T_y``: :math:`\operatorname{gyr}[y, -x] v \, \lambda_x / \lambda_y`."""
        x = tf.convert_to_tensor(x)
        y = tf.convert_to_tensor(y, dtype=x.dtype)
        v = tf.convert_to_tensor(v, dtype=x.dtype)
        return self.gyration(y, -x, v) * self.lambda_x(x) / self.lambda_x(y)

    def transport0(self, y: tf.Tensor, v: tf.Tensor) -> tf.Tensor:
        r"""Parallel transport from the origin to ``y``: :math:`v (1 - c|y|^2)`."""
        y = tf.convert_to_tensor(y)
        v = tf.convert_to_tensor(v, dtype=y.dtype)
        return v * (1.0 - self.c(y.dtype) * _sqnorm(y))


def get_manifold(
    geometry: str | dict | PoincareBall | Euclidean = "poincare",
    *,
    curvature: float = 1.0,
    dtype: str = "float32",
    learnable: bool = False,
) -> PoincareBall | Euclidean:
    """Return a manifold from a name (``"poincare"`` / ``"euclidean"``), a config dict or an instance.

    Parameters
    ----------
    geometry
        ``"poincare"`` (alias ``"hyperbolic"``), ``"euclidean"``, a dict from ``get_config()``, or a manifold.
    curvature, dtype, learnable
        Passed to :class:`PoincareBall` when ``geometry`` is a name.
    """
    if isinstance(geometry, PoincareBall | Euclidean):
        return geometry
    if isinstance(geometry, dict):
        name = geometry.get("name", "poincare")
        cls: Any = {"poincare": PoincareBall, "euclidean": Euclidean}.get(name)
        if cls is None:
            msg = f"Unknown manifold config name {name!r}; expected 'poincare' or 'euclidean'."
            raise ValueError(msg)
        return cls.from_config(geometry)
    if isinstance(geometry, str):
        key = geometry.lower()
        if key in ("poincare", "hyperbolic", "poincare_ball"):
            return PoincareBall(curvature, dtype=dtype, learnable=learnable)
        if key in ("euclidean", "flat"):
            return Euclidean(dtype=dtype)
    msg = f"geometry must be 'poincare' or 'euclidean' (or a PoincareBall/Euclidean instance), got {geometry!r}."
    raise ValueError(msg)
