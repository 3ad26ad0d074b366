"""Issue 13 + issue 11 item 4: signed regulons, column auto-detection, empty graphs, typos, Gene Ontology."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.reliability._data import screen
from tests.reliability._snapshot import assert_unchanged, snapshot

import hyperperturb as hp
from hyperperturb._utils import get_ledger


def _fails(adata, exc, match, *args, **kwargs):
    snap = snapshot(adata)
    with pytest.raises(exc, match=match):
        hp.pp.gene_network(adata, *args, **kwargs)
    assert_unchanged(adata, snap)


def _A(a, key="hp_adjacency"):
    return a.varp[key].toarray()


# ------------------------------------------------------------------------------------------- signed networks
def test_decoupler_collectri_signed_weights():
    net = pd.DataFrame({"source": ["G0", "G0", "G3"], "target": ["G1", "G2", "G1"], "weight": [1, -1, 1]})
    a = screen()
    hp.pp.gene_network(a, net)
    A, S = _A(a), _A(a, "hp_adjacency_sign")
    assert A[0, 1] == A[0, 2] == A[1, 3] == 1.0 and (A >= 0).all() and np.allclose(A, A.T)
    assert S[0, 2] == S[2, 0] == -1 and S[0, 1] == 1 and S[1, 3] == 1
    led = get_ledger(a)["network"]
    assert led["signed"] and led["n_negative"] == 1 and led["sign_key"] == "hp_adjacency_sign"


def test_progeny_like_signed_real_weights_scaled_by_magnitude():
    net = pd.DataFrame({"source": ["G0", "G0"], "target": ["G1", "G2"], "weight": [2.0, -4.0]})
    a = screen()
    hp.pp.gene_network(a, net)
    A, S = _A(a), _A(a, "hp_adjacency_sign")
    assert A[0, 2] == pytest.approx(1.0) and A[0, 1] == pytest.approx(0.5)
    assert S[0, 2] == -1 and S[0, 1] == 1


def test_dorothea_columns_tf_confidence_target_mor():
    net = pd.DataFrame(
        {"tf": ["G0", "G0", "G4"], "confidence": ["A", "B", "A"], "target": ["G1", "G2", "G5"], "mor": [1, -1, 1]}
    )
    a = screen()
    hp.pp.gene_network(a, net)
    A, S = _A(a), _A(a, "hp_adjacency_sign")
    assert A[0, 1] == A[0, 2] == A[4, 5] == 1 and get_ledger(a)["network"]["n_edges"] == 3
    assert S[0, 2] == -1
    # also with abs(mor): the gene columns are still tf and target (not tf and confidence)
    b = screen()
    hp.pp.gene_network(b, net.assign(mor=net["mor"].abs()))
    assert get_ledger(b)["network"]["n_edges"] == 3 and "hp_adjacency_sign" not in b.varp


def test_trrust_mode_of_regulation():
    net = pd.DataFrame(
        {"TF": ["G0", "G0", "G1"], "Target": ["G1", "G2", "G3"], "Mode": ["Activation", "Repression", "Unknown"],
         "PMID": [1, 2, 3]}
    )  # fmt: skip
    a = screen()
    hp.pp.gene_network(a, net)
    A, S = _A(a), _A(a, "hp_adjacency_sign")
    assert A[0, 1] == A[0, 2] == A[1, 3] == 1  # PMID is not a weight
    assert S[0, 1] == 1 and S[0, 2] == -1 and S[1, 3] == 0


def test_omnipath_interactions_use_gene_symbols_and_signs():
    net = pd.DataFrame(
        {
            "source": ["P1", "P2"],
            "target": ["P3", "P4"],
            "source_genesymbol": ["G0", "G2"],
            "target_genesymbol": ["G1", "G3"],
            "is_directed": [True, True],
            "is_stimulation": [True, False],
            "is_inhibition": [False, True],
            "n_references": [12, 3],
        }
    )
    a = screen()
    hp.pp.gene_network(a, net)
    A, S = _A(a), _A(a, "hp_adjacency_sign")
    assert A[0, 1] == 1 and A[2, 3] == 1  # n_references is not a weight
    assert S[0, 1] == 1 and S[2, 3] == -1


def test_string_api_columns():
    net = pd.DataFrame(
        {"stringId_A": ["9606.x", "9606.y"], "stringId_B": ["9606.z", "9606.w"], "preferredName_A": ["G0", "G2"],
         "preferredName_B": ["G1", "G3"], "ncbiTaxonId": [9606, 9606], "score": [0.9, 0.5]}
    )  # fmt: skip
    a = screen()
    hp.pp.gene_network(a, net)
    A = _A(a)
    assert A[0, 1] == pytest.approx(0.9) and A[2, 3] == pytest.approx(0.5)


def test_unsigned_rerun_drops_stale_sign_matrix():
    a = screen()
    hp.pp.gene_network(a, pd.DataFrame({"source": ["G0"], "target": ["G1"], "weight": [-1.0]}))
    assert "hp_adjacency_sign" in a.varp
    hp.pp.gene_network(a, pd.DataFrame({"source": ["G0"], "target": ["G1"], "weight": [1.0]}))
    assert "hp_adjacency_sign" not in a.varp and not get_ledger(a)["network"]["signed"]


# ------------------------------------------------------------------------------------- empty / unmatched
def test_empty_graph_needs_explicit_choice():
    net = pd.DataFrame({"source": ["G0", "X1"], "target": ["X9", "X2"], "weight": [1.0, 1.0]})
    _fails(screen(), ValueError, "allow_empty=True", net)
    a = screen()
    hp.pp.gene_network(a, net, allow_empty=True)
    assert a.varp["hp_adjacency"].nnz == 0 and get_ledger(a)["network"]["empty"]


def test_network_matching_almost_no_gene_warns():
    a = screen(n_genes=60)
    net = pd.DataFrame(
        {"source": ["G0"] + [f"X{i}" for i in range(50)], "target": ["G1"] + [f"Y{i}" for i in range(50)]}
    )
    with pytest.warns(UserWarning, match="matches almost no genes"):
        hp.pp.gene_network(a, net)


@pytest.mark.parametrize(("name", "near"), [("coexpresion", "coexpression"), ("Coexpression", "coexpression")])
def test_typo_of_named_network_suggests_it(name, near):
    _fails(screen(), FileNotFoundError, f"did you mean '{near}'", name)


# ------------------------------------------------------------------------------------------------ GO
GO = pd.DataFrame(
    {
        "symbol": ["G0", "G0", "G0", "G1", "G1", "G2", "G3", "G3", "G9", "XX"],
        "go_id": ["T1", "T2", "T3", "T1", "T2", "T3", "T4", "T4", "T1", "T1"],
        "evidence": ["IDA"] * 10,
    }
)


def test_go_jaccard_exact_values():
    a = screen(n_genes=12)
    hp.pp.gene_network(a, "go", go_table=GO, n_neighbors=5)
    A = _A(a)
    # G0 {T1,T2,T3}, G1 {T1,T2}, G2 {T3}, G3 {T4}, G9 {T1}
    assert A[0, 1] == pytest.approx(2 / 3)
    assert A[0, 2] == pytest.approx(1 / 3)
    assert A[0, 9] == pytest.approx(1 / 3)
    assert A[1, 9] == pytest.approx(1 / 2)
    assert A[1, 2] == 0 and A[3].sum() == 0  # no shared term, no edge
    assert np.allclose(A, A.T) and np.all(np.diag(A) == 0) and A.max() <= 1
    led = get_ledger(a)["network"]
    assert led["n_matched"] == 5 and "GO" in led["source"]


def test_go_top_k_and_min_weight():
    a = screen(n_genes=12)
    hp.pp.gene_network(a, "go", go_table=GO, n_neighbors=1)
    A = _A(a)
    # each gene keeps its single best neighbour, then the graph is symmetrised (union)
    assert A[0, 1] > 0 and A[2, 0] > 0 and A[9, 1] > 0
    assert A[0, 9] == 0
    b = screen(n_genes=12)
    hp.pp.gene_network(b, "go", go_table=GO, n_neighbors=5, min_weight=0.5)
    B = _A(b)
    assert B[0, 1] == pytest.approx(2 / 3) and B[1, 9] == pytest.approx(0.5) and B[0, 2] == 0


def test_go_table_from_file_with_other_column_names(tmp_path):
    path = tmp_path / "g2t.tsv.gz"
    GO.rename(columns={"symbol": "gene_symbol", "go_id": "GO"}).to_csv(path, sep="\t", index=False)
    a = screen(n_genes=12)
    hp.pp.gene_network(a, "go", go_table=path, n_neighbors=5)
    assert _A(a)[0, 1] == pytest.approx(2 / 3)


def test_go_errors_leave_object_unchanged():
    a = screen()
    _fails(a, ValueError, "go_table", "go")
    _fails(a, ValueError, "only used with network='go'", "coexpression", go_table=GO)
    _fails(a, ValueError, "No gene of the GO table", "go", go_table=GO.assign(symbol="ZZ"))
    _fails(a, ValueError, "GO term column", "go", go_table=pd.DataFrame({"a": ["G0"], "b": ["x"]}))


@pytest.mark.real
def test_go_on_the_real_table(shared_data):
    path = shared_data / "go_gene2term_human.tsv.gz"
    if not path.exists():
        pytest.skip(f"{path.name} is absent from the shared data folder")
    g2t = pd.read_csv(path, sep="\t")
    genes = ["STAT1", "STAT2", "STAT3", "JAK1", "JAK2", "IRF1", "IFNGR1", "IFNGR2", "CD274", "GAPDH", "ACTB", "MYC"]
    from anndata import AnnData

    a = AnnData(np.zeros((3, len(genes)), dtype=np.float32))
    a.var_names = genes
    hp.pp.gene_network(a, "go", go_table=path, n_neighbors=3)
    A = a.varp["hp_adjacency"].toarray()
    led = get_ledger(a)["network"]
    assert led["n_matched"] == len(genes) and led["n_edges"] > 0
    assert np.allclose(A, A.T) and A.max() <= 1 and np.all(np.diag(A) == 0)
    # spot-check one weight against a direct Jaccard of the table
    sets = g2t[g2t.symbol.isin(genes)].groupby("symbol")["go_id"].apply(set)
    i, j = genes.index("STAT1"), genes.index("STAT2")
    jac = len(sets["STAT1"] & sets["STAT2"]) / len(sets["STAT1"] | sets["STAT2"])
    assert A[i, j] == pytest.approx(jac, rel=1e-6) or A[i, j] == 0
    # the strongest neighbour of STAT1 among these genes is a STAT/JAK family member
    assert genes[int(np.argmax(A[i]))] in {"STAT2", "STAT3", "JAK1", "JAK2", "IRF1"}
