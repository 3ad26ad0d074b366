"""``HyperbolicAttention``: multi-head attention weighted by negative hyperbolic distances."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from ._debug import check_inputs
from ._geometry import Euclidean, PoincareBall
from ._layer_base import (
    _check_adjacency,
    _check_positive_int,
    _check_rate,
    _dim,
    _ManifoldLayer,
)
from ._tensor_ops import _inverse_softplus


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
