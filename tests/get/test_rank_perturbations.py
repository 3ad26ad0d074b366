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


@pytest.fixture
def trained():
    return make_trained(15)


def test_one_gene_predicted(trained):
    df = hp.get.rank_perturbations(trained, "IRF1", n=3)
    assert list(df.columns) == ["gene", "perturbation", "score", "rank"]
    assert df["gene"].eq("IRF1").all() and df["rank"].tolist() == [1, 2, 3]
    row = trained.varm["hp_policy"][trained.var_names.get_loc("IRF1")]
    order = np.argsort(-row)[:3]
    assert df["perturbation"].tolist() == [_trained.PERTURBATIONS[j] for j in order]
    np.testing.assert_allclose(df["score"], row[order])
    assert df["score"].is_monotonic_decreasing


def test_observed_all_genes_and_lists(trained):
    df = hp.get.rank_perturbations(trained, source="observed", n=None)
    assert len(df) == 15 * 6
    assert df["gene"].unique().tolist() == trained.var_names.tolist()
    g = df[df["gene"] == "G03"]
    np.testing.assert_allclose(np.sort(g["score"])[::-1], np.sort(trained.varm["hp_reward"][6])[::-1])
    df2 = hp.get.rank_perturbations(trained, ["G05", "STAT1"], n=2)
    assert df2["gene"].tolist() == ["G05", "G05", "STAT1", "STAT1"]


def test_nan_rows(trained):
    trained.varm["hp_policy"][1] = np.nan
    df = hp.get.rank_perturbations(trained)
    assert "JAK2" not in set(df["gene"]) and np.isfinite(df["score"]).all()
    with pytest.raises(ValueError, match="not modelled"):
        hp.get.rank_perturbations(trained, "JAK2")


@pytest.mark.parametrize("gene", [1, np.int64(3), 2.0, ["G01", 1], b"G01"])
def test_a_gene_that_is_not_a_name_is_refused_clearly(trained, gene):
    with pytest.raises(TypeError, match=r"must be a gene name \(a str from adata\.var_names\).*looked up by name"):
        hp.get.rank_perturbations(trained, gene)
    # the names of a numpy or pandas array are read as names
    assert len(hp.get.rank_perturbations(trained, trained.var_names[:2], n=1)) == 2


def test_errors(trained):
    with pytest.raises(KeyError, match="STAT1"):
        hp.get.rank_perturbations(trained, "STAT2")
    with pytest.raises(ValueError, match="source"):
        hp.get.rank_perturbations(trained, "G01", source="model")
    with pytest.raises(ValueError, match="positive"):
        hp.get.rank_perturbations(trained, "G01", n=0)
    del trained.varm["hp_policy"]
    del trained.uns["hyperperturb"]["train"]
    with pytest.raises(KeyError, match=r"hp\.tl\.train"):
        hp.get.rank_perturbations(trained, "G01")
    assert len(hp.get.rank_perturbations(trained, "G01", source="observed")) == 6


def test_a_gene_with_one_non_finite_score_is_not_called_unscored():
    import scanpy as sc

    a = hp.datasets.synthetic(n_cells=300, n_genes=40, n_perturbations=4, seed=0, verbose=False)
    sc.pp.normalize_total(a)
    sc.pp.log1p(a)
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    hp.tl.rewards(a)
    R = np.array(a.varm["hp_reward"], dtype=np.float64)
    R[1, 0] = np.nan
    a.varm["hp_reward"] = R
    gene = str(a.var_names[1])
    with pytest.raises(ValueError, match=r"non-finite observed scores .* for some perturbations"):
        hp.get.rank_perturbations(a, gene, source="observed")
