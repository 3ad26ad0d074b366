from __future__ import annotations

import anndata as ad
import dask.array as da
import mudata as md
import numpy as np
import pandas as pd
import pytest
from anndata import AnnData
from scipy import sparse

import hyperperturb as hp
from hyperperturb._utils import get_ledger, record

from ._helpers import assert_unchanged, snapshot, tiny_screen


def _expected(a: AnnData) -> tuple[np.ndarray, np.ndarray]:
    X = a.X.toarray() if sparse.issparse(a.X) else np.asarray(a.X)
    ctrl = (a.obs.perturbation == "non-targeting").to_numpy()
    mean = X[ctrl].mean(0)
    return mean, X - mean


@pytest.mark.parametrize("fmt", ["csr", "csc", "dense", "dask"])
def test_values_all_formats(fmt):
    a = tiny_screen()
    mean, lfc = _expected(a)
    if fmt == "csc":
        a.X = sparse.csc_matrix(a.X)
    elif fmt == "dense":
        a.X = a.X.toarray()
    elif fmt == "dask":
        a.X = da.from_array(a.X.toarray(), chunks=(7, 8))
    hp.pp.perturbations(a, ignore="multiple")
    hp.pp.log_fold_change(a, chunk_size=5)
    np.testing.assert_allclose(a.var["hp_control_mean"].to_numpy(), mean, rtol=1e-6)
    assert a.obsm["log_fold_change"].dtype == np.float32
    np.testing.assert_allclose(a.obsm["log_fold_change"], lfc, rtol=1e-5, atol=1e-6)
    led = get_ledger(a)["log_fold_change"]
    assert led["layer"] == "X" and led["n_control"] == 6


def test_backed(tmp_path):
    a = tiny_screen()
    hp.pp.perturbations(a, ignore="multiple")
    a.write_h5ad(tmp_path / "a.h5ad")
    b = ad.read_h5ad(tmp_path / "a.h5ad", backed="r")
    hp.pp.log_fold_change(b, chunk_size=4)
    mean, lfc = _expected(a)
    np.testing.assert_allclose(b.var["hp_control_mean"].to_numpy(), mean, rtol=1e-6)
    np.testing.assert_allclose(b.obsm["log_fold_change"], lfc, rtol=1e-5, atol=1e-6)
    b.file.close()


def test_layer_and_preprocess_layer():
    a = tiny_screen()
    a.layers["lognorm"] = a.X.copy()
    a.X = a.X.toarray() * 3 - 1  # scaled-looking
    hp.pp.perturbations(a, ignore="multiple")
    with pytest.warns(UserWarning, match="negative"):
        hp.pp.log_fold_change(a)
    record(a, "preprocess", {"layer": "lognorm"})
    hp.pp.log_fold_change(a)
    assert get_ledger(a)["log_fold_change"]["layer"] == "lognorm"
    b = tiny_screen()
    np.testing.assert_allclose(a.var["hp_control_mean"].to_numpy(), _expected(b)[0], rtol=1e-6)


def test_raw_counts_warn():
    a = tiny_screen(counts=True)
    a.X = a.X * 20
    hp.pp.perturbations(a, ignore="multiple")
    with pytest.warns(UserWarning, match="raw counts.*normalize_total"):
        hp.pp.log_fold_change(a)


def test_max_gb_warning():
    a = tiny_screen()
    hp.pp.perturbations(a, ignore="multiple")
    with pytest.warns(UserWarning, match="GB"):
        hp.pp.log_fold_change(a, max_gb=1e-9)


def test_requires_perturbations():
    a = tiny_screen()
    before = snapshot(a)
    with pytest.raises(KeyError, match="hp.pp.perturbations"):
        hp.pp.log_fold_change(a)
    assert_unchanged(a, before)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_raises(bad):
    a = tiny_screen()
    hp.pp.perturbations(a, ignore="multiple")
    X = a.X.toarray()
    X[3, 2] = bad
    a.X = sparse.csr_matrix(X)
    before = snapshot(a)
    with pytest.raises(ValueError, match="NaN or infinite"):
        hp.pp.log_fold_change(a)
    assert_unchanged(a, before)


def test_mudata_protein_modality():
    rna = tiny_screen()
    rng = np.random.default_rng(1)
    P = rng.normal(size=(rna.n_obs, 3)).astype(np.float32)
    prot = AnnData(P[::-1].copy(), obs=pd.DataFrame(index=rna.obs_names[::-1]))
    prot.var_names = ["CD4", "CD8", "CD14"]
    mdata = md.MuData({"rna": rna, "prot": prot})
    hp.pp.perturbations(mdata, ignore="multiple")
    hp.pp.log_fold_change(mdata)
    ctrl = (rna.obs.perturbation == "non-targeting").to_numpy()
    np.testing.assert_allclose(mdata["prot"].var["hp_control_mean"].to_numpy(), P[ctrl].mean(0), rtol=1e-5)
    assert mdata["prot"].obsm["log_fold_change"].shape == (rna.n_obs, 3)
    assert "log_fold_change" in mdata["rna"].obsm


def test_anndata_obsm_protein():
    a = tiny_screen()
    rng = np.random.default_rng(2)
    P = rng.normal(size=(a.n_obs, 2))
    a.obsm["protein"] = pd.DataFrame(P, index=a.obs_names, columns=["CD4", "CD8"])
    hp.pp.perturbations(a, ignore="multiple")
    hp.pp.log_fold_change(a)
    prot = get_ledger(a)["log_fold_change"]["protein"]
    assert list(prot["names"]) == ["CD4", "CD8"]
    ctrl = a.obs["hp_control"].to_numpy()
    np.testing.assert_allclose(prot["control_mean"], P[ctrl].mean(0))


def test_copy():
    a = tiny_screen()
    hp.pp.perturbations(a, ignore="multiple")
    before = snapshot(a)
    b = hp.pp.log_fold_change(a, copy=True)
    assert_unchanged(a, before)
    assert "log_fold_change" in b.obsm
