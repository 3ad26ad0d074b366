from __future__ import annotations

import keras
import numpy as np
import pytest
import scipy.sparse as sp
import tensorflow as tf

from hyperperturb.nn import (
    HyperbolicAdam,
    HyperbolicAttention,
    HyperbolicDense,
    HyperbolicGraphConv,
    PoincareBall,
    QuantumAnnealer,
    normalized_adjacency,
)


def graph_with_isolated(n: int = 12, seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    a = sp.random(n, n, density=0.25, random_state=seed, data_rvs=lambda k: rng.uniform(0.1, 1, k))
    a = sp.lil_matrix(a + a.T)
    a.setdiag(0)
    for i in (0, n - 1):  # isolated nodes
        a[i, :] = 0
        a[:, i] = 0
    return sp.csr_matrix(a)


def ball_features(n: int, d: int, seed: int = 0, dtype: str = "float32") -> tf.Tensor:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * 0.4
    x[1] = 0.0  # an all-zero row
    return PoincareBall(1.0).proj(tf.constant(x, dtype))


def assert_inside(out: tf.Tensor) -> None:
    norms = np.linalg.norm(out.numpy().astype(np.float64), axis=-1)
    assert np.all(np.isfinite(norms)) and np.all(norms < 1)


# ------------------------------------------------------------------ dense
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dense_finite_grads_at_origin_and_boundary(dtype):
    layer = HyperbolicDense(5, activation="relu", dtype=dtype)
    x = np.zeros((4, 3))
    x[2:] = np.ones(3) / np.sqrt(3) * (1 - 1e-7)  # within 1e-7 of the boundary
    xv = tf.Variable(x, dtype=dtype)
    with tf.GradientTape() as tape:
        out = layer(xv)
        loss = tf.reduce_sum(out)
    grads = tape.gradient(loss, [xv, *layer.trainable_variables])
    assert out.dtype == tf.as_dtype(dtype) and out.shape == (4, 5)
    assert_inside(out)
    assert all(np.all(np.isfinite(g.numpy())) for g in grads)


def test_dense_matches_formula_and_euclidean_mode():
    ball = PoincareBall(1.0, dtype="float64")
    x = ball.proj(tf.constant(np.random.default_rng(0).normal(size=(3, 4)) * 0.3))
    layer = HyperbolicDense(2, activation="tanh", dtype="float64")
    out = layer(x)
    ref = ball.expmap0(np.tanh(ball.logmap0(x).numpy() @ layer.kernel.numpy() + layer.bias.numpy()))
    np.testing.assert_allclose(out, ref, atol=1e-12)
    flat = HyperbolicDense(2, geometry="euclidean", dtype="float64")
    y = flat(x)
    np.testing.assert_allclose(y, x.numpy() @ flat.kernel.numpy() + flat.bias.numpy(), atol=1e-12)
    # leading axes are allowed
    assert layer(tf.reshape(tf.concat([x, x], 0), (2, 3, 4))).shape == (2, 3, 2)


# -------------------------------------------------------------- graph conv
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("geometry", ["poincare", "euclidean"])
def test_graph_conv_finite_at_isolated_nodes_and_zero_rows(dtype, geometry):
    adj = normalized_adjacency(graph_with_isolated(), dtype=dtype)
    x = ball_features(12, 4, dtype=dtype)
    x = tf.concat([x[:-1], tf.fill((1, 4), tf.cast(0.5 * (1 - 1e-7), dtype))], 0)  # a row at the boundary
    xv = tf.Variable(x)
    l1 = HyperbolicGraphConv(6, activation="relu", geometry=geometry, dtype=dtype)
    l2 = HyperbolicGraphConv(3, geometry=geometry, dtype=dtype)
    with tf.GradientTape() as tape:
        out = l2((l1((xv, adj)), adj))
        loss = tf.reduce_sum(out)
    grads = tape.gradient(loss, [xv, *l1.trainable_variables, *l2.trainable_variables])
    assert out.shape == (12, 3)
    if geometry == "poincare":
        assert_inside(out)
    assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)


