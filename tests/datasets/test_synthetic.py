from __future__ import annotations

import anndata as ad
import mudata
import numpy as np
import pytest
import scanpy as sc
from scipy import sparse

import hyperperturb as hp

TRUTH = "hyperperturb_truth"


@pytest.fixture(scope="module")
def screen():
    return hp.datasets.synthetic(n_cells=3000, n_genes=200, n_perturbations=20, seed=0)


@pytest.fixture(scope="module")
def lognorm(screen):
    a = screen.copy()
    sc.pp.normalize_total(a, target_sum=1e4)
    sc.pp.log1p(a)
    return a


def _mean(a, mask):
    return np.asarray(a.X[np.asarray(mask)].mean(0)).ravel()


def test_shapes_dtype_and_sparsity(screen):
    a = screen
    assert a.shape == (3000, 200)
    assert sparse.isspmatrix_csr(a.X) or isinstance(a.X, sparse.csr_array)
    assert a.X.dtype == np.float32
    assert np.array_equal(a.X.data, np.round(a.X.data)) and (a.X.data > 0).all()
    density = a.X.nnz / (a.n_obs * a.n_vars)
    assert 0.1 < density < 0.5  # real targeted screens: ~20-30 % non-zero
    lib = np.asarray(a.X.sum(1)).ravel()
    assert (lib > 0).mean() > 0.99
    assert 2 < lib.max() / np.median(lib) < 20  # log-normal spread of library sizes
    assert a.var_names.is_unique and a.obs_names.is_unique


def test_obs_and_controls(screen):
    obs = screen.obs
    assert obs["perturbation"].dtype == "category"
    cats = obs["perturbation"].cat.categories
    assert cats[0] == "non-targeting" and len(cats) == 21 and cats.is_unique
    assert set(cats[1:]) <= set(screen.var_names)
    assert obs["is_control"].dtype == bool
    assert np.array_equal(obs["is_control"].to_numpy(), (obs["perturbation"] == "non-targeting").to_numpy())
    assert abs(obs["is_control"].mean() - 0.15) < 0.01
    counts = obs["perturbation"].value_counts()
    assert counts.drop("non-targeting").min() >= 120


def test_hierarchy_columns_and_truth(screen):
    var, truth = screen.var, screen.uns[TRUTH]
    assert {"depth", "is_regulator", "n_descendants", "n_children", "parent"} <= set(var.columns)
    assert var["is_regulator"].sum() == 20  # default n_regulators = 0.1 * n_genes
    assert (var["depth"] == 0).sum() >= 1
    assert (var.loc[var["depth"] == 0, "parent"] == "").all()
    # every non-master has a parent one level up, and the parent is a regulator
    child = var[var["depth"] > 0]
    assert np.array_equal(var.loc[child["parent"], "depth"].to_numpy() + 1, child["depth"].to_numpy())
    assert var.loc[child["parent"], "is_regulator"].all()
    assert np.array_equal(var["is_regulator"].to_numpy(), var["n_children"].to_numpy() > 0)
    # n_descendants: subtree sizes add up
    assert var["n_descendants"][var["depth"] == 0].sum() + (var["depth"] == 0).sum() == screen.n_vars
    e = truth["edges"]
    assert len(e["source"]) == screen.n_vars - (var["depth"] == 0).sum()
    assert set(np.unique(e["sign"])) <= {-1, 1}
    assert np.array_equal(var.loc[e["target"], "parent"].to_numpy(), np.asarray(e["source"]))
    assert np.array_equal(truth["depth"], var["depth"].to_numpy())
    assert truth["effect"].shape == (20, 200)
    assert list(truth["perturbations"]) == list(screen.obs["perturbation"].cat.categories[1:])
    assert truth["params"]["seed"] == 0


def test_out_degrees_are_heavy_tailed():
    var = hp.datasets.synthetic(n_cells=200, n_genes=2000, n_perturbations=10, seed=0).var
    deg = var.loc[var["is_regulator"], "n_children"]
    assert deg.size == 200
    assert deg.max() >= 10 * deg.median()
    assert deg.nlargest(10).sum() > 0.25 * deg.sum()  # a few hubs regulate a large share of the genes
    assert 3 <= var["depth"].max() <= 8


