"""Issue 13: label hygiene and combinatorial perturbations (``sep=``)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from anndata import AnnData

import hyperperturb as hp
from hyperperturb._utils import get_ledger, target_sets

from ._snapshot import assert_unchanged, snapshot


def _adata(labels, n_genes=20):
    rng = np.random.default_rng(0)
    X = np.log1p(rng.poisson(2.0, size=(len(labels), n_genes))).astype(np.float32)
    obs = pd.DataFrame({"perturbation": labels}, index=[f"c{i}" for i in range(len(labels))])
    return AnnData(X, obs=obs, var=pd.DataFrame(index=[f"G{i:03d}" for i in range(n_genes)]))


NT = "non-targeting"


def test_whitespace_trimmed_with_warning():
    a = _adata([NT] * 4 + [" G001", "G001 ", "G001", "G002"])
    with pytest.warns(UserWarning, match="whitespace"):
        hp.pp.perturbations(a, control=NT)
    led = get_ledger(a)["perturbations"]
    assert list(led["names"]) == ["G001", "G002"] and list(led["n_cells"]) == [3, 1]
    assert a.obs["perturbation"].iloc[4] == " G001"  # the user's column is not modified


def test_control_whitespace_is_still_control():
    a = _adata([NT, f"{NT} ", NT, "G001"])
    with pytest.warns(UserWarning, match="whitespace"):
        hp.pp.perturbations(a, control=NT)
    assert int(a.obs["hp_control"].sum()) == 3


@pytest.mark.parametrize("bad", ["nan", "", "None", "NA"])
def test_missing_value_strings_are_unlabelled(bad):
    a = _adata([NT] * 3 + ["G001", "G001", bad])
    with pytest.warns(UserWarning, match="missing-value label"):
        hp.pp.perturbations(a, control=NT)
    led = get_ledger(a)["perturbations"]
    assert list(led["names"]) == ["G001"] and led["n_missing"] == 1


def test_case_variant_of_control_warned():
    a = _adata([NT] * 3 + ["Non-Targeting", "G001"])
    with pytest.warns(UserWarning, match="only in letter case"):
        hp.pp.perturbations(a, control=NT)
    # explicit choice silences it
    b = _adata([NT] * 3 + ["Non-Targeting", "G001"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hp.pp.perturbations(b, control=[NT, "Non-Targeting"])
    assert int(b.obs["hp_control"].sum()) == 4


@pytest.mark.parametrize("word", ["multiple", "unassigned", "Doublet", "ambiguous_2"])
def test_unassigned_like_labels_warned(word):
    a = _adata([NT] * 3 + [word, "G001"])
    with pytest.warns(UserWarning, match="without a clean guide assignment"):
        hp.pp.perturbations(a, control=NT)
    b = _adata([NT] * 3 + [word, "G001"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hp.pp.perturbations(b, control=NT, ignore=[word])


def test_combinations_with_sep():
    labels = [NT] * 4 + ["G001+G002"] * 3 + ["G001"] * 2 + ["G003+ctrl"] * 2 + ["G002+G004"]
    a = _adata(labels)
    hp.pp.perturbations(a, control=[NT, "ctrl"], sep="+")
    led = get_ledger(a)["perturbations"]
    names = list(led["names"])
    assert names == ["G001", "G001+G002", "G002+G004", "G003+ctrl"]  # combinations stay their own perturbation
    sets = target_sets(led)
    assert sets == [["G001"], ["G001", "G002"], ["G002", "G004"], ["G003"]]
    assert list(led["combination"]) == [False, True, True, False]
    # the single-target `targets` keeps working for existing readers: a combination keeps its own label
    assert list(led["targets"]) == ["G001", "G001+G002", "G002+G004", "G003"]
    assert a.obsm["perturbation_target"].shape == (a.n_obs, 4)


def test_without_sep_a_combination_is_one_opaque_label():
    a = _adata([NT] * 3 + ["G001+G002"] * 2)
    hp.pp.perturbations(a, control=NT)
    assert target_sets(get_ledger(a)["perturbations"]) == [["G001+G002"]]


def test_combination_targets_become_network_extra_nodes():
    a = _adata([NT] * 3 + ["G001+G900"] * 2, n_genes=5)
    hp.pp.perturbations(a, control=NT, sep="+")
    net = pd.DataFrame({"source": ["G900", "G001"], "target": ["G002", "G003"]})
    hp.pp.gene_network(a, net)
    assert list(get_ledger(a)["network"]["extra_nodes"]) == ["G900"]


@pytest.mark.parametrize("sep", ["", " ", 3])
def test_bad_sep_is_an_error(sep):
    a = _adata([NT] * 3 + ["G001"])
    snap = snapshot(a)
    with pytest.raises(ValueError, match="sep"):
        hp.pp.perturbations(a, control=NT, sep=sep)
    assert_unchanged(a, snap)


def test_targets_roundtrip_h5ad(tmp_path):
    import anndata as ad

    a = _adata([NT] * 3 + ["G001+G002"] * 2 + ["G003"])
    hp.pp.perturbations(a, control=NT, sep="+")
    a.write_h5ad(tmp_path / "a.h5ad")
    b = ad.read_h5ad(tmp_path / "a.h5ad")
    assert target_sets(get_ledger(b)["perturbations"]) == [["G001", "G002"], ["G003"]]
