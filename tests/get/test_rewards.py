from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import hyperperturb as hp


def _screen(protein: bool = False) -> ad.AnnData:
    rng = np.random.default_rng(0)
    labels = np.array(["nt", "A", "B"])[np.arange(60) % 3]
    X = np.log1p(rng.poisson(1.0, size=(60, 5)).astype(np.float32))
    X[labels == "B", 2] += 1.5
    a = ad.AnnData(
        sparse.csr_matrix(X),
        obs=pd.DataFrame({"perturbation": labels}, index=[f"c{i}" for i in range(60)]),
        var=pd.DataFrame(index=[f"g{i}" for i in range(5)]),
    )
    if protein:
        a.obsm["protein"] = pd.DataFrame(rng.random((60, 2)), index=a.obs_names, columns=["CD4", "CD8"])
    hp.pp.perturbations(a, key="perturbation", control="nt")
    hp.tl.rewards(a, verbose=False)
    return a


def test_wide_and_long_agree_with_stored_arrays():
    a = _screen()
    wide = hp.get.rewards(a, layout="wide")
    assert wide.shape == (5, 2)
    assert list(wide.columns) == ["A", "B"] and wide.columns.name == "perturbation"
    assert list(wide.index) == list(a.var_names) and wide.index.name == "gene"
    np.testing.assert_array_equal(wide.to_numpy(), a.varm["hp_reward"])
    assert wide.loc["g2"].idxmax() == "B"
    long = hp.get.rewards(a)  # tidy by default
    assert list(long.columns) == ["gene", "perturbation", "value"] and len(long) == 10
    back = long.pivot(index="gene", columns="perturbation", values="value").loc[wide.index, wide.columns]
    np.testing.assert_array_equal(back.to_numpy(), wide.to_numpy())
    pol = hp.get.rewards(a, kind="policy_target", layout="wide")
    np.testing.assert_allclose(pol.sum(1), 1.0)
    val = hp.get.rewards(a, kind="value_target", layout="wide")
    assert list(val.columns) == ["value_target"]
    np.testing.assert_array_equal(val["value_target"].to_numpy(), a.var["hp_value_target"].to_numpy())
    vlong = hp.get.rewards(a, kind="value_target")
    assert list(vlong.columns) == ["gene", "value"]


def test_protein_rewards():
    a = _screen(protein=True)
    df = hp.get.rewards(a, protein=True, layout="wide")
    assert list(df.index) == ["CD4", "CD8"] and list(df.columns) == ["A", "B"]
    np.testing.assert_array_equal(df.to_numpy(), a.uns["hyperperturb"]["rewards"]["protein"]["reward"])
    with pytest.raises(KeyError, match="protein"):
        hp.get.rewards(_screen(), protein=True)


def test_mudata_protein_modality():
    md = pytest.importorskip("mudata")
    a = _screen()
    prot = ad.AnnData(np.random.default_rng(1).random((60, 3)), obs=pd.DataFrame(index=a.obs_names))
    prot.var_names = ["p1", "p2", "p3"]
    m = md.MuData({"rna": a, "prot": prot})
    hp.tl.rewards(m, verbose=False)
    df = hp.get.rewards(m, mod="prot", layout="long")
    assert set(df["gene"]) == {"p1", "p2", "p3"} and set(df["perturbation"]) == {"A", "B"}
    assert hp.get.rewards(m, layout="wide").shape == (5, 2)


def test_errors():
    a = _screen()
    with pytest.raises(ValueError, match="kind"):
        hp.get.rewards(a, kind="nope")
    with pytest.raises(ValueError, match="layout"):
        hp.get.rewards(a, layout="tall")
    b = ad.AnnData(np.ones((3, 2), dtype=np.float32))
    with pytest.raises(KeyError, match=r"hp\.tl\.rewards"):
        hp.get.rewards(b)
    del a.varm["hp_policy_target"]
    with pytest.raises(KeyError, match="hp_policy_target"):
        hp.get.rewards(a, kind="policy_target")


@pytest.mark.parametrize("kind", ["reward", "policy_target"])
def test_wide_tables_are_copies(kind):
    """Editing the wide table (normalising, masking) must not change the stored results."""
    a = _screen()
    key = {"reward": "hp_reward", "policy_target": "hp_policy_target"}[kind]
    before = np.array(a.varm[key], copy=True)
    W = hp.get.rewards(a, kind=kind, layout="wide")
    W.iloc[0, 0] = 999.0
    W.to_numpy()[1, 1] = -5.0
    np.testing.assert_array_equal(np.asarray(a.varm[key]), before)
