from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse

import hyperperturb as hp

CONTROL = "nt"


# ----------------------------------------------------------------------------------------------- helpers


def make_screen(
    n: int = 90, n_genes: int = 12, seed: int = 0, *, negative: bool = False, groups: bool = False
) -> ad.AnnData:
    """Log-normalised-like sparse screen: controls, A, B, C, ignored 'multiple' cells; gene 0 all zero."""
    rng = np.random.default_rng(seed)
    labels = np.array([CONTROL, "A", "B", "C", "multiple"])[np.arange(n) % 5]
    X = np.log1p(rng.poisson(1.0, size=(n, n_genes)) * rng.random((n, n_genes)) * 3).astype(np.float32)
    X[labels == "A", 1] += 2.0  # A moves gene 1
    if negative:
        X = X - X.mean(0)  # scaled-like: negative values, stored zeros where nothing was
        X[rng.random(X.shape) < 0.4] = 0.0
    X[:, 0] = 0.0
    obs = pd.DataFrame({"perturbation": labels}, index=[f"c{i}" for i in range(n)])
    if groups:
        obs["cell_type"] = np.where(np.arange(n) % 2 == 0, "T", "B")
    a = ad.AnnData(sparse.csr_matrix(X), obs=obs, var=pd.DataFrame(index=[f"g{i}" for i in range(n_genes)]))
    hp.pp.perturbations(a, key="perturbation", control=CONTROL, ignore="multiple")
    return a


def dense(X) -> np.ndarray:
    if sparse.issparse(X):
        return X.toarray()
    return np.asarray(X)


def reference(X: np.ndarray, design, control: np.ndarray, *, signed: bool = False):
    """Straightforward dense NumPy: reward (genes x perts), control mean, baseline."""
    X = np.asarray(X, dtype=np.float64)
    D = dense(design) > 0.5
    cm = X[control].mean(0)
    R = np.zeros((X.shape[1], D.shape[1]))
    for p in range(D.shape[1]):
        lfc = X[D[:, p]] - cm
        R[:, p] = lfc.mean(0) if signed else np.abs(lfc).mean(0)
    return R, cm, np.abs(X[control] - cm).mean(0)


def snapshot(a: ad.AnnData) -> dict:
    return {
        "var": list(a.var.columns),
        "varm": sorted(a.varm.keys()),
        "uns": sorted(a.uns.get("hyperperturb", {})),
        "X": dense(a.X).copy(),
    }


def as_format(a: ad.AnnData, fmt: str, tmp_path) -> ad.AnnData:
    X = dense(a.X)
    b = a.copy()
    if fmt == "dense":
        b.X = X
    elif fmt == "csr":
        b.X = sparse.csr_matrix(X)
    elif fmt == "csc":
        b.X = sparse.csc_matrix(X)
    elif fmt in ("backed_csr", "backed_dense"):
        b.X = sparse.csr_matrix(X) if fmt == "backed_csr" else X
        path = tmp_path / f"{fmt}.h5ad"
        b.write_h5ad(path)
        b = ad.read_h5ad(path, backed="r")
    elif fmt == "dask_dense":
        import dask.array as da

        b.X = da.from_array(X, chunks=(17, 5))
    elif fmt == "dask_csr":
        import dask.array as da

        b.X = da.from_array(sparse.csr_matrix(X), chunks=(23, 7))
    return b


FORMATS = ["dense", "csr", "csc", "backed_csr", "backed_dense", "dask_dense", "dask_csr"]


# ----------------------------------------------------------------------------------------------- exactness


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("signed", [False, True])
def test_matches_dense_numpy(fmt, signed, tmp_path):
    a = make_screen(negative=signed)
    b = as_format(a, fmt, tmp_path)
    hp.tl.rewards(b, signed=signed, chunk_size=13, verbose=False, statistic="mean_abs_lfc")
    R, cm, B = reference(dense(a.X), a.obsm["perturbation_target"], a.obs["hp_control"].to_numpy(), signed=signed)
    np.testing.assert_allclose(b.varm["hp_reward"], R, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.var["hp_control_mean"], cm, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.var["hp_reward_baseline"], B, rtol=1e-10, atol=1e-12)
    # value target: mean excess over the noise floor (signed rewards: mean |R|, no floor)
    E = np.abs(R) if signed else np.clip(R - B[:, None], 0, None)
    np.testing.assert_allclose(b.var["hp_value_target"], E.mean(1), rtol=1e-10, atol=1e-12)
    led = b.uns["hyperperturb"]["rewards"]
    assert list(led["perturbations"]) == ["A", "B", "C"]
    np.testing.assert_array_equal(led["n_cells"], [18, 18, 18])
    assert led["n_control"] == 18
    # the gene moved by A has its largest reward under A
    assert np.argmax(np.abs(b.varm["hp_reward"][1])) == 0


