from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from anndata import AnnData
from scipy import sparse

import hyperperturb as hp
from hyperperturb._utils import get_ledger

from ._helpers import assert_unchanged, snapshot


def _counts(n_cells=300, n_genes=60, seed=0) -> AnnData:
    rng = np.random.default_rng(seed)
    labels = np.array(["non-targeting"] * 100 + ["G1"] * 80 + ["G2"] * 80 + ["RARE"] * 40)[:n_cells]
    lam = rng.gamma(1.0, 2.0, size=n_genes)
    X = rng.poisson(lam, size=(n_cells, n_genes)).astype(np.float32)
    a = AnnData(
        sparse.csr_matrix(X), obs=pd.DataFrame({"perturbation": labels}, index=[f"c{i}" for i in range(n_cells)])
    )
    a.var_names = [f"G{i}" for i in range(n_genes)]
    return a


@pytest.mark.slow  # the kNN graph compiles pynndescent on first use
def test_pipeline_keeps_targets_and_layer():
    a = _counts()
    hp.pp.preprocess(a, n_top_genes=10, n_pcs=5, n_neighbors=5, perturbation_key="perturbation")
    led = get_ledger(a)["preprocess"]
    assert led["layer"] == "hp_lognorm"
    assert {"G1", "G2"} <= set(a.var_names)  # measured targets kept even if not highly variable
    n_hvg = int(a.var["highly_variable"].sum())
    assert 10 <= n_hvg <= 12  # seurat flavour may keep ties
    assert a.n_vars <= n_hvg + 2
    assert "X_pca" in a.obsm and a.obsm["X_pca"].shape[1] == 5
    assert "connectivities" in a.obsp
    L = a.layers["hp_lognorm"]
    L = L.toarray() if sparse.issparse(L) else L
    assert L.min() >= 0 and not np.allclose(L, np.round(L))
    X = a.X.toarray() if sparse.issparse(a.X) else a.X
    assert X.max() <= 10 + 1e-6
    # fold changes default to the recorded layer
    hp.pp.perturbations(a)
    hp.pp.log_fold_change(a)
    assert get_ledger(a)["log_fold_change"]["layer"] == "hp_lognorm"


def test_max_cells_stratified_seeded():
    a = _counts()
    b = hp.pp.preprocess(
        a, max_cells=30, perturbation_key="perturbation", n_top_genes=20, n_pcs=5, neighbors=False, copy=True
    )
    c = hp.pp.preprocess(
        a, max_cells=30, perturbation_key="perturbation", n_top_genes=20, n_pcs=5, neighbors=False, copy=True
    )
    assert b.n_obs <= 30
    assert set(b.obs.perturbation) == {"non-targeting", "G1", "G2", "RARE"}
    assert list(b.obs_names) == list(c.obs_names)  # same seed, same cells
    assert list(b.obs_names) != list(a.obs_names[: b.n_obs])  # not the first N cells
    d = hp.pp.preprocess(a, max_cells=30, perturbation_key="perturbation", n_top_genes=20, n_pcs=5, seed=1, copy=True)
    assert list(d.obs_names) != list(b.obs_names)
    assert a.n_obs == 300  # copy=True leaves the input


def test_small_panel_not_wiped_out():
    a = _counts(n_genes=30)
    hp.pp.preprocess(a, n_pcs=5)  # min_genes=200 > 30 genes: adapted, cells kept
    assert a.n_obs > 250
    assert get_ledger(a)["preprocess"]["min_genes_used"] <= 3


def test_warns_on_non_counts():
    a = _counts()
    a.X = a.X * 0.5
    with pytest.warns(UserWarning, match="raw counts"):
        hp.pp.preprocess(a, n_top_genes=10, n_pcs=5)


def test_errors_leave_object_unchanged():
    a = _counts()
    before = snapshot(a)
    with pytest.raises(KeyError, match="obs columns"):
        hp.pp.preprocess(a, perturbation_key="guide")
    empty = a.copy()
    X = empty.X.toarray()
    X[2:] = 0
    empty.X = sparse.csr_matrix(X)
    before_empty = snapshot(empty)
    with pytest.raises(ValueError, match="Filtering left 2 of 300 cells"):
        hp.pp.preprocess(empty)
    assert_unchanged(empty, before_empty)
    with pytest.raises(ValueError, match="max_cells"):
        hp.pp.preprocess(a, max_cells=1)
    X = a.X.toarray()
    X[0, 0] = np.nan
    b = a.copy()
    b.X = sparse.csr_matrix(X)
    with pytest.raises(ValueError, match="NaN"):
        hp.pp.preprocess(b)
    assert_unchanged(a, before)
    dup = _counts()
    dup.var_names = ["G0"] * 2 + [f"G{i}" for i in range(2, 60)]
    with pytest.raises(ValueError, match="unique"):
        hp.pp.preprocess(dup)


def test_neighbors_can_be_skipped():
    a = _counts()
    b = hp.pp.preprocess(a, n_top_genes=10, n_pcs=5, neighbors=False, copy=True)
    assert "X_pca" in b.obsm
    assert "connectivities" not in b.obsp
    assert get_ledger(b)["preprocess"]["params"]["neighbors"] is False


def test_message_counts_only_targets_added_on_top_of_the_hvgs(capsys):
    from hyperperturb._utils._log import override_verbosity

    a = _counts()
    with override_verbosity(2):  # every gene is an HVG: no target is added on top of them
        hp.pp.preprocess(a, n_top_genes=a.n_vars, n_pcs=5, neighbors=False, perturbation_key="perturbation")
    err = capsys.readouterr().err
    assert f"({a.n_vars} HVGs + 0 perturbation targets kept although not highly variable" in err
    b = _counts()
    with override_verbosity(2):
        hp.pp.preprocess(b, n_top_genes=5, n_pcs=3, neighbors=False, perturbation_key="perturbation")
    err = capsys.readouterr().err
    n_hvg = int(b.var["highly_variable"].sum())
    assert f"({n_hvg} HVGs + {b.n_vars - n_hvg} perturbation targets kept" in err
