"""Numerically safe losses for the policy and value heads (tensors only)."""

from __future__ import annotations

import keras
import tensorflow as tf

#: Smallest probability a predicted distribution may take before the logarithm.
EPS = 1e-7


def masked_distribution(p: tf.Tensor, mask: tf.Tensor, eps: float = EPS) -> tf.Tensor:
    """Restrict the distributions in the last axis of ``p`` to the columns where ``mask`` is 1 and renormalise.

    Parameters
    ----------
    p
        Non-negative tensor ``(..., n)``.
    mask
        ``(n,)`` tensor of 0/1 (float).
    eps
        Floor of the row sum (rows with no mass on the active columns stay all-zero).
    """
    m = tf.cast(mask, p.dtype)
    q = p * m
    return q / tf.maximum(tf.reduce_sum(q, axis=-1, keepdims=True), tf.cast(eps, p.dtype))


def safe_kl(y_true: tf.Tensor, y_pred: tf.Tensor, mask: tf.Tensor | None = None, eps: float = EPS) -> tf.Tensor:
    """Per-row KL divergence ``KL(y_true || y_pred)`` that cannot produce NaN.

    Both distributions are (optionally) restricted to the active columns ``mask`` and renormalised, then clipped to
    ``[eps, 1]`` and renormalised again before the logarithm. Rows whose target has no mass on the active columns get
    a loss of 0.

    Returns
    -------
    ``(...,)`` tensor, one KL value per row.
    """
    y_true = tf.convert_to_tensor(y_true)
    y_pred = tf.cast(y_pred, y_true.dtype)
    if mask is not None:
        y_true = masked_distribution(y_true, mask, eps)
        y_pred = masked_distribution(y_pred, mask, eps)
    has_mass = tf.cast(tf.reduce_sum(y_true, axis=-1) > 0.5, y_true.dtype)
    t = tf.clip_by_value(y_true, eps, 1.0)
    p = tf.clip_by_value(y_pred, eps, 1.0)
    t = t / tf.reduce_sum(t, axis=-1, keepdims=True)
    p = p / tf.reduce_sum(p, axis=-1, keepdims=True)
    terms = t * (tf.math.log(t) - tf.math.log(p))
    if mask is not None:
        terms = terms * tf.cast(mask, terms.dtype)
    return tf.reduce_sum(terms, axis=-1) * has_mass


def fermi_dirac_loss(d_pos: tf.Tensor, d_neg: tf.Tensor, *, radius: float = 2.0, temperature: float = 1.0) -> tf.Tensor:
    r"""Binary cross-entropy of the Fermi–Dirac edge decoder (Nickel & Kiela 2017; HGCN).

    :math:`p(\text{edge}) = 1 / (\exp((d^2 - r)/t) + 1)`; the loss is the mean of :math:`-\log p` over the positive
    distances ``d_pos`` plus the mean of :math:`-\log(1 - p)` over the negative ones ``d_neg``, written with
    ``softplus`` so that it cannot overflow. Empty inputs contribute 0.
    """
    d_pos = tf.convert_to_tensor(d_pos)
    d_neg = tf.cast(d_neg, d_pos.dtype)
    u_pos = (tf.square(d_pos) - radius) / temperature
    u_neg = (tf.square(d_neg) - radius) / temperature

    def _mean(x):
        return tf.reduce_sum(x) / tf.maximum(tf.cast(tf.size(x), x.dtype), 1.0)

    return _mean(tf.nn.softplus(u_pos)) + _mean(tf.nn.softplus(-u_neg))


@keras.saving.register_keras_serializable(package="hyperperturb")
class SafeKLDivergence(keras.losses.Loss):
    """Keras loss: :func:`safe_kl` averaged over rows (``safe_kl_divergence`` of the original HyperPerturb design).

    Parameters
    ----------
    eps
        Clip floor of both distributions.
    name
        Loss name.
    """

    def __init__(self, eps: float = EPS, name: str = "policy_kld", **kwargs):
        super().__init__(name=name, **kwargs)
        self.eps = float(eps)

    def call(self, y_true, y_pred):
        return safe_kl(y_true, y_pred, eps=self.eps)

    def get_config(self):
        return {**super().get_config(), "eps": self.eps}
