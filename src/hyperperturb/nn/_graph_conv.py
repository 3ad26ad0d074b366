"""``HyperbolicGraphConv``: HGCN-style graph convolution on the Poincaré ball."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from ._debug import check_inputs
from ._geometry import Euclidean, PoincareBall
from ._layer_base import (
    _aggregate,
    _check_adjacency,
    _check_positive_int,
    _check_rate,
    _dim,
    _get_activation,
    _ManifoldLayer,
    _split_graph_inputs,
)


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
        self._add_kernel_and_bias(int(d_in))

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
        config.update(self._dense_config())
        config.update({"dropout": self.dropout, "input_space": self.input_space, "seed": self.seed})
        return config