def test_regulators_and_leaves_are_perturbed(screen):
    targets = screen.uns[TRUTH]["perturbations"]
    is_reg = screen.var.loc[targets, "is_regulator"]
    assert 10 <= is_reg.sum() < 20  # mostly regulators, some leaves
    assert (screen.var.loc[targets, "depth"] == 0).any()  # a master regulator is knocked out
    assert screen.var["is_perturbation_target"].sum() == 20


def test_true_effects_follow_the_hierarchy(screen):
    truth, var = screen.uns[TRUTH], screen.var
    eff = truth["effect"]
    for i, p in enumerate(truth["perturbations"]):
        g = var.index.get_loc(p)
        assert eff[i, g] == pytest.approx(np.log(0.1))
        nz = set(var.index[eff[i] != 0]) - {p}
        if not var.loc[p, "is_regulator"]:
            assert nz == set()
        else:
            assert len(nz) == var.loc[p, "n_descendants"]
            for c in var.index[var["parent"] == p]:  # child effect = parent effect x sign x decay
                sign = np.asarray(truth["edges"]["sign"])[np.asarray(truth["edges"]["target"]) == c][0]
                assert eff[i, var.index.get_loc(c)] == pytest.approx(np.log(0.1) * sign * 0.6)


def test_knocked_out_gene_is_lower(lognorm):
    ctrl = _mean(lognorm, lognorm.obs["is_control"])
    for p in lognorm.uns[TRUTH]["perturbations"]:
        g = lognorm.var_names.get_loc(p)
        assert _mean(lognorm, lognorm.obs["perturbation"] == p)[g] < ctrl[g] - 0.3, p


def test_descendants_shift_more_than_non_descendants(lognorm):
    truth = lognorm.uns[TRUTH]
    ctrl = _mean(lognorm, lognorm.obs["is_control"])
    n_checked = 0
    for i, p in enumerate(truth["perturbations"]):
        g = lognorm.var_names.get_loc(p)
        lfc = np.abs(_mean(lognorm, lognorm.obs["perturbation"] == p) - ctrl)
        desc = truth["effect"][i] != 0
        desc[g] = False
        other = ~desc
        other[g] = False
        if lognorm.var.loc[p, "is_regulator"]:
            assert lfc[desc].mean() > 2 * lfc[other].mean(), p
            n_checked += 1
        else:  # a leaf knockout leaves the rest alone: no gene moves like a true descendant would
            assert lfc[other].mean() < 0.25, p
    assert n_checked >= 10


def test_seeded_reproducibility():
    a = hp.datasets.synthetic(400, 50, 5, seed=3)
    b = hp.datasets.synthetic(400, 50, 5, seed=3)
    c = hp.datasets.synthetic(400, 50, 5, seed=4)
    assert (a.X != b.X).nnz == 0
    assert a.obs.equals(b.obs) and a.var.equals(b.var)
    assert np.array_equal(a.uns[TRUTH]["effect"], b.uns[TRUTH]["effect"])
    assert (a.X != c.X).nnz > 0


def test_multi_block_generation_matches_shapes(monkeypatch):
    from hyperperturb.datasets import _synthetic

    monkeypatch.setattr(_synthetic, "_BLOCK_ENTRIES", 50 * 64)  # 64 cells per block
    a = hp.datasets.synthetic(1000, 50, 5, seed=0, verbose=False)
    assert a.shape == (1000, 50) and a.X.nnz > 0
    assert np.asarray(a.X.sum(1)).ravel()[-64:].sum() > 0  # last block filled


def test_protein_mudata(tmp_path):
    m = hp.datasets.synthetic(1500, 60, 6, protein=True, n_proteins=5, seed=2)
    assert isinstance(m, mudata.MuData)
    assert set(m.mod) == {"rna", "prot"}
    prot = m["prot"]
    assert prot.shape == (1500, 5)
    assert list(prot.var_names) == [f"ADT_{g}" for g in prot.var["gene"]]
    assert set(prot.var["gene"]) <= set(m["rna"].var_names)
    assert np.array_equal(prot.obs_names, m["rna"].obs_names)
    assert (prot.X >= 0).all() and np.array_equal(prot.X, np.round(prot.X))
    assert "perturbation" in m.obs
    # each protein correlates with its coding gene's normalised expression
    rna = m["rna"].copy()
    sc.pp.normalize_total(rna, target_sum=1e4)
    sc.pp.log1p(rna)
    pnorm = np.log1p(prot.X / prot.X.sum(1, keepdims=True) * 1e3)
    for k, g in enumerate(prot.var["gene"]):
        x = rna[:, g].X.toarray().ravel()
        assert np.corrcoef(x, pnorm[:, k])[0, 1] > 0.1, g

    path = tmp_path / "s.h5mu"
    with mudata.set_options(pull_on_update=False):  # silence mudata 0.3's FutureWarning about update()
        mudata.write_h5mu(path, m)
        back = mudata.read_h5mu(path)
    assert np.array_equal(back["prot"].X, prot.X)
    assert (back["rna"].X != m["rna"].X).nnz == 0
    t0, t1 = m["rna"].uns[TRUTH], back["rna"].uns[TRUTH]
    assert np.array_equal(t0["effect"], t1["effect"])
    assert list(t1["edges"]["source"]) == list(t0["edges"]["source"])
    assert list(t1["protein_genes"]) == list(prot.var["gene"])
    assert back.obs["perturbation"].equals(m.obs["perturbation"])


