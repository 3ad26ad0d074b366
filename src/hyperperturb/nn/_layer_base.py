"""What the hyperbolic layers share: argument checks, the manifold base class, sparse-graph inputs and aggregation."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ._geometry import Euclidean, PoincareBall, get_manifold


def _get_activation(activation: Any, layer: str) -> Any:
    if activation is None:
        return None
    try:
        return keras.activations.get(activation)
    except (ValueError, TypeError) as e:
        msg = (
            f"{layer}: unknown activation={activation!r}; pass a name such as 'relu', 'tanh', 'gelu', "
            f"a callable, or None ({e})."
        )
        raise ValueError(msg) from None


def _check_positive_int(value: Any, arg: str, layer: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        msg = f"{layer}: {arg} must be a positive integer, got {value!r}."
        raise ValueError(msg)
    return int(value)


def _check_rate(value: Any, arg: str, layer: str) -> float:
    if not 0.0 <= float(value) < 1.0:
        msg = f"{layer}: {arg} must be in [0, 1), got {value!r}."
        raise ValueError(msg)
    return float(value)


class _ManifoldLayer(keras.layers.Layer):
    """Shared machinery: the manifold, an optional learnable curvature, config of the geometry."""

    def __init__(
        self,
        *,
        curvature: float = 1.0,
        geometry: str | dict | PoincareBall | Euclidean = "poincare",
        learnable_curvature: bool = False,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("dtype") is None and keras.config.dtype_policy().compute_dtype not in ("float32", "float64"):
            # mixed precision: hyperbolic ops need at least float32 near the boundary
            kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        dtype = self.variable_dtype if self.variable_dtype in ("float32", "float64") else "float32"
        self.manifold = get_manifold(geometry, curvature=curvature, dtype=dtype, learnable=learnable_curvature)
        self.geometry = self.manifold.name
        self.learnable_curvature = bool(self.manifold.learnable)
        if self.manifold.variable is not None:
            # tracked (trainable, saved) as a weight of this layer
            self.raw_curvature = self.manifold.variable

    def _add_kernel_and_bias(self, d_in: int) -> None:
        """The tangent-space kernel ``(d_in, units)`` and, with ``use_bias``, the bias of a dense-like layer."""
        self.kernel = self.add_weight(
            name="kernel",
            shape=(d_in, self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.bias = (
            self.add_weight(name="bias", shape=(self.units,), initializer=self.bias_initializer)
            if self.use_bias
            else None
        )

    def _dense_config(self) -> dict[str, Any]:
        """The serialisable config of the kernel/bias created by :meth:`_add_kernel_and_bias`."""
        return {
            "units": self.units,
            "activation": keras.activations.serialize(self.activation) if self.activation else None,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
        }

    def _geometry_config(self) -> dict[str, Any]:
        return {
            "geometry": self.geometry,
            "curvature": float(self.manifold.curvature) if self.geometry == "poincare" else 1.0,
            "learnable_curvature": self.learnable_curvature,
        }


def _split_graph_inputs(inputs: Any, layer: str) -> tuple[tf.Tensor, tf.SparseTensor]:
    if not isinstance(inputs, list | tuple) or len(inputs) != 2:
        msg = f"{layer}: call the layer on a pair (x, adj): x (n_nodes, features), adj a tf.SparseTensor (n_nodes, n_nodes)."
        raise ValueError(msg)
    x, adj = inputs
    if not isinstance(adj, tf.SparseTensor):
        msg = (
            f"{layer}: adj must be a tf.SparseTensor of shape (n_nodes, n_nodes), got {type(adj).__name__}; "
            "build it with hyperperturb.nn.normalized_adjacency(scipy_matrix)."
        )
        raise TypeError(msg)
    return x, adj


def _check_adjacency(adj: tf.SparseTensor, n_rows: Any, n_cols: Any, layer: str) -> list:
    """Static check when shapes are known (ValueError), else a runtime assertion; returns assertion ops."""
    static = tf.get_static_value(adj.dense_shape)
    s_rows = n_rows if isinstance(n_rows, int) else None
    s_cols = n_cols if isinstance(n_cols, int) else None
    if static is not None:
        static = tuple(int(v) for v in static)
        if (
            len(static) != 2
            or (s_rows is not None and static[0] != s_rows)
            or (s_cols is not None and static[1] != s_cols)
        ):
            exp = f"({s_rows if s_rows is not None else 'n'}, {s_cols if s_cols is not None else 'm'})"
            msg = (
                f"{layer}: adj has shape {static} but the expected shape is {exp} "
                "(rows = query nodes/rows of x, columns = key nodes); use the adjacency of this node set."
            )
            raise ValueError(msg)
        if s_rows is not None and s_cols is not None:
            return []
    if adj.dense_shape.shape[0] is not None and adj.dense_shape.shape[0] != 2:
        msg = f"{layer}: adj must be 2-D (n_nodes, n_nodes), got rank {adj.dense_shape.shape[0]}."
        raise ValueError(msg)
    want = tf.cast(tf.stack([n_rows, n_cols]), tf.int64)
    return [
        tf.debugging.assert_equal(
            adj.dense_shape,
            want,
            message=f"{layer}: adj must have shape (n_nodes, n_nodes) matching the rows of x",
        )
    ]


def _aggregate(adj: tf.SparseTensor, t: tf.Tensor, n_rows: Any) -> tf.Tensor:
    """``adj @ t`` as a per-edge gather + segment sum: memory ``O(edges × d)``, and it compiles with XLA."""
    rows, cols = adj.indices[:, 0], adj.indices[:, 1]
    msgs = tf.cast(adj.values, t.dtype)[:, None] * tf.gather(t, cols)
    return tf.math.unsorted_segment_sum(msgs, rows, n_rows)


def _dim(t: tf.Tensor, axis: int) -> Any:
    s = t.shape[axis]
    return int(s) if s is not None else tf.shape(t)[axis]
