"""Hyperbolic Keras layers: ``HyperbolicDense``, and the graph layers re-exported.

``HyperbolicGraphConv`` lives in ``_graph_conv.py``, ``HyperbolicAttention`` in ``_attention.py``; what they share
(argument checks, the manifold base class, sparse-graph inputs) in ``_layer_base.py``.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from ._attention import HyperbolicAttention
from ._debug import check_inputs
from ._geometry import Euclidean, PoincareBall
from ._graph_conv import HyperbolicGraphConv
from ._layer_base import (
    _check_positive_int,
    _get_activation,
    _ManifoldLayer,
)

__all__ = ["HyperbolicAttention", "HyperbolicDense", "HyperbolicGraphConv"]


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
        self._add_kernel_and_bias(int(d_in))

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
        config.update(self._dense_config())
        return config
