"""HyperPerturbModel, HyperbolicPerturbationModel and the safe KL loss (tensors only)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import sparse

from hyperperturb.nn import (
    HyperbolicAdam,
    HyperbolicPerturbationModel,
    HyperPerturbModel,
    PerturbationEnv,
    SafeKLDivergence,
    normalized_adjacency,
    safe_kl,
)


def _graph(n=30, f=5, p=6, seed=0):
    rng = np.random.default_rng(seed)
    a = sparse.random(n, n, density=0.1, random_state=seed)
    a = ((a + a.T) > 0).astype(float)
    a[0, :] = 0  # an isolated node
    a[:, 0] = 0
    x = rng.normal(size=(n, f)).astype(np.float32)
    r = rng.random((n, p))
    return x, normalized_adjacency(sparse.csr_matrix(a)), r


def test_safe_kl_finite_and_masked():
    t = tf.constant([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    p = tf.constant([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5]])
    kl = safe_kl(t, p).numpy()
    assert np.isfinite(kl).all() and kl[0] > 0
    masked = safe_kl(t, p, mask=tf.constant([1.0, 1.0, 0.0])).numpy()
    assert masked[1] == 0.0  # no target mass on the active columns
    assert float(SafeKLDivergence()(t, t)) == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("geometry", ["poincare", "euclidean"])
@pytest.mark.parametrize("head", ["distance", "dense"])
def test_forward_shapes_and_ball(geometry, head):
    x, adj, r = _graph()
    tn = [1, 2, 3, -1, 5, 6]
    m = HyperPerturbModel(30, 5, tn, geometry=geometry, head=head, dim=3)
    out = m((tf.constant(x), adj))
    assert out["embedding"].shape == (30, 3)
    assert out["logits"].shape == (30, 6)
    np.testing.assert_allclose(out["policy"].numpy().sum(1), 1.0, atol=1e-5)
    if geometry == "poincare":
        assert np.linalg.norm(out["embedding"].numpy(), axis=1).max() < 1
    if head == "distance":
        # no dense genes x perturbations parameter matrix
        assert all(not (len(w.shape) == 2 and w.shape[-1] == 6) for w in m.weights)


def test_free_embedding_is_a_ball_variable_and_training_is_finite():
    x, adj, r = _graph()
    m = HyperPerturbModel(30, 5, [1, 2, -1, -1, 5, 6], dim=2)
    m.build()
    env = PerturbationEnv(r, curriculum=False)
    m.set_training_data(x, adj, r / r.sum(1, keepdims=True), r.mean(1), np.ones(30), env.mask)
    m.compile(optimizer=HyperbolicAdam(1e-2, manifold=m.manifold))
    ds = tf.data.Dataset.from_tensors(tf.zeros((1, 1))).repeat()
    hist = m.fit(ds, epochs=15, steps_per_epoch=1, verbose=0)
    assert len(m.optimizer.ball_variable_keys) == 1
    loss = hist.history["loss"]
    assert np.isfinite(loss).all() and loss[-1] < loss[0]
    assert np.linalg.norm(m.free_embedding.numpy(), axis=1).max() < 1


def test_score_new_perturbations():
    x, adj, _ = _graph()
    m = HyperPerturbModel(30, 5, [1, 2, 3])
    out = m((tf.constant(x), adj))
    z = out["embedding"]
    logits = m.score(z, tf.gather(z, [7, 8]), tf.zeros(2))
    assert logits.shape == (30, 2)
    # a node is closest to itself: its own column has the top score among the two
    assert logits.numpy()[7, 0] >= logits.numpy()[7, 1]


def test_keras_save_load_round_trip(tmp_path):
    x, adj, _ = _graph()
    m = HyperPerturbModel(30, 5, [1, -1, 3], learn_curvature=True)
    m.build()
    path = tmp_path / "m.keras"
    m.save(path)
    back = keras.saving.load_model(path, safe_mode=True)
    a = m((tf.constant(x), adj))["policy"].numpy()
    b = back((tf.constant(x), adj))["policy"].numpy()
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_simple_model():
    m = HyperbolicPerturbationModel(4, 10, dim=2)
    m.build()
    out = m(tf.eye(4))
    assert out.shape == (4, 10) and (out.numpy() >= 0).all()
    g = m.gene_embedding().numpy()
    assert g.shape == (10, 2) and np.linalg.norm(g, axis=1).max() < 1


def test_bad_arguments():
    with pytest.raises(ValueError, match="head"):
        HyperPerturbModel(3, 2, [0], head="mlp")
    with pytest.raises(ValueError, match="dim"):
        HyperPerturbModel(3, 2, [0], dim=1)
    with pytest.raises(ValueError, match="dim"):
        HyperbolicPerturbationModel(3, 2, dim=1)


def test_fermi_dirac_loss_prefers_close_edges_and_far_negatives():
    from hyperperturb.nn._losses import fermi_dirac_loss

    good = float(fermi_dirac_loss(tf.constant([0.1, 0.2]), tf.constant([3.0, 4.0])))
    bad = float(fermi_dirac_loss(tf.constant([3.0, 4.0]), tf.constant([0.1, 0.2])))
    assert 0 < good < 0.2 < bad
    assert np.isfinite(float(fermi_dirac_loss(tf.constant([1e4]), tf.constant([1e4]))))
    assert float(fermi_dirac_loss(tf.zeros(0), tf.zeros(0))) == 0.0
