"""Mini-batch training (``hp.tl.train(batch_size=...)``) and the blocked readout of large screens."""

from __future__ import annotations

import numpy as np
import pytest
import scanpy as sc
from scipy import sparse, stats

import hyperperturb as hp
from hyperperturb.nn import HyperPerturbModel
from hyperperturb.tl._model import _fit, _readout
from hyperperturb.tl._model._fit import resolve_batch_size

EPOCHS = 60


def _prepared(seed: int = 0, n_genes: int = 80, n_perturbations: int = 10):
    data = hp.datasets.synthetic(
        n_cells=800, n_genes=n_genes, n_perturbations=n_perturbations, seed=seed, as_mudata=False
    )
    sc.pp.normalize_total(data)
    sc.pp.log1p(data)
    hp.pp.perturbations(data, key="perturbation", control="non-targeting")
    hp.pp.gene_network(data, hp.datasets.truth_network(data))
    hp.tl.rewards(data, verbose=False)
    return data


@pytest.fixture(scope="module")
def screen():
    return _prepared()


def _quality(a) -> tuple[float, float]:
    """Per-gene Spearman(hp_policy, observed excess) over the 20 most responsive genes; Spearman of hp_value."""
    E = np.clip(a.varm["hp_reward"] - a.var["hp_reward_baseline"].to_numpy()[:, None], 0.0, None)
    P = np.asarray(a.varm["hp_policy"])
    resp = [g for g in np.argsort(-E.mean(1))[:20] if E[g].std() > 0]
    rho = float(np.mean([stats.spearmanr(P[g], E[g])[0] for g in resp]))
    return rho, float(stats.spearmanr(a.var["hp_value"], E.mean(1))[0])


def test_resolve_batch_size_full_below_the_block_and_bounded_above():
    assert resolve_batch_size(None, 100, 10) is None
    assert resolve_batch_size(500, 100, 10) is None  # a batch as large as the data is the full batch
    assert resolve_batch_size(30, 100, 10) == 30
    block = _fit.BLOCK_PAIRS
    # above the block: rows per step shrink as perturbations grow, so a step never holds more than the block
    for n_p in (3_000, 10_000, 50_000):
        rows = resolve_batch_size(None, 8_000, n_p)
        assert rows is not None and rows * n_p <= block
    assert resolve_batch_size(None, 8_000, 50_000) < resolve_batch_size(None, 8_000, 10_000)


@pytest.mark.slow
def test_step_memory_does_not_grow_with_perturbations(monkeypatch):
    """With the automatic batch a training step holds at most BLOCK_PAIRS (node, perturbation) pairs whatever the
    number of perturbations, and the targets are kept sparse (ragged rows), not as a dense nodes × perturbations
    tensor (checked on the model that hp.tl.train builds)."""
    seen = []
    orig = HyperPerturbModel.set_training_data

    def spy(self, *args, **kwargs):
        orig(self, *args, **kwargs)
        ds, steps = self.training_dataset(seed=0)
        batch_rows = [len(b) for b in ds.take(steps).as_numpy_iterator()]
        seen.append((self.batch_size, self.n_perturbations, batch_rows, self._pt, self._pt_rows))

    monkeypatch.setattr(HyperPerturbModel, "set_training_data", spy)
    monkeypatch.setattr(_fit, "BLOCK_PAIRS", 200)
    for n_p in (5, 10):
        a = _prepared(seed=1, n_genes=60, n_perturbations=n_p)
        hp.tl.train(a, epochs=2, verbose=False, map_kwargs={"epochs": 20})
    assert len(seen) == 2
    for batch, n_p, batch_rows, dense_pt, ragged_pt in seen:
        assert batch is not None and batch * n_p <= 200
        assert max(batch_rows) * n_p <= 200 and sum(batch_rows) == 60  # one pass over the nodes per epoch
        assert (dense_pt is None) != (ragged_pt is None)  # one copy of the targets, never both
    assert seen[1][0] < seen[0][0]  # more perturbations, fewer nodes per step


