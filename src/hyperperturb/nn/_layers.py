"""Hyperbolic Keras layers: HyperbolicDense, HyperbolicGraphConv, HyperbolicAttention."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ._debug import check_inputs
from ._geometry import Euclidean, PoincareBall, _inverse_softplus, get_manifold

__all__ = ["HyperbolicAttention", "HyperbolicDense", "HyperbolicGraphConv"]


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

    def _geometry_config(self) -> dict[str, Any]:
        return {
            "geometry": self.geometry,
            "curvature": float(self.manifold.curvature) if self.geometry == "poincare" else 1.0,
            "learnable_curvature": self.learnable_curvature,
        }


@keras.saving.register_keras_serializable(package="hyperperturb")
class HyperbolicDense(_ManifoldLayer):
    r"""Fully connected layer between Poincaré balls: :math:`\exp_0(\sigma(\log_0(x) W + b))`.

    Inputs and outputs are ball points (last axis = coordinates, any leading axes). The linear map and the
    activation act in the tangent space at the origin; the output is projected strictly inside the ball.

    Parameters
    ----------
    units
        Output dimension.
    activation
        Keras activation applied in the tangent space (``None``: linear).
    curvature
        Ball curvature ``c > 0`` (ignored for ``geometry="euclidean"``).
    use_bias
        Add a bias in the tangent space.
    geometry
        ``"poincare"`` or ``"euclidean"`` (the same layer in flat space: an ordinary ``Dense``), or a manifold.
    learnable_curvature
        Train the curvature (kept positive through softplus).
    kernel_initializer, bias_initializer, kernel_regularizer
        As in :class:`keras.layers.Dense`.
    **kwargs
        Passed to :class:`keras.layers.Layer` (``name``, ``dtype``...).
    """

    def __init__(
        self,
        units: int,
        activation: Any = None,
        curvature: float = 1.0,
        use_bias: bool = True,
        *,
        geometry: str | dict | PoincareBall | Euclidean = "poincare",
        learnable_curvature: bool = False,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(curvature=curvature, geometry=geometry, learnable_curvature=learnable_curvature, **kwargs)
        self.units = _check_positive_int(units, "units", "HyperbolicDense")
        self.activation = _get_activation(activation, "HyperbolicDense")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape: Any) -> None:
        """Create the kernel and bias for inputs with ``input_shape[-1]`` coordinates."""
        d_in = input_shape[-1]
        if d_in is None:
            msg = f"{self.name}: the last input axis (point coordinates) must have a known size."
            raise ValueError(msg)
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

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        """Map ball points ``(..., d_in)`` to ball points ``(..., units)``."""
        x = check_inputs(inputs, self.name)
        m = self.manifold
        t = m.logmap0(m.proj(x))
        kernel = tf.cast(self.kernel, t.dtype)
        h = t @ kernel if t.shape.rank == 2 else tf.tensordot(t, kernel, axes=[[-1], [0]])
        if self.bias is not None:
            h = h + tf.cast(self.bias, h.dtype)
        if self.activation is not None:
            h = self.activation(h)
        return m.expmap0(h)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (*tuple(input_shape)[:-1], self.units)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(self._geometry_config())
        config.update(
            {
                "units": self.units,
                "activation": keras.activations.serialize(self.activation) if self.activation else None,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config


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


@keras.saving.register_keras_serializable(package="hyperperturb")
class HyperbolicGraphConv(_ManifoldLayer):
    r"""HGCN-style graph convolution on the Poincaré ball (or the same layer in flat space).

    For ball points :math:`x_i` and a row-normalised adjacency :math:`\hat A = D^{-1}(A + I)`:

    .. math::

        h_i = \big(W \otimes_c x_i\big) \oplus_c \exp_0(b), \qquad
        t_i = \sum_j \hat A_{ij} \log_0(h_j), \qquad
        y_i = \exp_0\big(\sigma(\log_0(\exp_0(t_i)))\big),

    with a projection after every op. The aggregation is a per-edge gather + segment sum (memory
    ``O(edges × units)``, never a dense ``n × n``; compiles with XLA). Isolated
    nodes (self-loop only) and all-zero rows give finite outputs and gradients.

    Call it on ``(x, adj)``: ``x`` of shape ``(n_nodes, features)`` (one graph; batches of graphs are not
    supported, call the layer per graph) and ``adj`` a ``tf.SparseTensor`` of shape ``(n_nodes, n_nodes)``
    (from :func:`normalized_adjacency`). Output: ball points ``(n_nodes, units)``.

    Parameters
    ----------
    units
        Output dimension.
    activation
        Keras activation applied in the tangent space at the origin (``None``: none).
    curvature
        Ball curvature ``c > 0``.
    geometry
        ``"poincare"`` or ``"euclidean"`` (ablation: ``A (x W + b)`` then activation, same weights).
    use_bias
        Möbius-add ``exp_0(b)``.
    dropout
        Dropout rate on the kernel during training (as in HGCN).
    input_space
        ``"ball"`` (inputs are ball points, the default) or ``"tangent"`` (Euclidean features, mapped with
        ``exp_0`` first, e.g. for the first layer on expression features).
    learnable_curvature
        Train the curvature (kept positive through softplus).
    kernel_initializer, bias_initializer, kernel_regularizer
        As in :class:`keras.layers.Dense`.
    seed
        Seed of the dropout.
    **kwargs
        Passed to :class:`keras.layers.Layer`.
    """

    def __init__(
        self,
        units: int,
        activation: Any = None,
        curvature: float = 1.0,
        geometry: str | dict | PoincareBall | Euclidean = "poincare",
        use_bias: bool = True,
        dropout: float = 0.0,
        *,
        input_space: str = "ball",
        learnable_curvature: bool = False,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(curvature=curvature, geometry=geometry, learnable_curvature=learnable_curvature, **kwargs)
        self.units = _check_positive_int(units, "units", "HyperbolicGraphConv")
        self.activation = _get_activation(activation, "HyperbolicGraphConv")
        self.use_bias = bool(use_bias)
        self.dropout = _check_rate(dropout, "dropout", "HyperbolicGraphConv")
        if input_space not in ("ball", "tangent"):
            msg = f"HyperbolicGraphConv: input_space must be 'ball' or 'tangent', got {input_space!r}."
            raise ValueError(msg)
        self.input_space = input_space
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.seed = seed
        self._drop = keras.layers.Dropout(self.dropout, seed=seed) if self.dropout > 0 else None

    def build(self, input_shape: Any) -> None:
        """Create weights; ``input_shape`` is ``(x_shape, adj_shape)``."""
        x_shape = input_shape[0] if isinstance(input_shape[0], list | tuple) or input_shape[0] is None else input_shape
        if x_shape is None or len(x_shape) != 2:
            msg = (
                f"{self.name}: x must have shape (n_nodes, features), got {x_shape}; batches of graphs are not "
                "supported, call the layer once per graph."
            )
            raise ValueError(msg)
        d_in = x_shape[-1]
        if d_in is None:
            msg = f"{self.name}: the feature axis of x must have a known size."
            raise ValueError(msg)
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

    def call(self, inputs: Any, training: bool | None = None) -> tf.Tensor:
        """Convolve ``(x, adj)`` to ball points ``(n_nodes, units)``."""
        x, adj = _split_graph_inputs(inputs, self.name)
        x = tf.convert_to_tensor(x)
        if x.shape.rank != 2:
            msg = f"{self.name}: x must have shape (n_nodes, features), got {tuple(x.shape)}; call the layer per graph."
            raise ValueError(msg)
        n = _dim(x, 0)
        asserts = _check_adjacency(adj, n, n, self.name)
        x = check_inputs(x, self.name)
        m = self.manifold
        with tf.control_dependencies(asserts):
            x = m.expmap0(x) if self.input_space == "tangent" else m.proj(x)
        kernel = tf.cast(self.kernel, x.dtype)
        if self._drop is not None:
            kernel = self._drop(kernel, training=training)
        h = m.mobius_linear(x, kernel)
        if self.bias is not None:
            h = m.mobius_add(h, m.expmap0(tf.cast(self.bias, x.dtype)))
        t = m.logmap0(h)
        t = _aggregate(adj, t, n)
        h = m.expmap0(t)
        if self.activation is not None:
            h = m.expmap0(self.activation(m.logmap0(h)))
        return h

    def compute_output_shape(self, input_shape: Any) -> tuple:
        x_shape = input_shape[0] if isinstance(input_shape[0], list | tuple) else input_shape
        return (x_shape[0], self.units)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(self._geometry_config())
        config.update(
            {
                "units": self.units,
                "activation": keras.activations.serialize(self.activation) if self.activation else None,
                "use_bias": self.use_bias,
                "dropout": self.dropout,
                "input_space": self.input_space,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "seed": self.seed,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="hyperperturb")
class HyperbolicAttention(_ManifoldLayer):
    r"""Multi-head attention whose weights are a softmax of negative hyperbolic distances.

    For head :math:`h`, queries and keys are ball points :math:`q_i = \exp_0(\log_0(x_i) W^Q_h)`,
    :math:`k_j = \exp_0(\log_0(z_j) W^K_h)`, values are tangent vectors :math:`v_j = \log_0(z_j) W^V_h`, and

    .. math::

        \alpha_{ij} = \operatorname{softmax}_j\big(-\beta_h\, d_c(q_i, k_j)\big), \qquad
        y_i = \exp_0\Big(\big[\textstyle\sum_j \alpha_{ij} v_j\big]_{h} W^O + b\Big)

    with a learned temperature :math:`\beta_h = \operatorname{softplus}(\tau_h) > 0` per head (initialised
    to 1). Aggregation happens in the tangent space at the origin; outputs are projected into the ball.

    Call ``layer(query)`` for self-attention or ``layer(query, key)`` for cross-attention (``key`` are the
    points attended to, shape ``(m, d)``); ``query`` has shape ``(n, d)``. Without ``adj`` every query
    attends to every key (memory ``O(heads n m)``). With ``adj`` (a ``tf.SparseTensor`` of shape
    ``(n, m)``, e.g. from :func:`normalized_adjacency`) query ``i`` attends only to the keys ``j`` with a
    stored entry ``adj[i, j]`` (edge weights are ignored, only the pattern counts), plus itself in
    self-attention; memory is then ``O(heads × edges)`` (per-edge gather and segment softmax). A query
    with no edge gets a zero tangent aggregate (the origin before the output map).

    Parameters
    ----------
    num_heads
        Number of heads.
    key_dim
        Dimension of each head's query/key ball and value space.
    output_dim
        Output dimension (default: the input dimension).
    curvature
        Ball curvature ``c > 0``.
    geometry
        ``"poincare"`` or ``"euclidean"`` (ablation: negative L2 distances).
    use_bias
        Bias of the output map.
    dropout
        Dropout rate on the attention weights during training.
    add_self_loops
        In masked self-attention, let every node attend to itself.
    learnable_curvature
        Train the curvature (kept positive through softplus).
    kernel_initializer
        Initializer of all projection kernels.
    seed
        Seed of the dropout.
    **kwargs
        Passed to :class:`keras.layers.Layer`.
    """

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        curvature: float = 1.0,
        *,
        output_dim: int | None = None,
        geometry: str | dict | PoincareBall | Euclidean = "poincare",
        use_bias: bool = True,
        dropout: float = 0.0,
        add_self_loops: bool = True,
        learnable_curvature: bool = False,
        kernel_initializer: Any = "glorot_uniform",
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(curvature=curvature, geometry=geometry, learnable_curvature=learnable_curvature, **kwargs)
        self.num_heads = _check_positive_int(num_heads, "num_heads", "HyperbolicAttention")
        self.key_dim = _check_positive_int(key_dim, "key_dim", "HyperbolicAttention")
        self.output_dim = (
            None if output_dim is None else _check_positive_int(output_dim, "output_dim", "HyperbolicAttention")
        )
        self.use_bias = bool(use_bias)
        self.dropout = _check_rate(dropout, "dropout", "HyperbolicAttention")
        self.add_self_loops = bool(add_self_loops)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.seed = seed
        self._drop = keras.layers.Dropout(self.dropout, seed=seed) if self.dropout > 0 else None

    def build(self, input_shape: Any) -> None:
        """Create projections for queries with ``input_shape[-1]`` coordinates."""
        d_in = input_shape[-1]
        if d_in is None:
            msg = f"{self.name}: the last input axis (point coordinates) must have a known size."
            raise ValueError(msg)
        out = self.output_dim or d_in
        hk = (d_in, self.num_heads, self.key_dim)
        init = self.kernel_initializer
        self.query_kernel = self.add_weight(name="query_kernel", shape=hk, initializer=init)
        self.key_kernel = self.add_weight(name="key_kernel", shape=hk, initializer=init)
        self.value_kernel = self.add_weight(name="value_kernel", shape=hk, initializer=init)
        self.output_kernel = self.add_weight(
            name="output_kernel", shape=(self.num_heads * self.key_dim, out), initializer=init
        )
        self.output_bias = (
            self.add_weight(name="output_bias", shape=(out,), initializer="zeros") if self.use_bias else None
        )
        self.temperature = self.add_weight(
            name="temperature",
            shape=(self.num_heads,),
            initializer=keras.initializers.Constant(_inverse_softplus(1.0)),
        )

    def call(
        self,
        query: tf.Tensor,
        key: tf.Tensor | None = None,
        adj: tf.SparseTensor | None = None,
        training: bool | None = None,
    ) -> tf.Tensor:
        """Attend from ``query`` ``(n, d)`` to ``key`` ``(m, d)`` (default: ``query``); returns ``(n, out)`` ball points."""
        m = self.manifold
        self_attention = key is None
        q_in = tf.convert_to_tensor(query)
        k_in = q_in if self_attention else tf.convert_to_tensor(key, dtype=q_in.dtype)
        for t, what in ((q_in, "query"), (k_in, "key")):
            if t.shape.rank != 2:
                msg = f"{self.name}: {what} must have shape (n_points, d), got {tuple(t.shape)}."
                raise ValueError(msg)
        q_in = check_inputs(q_in, self.name, "query")
        if not self_attention:
            k_in = check_inputs(k_in, self.name, "key")
        dtype = q_in.dtype
        tq = m.logmap0(m.proj(q_in))
        tk = tq if self_attention else m.logmap0(m.proj(k_in))
        wq, wk, wv = (tf.cast(w, dtype) for w in (self.query_kernel, self.key_kernel, self.value_kernel))
        q = m.expmap0(tf.einsum("nd,dhk->nhk", tq, wq))  # (n, H, k) ball points
        k = m.expmap0(tf.einsum("md,dhk->mhk", tk, wk))  # (m, H, k) ball points
        v = tf.einsum("md,dhk->mhk", tk, wv)  # (m, H, k) tangent vectors at 0
        beta = tf.nn.softplus(tf.cast(self.temperature, dtype))  # (H,)
        n = _dim(q, 0)
        if adj is None:
            dist = m.pairwise_distance(tf.transpose(q, [1, 0, 2]), tf.transpose(k, [1, 0, 2]))  # (H, n, m)
            weights = tf.nn.softmax(-beta[:, None, None] * dist, axis=-1)
            if self._drop is not None:
                weights = self._drop(weights, training=training)
            agg = tf.transpose(tf.matmul(weights, tf.transpose(v, [1, 0, 2])), [1, 0, 2])  # (n, H, k)
        else:
            if not isinstance(adj, tf.SparseTensor):
                msg = f"{self.name}: adj must be a tf.SparseTensor of shape (n_query, n_key), got {type(adj).__name__}."
                raise TypeError(msg)
            asserts = _check_adjacency(adj, n, _dim(k, 0), self.name)
            with tf.control_dependencies(asserts):
                src, dst = tf.identity(adj.indices[:, 0]), adj.indices[:, 1]
            # static-shape edge list (XLA-friendly): stored entries, plus one self-loop per node in
            # self-attention, where stored diagonal entries are masked out so that no self-loop counts twice
            valid = tf.ones_like(src, dtype=dtype)
            if self_attention and self.add_self_loops:
                valid = tf.cast(tf.not_equal(src, dst), dtype)
                eye = tf.range(tf.cast(n, tf.int64), dtype=tf.int64)
                src = tf.concat([src, eye], 0)
                dst = tf.concat([dst, eye], 0)
                valid = tf.concat([valid, tf.ones_like(eye, dtype=dtype)], 0)
            dist = m.distance(tf.gather(q, src), tf.gather(k, dst))  # (E, H)
            scores = -beta[None, :] * dist - (1.0 - valid[:, None]) * tf.cast(1e9, dtype)
            smax = tf.math.unsorted_segment_max(scores, src, n)  # (n, H)
            e = tf.exp(scores - tf.gather(smax, src))
            denom = tf.math.unsorted_segment_sum(e, src, n)
            weights = e / tf.gather(denom, src)  # denominators >= 1 (the max term is exp(0))
            if self._drop is not None:
                weights = self._drop(weights, training=training)
            agg = tf.math.unsorted_segment_sum(weights[..., None] * tf.gather(v, dst), src, n)  # (n, H, k)
        flat = tf.reshape(agg, [-1, self.num_heads * self.key_dim])
        out = flat @ tf.cast(self.output_kernel, dtype)
        if self.output_bias is not None:
            out = out + tf.cast(self.output_bias, dtype)
        return m.expmap0(out)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (input_shape[0], self.output_dim or input_shape[-1])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(self._geometry_config())
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "output_dim": self.output_dim,
                "use_bias": self.use_bias,
                "dropout": self.dropout,
                "add_self_loops": self.add_self_loops,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "seed": self.seed,
            }
        )
        return config
