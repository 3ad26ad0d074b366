"""The policy loss of a block of nodes, fused by XLA (mini-batch training of large screens).

The loss is the same objective as the full-batch step, KL(target || softmax(logits)) per node over the active
perturbations, written as a cross-entropy on ``log_softmax`` (exact, no probability clipping), with the logits
of the distance head ``-s·d(z_g, e_p) + b_p + <u_g, w_p>``. It runs on nodes × perturbations elementwise
operations, which dominate the cost of a large screen; XLA fuses them (measured: 1.5–2× faster per epoch on CPU).
Sparse tensors (the graph encoder) cannot be compiled, so the block function computes its own gradients inside
one compiled call and is wired into the outer tape with :func:`tensorflow.custom_gradient`.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from ._losses import masked_distribution

_NEG = -1e9


def make_block_policy_loss(distance: Callable[[tf.Tensor, tf.Tensor], tf.Tensor], *, jit: bool = True):
    """A differentiable ``f(zr, emb, bias, ur, factor, scale, target, mask, weight) -> (loss, mae)``.

    ``distance`` is the manifold's pairwise distance (it must not read trainable variables: learnable curvature
    uses the plain path). ``zr`` (batch × dim) are the batch nodes' embeddings, ``emb`` (perturbations × dim) the
    perturbation embeddings, ``ur`` / ``factor`` the low-rank terms (batch × r, perturbations × r), ``scale`` the
    distance head's inverse temperature, ``target`` (batch × perturbations) the non-negative targets, ``mask`` the
    active perturbations, ``weight`` the node weights. ``loss`` is the weighted mean KL over nodes whose target has
    mass on the active perturbations; ``mae`` the matching mean absolute error per active perturbation (no
    gradient).
    """

    def body(zr, emb, bias, ur, factor, scale, target, mask, weight):
        logits = -scale * distance(zr, emb) + bias[None, :] + tf.matmul(ur, factor, transpose_b=True)
        logits = tf.where(mask[None, :] > 0, logits, _NEG)
        t = masked_distribution(target, mask)
        logp = tf.nn.log_softmax(logits, axis=-1)
        kl = tf.reduce_sum((tf.math.xlogy(t, t) - t * logp) * mask[None, :], axis=-1)
        has = tf.cast(tf.reduce_sum(t, axis=-1) > 0.5, logits.dtype) * weight
        n = tf.maximum(tf.reduce_sum(has), 1.0)
        n_active = tf.maximum(tf.reduce_sum(mask), 1.0)
        mae = tf.reduce_sum(tf.reduce_sum(tf.abs(tf.exp(logp) - t) * mask[None, :], -1) * has) / (n * n_active)
        return tf.reduce_sum(kl * has) / n, tf.stop_gradient(mae)

    @tf.function(jit_compile=jit, reduce_retracing=True)
    def loss_and_grads(zr, emb, bias, ur, factor, scale, target, mask, weight):
        diff = [zr, emb, bias, ur, factor, scale]
        with tf.GradientTape() as tape:
            tape.watch(diff)
            loss, mae = body(zr, emb, bias, ur, factor, scale, target, mask, weight)
        return loss, mae, tape.gradient(loss, diff)

    @tf.custom_gradient
    def block_loss(zr, emb, bias, ur, factor, scale, target, mask, weight):
        loss, mae, grads = loss_and_grads(zr, emb, bias, ur, factor, scale, target, mask, weight)

        def grad(d_loss, d_mae):
            return [d_loss * g for g in grads] + [None, None, None]

        return (loss, mae), grad

    return block_loss