def test_minibatch_loss_equals_the_dense_loss_on_the_same_rows():
    """Sparse (ragged) targets made dense per batch give exactly the loss of the dense targets on those rows."""
    rng = np.random.default_rng(0)
    n, n_p = 12, 5
    target = np.where(rng.random((n, n_p)) < 0.25, rng.random((n, n_p)), 0.0).astype(np.float32)  # ragged below 1/3
    import tensorflow as tf

    from hyperperturb.nn._graph import normalized_adjacency

    A = sparse.random(n, n, density=0.3, random_state=0)
    A = (A + A.T).tocsr()
    kw = {"dim": 2, "hidden": 4, "seed": 0, "rank": 2, "dropout": 0.0}
    dense = HyperPerturbModel(n, 3, np.arange(n_p), **kw)
    batched = HyperPerturbModel(n, 3, np.arange(n_p), **kw)
    for m in (dense, batched):
        m.build()
    for w1, w2 in zip(dense.weights, batched.weights, strict=True):
        w2.assign(w1)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    adj = normalized_adjacency(A)
    mask = tf.Variable(np.ones(n_p, bool))
    rows = np.array([1, 4, 7, 9], dtype=np.int32)
    w = np.ones(n)
    w_rows = np.zeros(n)
    w_rows[rows] = 1.0
    vt = rng.random(n)
    dense.set_training_data(x, adj, target, vt, w_rows, mask)
    batched.set_training_data(x, adj, sparse.csr_matrix(target), vt, w, mask, batch_size=4)
    assert batched.batch_rows is not None and batched._pt_rows is not None  # kept sparse
    np.testing.assert_array_equal(batched._target_rows(tf.constant(rows)).numpy(), target[rows])
    full = dense.compute_losses(training=False)
    part = batched.compute_losses(training=False, rows=tf.constant(rows))
    for k in ("policy_loss", "value_loss", "policy_mae", "value_mae"):
        np.testing.assert_allclose(float(part[k]), float(full[k]), rtol=1e-5, err_msg=k)


def test_minibatch_training_matches_full_batch_quality(screen):
    full = hp.tl.train(screen, epochs=EPOCHS, verbose=False, copy=True, seed=0)
    mini = hp.tl.train(screen, epochs=EPOCHS, verbose=False, copy=True, seed=0, batch_size=20)
    assert full.uns["hyperperturb"]["train"]["params"]["batch_size"] == "None"
    assert mini.uns["hyperperturb"]["train"]["params"]["batch_size"] == 20
    q_full, q_mini = _quality(full), _quality(mini)
    assert q_mini[0] >= q_full[0] - 0.1, (q_mini, q_full)
    assert q_mini[1] >= q_full[1] - 0.1, (q_mini, q_full)
    assert np.isfinite(mini.varm["X_poincare"]).all()
    np.testing.assert_allclose(mini.varm["hp_policy"].sum(1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_minibatch_training_is_deterministic(screen):
    a = hp.tl.train(screen, epochs=10, verbose=False, copy=True, seed=3, batch_size=25)
    b = hp.tl.train(screen, epochs=10, verbose=False, copy=True, seed=3, batch_size=25)
    np.testing.assert_array_equal(a.varm["X_poincare"], b.varm["X_poincare"])
    np.testing.assert_array_equal(a.varm["hp_policy"], b.varm["hp_policy"])


def test_blocked_readout_matches_the_full_readout(screen, monkeypatch):
    """Above the block the readout works in row blocks (float32 policy) and gives the same numbers."""
    ref = hp.tl.train(screen, epochs=10, verbose=False, copy=True, seed=1)
    monkeypatch.setattr(_readout, "BLOCK_PAIRS", 64)
    blk = hp.tl.train(screen, epochs=10, verbose=False, copy=True, seed=1)
    assert blk.varm["hp_policy"].dtype == np.float32
    # the model runs in float32 and most points sit near the rim, where the pairwise distance (a matmul whose
    # blocking differs between one pass and row blocks) is rounded differently: a few entries move by ~1e-3
    diff = np.abs(blk.varm["hp_policy"] - ref.varm["hp_policy"])
    assert diff.max() < 5e-3 and diff.mean() < 1e-4
    np.testing.assert_allclose(blk.var["hp_value"], ref.var["hp_value"], rtol=1e-6)
    np.testing.assert_array_equal(blk.varm["X_poincare"], ref.varm["X_poincare"])


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "all"])
def test_bad_batch_size_is_refused_and_the_object_is_untouched(screen, bad):
    before = set(screen.varm) | set(screen.uns["hyperperturb"])
    with pytest.raises(ValueError, match="batch_size"):
        hp.tl.train(screen, epochs=2, verbose=False, batch_size=bad)
    assert set(screen.varm) | set(screen.uns["hyperperturb"]) == before
