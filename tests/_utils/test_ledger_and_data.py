import numpy as np
import pandas as pd
import pytest
from anndata import AnnData

from hyperperturb._utils import (
    check_finite_matrix,
    check_unique_names,
    get_ledger,
    record,
    require_step,
    resolve,
    sanitize_for_h5ad,
)


def _adata(n_obs=4, n_vars=3):
    return AnnData(np.ones((n_obs, n_vars), dtype=np.float32))


@pytest.mark.parametrize("bad", [[1, 2], pd.DataFrame({"a": [1]}), np.zeros((2, 2)), None])
def test_resolve_rejects_non_anndata(bad):
    with pytest.raises(TypeError, match="must be an AnnData or a MuData"):
        resolve(bad)


def test_resolve_empty():
    with pytest.raises(ValueError, match="empty"):
        resolve(AnnData(np.zeros((0, 3))))


def test_resolve_mudata_modality():
    import mudata as md

    m = md.MuData({"rna": _adata(), "prot": _adata(n_vars=2)})
    t = resolve(m, mod="rna")
    assert t.adata is m.mod["rna"]
    with pytest.raises(KeyError, match="modalities are"):
        resolve(m, mod="gex")
    t2 = t.copy()
    assert t2.adata is not t.adata and t2.adata.shape == t.adata.shape


def test_record_and_require(tmp_path):
    a = _adata()
    with pytest.raises(KeyError, match="hp.pp.perturbations"):
        require_step(a, "perturbations", needed_by="hp.tl.rewards")
    record(a, "perturbations", {"names": ["A", "B"], "n_cells": [3, 4], "params": {"ignore": None, "x": (1, 2)}})
    entry = require_step(a, "perturbations", needed_by="test")
    assert entry["names"] == ["A", "B"]
    assert entry["params"]["ignore"] == "None"
    assert "version" in a.uns["hyperperturb"]
    a.write_h5ad(tmp_path / "a.h5ad")
    import anndata as ad

    b = ad.read_h5ad(tmp_path / "a.h5ad")
    assert list(b.uns["hyperperturb"]["perturbations"]["names"]) == ["A", "B"]


def test_newer_version_warns():
    a = _adata()
    a.uns["hyperperturb"] = {"version": "999.0.0"}
    with pytest.warns(UserWarning, match="newer than the installed"):
        get_ledger(a)


def test_ledger_not_a_dict():
    a = _adata()
    a.uns["hyperperturb"] = "junk"
    with pytest.raises(TypeError, match="not a dict"):
        get_ledger(a)


def test_sanitize():
    out = sanitize_for_h5ad({1: np.float32(2.5), "t": ("a", "b"), "o": np.array(["x", 1], dtype=object)})
    assert out == {"1": 2.5, "t": ["a", "b"], "o": out["o"]}
    assert out["o"].dtype.kind == "U"


def test_check_finite_and_unique():
    from scipy import sparse

    X = np.ones((5, 2))
    check_finite_matrix(X)
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        check_finite_matrix(X, chunk_size=2)
    S = sparse.csr_matrix(np.array([[0, np.inf], [1, 0]]))
    with pytest.raises(ValueError, match="NaN or infinite"):
        check_finite_matrix(S)
    a = _adata()
    a.var_names = ["g", "g", "h"]
    with pytest.raises(ValueError, match="var_names_make_unique"):
        check_unique_names(a)