def test_graph_conv_all_zero_input_zero_bias_gives_finite_gradients():
    """The prototype's failure: exact zero rows into a hyperbolic layer -> NaN gradients."""
    adj = normalized_adjacency(graph_with_isolated())
    l1 = HyperbolicGraphConv(4, input_space="tangent")
    l2 = HyperbolicGraphConv(2, activation="relu")
    x = tf.zeros((12, 3))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(l2((l1((x, adj)), adj))))
    grads = tape.gradient(loss, l1.trainable_variables + l2.trainable_variables)
    assert all(np.all(np.isfinite(g.numpy())) for g in grads)


def test_graph_conv_euclidean_equals_gcn():
    a = graph_with_isolated()
    adj = normalized_adjacency(a, dtype="float64")
    x = np.random.default_rng(1).normal(size=(12, 4))
    layer = HyperbolicGraphConv(3, activation="relu", geometry="euclidean", dtype="float64")
    out = layer((tf.constant(x), adj)).numpy()
    a_hat = sp.diags(1 / (np.asarray(a.sum(1)).ravel() + 1)) @ (a + sp.eye(12))
    ref = np.maximum(a_hat @ (x @ layer.kernel.numpy() + layer.bias.numpy()), 0)
    np.testing.assert_allclose(out, ref, atol=1e-10)


def test_graph_conv_zero_nodes():
    adj = normalized_adjacency(sp.csr_matrix((0, 0)))
    layer = HyperbolicGraphConv(3)
    out = layer((tf.zeros((0, 4)), adj))
    assert out.shape == (0, 3)


def test_graph_conv_bad_inputs():
    adj = normalized_adjacency(graph_with_isolated())
    layer = HyperbolicGraphConv(3)
    with pytest.raises(ValueError, match=r"\(12, 12\)|expected shape \(10, 10\)"):
        layer((tf.zeros((10, 4)), adj))
    with pytest.raises(TypeError, match="SparseTensor"):
        HyperbolicGraphConv(3)((tf.zeros((12, 4)), tf.zeros((12, 12))))
    with pytest.raises(ValueError, match="n_nodes, features"):
        HyperbolicGraphConv(3)((tf.zeros((2, 12, 4)), adj))
    with pytest.raises(ValueError, match="activation"):
        HyperbolicGraphConv(3, activation="not_an_activation")
    with pytest.raises(ValueError, match="curvature"):
        HyperbolicGraphConv(3, curvature=0.0)
    with pytest.raises(ValueError, match="geometry"):
        HyperbolicGraphConv(3, geometry="spherical")
    with pytest.raises(ValueError, match="units"):
        HyperbolicGraphConv(0)
    with pytest.raises(ValueError, match="input_space"):
        HyperbolicGraphConv(3, input_space="euclid")
    with pytest.raises(ValueError, match="dropout"):
        HyperbolicGraphConv(3, dropout=1.5)


def test_graph_conv_wrong_adjacency_in_graph_mode():
    adj = normalized_adjacency(graph_with_isolated())
    layer = HyperbolicGraphConv(3)

    @tf.function(input_signature=[tf.TensorSpec((None, 4), tf.float32)])
    def f(x):
        return layer((x, adj))

    assert f(tf.zeros((12, 4))).shape == (12, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="adj must have shape"):
        f(tf.zeros((10, 4)))


class TwoLayerGCN(keras.Model):
    def __init__(self, adj, geometry="poincare", **kwargs):
        super().__init__(**kwargs)
        self.adj = adj
        self.gc1 = HyperbolicGraphConv(
            8, activation="relu", geometry=geometry, input_space="tangent", dropout=0.1, seed=0
        )
        self.gc2 = HyperbolicGraphConv(4, geometry=geometry)
        self.head = keras.layers.Dense(1)

    def call(self, x, training=None):
        h = self.gc2((self.gc1((x, self.adj), training=training), self.adj))
        return self.head(self.gc2.manifold.logmap0(h))


class BatchLosses(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["loss"]))