def test_protein_anndata():
    a = hp.datasets.synthetic(800, 40, 4, protein=True, n_proteins=3, as_mudata=False, seed=1)
    assert isinstance(a, ad.AnnData)
    assert isinstance(a.obsm["protein"], np.ndarray) and a.obsm["protein"].shape == (800, 3)
    assert len(a.uns["protein_names"]) == 3 and set(a.uns["protein_genes"]) <= set(a.var_names)
    # without protein, as_mudata is ignored
    assert isinstance(hp.datasets.synthetic(200, 20, 2, as_mudata=True), ad.AnnData)


def test_h5ad_roundtrip(tmp_path, screen):
    path = tmp_path / "s.h5ad"
    screen.write_h5ad(path)
    back = ad.read_h5ad(path)
    assert (back.X != screen.X).nnz == 0 and back.X.dtype == np.float32
    assert back.obs.equals(screen.obs)
    t0, t1 = screen.uns[TRUTH], back.uns[TRUTH]
    assert np.array_equal(t0["effect"], t1["effect"])
    for k in ("source", "target", "sign"):
        assert np.array_equal(np.asarray(t0["edges"][k]), np.asarray(t1["edges"][k]))
    assert list(t1["perturbations"]) == list(t0["perturbations"])
    assert t1["params"]["decay"] == t0["params"]["decay"]
    assert back.var["is_regulator"].dtype == bool


def test_small_edge_sizes():
    a = hp.datasets.synthetic(30, 2, 2, seed=0)
    assert a.shape == (30, 2)
    assert a.var["is_regulator"].sum() == 1
    assert hp.datasets.synthetic(50, 10, 10, seed=0).obs["perturbation"].nunique() == 11
    one = hp.datasets.synthetic(50, 10, 1, seed=0)
    assert one.var.loc[one.uns[TRUTH]["perturbations"][0], "is_regulator"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_cells": 0}, "n_cells"),
        ({"n_genes": 0}, "n_genes"),
        ({"n_genes": 10, "n_perturbations": 11}, "n_perturbations"),
        ({"n_perturbations": 0}, "n_perturbations"),
        ({"n_regulators": 201}, "n_regulators"),
        ({"n_regulators": 150}, "n_regulators"),
        ({"n_regulators": 0}, "n_regulators"),
        ({"n_regulators": 5, "n_masters": 6}, "n_masters"),
        ({"control_fraction": 0.0}, "control_fraction"),
        ({"control_fraction": 1.0}, "control_fraction"),
        ({"control_fraction": float("nan")}, "control_fraction"),
        ({"n_cells": 20, "n_perturbations": 20}, "n_cells"),
        ({"knockout": 1.0}, "knockout"),
        ({"decay": 1.5}, "decay"),
        ({"dispersion": 0}, "dispersion"),
        ({"dropout": 1.0}, "dropout"),
        ({"library_size": -1.0}, "library_size"),
        ({"protein": True, "n_proteins": 0}, "n_proteins"),
        ({"protein": True, "n_proteins": 201}, "n_proteins"),
    ],
)
def test_bad_sizes_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        hp.datasets.synthetic(**kwargs)


def test_non_integer_sizes_raise():
    with pytest.raises(TypeError, match="n_cells"):
        hp.datasets.synthetic(n_cells=100.5)
    with pytest.raises(TypeError, match="n_genes"):
        hp.datasets.synthetic(n_genes=True)
