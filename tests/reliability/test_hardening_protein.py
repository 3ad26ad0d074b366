"""Issue 13: MuData modalities joined by obs_names; protein modality names; proteins in AnnData.obsm."""

from __future__ import annotations

import mudata as md
import numpy as np
import pytest
import scanpy as sc

import hyperperturb as hp
from hyperperturb._utils import get_ledger, obs_indexer, resolve
from hyperperturb.tl._graph._inputs import build_graph_inputs

from ._snapshot import assert_unchanged, snapshot


def _mudata(prot_name: str = "prot", *, order=None, subset=None, seed: int = 0) -> md.MuData:
    m = hp.datasets.synthetic(n_cells=300, n_genes=30, n_perturbations=4, protein=True, seed=seed)
    rna, prot = m.mod["rna"], m.mod["prot"]
    sc.pp.log1p(rna)
    sc.pp.log1p(prot)
    if order is not None:
        prot = prot[order].copy()
    if subset is not None:
        prot = prot[subset].copy()
    out = md.MuData({"rna": rna, prot_name: prot})
    hp.pp.perturbations(out, key="perturbation", control="non-targeting")
    return out


def _reversed_rows():
    return np.arange(300)[::-1]


def test_obs_indexer_joins_by_name():
    import pandas as pd

    idx = obs_indexer(pd.Index(["a", "b", "c"]), pd.Index(["c", "a"]))
    np.testing.assert_array_equal(idx, [1, -1, 0])
    with pytest.raises(ValueError, match="not unique"):
        obs_indexer(pd.Index(["a", "a"]), pd.Index(["a"]))


def test_protein_rewards_and_graph_inputs_independent_of_row_order():
    a = _mudata()
    b = _mudata(order=_reversed_rows())
    assert not np.array_equal(a.mod["prot"].obs_names, b.mod["prot"].obs_names)
    hp.tl.rewards(a, verbose=False)
    hp.tl.rewards(b, verbose=False)
    np.testing.assert_allclose(a.mod["prot"].varm["hp_reward"], b.mod["prot"].varm["hp_reward"], rtol=1e-10)
    ga = build_graph_inputs(resolve(a), seed=0)
    gb = build_graph_inputs(resolve(b), seed=0)
    np.testing.assert_allclose(ga.features, gb.features, rtol=1e-5, atol=1e-6)
    assert (ga.adjacency != gb.adjacency).nnz == 0


def test_protein_on_a_subset_of_cells():
    keep = np.arange(0, 300, 2)  # half of the cells, every other one
    m = _mudata(subset=keep)
    hp.tl.rewards(m, verbose=False)
    g = build_graph_inputs(resolve(m), seed=0)
    assert g.n_prot == m.mod["prot"].n_vars and np.isfinite(g.features).all()


def test_protein_without_shared_control_cells_is_a_clear_error():
    m = _mudata()
    ctrl = np.asarray(m.mod["rna"].obs["hp_control"], dtype=bool)
    m2 = md.MuData({"rna": m.mod["rna"], "prot": m.mod["prot"][~ctrl].copy()})
    snap = snapshot(m2.mod["rna"])
    with pytest.raises(ValueError, match="No control cells in the protein modality"):
        hp.tl.rewards(m2, verbose=False)
    assert_unchanged(m2.mod["rna"], snap)
    hp.tl.rewards(m, verbose=False)
    m3 = md.MuData({"rna": m.mod["rna"], "prot": m.mod["prot"][~ctrl].copy()})
    with pytest.raises(ValueError, match="matched by obs_names"):
        build_graph_inputs(resolve(m3), seed=0)


@pytest.mark.parametrize("name", ["adt", "protein", "ADT"])
def test_protein_modality_found_automatically(name):
    m = _mudata(name)
    hp.tl.rewards(m, verbose=False)
    assert "hp_reward" in m.mod[name].varm
    assert get_ledger(m.mod["rna"])["rewards"]["protein_mod"] == name
    df = hp.get.rewards(m, mod=name, layout="wide")
    assert df.shape == (m.mod[name].n_vars, 4)
    g = build_graph_inputs(resolve(m), seed=0)
    assert g.n_prot == m.mod[name].n_vars and g.info["prot_mod"] == name


def test_explicit_unknown_protein_modality_is_an_error():
    m = _mudata("adt")
    snap = snapshot(m.mod["rna"])
    with pytest.raises(KeyError, match="Did you mean 'adt'"):
        hp.tl.rewards(m, prot_mod="adtt", verbose=False)
    assert_unchanged(m.mod["rna"], snap)
    with pytest.raises(KeyError, match="not in the MuData"):
        hp.pp.log_fold_change(m, prot_mod="cite")
    assert_unchanged(m.mod["rna"], snap)


def test_anndata_protein_counts_not_ignored_silently():
    a = hp.datasets.synthetic(n_cells=200, n_genes=20, n_perturbations=3, seed=1)
    sc.pp.log1p(a)
    a.obsm["protein_counts"] = np.ones((a.n_obs, 3))
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    with pytest.warns(UserWarning, match=r"obsm\['protein'\]"):
        hp.tl.rewards(a, verbose=False)
    assert "protein" not in get_ledger(a)["rewards"]
