from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import hyperperturb as hp

_spec = importlib.util.spec_from_file_location("hp_test_trained", Path(__file__).parents[1] / "pl" / "_trained.py")
_trained = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_trained)
make_trained = _trained.make_trained


def test_columns_radius_and_extra_nodes():
    ad = make_trained(20, dim=3)
    df = hp.get.embedding(ad)
    assert list(df.columns) == ["x0", "x1", "x2", "radius", "value", "measured"]
    assert len(df) == 20 + 2
    assert df.index[:20].tolist() == ad.var_names.tolist()
    assert df.index[20:].tolist() == _trained.EXTRA_NODES
    assert df["measured"].sum() == 20 and not df["measured"].iloc[20:].any()
    np.testing.assert_allclose(df[["x0", "x1", "x2"]].to_numpy()[:20], ad.varm["X_poincare"])
    norm = np.linalg.norm(ad.varm["X_poincare"], axis=1)
    np.testing.assert_allclose(df["radius"].iloc[:20], 2 * np.arctanh(norm))
    np.testing.assert_allclose(df["value"].iloc[:20], ad.var["hp_value"])
    assert df["value"].iloc[20:].isna().all()  # unmeasured nodes have no prediction (documented)
    assert len(hp.get.embedding(ad, extra_nodes=False)) == 20


def test_curvature_and_basis_aliases():
    ad = make_trained(10, curvature=4.0)
    df = hp.get.embedding(ad, basis="poincare")
    norm = np.linalg.norm(ad.varm["X_poincare"], axis=1)
    np.testing.assert_allclose(df["radius"].iloc[:10], 2 / 2.0 * np.arctanh(2.0 * norm))
    # training writes its map under one key: a map moved to another key is not guessed, the error names the keys
    ad.varm["X_hp"] = ad.varm["X_poincare"]
    del ad.varm["X_poincare"]
    with pytest.raises(KeyError, match="X_hp"):
        hp.get.embedding(ad, extra_nodes=False)
    assert len(hp.get.embedding(ad, basis="X_hp", extra_nodes=False)) == 10


def test_nan_rows_dropped_and_euclidean():
    ad = make_trained(10)
    ad.varm["X_poincare"][2] = np.nan
    df = hp.get.embedding(ad, extra_nodes=False)
    assert "IRF1" not in df.index  # row 2
    assert len(df) == 9 and np.isfinite(df["radius"]).all()
    ad.uns["hyperperturb"]["train"]["params"]["geometry"] = "euclidean"
    df = hp.get.embedding(ad, extra_nodes=False)
    np.testing.assert_allclose(df["radius"], np.linalg.norm(df[["x0", "x1"]].to_numpy(), axis=1))


def test_errors():
    ad = make_trained(10)
    ad.varm["X_poincare"][0] = [0.9, 0.9]
    with pytest.raises(ValueError, match="outside"):
        hp.get.embedding(ad)
    with pytest.raises(KeyError, match="available keys"):
        hp.get.embedding(ad, basis="X_umap")
    del ad.varm["X_poincare"]
    del ad.uns["hyperperturb"]["train"]
    with pytest.raises(KeyError, match=r"hp\.tl\.train"):
        hp.get.embedding(ad)


@pytest.mark.parametrize(("geometry", "curvature"), [("poincare", 4.0), ("poincare", 0.01), ("euclidean", 1.0)])
def test_a_network_map_is_read_with_its_own_geometry_and_curvature(geometry, curvature):
    """hp.tl.embed_network records its geometry and curvature; the radius used training's (c = 1, ball) before."""
    import scanpy as sc

    a = hp.datasets.synthetic(n_cells=300, n_genes=40, n_perturbations=4, seed=0, verbose=False)
    sc.pp.normalize_total(a)
    sc.pp.log1p(a)
    hp.pp.gene_network(a, hp.datasets.truth_network(a))
    hp.tl.embed_network(a, dim=2, epochs=20, seed=0, geometry=geometry, curvature=curvature)
    E = np.asarray(a.varm["X_poincare_network"], dtype=np.float64)
    norm = np.linalg.norm(E, axis=1)
    want = norm if geometry == "euclidean" else 2 / np.sqrt(curvature) * np.arctanh(np.sqrt(curvature) * norm)
    df = hp.get.embedding(a, basis="X_poincare_network")
    np.testing.assert_allclose(df.loc[list(a.var_names), "radius"].to_numpy(), want, rtol=1e-10)