@pytest.mark.parametrize("geometry", ["poincare", "euclidean"])
def test_two_layer_gcn_trains_with_fit_on_isolated_nodes(geometry):
    """50 optimizer steps with model.fit (one full graph per step) at lr 1e-2 stay finite and learn."""
    keras.utils.set_random_seed(0)
    n, steps = 20, 50
    a = graph_with_isolated(n, seed=2)
    adj = normalized_adjacency(a)
    x = np.zeros((n, 5), "float32")  # mostly all-zero feature rows: the prototype's NaN case
    x[::3] = np.random.default_rng(0).normal(size=(7, 5))
    y = np.asarray(a.sum(1), dtype="float32")
    model = TwoLayerGCN(adj, geometry=geometry)
    model.compile(optimizer=HyperbolicAdam(learning_rate=1e-2), loss="mse")
    cb = BatchLosses()
    # the same graph repeated: each batch of n rows is the whole graph, so one epoch = `steps` full-graph steps
    model.fit(
        np.tile(x, (steps, 1)), np.tile(y, (steps, 1)), epochs=1, batch_size=n, shuffle=False, verbose=0, callbacks=[cb]
    )
    assert model.optimizer.iterations.numpy() == steps
    loss = np.asarray(cb.losses)  # running mean over the epoch, as Keras reports it
    assert loss.shape == (steps,) and np.all(np.isfinite(loss))
    assert loss[-1] < loss[0]
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    final = float(model.evaluate(x, y, batch_size=n, verbose=0))
    assert np.isfinite(final) and final < loss[0]


# --------------------------------------------------------------- attention
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_attention_dense_and_masked_agree_on_complete_graph(dtype):
    x = ball_features(7, 4, dtype=dtype)
    att = HyperbolicAttention(num_heads=2, key_dim=3, dtype=dtype)
    full = att(x)
    complete = normalized_adjacency(np.ones((7, 7)), dtype=dtype)
    masked = att(x, adj=complete)
    assert full.shape == (7, 4)
    np.testing.assert_allclose(full, masked, atol=5e-5 if dtype == "float32" else 1e-10)
    assert_inside(full)


def test_attention_mask_restricts_to_edges_and_self():
    x = ball_features(5, 3, dtype="float64")
    att = HyperbolicAttention(2, 2, dtype="float64")
    empty = normalized_adjacency(sp.csr_matrix((5, 5)), add_self_loops=False, dtype="float64")
    # no edges: every node attends only to itself -> output depends on the node alone
    out = att(x, adj=empty).numpy()
    for i in range(5):
        np.testing.assert_allclose(out[i], att(x[i : i + 1]).numpy()[0], atol=1e-10)


def test_attention_weights_are_softmax_of_negative_distances():
    ball = PoincareBall(1.0, dtype="float64")
    x = ball_features(4, 3, dtype="float64")
    att = HyperbolicAttention(1, 3, dtype="float64", use_bias=False)
    out = att(x)
    t = ball.logmap0(x)
    q = ball.expmap0(t @ att.query_kernel.numpy()[:, 0])
    k = ball.expmap0(t @ att.key_kernel.numpy()[:, 0])
    v = t.numpy() @ att.value_kernel.numpy()[:, 0]
    d = ball.pairwise_distance(q, k).numpy()
    w = np.exp(-d) / np.exp(-d).sum(1, keepdims=True)  # temperature initialised to 1
    ref = ball.expmap0((w @ v) @ att.output_kernel.numpy())
    np.testing.assert_allclose(out, ref, atol=1e-10)


@pytest.mark.parametrize("masked", [False, True])
def test_attention_finite_gradients_cross_and_zero_rows(masked):
    q = tf.Variable(ball_features(6, 4))
    k = tf.Variable(ball_features(3, 4, seed=1))
    adj = normalized_adjacency(sp.csr_matrix(np.eye(6, 3)), add_self_loops=False) if masked else None
    att = HyperbolicAttention(2, 2, output_dim=5)
    with tf.GradientTape() as tape:
        out = att(q, k, adj=adj)
        loss = tf.reduce_sum(out)
    assert out.shape == (6, 5)
    grads = tape.gradient(loss, [q, k, *att.trainable_variables])
    assert all(g is None or np.all(np.isfinite(tf.convert_to_tensor(g).numpy())) for g in grads)