def test_ignored_cells_do_not_count():
    a = make_screen()
    hp.tl.rewards(a, verbose=False, statistic="mean_abs_lfc")
    b = a.copy()
    X = b.X.toarray()
    X[b.obs["perturbation"].to_numpy() == "multiple"] = 50.0  # huge values in ignored cells only
    b.X = sparse.csr_matrix(X)
    hp.tl.rewards(b, verbose=False, statistic="mean_abs_lfc")
    np.testing.assert_allclose(a.varm["hp_reward"], b.varm["hp_reward"], rtol=1e-12)


def test_negative_values_sparse_trick_is_exact():
    a = make_screen(negative=True, seed=3)
    assert (a.X.data < 0).any()
    R, cm, B = reference(dense(a.X), a.obsm["perturbation_target"], a.obs["hp_control"].to_numpy())
    assert (cm < 0).any()
    hp.tl.rewards(a, verbose=False, statistic="mean_abs_lfc")
    np.testing.assert_allclose(a.varm["hp_reward"], R, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a.var["hp_reward_baseline"], B, rtol=1e-10, atol=1e-12)


def test_chunk_size_and_duplicate_entries_do_not_matter():
    a = make_screen(seed=5)
    ref = a.copy()
    hp.tl.rewards(ref, verbose=False, statistic="mean_abs_lfc")
    # non-canonical CSR: every stored value split into two duplicate entries (sums to the same matrix)
    X = a.X.tocoo()
    dup = sparse.csr_matrix(
        (np.r_[X.data * 0.25, X.data * 0.75], (np.r_[X.row, X.row], np.r_[X.col, X.col])), shape=X.shape
    )
    dup.has_canonical_format = False
    a.X = dup
    hp.tl.rewards(a, chunk_size=1, verbose=False, statistic="mean_abs_lfc")
    np.testing.assert_allclose(a.varm["hp_reward"], ref.varm["hp_reward"], rtol=1e-9, atol=1e-12)


