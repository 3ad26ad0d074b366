from __future__ import annotations

import mudata as md
import numpy as np
import pandas as pd
import pytest
from anndata import AnnData
from scipy import sparse

import hyperperturb as hp
from hyperperturb._utils import get_ledger

from ._helpers import assert_unchanged, snapshot, tiny_screen


def test_basic_design():
    a = tiny_screen()
    hp.pp.perturbations(a, ignore="multiple")
    P = a.obsm["perturbation_target"]
    assert sparse.isspmatrix_csr(P) and P.dtype == np.float32
    led = get_ledger(a)["perturbations"]
    assert list(led["names"]) == ["A", "B", "C"]
    assert list(led["targets"]) == ["A", "B", "C"]
    assert list(led["n_cells"]) == [6, 6, 6]
    assert led["n_control"] == 6 and led["n_ignored"] == 2
    assert list(led["control"]) == ["non-targeting"]
    assert led["key"] == "perturbation"
    assert P.shape == (a.n_obs, 3)
    # control and ignored rows are all zero, perturbed rows have a single 1 in the right column
    row_sums = np.asarray(P.sum(1)).ravel()
    ctrl = a.obs["hp_control"].to_numpy()
    assert a.obs["hp_control"].dtype == bool and ctrl.sum() == 6
    assert (row_sums[ctrl] == 0).all()
    assert (row_sums[(a.obs.perturbation == "multiple").to_numpy()] == 0).all()
    lab = a.obs.perturbation.to_numpy()
    cols = np.asarray(P.argmax(1)).ravel()
    for j, name in enumerate(["A", "B", "C"]):
        assert (cols[lab == name] == j).all()
        assert (row_sums[lab == name] == 1).all()


def test_without_ignore_multiple_is_a_perturbation():
    a = tiny_screen()
    hp.pp.perturbations(a)
    assert list(get_ledger(a)["perturbations"]["names"]) == ["A", "B", "C", "multiple"]


def test_several_controls_and_targets_mapping():
    a = tiny_screen()
    a.obs.loc[a.obs_names[:3], "perturbation"] = "safe-targeting"
    hp.pp.perturbations(a, control=["non-targeting", "safe-targeting"], ignore=["multiple"], targets={"A": "GENE_A"})
    led = get_ledger(a)["perturbations"]
    assert led["n_control"] == 6
    assert list(led["targets"]) == ["GENE_A", "B", "C"]


@pytest.mark.parametrize("kind", ["int", "category", "str"])
def test_label_types(kind):
    a = tiny_screen()
    codes = {"non-targeting": 0, "A": 1, "B": 2, "C": 3, "multiple": 9}
    lab = a.obs.perturbation.map(codes)
    if kind == "category":
        lab = lab.astype(str).astype("category")
    elif kind == "str":
        lab = lab.astype(str)
    a.obs["perturbation"] = lab
    hp.pp.perturbations(a, control=0, ignore=9)
    led = get_ledger(a)["perturbations"]
    assert list(led["names"]) == ["1", "2", "3"]
    assert led["n_control"] == 6


def test_nan_labels_excluded_with_warning():
    a = tiny_screen()
    a.obs["perturbation"] = a.obs.perturbation.astype(object)
    a.obs.iloc[6, 0] = np.nan
    with pytest.warns(UserWarning, match=r"no label.*counted in n_missing \(not in n_ignored\)"):
        hp.pp.perturbations(a, ignore="multiple")
    led = get_ledger(a)["perturbations"]
    # disjoint counts: the unlabelled cell is in n_missing only, n_ignored counts the two "multiple" cells
    assert led["n_missing"] == 1 and led["n_ignored"] == 2
    assert led["n_control"] + int(np.sum(led["n_cells"])) + led["n_ignored"] + led["n_missing"] == a.n_obs
    assert led["n_cells"][0] == 5
    assert a.obsm["perturbation_target"][6].nnz == 0


def test_copy_leaves_original():
    a = tiny_screen()
    before = snapshot(a)
    b = hp.pp.perturbations(a, ignore="multiple", copy=True)
    assert_unchanged(a, before)
    assert "perturbation_target" in b.obsm


def test_roundtrip_h5ad(tmp_path):
    a = tiny_screen()
    hp.pp.perturbations(a, ignore="multiple", targets={"A": "X1"})
    a.write_h5ad(tmp_path / "a.h5ad")
    b = __import__("anndata").read_h5ad(tmp_path / "a.h5ad")
    assert list(get_ledger(b)["perturbations"]["targets"]) == ["X1", "B", "C"]
    assert (b.obsm["perturbation_target"] != a.obsm["perturbation_target"]).nnz == 0


def test_missing_column():
    a = tiny_screen()
    before = snapshot(a)
    with pytest.raises(KeyError, match="obs columns are"):
        hp.pp.perturbations(a, key="guide")
    assert_unchanged(a, before)