def test_attention_bad_adjacency():
    att = HyperbolicAttention(2, 2)
    x = ball_features(5, 3)
    with pytest.raises(ValueError, match="expected shape"):
        att(x, adj=normalized_adjacency(np.ones((4, 4))))
    with pytest.raises(TypeError, match="SparseTensor"):
        att(x, adj=tf.ones((5, 5)))
    with pytest.raises(ValueError, match="num_heads"):
        HyperbolicAttention(0, 2)


# ----------------------------------------------------------- serialisation
def _roundtrip(model: keras.Model, inputs, tmp_path):
    path = tmp_path / "m.keras"
    before = model(inputs)
    model.save(path)
    loaded = keras.saving.load_model(path)
    after = loaded(inputs)
    np.testing.assert_array_equal(np.asarray(before), np.asarray(after))
    return loaded


def test_dense_and_attention_roundtrip_keras_file(tmp_path):
    inp = keras.Input((4,))
    h = HyperbolicDense(6, activation="gelu", curvature=0.7, learnable_curvature=True)(inp)
    out = HyperbolicAttention(2, 3, curvature=0.7, output_dim=3)(h)
    model = keras.Model(inp, out)
    model.compile(optimizer=HyperbolicAdam(learning_rate=QuantumAnnealer(1e-2, T_max=10)), loss="mse")
    x = ball_features(5, 4)
    loaded = _roundtrip(model, x, tmp_path)
    assert isinstance(loaded.optimizer, HyperbolicAdam)
    layer = loaded.layers[1]
    assert isinstance(layer, HyperbolicDense) and layer.learnable_curvature
    assert layer.manifold.curvature == pytest.approx(0.7, rel=1e-5)
    assert len(layer.trainable_weights) == 3  # kernel, bias, raw curvature


def test_graph_conv_roundtrip_keras_file(tmp_path):
    adj_np = graph_with_isolated(9)
    adj = normalized_adjacency(adj_np)

    @keras.saving.register_keras_serializable(package="hyperperturb_tests")
    class GraphModel(keras.Model):
        def __init__(self, n_nodes=9, **kwargs):
            super().__init__(**kwargs)
            self.n_nodes = n_nodes
            self.gc = HyperbolicGraphConv(
                3, activation="relu", input_space="tangent", geometry="poincare", curvature=2.0
            )
            self.att = HyperbolicAttention(1, 2, curvature=2.0)

        def call(self, x):
            h = self.gc((x, adj))
            return self.att(h, adj=adj)

        def get_config(self):
            return {**super().get_config(), "n_nodes": self.n_nodes}

    model = GraphModel()
    x = tf.constant(np.random.default_rng(0).normal(size=(9, 4)), tf.float32)
    loaded = _roundtrip(model, x, tmp_path)
    assert loaded.gc.manifold.curvature == 2.0 and loaded.gc.input_space == "tangent"


def test_mixed_precision_policy_keeps_hyperbolic_layers_in_float32():
    keras.config.set_dtype_policy("mixed_float16")
    try:
        layer = HyperbolicDense(2)
        gc = HyperbolicGraphConv(2)
    finally:
        keras.config.set_dtype_policy("float32")
    assert layer.compute_dtype == "float32" and gc.compute_dtype == "float32"


def test_graph_conv_and_masked_attention_compile_with_xla():
    """No sparse-only kernels: the layers run under jit_compile=True (Keras' default on GPUs)."""
    adj = normalized_adjacency(graph_with_isolated())
    gc = HyperbolicGraphConv(4, activation="relu", input_space="tangent")
    att = HyperbolicAttention(2, 2)
    x = tf.constant(np.random.default_rng(0).normal(size=(12, 3)), tf.float32)
    eager = att(gc((x, adj)), adj=adj)

    @tf.function(jit_compile=True)
    def f(x):
        return att(gc((x, adj)), adj=adj)

    np.testing.assert_allclose(f(x), eager, atol=1e-5)
