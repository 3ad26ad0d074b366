from __future__ import annotations

import gzip

import mudata as md
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from anndata import AnnData
from scipy import sparse

import hyperperturb as hp
from hyperperturb._utils import get_ledger

from ._helpers import assert_unchanged, snapshot, tiny_screen


def _adata(genes=("G0", "G1", "G2", "G3", "G4")) -> AnnData:
    a = tiny_screen(n_genes=len(genes))
    a.var_names = list(genes)
    return a


EDGES = pd.DataFrame(
    {
        "gene_a": ["G0", "G1", "G0", "G2", "G3", "X1", "X1", "G1", "A", "A"],
        "gene_b": ["G1", "G0", "G0", "X1", "X1", "X2", "G4", "X2", "G2", "X9"],
        "combined_score": [900, 700, 999, 800, 500, 600, 400, 300, 650, 950],
    }
)


def _check_adjacency(A, n):
    assert sparse.isspmatrix_csr(A) and A.dtype == np.float32 and A.shape == (n, n)
    assert abs(A - A.T).max() == 0
    assert A.diagonal().max() == 0
    assert A.data.min() >= 0 and A.data.max() <= 1


def test_dataframe_direct_edges_scaled_merged():
    a = _adata()
    hp.pp.gene_network(a, EDGES)
    A = a.varp["hp_adjacency"]
    _check_adjacency(A, 5)
    # duplicate G0-G1 merged by max (0.9), self-loop G0-G0 dropped, only measured pairs in varp
    assert A[0, 1] == pytest.approx(0.9) and A[1, 0] == pytest.approx(0.9)
    assert A.nnz == 2
    led = get_ledger(a)["network"]
    assert led["weight_scale"] == 1000.0
    assert led["n_matched"] == 5  # G0..G4 all appear in the network
    assert led["n_connected"] == 2 and led["n_isolated"] == 3 and led["n_edges"] == 1
    assert led["coverage"] == pytest.approx(1.0)
    assert led["hops"] == 1 and led["source"] == "DataFrame"
    assert len(led["extra_nodes"]) == 0  # perturbations has not run


def test_two_hops_max_product_rule():
    a = _adata()
    hp.pp.gene_network(a, EDGES, hops=2)
    A = a.varp["hp_adjacency"]
    _check_adjacency(A, 5)
    # G2-X1 (0.8), X1-G3 (0.5) -> 0.4; X1-G4 0.4 -> G2-G4 0.32, G3-G4 0.2
    assert A[2, 3] == pytest.approx(0.4)
    assert A[2, 4] == pytest.approx(0.32)
    assert A[3, 4] == pytest.approx(0.2)
    # G1 shares X2 (0.3) with X1 only: X1 is not measured so no G1-G? link via X2 except none
    assert A[0, 1] == pytest.approx(0.9)
    led = get_ledger(a)["network"]
    assert led["n_connected"] == 5 and led["n_connected_direct"] == 2


def test_min_weight_filters_before_hops():
    a = _adata()
    hp.pp.gene_network(a, EDGES, hops=2, min_weight=0.6)
    A = a.varp["hp_adjacency"]
    assert A[2, 3] == 0 and A[2, 4] == 0  # X1-G3 (0.5) and X1-G4 (0.4) dropped


def test_extra_nodes_for_unmeasured_targets():
    a = _adata()
    a.obs["perturbation"] = a.obs.perturbation.replace({"A": "A", "B": "X1", "C": "NOT_IN_NET"})
    hp.pp.perturbations(a, ignore="multiple")
    hp.pp.gene_network(a, EDGES, hops=1)
    led = get_ledger(a)["network"]
    assert list(led["extra_nodes"]) == ["A", "X1"]
    i, j, w = led["extra_edges"]["i"], led["extra_edges"]["j"], led["extra_edges"]["weight"]
    got = {(int(x), int(y)): float(z) for x, y, z in zip(i, j, w, strict=True)}
    # indices into [*var_names, "A", "X1"]: A=5, X1=6
    assert got == pytest.approx({(2, 5): 0.65, (2, 6): 0.8, (3, 6): 0.5, (4, 6): 0.4})
    assert all(max(k) >= 5 for k in got)
    # extras don't change the measured adjacency
    assert a.varp["hp_adjacency"].nnz == 2


def test_extra_nodes_two_hops():
    a = _adata()
    a.obs["perturbation"] = a.obs.perturbation.replace({"B": "X1"})
    hp.pp.perturbations(a, ignore="multiple")
    hp.pp.gene_network(a, EDGES, hops=2)
    led = get_ledger(a)["network"]
    names = [*a.var_names, *led["extra_nodes"]]
    got = {
        (names[x], names[y]): float(z)
        for x, y, z in zip(led["extra_edges"]["i"], led["extra_edges"]["j"], led["extra_edges"]["weight"], strict=True)
    }
    # X1 - X2 (0.6) - G1 (0.3): two-hop 0.18 through the unmeasured X2
    assert got[("G1", "X1")] == pytest.approx(0.18)
    assert got[("G2", "X1")] == pytest.approx(0.8)


