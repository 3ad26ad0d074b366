from __future__ import annotations

import anndata as ad
import numpy as np
import pytest

import hyperperturb as hp


@pytest.fixture(scope="module")
def screen():
    return hp.datasets.synthetic(300, 60, 6, seed=5)


def _pairs(df):
    return {frozenset(p) for p in zip(df["source"], df["target"], strict=True)}


def test_exact_truth(screen):
    net = hp.datasets.truth_network(screen)
    assert list(net.columns) == ["source", "target", "weight"]
    e = screen.uns["hyperperturb_truth"]["edges"]
    assert _pairs(net) == {frozenset(p) for p in zip(e["source"], e["target"], strict=True)}
    # the undirected forest: one edge per non-master gene, every gene's parent listed
    var = screen.var
    assert len(net) == (var["depth"] > 0).sum()
    for src, tgt in zip(net["source"], net["target"], strict=True):
        assert var.loc[tgt, "parent"] == src
    assert (net["weight"] == 1.0).all()


def test_corruption(screen):
    true = _pairs(hp.datasets.truth_network(screen))
    net = hp.datasets.truth_network(screen, noise_edges=0.5, drop_edges=0.2, seed=1)
    got = _pairs(net)
    assert len(got) == len(net)  # no duplicate undirected edges
    assert all(len(p) == 2 for p in got)  # no self loops
    assert len(got & true) == len(true) - round(0.2 * len(true))
    assert len(got - true) == round(0.5 * len(true))
    assert set(net["source"]) | set(net["target"]) <= set(screen.var_names)
    again = hp.datasets.truth_network(screen, noise_edges=0.5, drop_edges=0.2, seed=1)
    assert again.equals(net)
    other = hp.datasets.truth_network(screen, noise_edges=0.5, drop_edges=0.2, seed=2)
    assert _pairs(other) != got
    assert len(hp.datasets.truth_network(screen, drop_edges=1.0)) == 0


def test_mudata_and_roundtrip(tmp_path):
    m = hp.datasets.synthetic(300, 30, 3, protein=True, n_proteins=2, seed=0)
    a = m["rna"]
    assert hp.datasets.truth_network(m).equals(hp.datasets.truth_network(a))
    a.write_h5ad(tmp_path / "a.h5ad")
    assert hp.datasets.truth_network(ad.read_h5ad(tmp_path / "a.h5ad")).equals(hp.datasets.truth_network(a))


def test_bad_input(screen):
    with pytest.raises(KeyError, match="synthetic"):
        hp.datasets.truth_network(ad.AnnData(np.zeros((2, 2))))
    with pytest.raises(TypeError):
        hp.datasets.truth_network(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="drop_edges"):
        hp.datasets.truth_network(screen, drop_edges=1.5)
    with pytest.raises(ValueError, match="noise_edges"):
        hp.datasets.truth_network(screen, noise_edges=-0.1)
    with pytest.raises(ValueError, match="noise_edges"):
        hp.datasets.truth_network(screen, noise_edges=1000.0)


def test_truth_network_after_a_zarr_round_trip(screen, tmp_path):
    """zarr (anndata >= 0.12, NumPy 2) gives the stored truth's gene names back as StringDType arrays."""
    screen.write_zarr(tmp_path / "s.zarr")
    back = ad.read_zarr(tmp_path / "s.zarr")
    assert hp.datasets.truth_network(back).equals(hp.datasets.truth_network(screen))
