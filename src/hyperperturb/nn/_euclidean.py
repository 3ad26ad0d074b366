"""``Euclidean``: flat space with the interface of ``PoincareBall`` (for the "euclidean" ablations)."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from ._tensor_ops import (
    MIN_SQNORM,
    _check_dtype,
    _dot,
    _last_axis_matmul,
    _safe_norm,
    _sqnorm,
)


class Euclidean:
    """Flat space with the same interface as :class:`PoincareBall` (for "euclidean" ablations).

    ``mobius_add`` is ``+``, ``expmap0``/``logmap0``/``proj`` are the identity, ``expmap(x, u) = x + u``,
    ``mobius_matvec`` is the ordinary product, distances are L2 norms with a safe square root.

    Parameters
    ----------
    dtype
        Preferred dtype of layers built on this manifold (``"float32"`` or ``"float64"``).
    """

    name = "euclidean"
    learnable = False
    variable = None

    def __init__(self, *, dtype: str = "float32") -> None:
        self.dtype = _check_dtype(dtype)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe)."""
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Euclidean:
        """Rebuild from :meth:`get_config`."""
        return cls(dtype=config.get("dtype", "float32"))

    def __repr__(self) -> str:
        return f"Euclidean(dtype={self.dtype!r})"

    @property
    def curvature(self) -> float:
        """``0.0``: flat space."""
        return 0.0

    def c(self, dtype: Any = None) -> tf.Tensor:
        """Curvature ``0`` as a tensor."""
        return tf.constant(0.0, dtype=dtype or self.dtype)

    def lambda_x(self, x: tf.Tensor, *, keepdims: bool = True) -> tf.Tensor:
        """Conformal factor: ones."""
        x = tf.convert_to_tensor(x)
        return tf.ones_like(x[..., :1] if keepdims else x[..., 0])

    def inner(self, x: tf.Tensor, u: tf.Tensor, v: tf.Tensor | None = None, *, keepdims: bool = False) -> tf.Tensor:
        """Euclidean inner product."""
        u = tf.convert_to_tensor(u)
        v = u if v is None else tf.convert_to_tensor(v, dtype=u.dtype)
        return _dot(u, v, keepdims)

    def norm(self, x: tf.Tensor, u: tf.Tensor, *, keepdims: bool = False) -> tf.Tensor:
        """Safe Euclidean norm."""
        return _safe_norm(tf.convert_to_tensor(u), keepdims)

    def proj(self, x: tf.Tensor) -> tf.Tensor:
        """Identity."""
        return tf.convert_to_tensor(x)

    def proj_tan(self, x: tf.Tensor, u: tf.Tensor) -> tf.Tensor:
        """Identity."""
        return tf.convert_to_tensor(u)

    def random_normal(self, shape: Any, *, std: float = 1e-2, seed: int | None = None, dtype: Any = None) -> tf.Tensor:
        """Gaussian points ``N(0, std^2)`` (seeded)."""
        return keras.random.normal(shape, stddev=std, seed=seed, dtype=dtype or self.dtype)

    def mobius_add(self, x: tf.Tensor, y: tf.Tensor, *, project: bool = True) -> tf.Tensor:
        """``x + y``."""
        x = tf.convert_to_tensor(x)
        return x + tf.convert_to_tensor(y, dtype=x.dtype)

    def mobius_matvec(self, M: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
        """``M x`` for ``M`` of shape ``(d_out, d_in)``."""
        x = tf.convert_to_tensor(x)
        M = tf.convert_to_tensor(M, dtype=x.dtype)
        return tf.linalg.matvec(M, x) if x.shape.rank == 1 else x @ tf.transpose(M)

    def mobius_linear(self, x: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
        """``x @ kernel`` for a Keras-layout kernel ``(d_in, d_out)``."""
        x = tf.convert_to_tensor(x)
        return _last_axis_matmul(x, tf.convert_to_tensor(kernel, dtype=x.dtype))

    def expmap(self, x: tf.Tensor, u: tf.Tensor) -> tf.Tensor:
        """``x + u``."""
        x = tf.convert_to_tensor(x)
        return x + tf.convert_to_tensor(u, dtype=x.dtype)

    def expmap0(self, u: tf.Tensor) -> tf.Tensor:
        """Identity."""
        return tf.convert_to_tensor(u)

    def logmap(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        """``y - x``."""
        x = tf.convert_to_tensor(x)
        return tf.convert_to_tensor(y, dtype=x.dtype) - x

    def logmap0(self, y: tf.Tensor) -> tf.Tensor:
        """Identity."""
        return tf.convert_to_tensor(y)

    def distance(self, x: tf.Tensor, y: tf.Tensor, *, keepdims: bool = False) -> tf.Tensor:
        """L2 distance with a safe square root (broadcasting)."""
        x = tf.convert_to_tensor(x)
        return _safe_norm(x - tf.convert_to_tensor(y, dtype=x.dtype), keepdims)

    def dist0(self, x: tf.Tensor, *, keepdims: bool = False) -> tf.Tensor:
        """L2 norm (safe)."""
        return _safe_norm(tf.convert_to_tensor(x), keepdims)

    def pairwise_distance(self, x: tf.Tensor, y: tf.Tensor | None = None) -> tf.Tensor:
        """All L2 distances between ``(..., n, d)`` and ``(..., m, d)``: ``(..., n, m)``."""
        x = tf.convert_to_tensor(x)
        y = x if y is None else tf.convert_to_tensor(y, dtype=x.dtype)
        sq = _sqnorm(x) + tf.linalg.matrix_transpose(_sqnorm(y)) - 2.0 * tf.matmul(x, y, transpose_b=True)
        return tf.sqrt(tf.maximum(sq, tf.cast(MIN_SQNORM, x.dtype)))

    def egrad2rgrad(self, x: tf.Tensor, g: tf.Tensor) -> tf.Tensor:
        """Identity."""
        return tf.convert_to_tensor(g)

    def gyration(self, u: tf.Tensor, v: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
        """Identity on ``w``."""
        return tf.convert_to_tensor(w)

    def transport(self, x: tf.Tensor, y: tf.Tensor, v: tf.Tensor) -> tf.Tensor:
        """Identity on ``v``."""
        return tf.convert_to_tensor(v)

    def transport0(self, y: tf.Tensor, v: tf.Tensor) -> tf.Tensor:
        """Identity on ``v``."""
        return tf.convert_to_tensor(v)
