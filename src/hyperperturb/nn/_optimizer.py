"""Riemannian Adam for Poincaré-ball variables, plain Adam for everything else (Keras 3)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import keras
import tensorflow as tf

from ._geometry import Euclidean, PoincareBall, get_manifold

__all__ = ["HyperbolicAdam", "manifold_variable"]

#: Attribute set on a Keras variable that lives on a manifold.
MANIFOLD_ATTR = "_hyperperturb_manifold"


def manifold_variable(
    layer: keras.layers.Layer,
    name: str,
    shape: Sequence[int],
    manifold: PoincareBall | Euclidean | None = None,
    *,
    initializer: Any = None,
    init_std: float = 1e-3,
    seed: int | None = None,
    dtype: Any = None,
    trainable: bool = True,
) -> keras.Variable:
    """Create a weight of ``layer`` whose rows are points of ``manifold`` and declare it to :class:`HyperbolicAdam`.

    The weight is created with ``layer.add_weight`` (so it is tracked, saved and restored like any Keras
    weight) and tagged so that :class:`HyperbolicAdam` updates it with Riemannian Adam (Riemannian gradient,
    exponential-map step, projection, momentum transport) and excludes it from weight decay. The last
    axis of ``shape`` is the point axis: ``shape=(n_genes, dim)`` is ``n_genes`` points in the ``dim``-ball.

    Parameters
    ----------
    layer
        The layer that owns the weight; call this from ``layer.build``.
    name
        Weight name.
    shape
        Weight shape; the last axis holds the coordinates of one point.
    manifold
        A :class:`PoincareBall` (default: ``PoincareBall(1.0)``). A :class:`Euclidean` manifold gives a plain
        Adam variable.
    initializer
        Keras initializer. Default: ``expmap0`` of ``N(0, init_std^2)`` (points near the origin, seeded).
    init_std
        Standard deviation of the default initializer in the tangent space at the origin.
    seed
        Seed of the default initializer.
    dtype
        Weight dtype (default: the manifold's dtype).
    trainable
        Whether the weight is trainable.

    Returns
    -------
    The new Keras variable (projected into the ball).

    Examples
    --------
    >>> class Embedding(keras.layers.Layer):
    ...     def build(self, input_shape):
    ...         self.points = manifold_variable(self, "points", (100, 8), PoincareBall(1.0), seed=0)
    """
    manifold = PoincareBall(1.0) if manifold is None else get_manifold(manifold)
    dtype = dtype or manifold.dtype
    shape = tuple(int(s) for s in shape)
    if not shape or min(shape) < 1:
        msg = f"shape must be a non-empty tuple of positive sizes (last axis = point coordinates), got {shape!r}."
        raise ValueError(msg)
    if initializer is None:
        initializer = _BallNormal(manifold, std=init_std, seed=seed)
    var = layer.add_weight(name=name, shape=shape, initializer=initializer, dtype=dtype, trainable=trainable)
    if isinstance(manifold, PoincareBall):
        var.assign(manifold.proj(tf.convert_to_tensor(var)))
        setattr(var, MANIFOLD_ATTR, manifold)
    return var


class _BallNormal(keras.initializers.Initializer):
    def __init__(self, manifold: PoincareBall | Euclidean, std: float = 1e-3, seed: int | None = None) -> None:
        self.manifold = manifold
        self.std = std
        self.seed = seed

    def __call__(self, shape: Any, dtype: Any = None) -> tf.Tensor:
        return self.manifold.random_normal(shape, std=self.std, seed=self.seed, dtype=dtype)

    def get_config(self) -> dict[str, Any]:
        return {"manifold": self.manifold.get_config(), "std": self.std, "seed": self.seed}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> _BallNormal:
        config = dict(config)
        config["manifold"] = get_manifold(config["manifold"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="hyperperturb")
class HyperbolicAdam(keras.optimizers.Adam):
    r"""Adam that follows the Poincaré ball for ball-valued variables and is plain Adam for all others.

    For a variable declared to live on a :class:`PoincareBall` (see *Declaring ball variables*), each step
    is Riemannian Adam (Bécigneul & Ganea 2019, as in geoopt's ``RiemannianAdam``), with the last axis of
    the variable as the point axis:

    1. :math:`x \leftarrow \mathrm{proj}(x)`; :math:`g = \mathrm{egrad2rgrad}(x, \nabla f) = \nabla f / \lambda_x^2`;
    2. :math:`m \leftarrow \beta_1 m + (1-\beta_1) g`; :math:`v \leftarrow \beta_2 v + (1-\beta_2) \lambda_x^2 |g|^2`
       (one second moment per point, broadcast over its coordinates);
    3. :math:`u = -\eta\, \hat m / (\sqrt{\hat v} + \epsilon)` with bias-corrected :math:`\hat m, \hat v`;
       the Riemannian norm :math:`\lambda_x |u|` is clipped at ``max_step_norm``;
    4. :math:`x' = \mathrm{proj}(\exp_x(u))`; :math:`m \leftarrow \mathrm{transport}(x, x', m)`.

    Every other variable gets exactly :class:`keras.optimizers.Adam`'s update (bit for bit, same
    hyperparameters). Ball variables are excluded from ``weight_decay``; ``clipnorm``/``clipvalue``/
    ``global_clipnorm`` act on the Euclidean gradients of all variables as in Keras.

    Declaring ball variables
        Either create them with :func:`manifold_variable` (tags the variable; recommended, survives
        saving/loading because the layer re-creates the tag in ``build``), or list them in
        ``manifold_variables`` (variables or their ``variable.path`` strings; they use ``manifold``).

    Parameters
    ----------
    learning_rate
        Float or a :class:`keras.optimizers.schedules.LearningRateSchedule` such as :class:`QuantumAnnealer`.
    beta_1, beta_2, epsilon
        Adam hyperparameters (Keras defaults).
    manifold
        Manifold of the variables given in ``manifold_variables`` (default ``PoincareBall(1.0)``).
        Variables created by :func:`manifold_variable` carry their own manifold.
    manifold_variables
        Extra variables (or ``variable.path`` strings) that live on ``manifold``.
    max_step_norm
        Upper bound on the Riemannian norm of one step per point (``None``: no clipping).
    **kwargs
        Passed to :class:`keras.optimizers.Optimizer` (``weight_decay``, ``clipnorm``, ``global_clipnorm``,
        ``use_ema``, ``name``, ...).

    Examples
    --------
    >>> from hyperperturb.nn import HyperbolicAdam, PoincareBall, QuantumAnnealer
    >>> opt = HyperbolicAdam(learning_rate=QuantumAnnealer(1e-2, T_max=200), manifold=PoincareBall(1.0))
    >>> model.compile(optimizer=opt, loss="mse")  # doctest: +SKIP
    """

    def __init__(
        self,
        learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        *,
        manifold: PoincareBall | Euclidean | str | dict | None = None,
        manifold_variables: Iterable[Any] | None = None,
        max_step_norm: float | None = 1.0,
        name: str = "hyperbolic_adam",
        **kwargs: Any,
    ) -> None:
        kwargs.pop("amsgrad", None)
        super().__init__(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            amsgrad=False,
            name=name,
            **kwargs,
        )
        self.manifold = PoincareBall(1.0) if manifold is None else get_manifold(manifold)
        if max_step_norm is not None and not float(max_step_norm) > 0:
            msg = f"max_step_norm must be > 0 or None, got {max_step_norm!r}."
            raise ValueError(msg)
        self.max_step_norm = None if max_step_norm is None else float(max_step_norm)
        self._declared = list(manifold_variables or [])
        for v in self._declared:
            if not (isinstance(v, str) or hasattr(v, "path")):
                msg = f"manifold_variables must hold Keras variables or variable.path strings, got {type(v).__name__}."
                raise TypeError(msg)
        self._ball: dict[Any, PoincareBall] = {}

    def _manifold_of(self, variable: Any) -> PoincareBall | None:
        tagged = getattr(variable, MANIFOLD_ATTR, None)
        if tagged is not None:
            return tagged
        for d in self._declared:
            if (isinstance(d, str) and d == variable.path) or d is variable:
                return self.manifold if isinstance(self.manifold, PoincareBall) else None
        return None

    def build(self, var_list: list[Any]) -> None:
        """Create Adam slots and record which variables live on the ball."""
        if self.built:
            return
        self._ball = {}
        for v in var_list:
            m = self._manifold_of(v)
            if isinstance(m, PoincareBall):
                self._ball[self._var_key(v)] = m
        super().build(var_list)

    @property
    def ball_variable_keys(self) -> set[Any]:
        """Keys (``self._var_key(v)``) of the variables updated with Riemannian Adam."""
        return set(self._ball)

    def _use_weight_decay(self, variable: Any) -> bool:
        if self._var_key(variable) in self._ball:
            return False
        return super()._use_weight_decay(variable)

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        """Riemannian Adam for ball variables, Keras Adam otherwise."""
        manifold = self._ball.get(self._var_key(variable))
        if manifold is None:
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        if isinstance(gradient, tf.IndexedSlices):
            gradient = tf.convert_to_tensor(gradient)
        gradient = tf.cast(gradient, dtype)
        lr = tf.cast(learning_rate, dtype)
        step = tf.cast(self.iterations + 1, dtype)
        b1 = tf.cast(self.beta_1, dtype)
        b2 = tf.cast(self.beta_2, dtype)
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]

        x = manifold.proj(tf.convert_to_tensor(variable))
        rgrad = manifold.egrad2rgrad(x, gradient)
        m_new = b1 * tf.convert_to_tensor(m) + (1.0 - b1) * rgrad
        sq = manifold.inner(x, rgrad, keepdims=True)
        v_new = b2 * tf.convert_to_tensor(v) + (1.0 - b2) * tf.broadcast_to(sq, tf.shape(rgrad))
        m_hat = m_new / (1.0 - tf.pow(b1, step))
        v_hat = v_new / (1.0 - tf.pow(b2, step))
        u = -lr * m_hat / (tf.sqrt(v_hat) + tf.cast(self.epsilon, dtype))
        if self.max_step_norm is not None:
            unorm = manifold.norm(x, u, keepdims=True)
            u = u * tf.minimum(tf.ones_like(unorm), tf.cast(self.max_step_norm, dtype) / unorm)
        x_new = manifold.proj(manifold.expmap(x, u))
        m_t = manifold.transport(x, x_new, m_new)
        self.assign(variable, x_new)
        self.assign(m, m_t)
        self.assign(v, v_new)
        return None

    def get_config(self) -> dict[str, Any]:
        """Config for ``keras.saving``; declared variables are stored by ``variable.path``."""
        config = super().get_config()
        config.pop("amsgrad", None)
        config.update(
            {
                "manifold": self.manifold.get_config(),
                "manifold_variables": [d if isinstance(d, str) else d.path for d in self._declared],
                "max_step_norm": self.max_step_norm,
            }
        )
        return config
