"""Numerically safe tensor helpers and constants shared by the manifolds (``PoincareBall``, ``Euclidean``)."""

from __future__ import annotations

import math
from typing import Any

import tensorflow as tf

#: Squared norms are clamped at this value *before* the square root (finite gradients at 0).
MIN_SQNORM = 1e-30
#: Smallest allowed denominator (Möbius addition, gyration, conformal factor).
MIN_DENOM = 1e-15
#: artanh arguments are clamped to ``[-(1 - eps), 1 - eps]``: ``ATANH_EPS`` in float32 (and lower precisions),
#: ``ATANH_EPS_F64`` in float64, whose points may sit 1e-5 from the rim (``BOUNDARY_EPS``) and whose Möbius sums of
#: two such points come within ~1e-10 of 1 (a clamp at 1 - 1e-7 capped float64 distances at 16.6 / sqrt(c)).
ATANH_EPS = 1e-7
ATANH_EPS_F64 = 1e-15
#: tanh arguments are clamped to ``[-TANH_CLAMP, TANH_CLAMP]``.
TANH_CLAMP = 15.0
#: Distance of the projection boundary from the ball's edge, per dtype: ``maxnorm = (1 - eps) / sqrt(c)``.
BOUNDARY_EPS = {tf.float16: 4e-3, tf.bfloat16: 4e-3, tf.float32: 4e-3, tf.float64: 1e-5}

_DTYPES = ("float32", "float64")


def _sqnorm(x: tf.Tensor, keepdims: bool = True) -> tf.Tensor:
    return tf.reduce_sum(tf.square(x), axis=-1, keepdims=keepdims)


def _safe_norm(x: tf.Tensor, keepdims: bool = True) -> tf.Tensor:
    """Euclidean norm over the last axis with the squared norm clamped at 1e-30 *before* the sqrt."""
    return tf.sqrt(tf.maximum(_sqnorm(x, keepdims), tf.cast(MIN_SQNORM, x.dtype)))


def _dot(x: tf.Tensor, y: tf.Tensor, keepdims: bool = True) -> tf.Tensor:
    return tf.reduce_sum(x * y, axis=-1, keepdims=keepdims)


def artanh(x: tf.Tensor) -> tf.Tensor:
    """Clamped inverse hyperbolic tangent, ``0.5 (log1p(x) - log1p(-x))`` with ``|x| <= 1 - 1e-7`` (float64: 1e-15)."""
    lim = tf.constant(1.0 - (ATANH_EPS_F64 if x.dtype == tf.float64 else ATANH_EPS), dtype=x.dtype)
    x = tf.clip_by_value(x, -lim, lim)
    return 0.5 * (tf.math.log1p(x) - tf.math.log1p(-x))


def tanh(x: tf.Tensor) -> tf.Tensor:
    """Hyperbolic tangent with its argument clamped to ``[-15, 15]``."""
    return tf.tanh(tf.clip_by_value(x, -TANH_CLAMP, TANH_CLAMP))


def _check_dtype(dtype: Any) -> str:
    name = tf.as_dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in _DTYPES:
        msg = f"dtype must be 'float32' or 'float64', got {dtype!r}."
        raise ValueError(msg)
    return name


def _inverse_softplus(c: float) -> float:
    # log(exp(c) - 1), stable for large c
    return float(c + math.log(-math.expm1(-c)))


def _last_axis_matmul(x: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
    if x.shape.rank == 2:
        return x @ kernel
    return tf.tensordot(x, kernel, axes=[[-1], [0]])