def test_multi_hot_design_rows():
    a = make_screen()
    D = a.obsm["perturbation_target"].tolil()
    first_a = np.flatnonzero(a.obs["perturbation"].to_numpy() == "A")[:4]
    D[first_a, 1] = 1.0  # these cells carry A and B
    a.obsm["perturbation_target"] = D.tocsr()
    R, *_ = reference(dense(a.X), a.obsm["perturbation_target"], a.obs["hp_control"].to_numpy())
    hp.tl.rewards(a, verbose=False, statistic="mean_abs_lfc")
    np.testing.assert_allclose(a.varm["hp_reward"], R, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(a.uns["hyperperturb"]["rewards"]["n_cells"], [18, 22, 18])


# ----------------------------------------------------------------------------------------------- targets


def test_policy_rows_sum_to_one_and_zero_genes_are_uniform():
    a = make_screen()
    hp.tl.rewards(a, verbose=False, statistic="mean_abs_lfc")
    pol = a.varm["hp_policy_target"]
    np.testing.assert_allclose(pol.sum(1), 1.0, rtol=1e-12)
    assert (pol >= 0).all()
    assert a.var["hp_zero_reward"].dtype == bool
    assert a.var["hp_zero_reward"].tolist() == [True] + [False] * (a.n_vars - 1)
    np.testing.assert_allclose(pol[0], 1 / 3)
    np.testing.assert_array_equal(a.varm["hp_reward"][0], 0.0)
    assert a.uns["hyperperturb"]["rewards"]["n_zero_reward"] == 1
    E = np.clip(a.varm["hp_reward"] - a.var["hp_reward_baseline"].to_numpy()[:, None], 0, None)
    has = E.sum(1) > 0
    np.testing.assert_allclose(pol[has], E[has] / E[has].sum(1, keepdims=True))
    np.testing.assert_allclose(pol[~has], 1 / 3)  # no effect beyond the noise floor: uniform


def test_reward_targets_option_keeps_the_original_definition():
    a = make_screen()
    hp.tl.rewards(a, targets="reward", verbose=False, statistic="mean_abs_lfc")
    R = a.varm["hp_reward"]
    np.testing.assert_allclose(a.varm["hp_policy_target"][1:], R[1:] / R[1:].sum(1, keepdims=True))
    np.testing.assert_allclose(a.var["hp_value_target"], R.mean(1))
    assert a.uns["hyperperturb"]["rewards"]["params"]["targets"] == "reward"
    with pytest.raises(ValueError, match="targets"):
        hp.tl.rewards(make_screen(), targets="zscore", verbose=False)


def test_excess_targets_rank_like_the_excess_not_the_noise_floor():
    a = make_screen()
    hp.tl.rewards(a, verbose=False, statistic="mean_abs_lfc")
    R, B = a.varm["hp_reward"], a.var["hp_reward_baseline"].to_numpy()
    # hand-computed on gene 1: E = max(R - B, 0), normalised
    e = np.clip(R[1] - B[1], 0, None)
    if e.sum() > 0:
        np.testing.assert_allclose(a.varm["hp_policy_target"][1], e / e.sum())
    np.testing.assert_allclose(a.var["hp_value_target"].iloc[1], e.mean())


def test_constant_gene_has_exactly_zero_reward():
    a = make_screen(n_genes=4)
    X = a.X.toarray()
    X[:, 2] = 0.7  # expressed, but identical in every cell
    a.X = sparse.csr_matrix(X)
    hp.tl.rewards(a, verbose=False, statistic="mean_abs_lfc")
    assert a.var["hp_zero_reward"].iloc[2]
    np.testing.assert_array_equal(a.varm["hp_reward"][2], 0.0)


def test_signed_policy_uses_absolute_rewards():
    a = make_screen(negative=True)
    hp.tl.rewards(a, signed=True, verbose=False, statistic="mean_abs_lfc")
    R = a.varm["hp_reward"]
    assert (R < 0).any()
    pol = a.varm["hp_policy_target"]
    ok = ~a.var["hp_zero_reward"].to_numpy()
    np.testing.assert_allclose(pol[ok], np.abs(R[ok]) / np.abs(R[ok]).sum(1, keepdims=True))
    assert (a.var["hp_reward_baseline"] >= 0).all()  # the noise floor is always absolute
    assert (
        a.uns["hyperperturb"]["rewards"]["params"]["signed"] is True
        or a.uns["hyperperturb"]["rewards"]["params"]["signed"] == np.True_
    )


# ----------------------------------------------------------------------------------------------- groupby


def test_groupby_matches_per_group_reference():
    a = make_screen(n=120, groups=True)
    hp.tl.rewards(a, groupby="cell_type", verbose=False, statistic="mean_abs_lfc")
    led = a.uns["hyperperturb"]["rewards"]
    assert sorted(led["groups"]) == ["B", "T"]
    ct = a.obs["cell_type"].to_numpy()
    X = dense(a.X)
    ctrl = a.obs["hp_control"].to_numpy()
    for g in ("B", "T"):
        m = ct == g
        R, cm, B = reference(X[m], a.obsm["perturbation_target"][m], ctrl[m])
        np.testing.assert_allclose(led["groups"][g]["reward"], R, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(led["groups"][g]["control_mean"], cm, rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(
            led["groups"][g]["n_cells"], dense(a.obsm["perturbation_target"][m]).sum(0).astype(int)
        )
    # pooled result is unchanged by groupby
    R, *_ = reference(X, a.obsm["perturbation_target"], ctrl)
    np.testing.assert_allclose(a.varm["hp_reward"], R, rtol=1e-10, atol=1e-12)


def test_groupby_skips_groups_without_controls_and_round_trips(tmp_path):
    a = make_screen(n=100, groups=True)
    ct = a.obs["cell_type"].to_numpy().astype(object)
    ct[(a.obs["perturbation"].to_numpy() == "B") & (np.arange(a.n_obs) < 30)] = "rare"  # no controls
    a.obs["cell_type"] = pd.Categorical(ct)
    with pytest.warns(UserWarning, match="without control cells"):
        hp.tl.rewards(a, groupby="cell_type", verbose=False, statistic="mean_abs_lfc")
    led = a.uns["hyperperturb"]["rewards"]
    assert "rare" not in led["groups"] and list(led["groups_skipped"]) == ["rare"]
    a.write_h5ad(tmp_path / "r.h5ad")
    back = ad.read_h5ad(tmp_path / "r.h5ad")
    led2 = back.uns["hyperperturb"]["rewards"]
    np.testing.assert_allclose(led2["groups"]["T"]["reward"], led["groups"]["T"]["reward"])
    np.testing.assert_allclose(back.varm["hp_reward"], a.varm["hp_reward"])


# ----------------------------------------------------------------------------------------------- protein


def _protein(a: ad.AnnData, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    P = rng.gamma(2.0, 1.0, size=(a.n_obs, 4))
    P[a.obs["perturbation"].to_numpy() == "C", 2] += 3.0
    return np.log1p(P)


@pytest.mark.parametrize("as_frame", [False, True])
def test_protein_in_obsm(as_frame):
    a = make_screen()
    P = _protein(a)
    names = ["CD4", "CD8", "PDL1", "CD86"]
    if as_frame:
        a.obsm["protein"] = pd.DataFrame(P, index=a.obs_names, columns=names)
    else:
        a.obsm["protein"] = P
        a.uns["protein_names"] = np.array(names)
    hp.tl.rewards(a, verbose=False, statistic="mean_abs_lfc")
    prot = a.uns["hyperperturb"]["rewards"]["protein"]
    assert list(prot["names"]) == names
    R, cm, B = reference(P, a.obsm["perturbation_target"], a.obs["hp_control"].to_numpy())
    np.testing.assert_allclose(prot["reward"], R, rtol=1e-10)
    np.testing.assert_allclose(prot["policy_target"].sum(1), 1.0)
    np.testing.assert_allclose(prot["value_target"], np.clip(R - B[:, None], 0, None).mean(1), rtol=1e-10)
    assert np.argmax(prot["reward"][2]) == 2  # C moves PDL1


@pytest.mark.parametrize("names", [["CD86", "PDL1"], ["CD4", "CD8", "PDL1", "CD86", "CD3"]])
def test_protein_names_of_another_length_than_the_columns_are_refused(names):
    a = make_screen()
    a.obsm["protein"] = _protein(a)  # 4 columns
    a.uns["protein_names"] = names
    before = snapshot(a)
    with pytest.raises(
        ValueError, match=rf"'protein_names'\] has {len(names)} name.*has 4 column.*one name per column"
    ):
        hp.tl.rewards(a, verbose=False)
    assert snapshot(a)["varm"] == before["varm"] and snapshot(a)["uns"] == before["uns"]
    assert "rewards" not in a.uns["hyperperturb"] and a.uns["protein_names"] == names


def test_protein_mudata_aligned_by_obs_names():
    md = pytest.importorskip("mudata")
    a = make_screen()
    P = _protein(a)
    order = np.random.default_rng(0).permutation(a.n_obs)[:70]  # shuffled subset of the cells
    prot = ad.AnnData(P[order], obs=pd.DataFrame(index=a.obs_names[order]))
    prot.var_names = ["CD4", "CD8", "PDL1", "CD86"]
    mdata = md.MuData({"rna": a, "prot": prot})
    hp.tl.rewards(mdata, verbose=False, statistic="mean_abs_lfc")
    p = mdata["prot"]
    ctrl = a.obs["hp_control"].to_numpy()[order]
    R, cm, B = reference(P[order], a.obsm["perturbation_target"][order], ctrl)
    np.testing.assert_allclose(p.varm["hp_reward"], R, rtol=1e-10)
    np.testing.assert_allclose(p.var["hp_reward_baseline"], B, rtol=1e-10)
    np.testing.assert_allclose(p.varm["hp_policy_target"].sum(1), 1.0)
    assert "hp_reward" in mdata["rna"].varm
    assert mdata["rna"].uns["hyperperturb"]["rewards"]["protein_mod"] == "prot"
    assert list(p.uns["hyperperturb"]["rewards"]["perturbations"]) == ["A", "B", "C"]


# ----------------------------------------------------------------------------------------------- validation


def test_requires_perturbations_and_leaves_object_untouched():
    a = ad.AnnData(sparse.random(20, 5, density=0.5, format="csr", random_state=0, dtype=np.float32))
    before = snapshot(a)
    with pytest.raises(KeyError, match=r"hp\.pp\.perturbations"):
        hp.tl.rewards(a, verbose=False, statistic="mean_abs_lfc")
    after = snapshot(a)
    assert after["varm"] == before["varm"] and after["var"] == before["var"] and after["uns"] == before["uns"]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["A", CONTROL, "multiple"])
@pytest.mark.parametrize("fmt", ["csr", "dense", "csc", "dask_dense"])
def test_nonfinite_raises_before_writing(bad, where, fmt, tmp_path):
    a = make_screen()
    X = dense(a.X)
    X[np.flatnonzero(a.obs["perturbation"].to_numpy() == where)[2], 3] = bad
    a.X = sparse.csr_matrix(X)
    b = as_format(a, fmt, tmp_path)
    before = snapshot(a)
    with pytest.raises(ValueError, match="NaN or infinite"):
        hp.tl.rewards(b, verbose=False, statistic="mean_abs_lfc")
    if fmt != "dask_dense":
        after = snapshot(b)
        assert after["varm"] == before["varm"] and after["var"] == before["var"] and after["uns"] == before["uns"]
    assert "rewards" not in b.uns["hyperperturb"]


@pytest.mark.parametrize("kind", ["str", "category"])
def test_a_non_boolean_hp_control_is_refused_by_its_dtype(kind):
    a = make_screen()
    ctrl = a.obs["hp_control"]
    a.obs["hp_control"] = {
        "str": ctrl.astype(str),
        "category": ctrl.astype(str).astype("category"),
    }[kind]
    before = snapshot(a)
    with pytest.raises(TypeError, match=r"obs\['hp_control'\] must be boolean.*dtype.*Re-run `hp\.pp\.perturbations"):
        hp.tl.rewards(a, verbose=False)
    assert snapshot(a)["varm"] == before["varm"] and snapshot(a)["uns"] == before["uns"]
    hp.pp.perturbations(a, key="perturbation", control=CONTROL, ignore="multiple")  # the fix the message names
    hp.tl.rewards(a, verbose=False)
    assert "hp_reward" in a.varm


def test_hp_control_as_0_1_integers_reads_as_booleans():
    a = make_screen()
    hp.tl.rewards(a, verbose=False)
    b = make_screen()
    b.obs["hp_control"] = b.obs["hp_control"].astype(int)
    hp.tl.rewards(b, verbose=False)
    np.testing.assert_array_equal(np.asarray(a.varm["hp_reward"]), np.asarray(b.varm["hp_reward"]))


def test_design_shape_mismatch_and_control_clash():
    a = make_screen()
    a.obsm["perturbation_target"] = sparse.csr_matrix((a.n_obs, 2), dtype=np.float32)
    before = snapshot(a)
    with pytest.raises(ValueError, match="out of sync"):
        hp.tl.rewards(a, verbose=False, statistic="mean_abs_lfc")
    assert snapshot(a)["varm"] == before["varm"]
    b = make_screen()
    D = b.obsm["perturbation_target"].tolil()
    D[np.flatnonzero(b.obs["hp_control"].to_numpy())[0], 0] = 1.0
    b.obsm["perturbation_target"] = D.tocsr()
    with pytest.raises(ValueError, match="control rows must be all zero"):
        hp.tl.rewards(b, verbose=False, statistic="mean_abs_lfc")
    c = make_screen()
    del c.obs["hp_control"]
    with pytest.raises(KeyError, match="hp_control"):
        hp.tl.rewards(c, verbose=False, statistic="mean_abs_lfc")


def test_bad_arguments():
    a = make_screen()
    with pytest.raises(ValueError, match="chunk_size"):
        hp.tl.rewards(a, chunk_size=0, verbose=False, statistic="mean_abs_lfc")
    with pytest.raises(KeyError, match="groupby"):
        hp.tl.rewards(a, groupby="nope", verbose=False, statistic="mean_abs_lfc")
    with pytest.raises(KeyError, match="Layer"):
        hp.tl.rewards(a, layer="nope", verbose=False, statistic="mean_abs_lfc")
    with pytest.raises(TypeError):
        hp.tl.rewards(a.X, verbose=False, statistic="mean_abs_lfc")
    assert "rewards" not in a.uns["hyperperturb"] and "hp_reward" not in a.varm


def test_raw_counts_warn_and_layer_is_used():
    a = make_screen()
    counts = sparse.csr_matrix(np.random.default_rng(0).poisson(30, size=a.shape).astype(np.float32))
    a.layers["counts"] = counts
    with pytest.warns(UserWarning, match="raw counts"):
        hp.tl.rewards(a, layer="counts", verbose=False, statistic="mean_abs_lfc")
    R, *_ = reference(counts.toarray(), a.obsm["perturbation_target"], a.obs["hp_control"].to_numpy())
    np.testing.assert_allclose(a.varm["hp_reward"], R, rtol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hp.tl.rewards(a, verbose=False, statistic="mean_abs_lfc")  # log-normalised X: no warning


def test_ledger_records_the_layer_actually_read():
    """After hp.pp.preprocess, layer=None reads layers["hp_lognorm"]: the ledger names that layer, not None."""
    a = hp.datasets.synthetic(n_cells=300, n_genes=40, n_perturbations=4, seed=0)
    hp.pp.preprocess(a, n_top_genes=30, n_pcs=10, neighbors=False, perturbation_key="perturbation")
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    assert "hp_lognorm" in a.layers
    default = hp.tl.rewards(a, verbose=False, copy=True)
    explicit = hp.tl.rewards(a, layer="hp_lognorm", verbose=False, copy=True)
    np.testing.assert_array_equal(default.varm["hp_reward"], explicit.varm["hp_reward"])
    led = default.uns["hyperperturb"]["rewards"]
    assert led["params"]["layer"] == "hp_lognorm"
    # the same computation gives the same ledger entry, whichever way the layer was named
    assert led["run_id"] == explicit.uns["hyperperturb"]["rewards"]["run_id"]
    # without the preprocess layer, X is read and recorded as None ("None" in the ledger)
    del a.layers["hp_lognorm"]
    hp.tl.rewards(a, verbose=False)
    assert str(a.uns["hyperperturb"]["rewards"]["params"]["layer"]) == "None"


def test_copy_returns_new_object():
    a = make_screen()
    out = hp.tl.rewards(a, copy=True, verbose=False, statistic="mean_abs_lfc")
    assert out is not a and "hp_reward" in out.varm
    assert "hp_reward" not in a.varm and "rewards" not in a.uns["hyperperturb"]
    assert hp.tl.rewards(a, verbose=False, statistic="mean_abs_lfc") is None


# ----------------------------------------------------------------------------------------------- fuzzing


@st.composite
def screens(draw):
    n_genes = draw(st.integers(1, 6))
    n_pert = draw(st.integers(1, 4))
    n_ctrl = draw(st.integers(1, 5))
    per = draw(st.lists(st.integers(1, 5), min_size=n_pert, max_size=n_pert))
    n_ign = draw(st.integers(0, 3))
    labels = [CONTROL] * n_ctrl + [f"P{p}" for p, k in enumerate(per) for _ in range(k)] + ["ign"] * n_ign
    n = len(labels)
    vals = draw(
        st.lists(
            st.one_of(st.just(0.0), st.floats(-5, 5, allow_nan=False, width=32)),
            min_size=n * n_genes,
            max_size=n * n_genes,
        )
    )
    perm = draw(st.permutations(list(range(n))))
    X = np.asarray(vals, dtype=np.float32).reshape(n, n_genes)
    return np.asarray(labels)[perm], X, draw(st.sampled_from(["csr", "csc", "dense"])), draw(st.booleans())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(screens())
def test_fuzz_against_numpy(case):
    labels, X, fmt, signed = case
    Xm = {"csr": sparse.csr_matrix, "csc": sparse.csc_matrix, "dense": np.asarray}[fmt](X)
    a = ad.AnnData(Xm, obs=pd.DataFrame({"perturbation": labels}, index=[f"c{i}" for i in range(len(labels))]))
    hp.pp.perturbations(a, key="perturbation", control=CONTROL, ignore="ign")
    hp.tl.rewards(a, signed=signed, chunk_size=3, verbose=False, statistic="mean_abs_lfc")
    R, cm, B = reference(X, a.obsm["perturbation_target"], a.obs["hp_control"].to_numpy(), signed=signed)
    np.testing.assert_allclose(a.varm["hp_reward"], R, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(a.var["hp_reward_baseline"], B, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(a.varm["hp_policy_target"].sum(1), 1.0, rtol=1e-9)
    assert np.isfinite(a.varm["hp_policy_target"]).all()


@pytest.mark.parametrize("fmt", FORMATS)
def test_mean_shift_matches_dense_numpy_in_every_format(fmt, tmp_path):
    """The default statistic: |mean(x_p) - c| and the pseudo-bulk noise floor, for every matrix format."""
    a = make_screen()
    b = as_format(a, fmt, tmp_path)
    hp.tl.rewards(b, chunk_size=13, verbose=False)  # statistic="mean_shift" is the default
    X = dense(a.X).astype(np.float64)
    ctrl = a.obs["hp_control"].to_numpy()
    Rs, cm, _ = reference(X, a.obsm["perturbation_target"], ctrl, signed=True)
    n_cells = dense(a.obsm["perturbation_target"]).sum(0)
    floor = X[ctrl].std(0, ddof=1) * np.sqrt(2 / np.pi) * np.sqrt(1 / np.median(n_cells[n_cells > 0]) + 1 / ctrl.sum())
    np.testing.assert_allclose(b.varm["hp_reward"], np.abs(Rs), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.var["hp_reward_baseline"], floor, rtol=1e-7, atol=1e-12)
    assert b.uns["hyperperturb"]["rewards"]["params"]["statistic"] == "mean_shift"


def test_perturbation_left_without_cells_is_refused_not_zeroed():
    """Cells of a perturbation removed after hp.pp.perturbations: no data is not 'no effect' (a 0 reward was fitted)."""
    import scanpy as sc

    a = hp.datasets.synthetic(n_cells=300, n_genes=40, n_perturbations=4, seed=0, verbose=False)
    sc.pp.normalize_total(a)
    sc.pp.log1p(a)
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    gone = str(a.uns["hyperperturb"]["perturbations"]["names"][0])
    b = a[a.obs["perturbation"] != gone].copy()
    with pytest.raises(
        ValueError, match=rf"have no cells in this object \(\['{gone}'\]\).*Re-run `hp.pp.perturbations`"
    ):
        hp.tl.rewards(b)
    assert "hp_reward" not in b.varm and "rewards" not in b.uns["hyperperturb"]
    hp.pp.perturbations(b, key="perturbation", control="non-targeting")
    hp.tl.rewards(b)  # the fix the message names works
    assert gone not in list(b.uns["hyperperturb"]["rewards"]["perturbations"])


def test_group_names_with_a_slash_are_refused_before_any_work():
    """Group rewards are stored under the group's name in .uns: '/' would nest groups in an .h5ad file."""
    import scanpy as sc

    a = hp.datasets.synthetic(n_cells=300, n_genes=40, n_perturbations=4, seed=0, verbose=False)
    sc.pp.normalize_total(a)
    sc.pp.log1p(a)
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    a.obs["donor"] = np.where(np.arange(a.n_obs) % 2, "donor 1/2", "donor3")
    with pytest.raises(ValueError, match=r"group names with '/' \(\['donor 1/2'\]\).*str.replace"):
        hp.tl.rewards(a, groupby="donor")
    assert "rewards" not in a.uns["hyperperturb"] and "hp_reward" not in a.varm
