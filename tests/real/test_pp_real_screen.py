"""hp.pp on the real Papalexi 2021 ECCITE-seq screen and the STRING v12 subset (../shared/data)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
import scanpy as sc

import hyperperturb as hp
from hyperperturb._utils import get_ledger

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def papalexi(papalexi_path):
    a = ad.read_h5ad(papalexi_path)
    a = a[a.obs.grna_assigned].copy()
    sc.pp.normalize_total(a)
    sc.pp.log1p(a)
    return a


@pytest.fixture(scope="module")
def screen(papalexi):
    a = papalexi.copy()
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    return a


def test_perturbations(screen):
    led = get_ledger(screen)["perturbations"]
    assert len(led["names"]) == 25
    assert "non-targeting" not in set(led["names"])
    assert led["n_control"] == 2304
    assert screen.obs["hp_control"].sum() == 2304
    assert int(np.asarray(led["n_cells"]).sum()) == screen.n_obs - 2304
    n = dict(zip(led["names"], led["n_cells"], strict=True))
    assert n["SPI1"] == 47 and n["IFNGR1"] == 1206


def _connected_in_training_graph(a) -> int:
    """Genes with an edge in the graph hp.tl.train uses: .varp plus the edges to unmeasured perturbation targets."""
    A = a.varp["hp_adjacency"]
    deg = np.diff(A.tocsr().indptr) + np.bincount(A.tocoo().col, minlength=a.n_vars)
    ee = get_ledger(a)["network"]["extra_edges"]
    for k in ("i", "j"):
        idx = np.asarray(ee[k]).astype(int)
        deg = deg + np.bincount(idx[idx < a.n_vars], minlength=a.n_vars)
    return int((deg > 0).sum())


def test_string_coverage_and_hops(screen, string_path):
    a = screen.copy()
    hp.pp.gene_network(a, string_path)
    led = get_ledger(a)["network"]
    assert led["n_matched"] == 226 and a.n_vars == 299
    assert led["coverage"] == pytest.approx(226 / 299)
    assert led["n_connected_direct"] == 46  # genes with a direct STRING link to another measured gene
    assert led["n_connected"] == _connected_in_training_graph(a) > 46  # + links to unmeasured perturbation targets
    hp.pp.gene_network(a, string_path, hops=2)
    led2 = get_ledger(a)["network"]
    assert led2["n_connected_direct"] == 46
    assert led2["n_connected"] == _connected_in_training_graph(a) > 180  # via a shared unmeasured neighbour
    A = a.varp["hp_adjacency"]
    assert abs(A - A.T).max() == 0 and A.data.max() <= 1 and A.data.min() > 0


def test_string_high_confidence(screen, string_path):
    a = screen.copy()
    hp.pp.gene_network(a, string_path, min_weight=0.7, hops=2)
    led = get_ledger(a)["network"]
    # combined_score >= 700 keeps fewer links than the full file (400+): 38 direct, 132 at two hops
    assert led["n_connected_direct"] == 38
    assert led["n_connected"] == _connected_in_training_graph(a) > 130
    assert a.varp["hp_adjacency"].data.min() >= 0.7**2 - 1e-6


def test_unmeasured_targets_become_extra_nodes(screen, string_path):
    a = screen.copy()
    hp.pp.gene_network(a, string_path, hops=2)
    led = get_ledger(a)["network"]
    extra = list(led["extra_nodes"])
    assert {"IFNGR1", "IRF1"} <= set(extra)
    assert not set(extra) & set(a.var_names)
    names = np.array([*a.var_names, *extra])
    i, j = np.asarray(led["extra_edges"]["i"]), np.asarray(led["extra_edges"]["j"])
    ends = set(names[i]) | set(names[j])
    assert {"IFNGR1", "IRF1"} <= ends
    # IFNGR1 is linked to the measured IFN-gamma pathway (IFNGR2 / JAK2 / STAT1)
    k = extra.index("IFNGR1") + a.n_vars
    partners = set(names[j[i == k]]) | set(names[i[j == k]])
    assert partners & {"IFNGR2", "JAK2", "STAT1"}
    w = np.asarray(led["extra_edges"]["weight"])
    assert w.min() > 0 and w.max() <= 1


def test_log_fold_change_biology(screen):
    a = screen.copy()
    hp.pp.log_fold_change(a)
    lfc = a.obsm["log_fold_change"]
    stat1 = list(a.var_names).index("STAT1")
    ko = (a.obs.perturbation == "STAT1").to_numpy()
    ifngr1 = (a.obs.perturbation == "IFNGR1").to_numpy()
    assert lfc[ko, stat1].mean() < -0.3  # STAT1 knock-out lowers STAT1
    assert lfc[ifngr1, stat1].mean() < -0.3  # IFNGR1 knock-out lowers the IFN response
    assert abs(lfc[a.obs["hp_control"].to_numpy(), stat1].mean()) < 1e-5


def test_coexpression_network(screen):
    a = screen.copy()
    hp.pp.gene_network(a, n_neighbors=5)
    led = get_ledger(a)["network"]
    assert led["n_connected"] == led["n_matched"]
    A = a.varp["hp_adjacency"]
    assert np.isfinite(A.data).all() and A.data.max() <= 1


def test_preprocess_subsample(papalexi_path):
    a = ad.read_h5ad(papalexi_path)
    a = a[a.obs.grna_assigned].copy()
    hp.pp.preprocess(a, max_cells=3000, perturbation_key="perturbation", n_top_genes=150, n_pcs=20)
    assert a.n_obs <= 3000
    assert a.obs.perturbation.nunique() == 26  # stratified: no perturbation vanished, SPI1 (47 cells) kept
    targets = a.var_names[a.var_names.isin(["STAT1", "JAK2", "CMTM6", "IFNGR2", "NFKBIA"])]
    assert len(targets) == 5  # measured targets kept even if not highly variable
    assert get_ledger(a)["preprocess"]["layer"] == "hp_lognorm"