def test_csv_tsv_and_string_links_files(tmp_path):
    a = _adata()
    p = tmp_path / "edges.tsv"
    EDGES.rename(columns={"combined_score": "w"}).to_csv(p, sep="\t", index=False)
    hp.pp.gene_network(a, p, weight="w")
    assert a.varp["hp_adjacency"][0, 1] == pytest.approx(900 / 999)  # not a STRING column: divided by the max
    # STRING protein.links + protein.info
    links = tmp_path / "9606.protein.links.v12.0.txt.gz"
    with gzip.open(links, "wt") as fh:
        fh.write("protein1 protein2 combined_score\n")
        fh.write("9606.ENSP1 9606.ENSP2 800\n9606.ENSP2 9606.ENSP1 800\n9606.ENSP2 9606.ENSP3 400\n")
    info = tmp_path / "9606.protein.info.v12.0.txt"
    info.write_text(
        "#string_protein_id\tpreferred_name\tprotein_size\n9606.ENSP1\tG0\t100\n9606.ENSP2\tG1\t120\n9606.ENSP3\tG2\t80\n"
    )
    b = _adata()
    hp.pp.gene_network(b, links, mapping=info)
    A = b.varp["hp_adjacency"]
    assert A[0, 1] == pytest.approx(0.8) and A[1, 2] == pytest.approx(0.4)
    assert get_ledger(b)["network"]["weight_scale"] == 1000.0


def test_ensembl_var_names_with_mapping():
    a = _adata(genes=("ENSG0", "ENSG1", "ENSG2", "ENSG3", "ENSG4"))
    mapping = pd.DataFrame(
        {"hgnc_symbol": [f"G{i}" for i in range(5)], "ensembl_gene_id": [f"ENSG{i}" for i in range(5)]}
    )
    with pytest.raises(ValueError, match="mapping="):
        hp.pp.gene_network(a, EDGES)
    hp.pp.gene_network(a, EDGES, mapping=mapping)
    assert a.varp["hp_adjacency"][0, 1] == pytest.approx(0.9)
    assert get_ledger(a)["network"]["params"]["mapping"] == "hgnc_symbol->ensembl_gene_id"


def test_networkx_and_matrix():
    a = _adata()
    g = nx.Graph()
    g.add_edge("G0", "G3", weight=0.5)
    g.add_edge("G1", "G2")
    hp.pp.gene_network(a, g)
    A = a.varp["hp_adjacency"]
    assert A[0, 3] == pytest.approx(0.5) and A[1, 2] == pytest.approx(1.0)
    M = np.zeros((5, 5))
    M[0, 4] = 2.0
    M[1, 2] = 4.0
    M[3, 3] = 1.0
    hp.pp.gene_network(a, sparse.csr_matrix(M), key_added="other")
    B = a.varp["other"]
    _check_adjacency(B, 5)
    assert B[0, 4] == pytest.approx(0.5) and B[2, 1] == pytest.approx(1.0) and B[3, 3] == 0


def test_coexpression_default():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(200, 1))
    X = np.hstack(
        [
            base + 0.1 * rng.normal(size=(200, 1)),
            base + 0.1 * rng.normal(size=(200, 1)),
            rng.normal(size=(200, 3)),
            np.ones((200, 1)),
        ]
    )
    a = AnnData(X.astype(np.float32))
    a.var_names = [f"G{i}" for i in range(6)]
    hp.pp.gene_network(a, n_neighbors=1)
    A = a.varp["hp_adjacency"]
    _check_adjacency(A, 6)
    assert A[0, 1] > 0.9  # the two correlated genes are each other's neighbour
    assert A[5].nnz == 0  # constant gene: no edges, no NaN
    assert np.isfinite(A.data).all()
    led = get_ledger(a)["network"]
    assert led["n_matched"] == 5 and led["source"].startswith("coexpression")


def test_coexpression_uses_control_cells():
    a = tiny_screen(n_per=10)
    hp.pp.perturbations(a, ignore="multiple")
    b = a.copy()
    hp.pp.gene_network(a)
    # corrupting perturbed cells does not change a control-cell network
    X = b.X.toarray()
    X[15, :] = 50.0
    b.X = sparse.csr_matrix(X)
    hp.pp.gene_network(b)
    assert (a.varp["hp_adjacency"] != b.varp["hp_adjacency"]).nnz == 0


def test_mudata():
    rna = _adata()
    mdata = md.MuData({"rna": rna})
    hp.pp.gene_network(mdata, EDGES)
    assert "hp_adjacency" in mdata["rna"].varp
    with pytest.raises(KeyError, match="modalities"):
        hp.pp.gene_network(mdata, EDGES, mod="gex")


