"""Property-based fuzzing of ``hp.pp.perturbations`` + ``hp.tl.rewards`` against a plain NumPy reference."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from anndata import AnnData
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse

import hyperperturb as hp
from hyperperturb._utils import get_ledger

from ._data import reference_rewards


@st.composite
def screens(draw):
    n_genes = draw(st.integers(1, 9))
    n_perts = draw(st.integers(1, 4))
    pert_names = draw(
        st.lists(st.text("ABCXYZ-_0123", min_size=1, max_size=4), min_size=n_perts, max_size=n_perts, unique=True)
    )
    pert_names = [f"p{p}" for p in pert_names]
    n_ctrl_labels = draw(st.integers(1, 2))
    controls = ["NT", "safe"][:n_ctrl_labels]
    with_ignore = draw(st.booleans())
    pool = [*controls, *pert_names, *(["multi"] if with_ignore else [])]
    # every control label and perturbation present at least once, plus random extra cells
    extra = draw(st.lists(st.sampled_from(pool), min_size=0, max_size=25))
    labels = [*controls, *pert_names, *extra]
    order = draw(st.permutations(range(len(labels))))
    labels = [labels[i] for i in order]
    density = draw(st.sampled_from([0.0, 0.2, 0.6, 1.0]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    X = rng.normal(0.0, 2.0, size=(len(labels), n_genes)) * (rng.random((len(labels), n_genes)) < density)
    fmt = draw(st.sampled_from(["csr", "csc", "dense"]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    X = X.astype(dtype)
    signed = draw(st.booleans())
    label_kind = draw(st.sampled_from(["categorical", "object"]))
    return labels, controls, (["multi"] if with_ignore else []), X, fmt, signed, label_kind


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(screens())
def test_rewards_match_numpy_reference(case):
    labels, controls, ignore, X, fmt, signed, label_kind = case
    obs = pd.DataFrame(
        {"perturbation": pd.Categorical(labels) if label_kind == "categorical" else np.asarray(labels, dtype=object)},
        index=[f"c{i}" for i in range(len(labels))],
    )
    M = {"csr": sparse.csr_matrix, "csc": sparse.csc_matrix, "dense": np.asarray}[fmt](X)
    a = AnnData(M, obs=obs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hp.pp.perturbations(a, control=controls, ignore=ignore or None)
        hp.tl.rewards(a, signed=signed, verbose=False, chunk_size=7, statistic="mean_abs_lfc")
    names, cm, R = reference_rewards(X, np.asarray(labels, dtype=object), controls, ignore, signed=signed)
    led = get_ledger(a)
    assert list(led["rewards"]["perturbations"]) == names
    tol = 1e-5 if X.dtype == np.float32 else 1e-10
    np.testing.assert_allclose(a.var["hp_control_mean"].to_numpy(), cm, rtol=tol, atol=tol)
    np.testing.assert_allclose(a.varm["hp_reward"], R, rtol=tol, atol=tol)
    pol = a.varm["hp_policy_target"]
    assert np.isfinite(pol).all()
    np.testing.assert_allclose(pol.sum(1), 1.0, rtol=1e-9)
    B = a.var["hp_reward_baseline"].to_numpy()
    E = np.abs(R) if signed else np.clip(R - B[:, None], 0, None)  # excess beyond the noise floor
    np.testing.assert_allclose(a.var["hp_value_target"].to_numpy(), E.mean(1), rtol=tol, atol=tol)
    # ignored cells and controls are not in the design; NaN never escapes
    assert a.obsm["perturbation_target"].sum() == sum(lab in names for lab in labels)


@pytest.mark.parametrize("chunks", [(3, 4), (7, 9), (40, 2)])
@pytest.mark.parametrize("signed", [False, True])
def test_dask_and_backed_agree_with_memory(tmp_path, chunks, signed):
    import anndata as ad
    import dask.array as da

    rng = np.random.default_rng(1)
    labels = ["NT"] * 8 + ["A"] * 6 + ["B"] * 5 + ["skip"] * 3 + ["C"] * 7
    X = (rng.normal(size=(len(labels), 9)) * (rng.random((len(labels), 9)) < 0.5)).astype(np.float32)
    obs = pd.DataFrame({"perturbation": labels}, index=[f"c{i}" for i in range(len(labels))])
    ref = AnnData(sparse.csr_matrix(X), obs=obs.copy())
    hp.pp.perturbations(ref, control="NT", ignore="skip")
    hp.tl.rewards(ref, signed=signed, verbose=False)
    for kind in ("dask_dense", "dask_sparse", "backed"):
        if kind == "backed":
            path = tmp_path / f"b{chunks[0]}{signed}.h5ad"
            AnnData(sparse.csr_matrix(X), obs=obs.copy()).write_h5ad(path)
            a = ad.read_h5ad(path, backed="r")
        else:
            d = da.from_array(X, chunks=chunks)
            if kind == "dask_sparse":
                d = d.map_blocks(sparse.csr_matrix, dtype=X.dtype)
            a = AnnData(d, obs=obs.copy())
        hp.pp.perturbations(a, control="NT", ignore="skip")
        hp.tl.rewards(a, signed=signed, verbose=False, chunk_size=chunks[0])
        np.testing.assert_allclose(a.varm["hp_reward"], ref.varm["hp_reward"], rtol=1e-5, atol=1e-6, err_msg=kind)
        np.testing.assert_allclose(a.varm["hp_policy_target"], ref.varm["hp_policy_target"], rtol=1e-5, atol=1e-6)
        if kind == "backed":
            a.file.close()