def test_control_absent_lists_values():
    a = tiny_screen()
    before = snapshot(a)
    with pytest.raises(ValueError, match=r"values are: \['A', 'B', 'C', 'multiple', 'non-targeting'\]"):
        hp.pp.perturbations(a, control="NT")
    assert_unchanged(a, before)


def test_only_controls():
    a = tiny_screen()
    a.obs["perturbation"] = "non-targeting"
    before = snapshot(a)
    with pytest.raises(ValueError, match="No perturbed cells"):
        hp.pp.perturbations(a)
    assert_unchanged(a, before)


def test_min_cells_names_perturbations():
    a = tiny_screen()
    a.obs.loc[a.obs_names[6:10], "perturbation"] = "B"
    before = snapshot(a)
    with pytest.raises(ValueError, match=r"A \(2\).*ignore="):
        hp.pp.perturbations(a, ignore="multiple", min_cells=3)
    assert_unchanged(a, before)


def test_bad_arguments():
    a = tiny_screen()
    with pytest.raises(ValueError, match="both"):
        hp.pp.perturbations(a, control="A", ignore="A")
    with pytest.raises(TypeError):
        hp.pp.perturbations(np.zeros((3, 3)))


def test_mudata_annotates_all_modalities():
    rna = tiny_screen()
    prot = AnnData(np.ones((rna.n_obs, 2), dtype=np.float32), obs=pd.DataFrame(index=rna.obs_names[::-1]))
    prot.var_names = ["P1", "P2"]
    mdata = md.MuData({"rna": rna, "prot": prot})
    hp.pp.perturbations(mdata, ignore="multiple")
    r, p = mdata["rna"], mdata["prot"]
    assert "perturbation_target" in r.obsm and "perturbation_target" in p.obsm
    # same cell, same row (prot is in reverse order)
    pr = pd.Index(r.obs_names)
    idx = pr.get_indexer(p.obs_names)
    assert (p.obsm["perturbation_target"] != r.obsm["perturbation_target"][idx]).nnz == 0
    np.testing.assert_array_equal(p.obs["hp_control"].to_numpy(), r.obs["hp_control"].to_numpy()[idx])
    assert list(get_ledger(p)["perturbations"]["names"]) == ["A", "B", "C"]


def test_mudata_missing_modality():
    mdata = md.MuData({"gex": tiny_screen()})
    with pytest.raises(KeyError, match="modalities are"):
        hp.pp.perturbations(mdata)


def test_fast_on_200k_cells():
    rng = np.random.default_rng(0)
    labels = np.array(["non-targeting"] + [f"P{i}" for i in range(500)] + ["multiple"])
    n = 200_000
    obs = pd.DataFrame({"perturbation": pd.Categorical(labels[rng.integers(0, len(labels), n)])})
    obs.index = obs.index.astype(str)
    a = AnnData(sparse.csr_matrix((n, 5), dtype=np.float32), obs=obs)
    hp.pp.perturbations(a, ignore="multiple")
    assert a.obsm["perturbation_target"].shape == (n, 500)


def _relabelled(first: str):
    a = hp.datasets.synthetic(n_cells=300, n_genes=40, n_perturbations=4, seed=0, verbose=False)
    labels = a.obs["perturbation"].astype(str).to_numpy().copy()
    perturbed = np.flatnonzero(labels != "non-targeting")[:20]
    labels[perturbed] = first
    a.obs["perturbation"] = labels
    return a, int((labels == "non-targeting").sum())


def test_label_of_control_parts_only_marks_controls():
    """'non-targeting+non-targeting' (a double control guide) is a control cell, not a perturbation without target."""
    a, n_single = _relabelled("non-targeting+non-targeting")
    hp.pp.perturbations(a, key="perturbation", control="non-targeting", sep="+")
    e = get_ledger(a)["perturbations"]
    assert "non-targeting+non-targeting" not in list(e["names"])
    assert int(e["n_control"]) == n_single + 20 == int(a.obs["hp_control"].sum())
    assert "non-targeting+non-targeting" in list(e["control"])
    assert all(len(x) > 0 for x in np.split(e["target_genes"], e["target_offsets"][1:-1]))


def test_label_with_no_target_left_is_refused():
    a, _ = _relabelled("+")
    before = snapshot(a)
    with pytest.raises(ValueError, match=r"name no target gene.*ignore=\['\+'\]"):
        hp.pp.perturbations(a, key="perturbation", control="non-targeting", sep="+")
    assert_unchanged(a, before)


def test_targets_with_a_slash_in_the_label_survive_an_h5ad_round_trip(tmp_path):
    import anndata as ad

    a, _ = _relabelled("G007/sg1")
    hp.pp.perturbations(a, key="perturbation", control="non-targeting", targets={"G007/sg1": "G007"})
    a.write_h5ad(tmp_path / "s.h5ad")
    b = ad.read_h5ad(tmp_path / "s.h5ad")
    stored = get_ledger(b)["perturbations"]["params"]["targets"]
    assert list(stored["labels"]) == ["G007/sg1"] and list(stored["genes"]) == ["G007"]
    assert "G007/sg1" in list(get_ledger(b)["perturbations"]["names"])
