from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from hyperperturb.nn import HyperbolicAdam, PoincareBall, QuantumAnnealer, manifold_variable


class Points(keras.layers.Layer):
    """A layer holding ball points plus an ordinary Euclidean kernel."""

    def __init__(self, n=6, d=3, c=1.0, dtype_pts="float64", **kwargs):
        super().__init__(**kwargs)
        self.n, self.d, self.c, self.dtype_pts = n, d, c, dtype_pts

    def build(self, input_shape=None):
        self.ball = PoincareBall(self.c, dtype=self.dtype_pts)
        self.points = manifold_variable(self, "points", (self.n, self.d), self.ball, seed=0, init_std=0.1)
        self.kernel = self.add_weight(name="kernel", shape=(self.d, 2), initializer="glorot_uniform")

    def call(self, x):
        return x


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_riemannian_adam_converges_to_target_and_stays_inside(dtype):
    ball = PoincareBall(1.0, dtype=dtype)
    layer = Points(n=5, d=3, dtype_pts=dtype)
    layer.build()
    rng = np.random.default_rng(0)
    u = rng.normal(size=(5, 3))
    target = ball.proj(tf.constant(u / np.linalg.norm(u, axis=1, keepdims=True) * 0.95, dtype))  # near the edge
    opt = HyperbolicAdam(learning_rate=0.05)
    start = float(tf.reduce_max(ball.distance(layer.points, target)))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(ball.distance(layer.points, target)))
        grads = tape.gradient(loss, [layer.points])
        opt.apply_gradients(zip(grads, [layer.points], strict=True))
        return loss

    for _ in range(300):
        step()
    pts = layer.points.numpy()
    final = ball.distance(pts, target).numpy()
    assert start > 2.0
    assert final.max() < 0.05, final
    eps = {"float32": 4e-3, "float64": 1e-5}[dtype]
    assert np.all(np.linalg.norm(pts.astype(np.float64), axis=1) <= 1 - eps + 1e-6)
    assert opt.ball_variable_keys == {opt._var_key(layer.points)}


def test_ball_variable_stays_inside_with_huge_gradients():
    layer = Points(n=4, d=2)
    layer.build()
    opt = HyperbolicAdam(learning_rate=10.0, max_step_norm=None)
    for _ in range(20):
        opt.apply_gradients([(tf.constant(np.full((4, 2), -1e6)), layer.points)])
    norms = np.linalg.norm(layer.points.numpy(), axis=1)
    assert np.all(np.isfinite(norms)) and np.all(norms < 1)


def test_euclidean_variables_get_exactly_keras_adam():
    rng = np.random.default_rng(3)
    init = rng.normal(size=(4, 3)).astype("float32")
    grads = [rng.normal(size=(4, 3)).astype("float32") for _ in range(10)]
    v1, v2 = keras.Variable(init), keras.Variable(init)
    sched = QuantumAnnealer(1e-2, T_max=10)
    kw = {"beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-6}
    ref = keras.optimizers.Adam(learning_rate=sched, **kw)
    ours = HyperbolicAdam(learning_rate=sched, **kw)
    for g in grads:
        ref.apply_gradients([(tf.constant(g), v1)])
        ours.apply_gradients([(tf.constant(g), v2)])
    assert np.array_equal(v1.numpy(), v2.numpy())  # bit for bit
    assert not np.array_equal(v1.numpy(), init)


def test_mixed_model_fit_with_ball_variable():
    """Graph mode inside model.fit: the ball variable moves, stays inside; Euclidean weights train too."""

    class Model(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.pts = Points(n=8, d=3, dtype_pts="float32")
            self.dense = keras.layers.Dense(1)

        def build(self, input_shape):
            self.pts.build()
            self.dense.build((None, 3))

        def call(self, idx):
            z = tf.gather(self.pts.points, tf.cast(idx[:, 0], tf.int32))
            return self.dense(self.pts.ball.logmap0(z))

    model = Model()
    x = np.arange(8, dtype="float32")[:, None]
    y = np.linspace(-1, 1, 8).astype("float32")[:, None]
    model.build((None, 1))
    before = model.pts.points.numpy().copy()
    model.compile(optimizer=HyperbolicAdam(learning_rate=0.05, weight_decay=0.1), loss="mse")
    hist = model.fit(x, y, epochs=30, batch_size=8, verbose=0)
    after = model.pts.points.numpy()
    assert np.all(np.isfinite(hist.history["loss"]))
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert not np.allclose(before, after)
    assert np.all(np.linalg.norm(after, axis=1) < 1)
    opt = model.optimizer
    assert not opt._use_weight_decay(model.pts.points)
    assert opt._use_weight_decay(model.dense.kernel)


def test_declared_by_path_and_config_roundtrip():
    layer = keras.layers.Dense(2)
    layer.build((None, 2))
    ball = PoincareBall(0.5)
    opt = HyperbolicAdam(
        learning_rate=QuantumAnnealer(1e-2, T_max=50), manifold=ball, manifold_variables=[layer.kernel.path]
    )
    layer.kernel.assign(np.full((2, 2), 0.1))
    opt.apply_gradients([(tf.ones((2, 2)), layer.kernel), (tf.ones((2,)), layer.bias)])
    assert opt._var_key(layer.kernel) in opt.ball_variable_keys
    assert opt._var_key(layer.bias) not in opt.ball_variable_keys
    cfg = opt.get_config()
    assert cfg["manifold_variables"] == [layer.kernel.path] and cfg["manifold"]["curvature"] == 0.5
    opt2 = HyperbolicAdam.from_config(
        keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(opt)).get_config()
    )
    assert isinstance(opt2, HyperbolicAdam)
    assert opt2.manifold.curvature == 0.5 and opt2.max_step_norm == opt.max_step_norm
    assert isinstance(opt2.learning_rate if not callable(opt2._learning_rate) else opt2._learning_rate, QuantumAnnealer)


def test_bad_arguments():
    with pytest.raises(ValueError, match="max_step_norm"):
        HyperbolicAdam(max_step_norm=0)
    with pytest.raises(TypeError, match="manifold_variables"):
        HyperbolicAdam(manifold_variables=[3])
    with pytest.raises(ValueError, match="shape"):
        manifold_variable(keras.layers.Layer(), "p", (0, 2))
