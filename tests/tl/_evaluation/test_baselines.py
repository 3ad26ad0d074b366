"""Baselines of hp.tl.evaluate: mean, linear (PCA + ridge), degree-preserving rewiring."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest

from hyperperturb._utils._ledger import SCHEMA_VERSIONS
from hyperperturb.tl._evaluation._baselines import (
    fit_linear,
    permute_embedding,
    predict_linear,
    predict_mean,
    predict_median,
    rewire,
)
from hyperperturb.tl._evaluation._metrics import spearman


def test_mean_baseline_is_column_mean():
    R = np.arange(12.0).reshape(4, 3)
    np.testing.assert_allclose(predict_mean(R, 2), np.repeat(R.mean(1)[:, None], 2, axis=1))


def test_median_baseline_by_hand():
    R = np.array([[0.0, 1.0, 10.0], [4.0, 2.0, 3.0], [1.0, 1.0, 1.0]])  # one strong column pulls the mean of row 0
    np.testing.assert_array_equal(predict_median(R, 2), [[1.0, 1.0], [3.0, 3.0], [1.0, 1.0]])
    np.testing.assert_array_equal(predict_median(R[:, :2], 1), [[0.5], [3.0], [1.0]])  # even count: midpoint


def _bilinear_screen(seed=0, n_genes=60, rank=3):
    """Rewards that are exactly rowmean + G0 M G0[target]^T: the linear model's own generative form."""
    rng = np.random.default_rng(seed)
    G0 = rng.normal(size=(n_genes, rank))
    M = rng.normal(size=(rank, rank))
    targets = np.arange(n_genes)
    rowmean = rng.uniform(1, 2, n_genes)
    R = rowmean[:, None] + G0 @ M @ G0[targets].T
    return R, targets


def test_linear_recovers_bilinear_structure_where_mean_cannot():
    R, targets = _bilinear_screen()
    held = np.arange(0, 60, 5)
    train = np.setdiff1d(np.arange(60), held)
    pred = predict_linear(R[:, train], targets[train], targets[held])
    mean = predict_mean(R[:, train], held.size)
    r_lin = [spearman(pred[:, j] - R[:, train].mean(1), R[:, h] - R[:, train].mean(1)) for j, h in enumerate(held)]
    assert np.mean(r_lin) > 0.95
    err_lin = np.abs(pred - R[:, held]).mean()
    err_mean = np.abs(mean - R[:, held]).mean()
    assert err_lin < 0.3 * err_mean


def test_linear_unmeasured_target_falls_back_to_mean():
    R, targets = _bilinear_screen()
    pred = predict_linear(R[:, :30], targets[:30], np.array([-1, 40]))
    np.testing.assert_allclose(pred[:, 0], R[:, :30].mean(1))
    assert not np.allclose(pred[:, 1], R[:, :30].mean(1))


def test_linear_rank_capped_and_finite():
    R = np.random.default_rng(1).normal(size=(20, 3))
    G, W, rowmean = fit_linear(R, np.array([0, 1, 2]), k=10)
    assert G.shape[1] <= 2  # 3 centred columns have rank <= 2
    assert np.isfinite(W).all() and np.isfinite(G).all()


def test_baselines_never_read_heldout_columns():
    R, targets = _bilinear_screen(seed=3)
    held = np.array([2, 7, 11])
    train = np.setdiff1d(np.arange(60), held)
    corrupted = R.copy()
    corrupted[:, held] = 1e6
    a = predict_linear(R[:, train], targets[train], targets[held])
    b = predict_linear(corrupted[:, train], targets[train], targets[held])
    np.testing.assert_array_equal(a, b)


def _degrees(n, i, j):
    return np.bincount(np.concatenate([i, j]), minlength=n)