@pytest.mark.parametrize(
    ("network", "kwargs", "exc", "match"),
    [
        ("missing_file.csv", {}, FileNotFoundError, "does not exist"),
        (
            EDGES.assign(gene_a=[f"Z{i}" for i in range(10)], gene_b=[f"Y{i}" for i in range(10)]),
            {},
            ValueError,
            "No gene of the network matches",
        ),
        (EDGES, {"min_weight": 0.9999}, ValueError, "min_weight"),
        (np.zeros((3, 3)), {}, ValueError, "5 x 5"),
        (EDGES.assign(combined_score=0.0 * EDGES.combined_score), {"min_weight": 0.1}, ValueError, "min_weight"),
        (EDGES[["combined_score"]], {}, ValueError, "at least two"),
        (EDGES, {"source": "nope"}, KeyError, "columns are"),
        (EDGES, {"hops": 3}, ValueError, "hops"),
        (42, {}, TypeError, "Unsupported network"),
    ],
)
def test_errors_leave_object_unchanged(network, kwargs, exc, match):
    a = _adata()
    hp.pp.perturbations(a, ignore="multiple")
    before = snapshot(a)
    with pytest.raises(exc, match=match):
        hp.pp.gene_network(a, network, **kwargs)
    assert_unchanged(a, before)


def test_unparseable_and_empty_files(tmp_path):
    a = _adata()
    before = snapshot(a)
    bad = tmp_path / "bad.csv"
    bad.write_text('a,b,c\n"x,y\n1,2,3,4,5\n')
    with pytest.raises(ValueError, match="parse|identifier"):
        hp.pp.gene_network(a, bad)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty"):
        hp.pp.gene_network(a, empty)
    header = tmp_path / "header.csv"
    header.write_text("gene_a,gene_b,weight\n")
    with pytest.raises(ValueError, match="no edges"):
        hp.pp.gene_network(a, header)
    binary = tmp_path / "bin.csv.gz"
    binary.write_bytes(b"\x00\x01notgzip")
    with pytest.raises(ValueError):
        hp.pp.gene_network(a, binary)
    assert_unchanged(a, before)


def test_duplicated_var_names():
    a = _adata(genes=("G0", "G0", "G2", "G3", "G4"))
    before = snapshot(a)
    with pytest.raises(ValueError, match="var_names_make_unique"):
        hp.pp.gene_network(a, EDGES)
    assert_unchanged(a, before)


def test_copy_and_roundtrip(tmp_path):
    a = _adata()
    hp.pp.perturbations(a, ignore="multiple")
    before = snapshot(a)
    b = hp.pp.gene_network(a, EDGES, hops=2, copy=True)
    assert_unchanged(a, before)
    b.write_h5ad(tmp_path / "b.h5ad")
    c = __import__("anndata").read_h5ad(tmp_path / "b.h5ad")
    assert (c.varp["hp_adjacency"] != b.varp["hp_adjacency"]).nnz == 0
    assert get_ledger(c)["network"]["n_edges"] == get_ledger(b)["network"]["n_edges"]


def test_genes_in_the_network_one_definition_for_file_and_prefiltered_table(tmp_path):
    # the same network, filtered by min_weight here or before it is passed (a DataFrame of scores >= 700):
    # the same "genes in the network" and "genes without edges"
    path = tmp_path / "links.csv"
    EDGES.to_csv(path, index=False)
    full, pre = _adata(), _adata()
    hp.pp.gene_network(full, str(path), min_weight=0.7)
    hp.pp.gene_network(pre, EDGES[EDGES["combined_score"] >= 700].reset_index(drop=True))
    a, b = full.uns["hyperperturb"]["network"], pre.uns["hyperperturb"]["network"]
    assert a["n_matched"] == b["n_matched"] == 3  # G0, G1, G2: G3 and G4 only have edges below 0.7
    assert a["n_isolated"] == b["n_isolated"] == full.n_vars - a["n_connected"]


def test_genes_without_edges_count_edges_to_unmeasured_targets():
    a = _adata()
    a.obs["perturbation"] = ["non-targeting"] * (a.n_obs // 2) + ["X1"] * (a.n_obs - a.n_obs // 2)
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    hp.pp.gene_network(a, EDGES)
    net = a.uns["hyperperturb"]["network"]
    assert "X1" in list(net["extra_nodes"])
    # G3 and G4 are linked only to the unmeasured target X1: in the training graph, so not "without edges"
    deg_varp = np.asarray((a.varp["hp_adjacency"] != 0).sum(axis=1)).ravel()
    ee = net["extra_edges"]
    touched = set(np.asarray(ee["i"]).tolist()) | set(np.asarray(ee["j"]).tolist())
    expect = sum(1 for g in range(a.n_vars) if deg_varp[g] == 0 and g not in touched)
    assert net["n_isolated"] == expect
