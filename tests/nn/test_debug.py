from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from hyperperturb.nn import (
    HyperbolicAdam,
    HyperbolicDense,
    HyperbolicGraphConv,
    debug_numerics,
    is_debug_numerics,
    normalized_adjacency,
)


def test_smoke_training_steps_under_check_numerics():
    """A few optimizer steps of a 2-layer graph conv on a graph with isolated nodes pass check_numerics."""
    a = np.zeros((6, 6))
    a[0, 1] = a[1, 0] = a[1, 2] = a[2, 1] = 1.0  # nodes 3, 4, 5 isolated
    adj = normalized_adjacency(a)
    x = tf.zeros((6, 3))  # all-zero rows
    l1 = HyperbolicGraphConv(4, activation="relu", input_space="tangent")
    l2 = HyperbolicGraphConv(2)
    opt = HyperbolicAdam(learning_rate=1e-2)
    with debug_numerics(True):
        assert is_debug_numerics()
        for _ in range(3):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(tf.square(l2((l1((x, adj)), adj)) - 0.1))
            variables = l1.trainable_variables + l2.trainable_variables
            grads = tape.gradient(loss, variables)
            opt.apply_gradients(zip(grads, variables, strict=True))
        assert np.isfinite(loss.numpy())
    assert not is_debug_numerics()


def test_nan_input_names_the_layer():
    layer = HyperbolicDense(2, name="my_dense")
    x = tf.constant([[0.1, np.nan]])
    with debug_numerics(True), pytest.raises(tf.errors.InvalidArgumentError, match="my_dense"):
        layer(x)
    # without debug the layer does not check (and does not raise)
    layer(x)


def test_toggle_off():
    debug_numerics(True)
    try:
        assert is_debug_numerics()
    finally:
        debug_numerics(False)
    assert not is_debug_numerics()