def test_rewire_preserves_degrees_and_changes_edges():
    rng = np.random.default_rng(0)
    n = 40
    pairs = {tuple(sorted(rng.choice(n, 2, replace=False))) for _ in range(120)}
    i, j = map(np.asarray, zip(*sorted(pairs), strict=True))
    w = rng.uniform(size=i.size)
    ni, nj, nw = rewire(n, i, j, w, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(_degrees(n, i, j), _degrees(n, ni, nj))
    assert (ni != nj).all()
    new = {tuple(sorted(e)) for e in zip(ni.tolist(), nj.tolist(), strict=True)}
    assert len(new) == i.size  # no duplicate edges
    assert len(new & pairs) < 0.5 * len(pairs)  # most edges moved
    np.testing.assert_array_equal(nw, w)
    again = rewire(n, i, j, w, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(again[0], ni)  # seeded


@pytest.mark.parametrize("m", [0, 1])
def test_rewire_tiny_graph(m):
    i = np.arange(m)
    ni, nj, _ = rewire(3, i, i + 1, np.ones(m), rng=np.random.default_rng(0))
    np.testing.assert_array_equal(ni, i)


def _trained_stub(with_extra=True, key="X_poincare"):
    rng = np.random.default_rng(0)
    a = ad.AnnData(np.zeros((2, 12)))
    a.varm[key] = rng.uniform(-0.5, 0.5, (12, 2))
    train = {"params": {}, "perturbation_embedding": rng.uniform(-0.5, 0.5, (6, 2))}
    if with_extra:
        train["extra_embedding"] = rng.uniform(-0.5, 0.5, (4, 2))
    a.uns["hyperperturb"] = {"train": {**train, "schema": SCHEMA_VERSIONS["train"]}}
    return a


def _same_rows(x, y):
    return np.array_equal(np.sort(x, axis=0), np.sort(y, axis=0)) and sorted(map(tuple, x)) == sorted(map(tuple, y))


def test_permute_embedding_keeps_the_points_moves_them_and_is_seeded():
    a = _trained_stub()
    before = a.copy()
    keys = permute_embedding(a, seed=3)
    assert keys == ["varm:X_poincare", "train:extra_embedding", "train:perturbation_embedding"]
    tr, tr0 = a.uns["hyperperturb"]["train"], before.uns["hyperperturb"]["train"]
    for new, old in (
        (a.varm["X_poincare"], before.varm["X_poincare"]),
        (tr["extra_embedding"], tr0["extra_embedding"]),
        (tr["perturbation_embedding"], tr0["perturbation_embedding"]),
    ):
        assert _same_rows(new, old)  # the same points (hence the same radii distribution)...
        assert not np.array_equal(new, old)  # ...on other nodes
    b = before.copy()
    permute_embedding(b, seed=3)
    np.testing.assert_array_equal(b.varm["X_poincare"], a.varm["X_poincare"])
    np.testing.assert_array_equal(
        b.uns["hyperperturb"]["train"]["perturbation_embedding"], tr["perturbation_embedding"]
    )


def test_permute_embedding_missing_keys():
    a = _trained_stub(with_extra=False)
    assert permute_embedding(a, seed=0) == ["varm:X_poincare", "train:perturbation_embedding"]
    empty = ad.AnnData(np.zeros((2, 3)))
    with pytest.raises(KeyError, match="trained model"):
        permute_embedding(empty, seed=0)
    empty.uns["hyperperturb"] = {"train": {"params": {}, "schema": SCHEMA_VERSIONS["train"]}}
    with pytest.raises(KeyError, match="no stored positions"):
        permute_embedding(empty, seed=0)


def test_directed_rewire_keeps_in_and_out_degrees_and_the_shuffled_copy_rewires_the_directed_edges():
    import pandas as pd

    import hyperperturb as hp
    from hyperperturb.tl._evaluation._baselines import shuffled_network_copy

    rng = np.random.default_rng(0)
    n = 40
    i = rng.integers(0, n, 120)
    j = rng.integers(0, n, 120)
    keep = i != j
    pairs = sorted(set(zip(i[keep].tolist(), j[keep].tolist(), strict=True)))
    i, j = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    w = rng.choice([-1.0, 1.0], i.size)
    ni, nj, nw = rewire(n, i, j, w, rng=np.random.default_rng(1), directed=True)
    np.testing.assert_array_equal(np.bincount(ni, minlength=n), np.bincount(i, minlength=n))  # out-degrees
    np.testing.assert_array_equal(np.bincount(nj, minlength=n), np.bincount(j, minlength=n))  # in-degrees
    assert len(set(zip(ni.tolist(), nj.tolist(), strict=True))) == i.size and (ni != nj).all()
    assert (ni != i).any() or (nj != j).any()
    np.testing.assert_array_equal(nw, w)  # signs travel with their edges
    a = ad.AnnData(np.zeros((3, n), np.float32), var=pd.DataFrame(index=[f"g{k}" for k in range(n)]))
    names = np.array(a.var_names)
    hp.pp.gene_network(a, pd.DataFrame({"source": names[i], "target": names[j], "weight": w}))
    b = shuffled_network_copy(a, seed=0)
    D0, D1 = a.varp["hp_adjacency_directed"].toarray(), b.varp["hp_adjacency_directed"].toarray()
    assert not np.array_equal(D0, D1)
    np.testing.assert_array_equal((D0 != 0).sum(1), (D1 != 0).sum(1))
    assert "hp_adjacency_sign" not in b.varp and "hp_adjacency_sign" in a.varp
