"""Bad-input matrix for ``hp.pp.perturbations`` and ``hp.pp.gene_network``.

Every failing case checks the error type, the message, and that the object is exactly as before the call.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from anndata import AnnData
from scipy import sparse

import hyperperturb as hp
from hyperperturb._utils import get_ledger

from ._data import CONTROL, screen
from ._snapshot import assert_unchanged, snapshot


def _fails(fn, adata, exc, match, *args, **kwargs):
    snap = snapshot(adata)
    with pytest.raises(exc, match=match):
        fn(adata, *args, **kwargs)
    assert_unchanged(adata, snap)


# ---------------------------------------------------------------------------------------------- wrong objects


@pytest.mark.parametrize(
    "obj",
    [
        [[1.0, 2.0], [3.0, 4.0]],
        pd.DataFrame({"a": [1.0, 2.0]}),
        np.ones((3, 3)),
        sparse.csr_matrix(np.ones((3, 3))),
        None,
        "screen.h5ad",
    ],
    ids=["list", "DataFrame", "ndarray", "csr", "None", "path"],
)
@pytest.mark.parametrize("fn", ["perturbations", "gene_network"])
def test_pp_wrong_type(obj, fn):
    with pytest.raises(TypeError, match="must be an AnnData or a MuData"):
        getattr(hp.pp, fn)(obj)


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0, 0)])
@pytest.mark.parametrize("fn", ["perturbations", "gene_network"])
def test_pp_empty(shape, fn):
    a = AnnData(np.zeros(shape, dtype=np.float32))
    if shape[0]:
        a.obs["perturbation"] = CONTROL
    _fails(getattr(hp.pp, fn), a, ValueError, "empty")


# ---------------------------------------------------------------------------------------------- perturbations


def test_no_controls():
    a = screen()
    _fails(hp.pp.perturbations, a, ValueError, r"No control cells.*values are", control="scrambled")


def test_only_controls():
    a = screen()
    a.obs["perturbation"] = CONTROL
    _fails(hp.pp.perturbations, a, ValueError, "No perturbed cells")


def test_one_cell():
    a = screen()[:1].copy()
    _fails(hp.pp.perturbations, a, ValueError, "No perturbed cells")


def test_one_gene_works():
    a = screen(n_genes=1, perts=("G0",))
    hp.pp.perturbations(a)
    assert a.obsm["perturbation_target"].shape == (a.n_obs, 1)


def test_missing_key_column():
    a = screen()
    _fails(hp.pp.perturbations, a, KeyError, r"Column 'guide' not found in obs", key="guide")


def test_min_cells_names_the_small_ones():
    a = screen(n_per=3)
    _fails(hp.pp.perturbations, a, ValueError, r"fewer than min_cells=4.*ignore=", min_cells=4)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "3"])
def test_bad_min_cells(bad):
    _fails(hp.pp.perturbations, screen(), ValueError, "min_cells", min_cells=bad)


def test_control_and_ignore_overlap():
    _fails(hp.pp.perturbations, screen(), ValueError, "both in `control=` and `ignore=`", ignore=CONTROL)


def _labels_as(kind: str, labels: list[str]) -> pd.Series:
    codes = {lab: i for i, lab in enumerate(dict.fromkeys(labels))}
    if kind == "categorical":
        return pd.Series(pd.Categorical(labels))
    if kind == "string":
        return pd.Series(labels, dtype=object)
    if kind == "pd_string":
        return pd.Series(labels, dtype="string")
    return pd.Series([codes[lab] for lab in labels])  # integer labels; control is code 0


@pytest.mark.parametrize("kind", ["categorical", "string", "pd_string", "integer"])
def test_label_dtypes_all_work_and_agree(kind):
    ref = screen()
    hp.pp.perturbations(ref)
    a = screen()
    a.obs["perturbation"] = _labels_as(kind, list(ref.obs["perturbation"].astype(str))).to_numpy()
    control = 0 if kind == "integer" else CONTROL
    hp.pp.perturbations(a, control=control)
    P, Q = ref.obsm["perturbation_target"], a.obsm["perturbation_target"]
    assert P.shape == Q.shape
    # same partition of cells (column names may differ for integer codes)
    assert (np.asarray(P.sum(1)).ravel() == np.asarray(Q.sum(1)).ravel()).all()
    assert (a.obs["hp_control"].to_numpy() == ref.obs["hp_control"].to_numpy()).all()
    assert list(get_ledger(a)["perturbations"]["n_cells"]) == list(get_ledger(ref)["perturbations"]["n_cells"])


def test_nan_labels_are_excluded_with_a_warning():
    a = screen()
    lab = a.obs["perturbation"].astype(object).to_numpy()
    lab[[0, -1]] = np.nan
    a.obs["perturbation"] = lab
    with pytest.warns(UserWarning, match=r"2 cell\(s\) have no label"):
        hp.pp.perturbations(a)
    P = a.obsm["perturbation_target"]
    assert P[0].nnz == 0 and P[a.n_obs - 1].nnz == 0
    assert get_ledger(a)["perturbations"]["n_missing"] == 2


def test_all_nan_labels():
    a = screen()
    a.obs["perturbation"] = np.nan
    snap = snapshot(a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="No control cells"):
            hp.pp.perturbations(a)
    assert_unchanged(a, snap)


def test_duplicated_obs_names_rejected_or_positional():
    a = screen()
    a.obs_names = ["c0"] * a.n_obs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hp.pp.perturbations(a)  # the design is positional: duplicated cell names do not matter
    assert a.obsm["perturbation_target"].shape[0] == a.n_obs


def test_coo_never_reaches_hyperperturb():
    # anndata itself refuses COO (and so never hands one to hyperperturb); the advice is to call .tocsr()
    with pytest.raises(ValueError, match="Only CSR and CSC"):
        screen(fmt="coo")


# scipy.sparse has no float16, so float16 only exists as a dense X
FORMATS = [
    (fmt, dt)
    for fmt in ("csr", "csc", "dense")
    for dt in (np.float32, np.float64, np.float16, np.int32)
    if not (dt is np.float16 and fmt != "dense")
]


@pytest.mark.parametrize(("fmt", "dtype"), FORMATS)
def test_matrix_formats_do_not_matter(fmt, dtype):
    a = screen(fmt=fmt, dtype=dtype)
    hp.pp.perturbations(a)
    assert a.obsm["perturbation_target"].shape == (a.n_obs, 3)


def test_backed(tmp_path):
    p = tmp_path / "s.h5ad"
    screen().write_h5ad(p)
    import anndata as ad

    a = ad.read_h5ad(p, backed="r")
    hp.pp.perturbations(a)
    assert a.obsm["perturbation_target"].shape == (a.n_obs, 3)
    a.file.close()


def test_copy_leaves_input_untouched():
    a = screen()
    snap = snapshot(a)
    out = hp.pp.perturbations(a, copy=True)
    assert_unchanged(a, snap)
    assert "perturbation_target" in out.obsm
