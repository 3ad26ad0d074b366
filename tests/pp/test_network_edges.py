"""Edge bookkeeping of ``gene_network``: directed extra edges, networkx signs and weights, zero weights."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest

import hyperperturb as hp
from hyperperturb._utils import get_ledger

from ._helpers import assert_unchanged, snapshot, tiny_screen


def _adata():
    a = tiny_screen(n_genes=5)
    a.var_names = ["G0", "G1", "G2", "G3", "G4"]
    return a


def _extra(a) -> dict[tuple[int, int], float]:
    e = get_ledger(a)["network"]["extra_edges"]
    pairs = list(zip(e["i"].tolist(), e["j"].tolist(), strict=True))
    assert len(pairs) == len(set(pairs)), "an extra edge is stored twice"
    return {p: float(w) for p, w in zip(pairs, e["weight"], strict=True)}


# -- symmetric=False: reciprocal edges to an extra node are one undirected edge ----------------------------------


def test_symmetric_false_extra_edges_equal_the_default():
    edges = pd.DataFrame(
        {
            "source": ["X1", "G2", "X1", "G3", "G0"],
            "target": ["G2", "X1", "G3", "X1", "G1"],
            "weight": [0.5, 0.8, 0.4, 0.4, 0.9],
        }
    )
    out = {}
    for sym in (True, False):
        a = _adata()
        a.obs["perturbation"] = a.obs["perturbation"].replace({"B": "X1"})
        hp.pp.perturbations(a, ignore="multiple")
        hp.pp.gene_network(a, edges, symmetric=sym)
        out[sym] = _extra(a)
    # X1 is node 5; X1 <-> G2 merged by the larger weight, as the undirected path does
    assert out[True] == pytest.approx({(2, 5): 0.8, (3, 5): 0.4})
    assert out[False] == out[True]


def test_symmetric_false_extra_edges_give_the_default_training_graph():
    import scanpy as sc

    from hyperperturb._utils import resolve
    from hyperperturb.tl._graph._inputs import build_graph_inputs

    a = hp.datasets.synthetic(n_cells=300, n_genes=30, n_perturbations=4, seed=0)
    sc.pp.log1p(a)
    a.obs["perturbation"] = a.obs["perturbation"].astype(str).replace({"G007": "X"})
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    extra = pd.DataFrame({"source": ["X", "G010", "X", "G011"], "target": ["G010", "X", "G011", "X"], "weight": 1.0})
    net = pd.concat([hp.datasets.truth_network(a, seed=0), extra])
    graphs = []
    for sym in (True, False):
        b = a.copy()
        hp.pp.gene_network(b, net, symmetric=sym)
        hp.tl.rewards(b, verbose=False)
        graphs.append(build_graph_inputs(resolve(b), seed=0))
    g0, g1 = graphs
    for k in ("i", "j", "weight"):
        np.testing.assert_array_equal(g0.extra_edges[k], g1.extra_edges[k])
    assert (g0.adjacency != g1.adjacency).nnz == 0


# -- networkx graphs: signed like DataFrames, non-finite weights refused ----------------------------------------------


def test_signed_networkx_digraph_equals_the_dataframe():
    edges = pd.DataFrame({"source": ["G0", "G2", "G3"], "target": ["G1", "G3", "G4"], "weight": [-1.0, 0.5, -0.25]})
    a, b = _adata(), _adata()
    hp.pp.gene_network(a, edges)
    g = nx.from_pandas_edgelist(edges, "source", "target", ["weight"], create_using=nx.DiGraph)
    hp.pp.gene_network(b, g)
    ea, eb = get_ledger(a)["network"], get_ledger(b)["network"]
    assert eb["signed"] and ea["n_negative"] == eb["n_negative"] == 2
    for key in ("hp_adjacency", "hp_adjacency_sign", "hp_adjacency_directed"):
        assert (a.varp[key] != b.varp[key]).nnz == 0, key
    assert b.varp["hp_adjacency_sign"][0, 1] == -1 and b.varp["hp_adjacency_directed"][3, 4] == pytest.approx(-0.25)


def test_undirected_networkx_graph_is_stored_both_ways():
    """An undirected graph has no direction: the directed matrix the propagation reads holds each edge both ways."""
    edges = pd.DataFrame({"source": ["G1", "G3"], "target": ["G0", "G2"], "weight": [1.0, -0.5]})
    a = _adata()
    hp.pp.gene_network(a, nx.from_pandas_edgelist(edges, "source", "target", ["weight"]))
    D = a.varp["hp_adjacency_directed"].toarray()
    np.testing.assert_array_equal(D, D.T)
    assert D[0, 1] == D[1, 0] != 0 and D[2, 3] == D[3, 2] < 0
    assert get_ledger(a)["network"]["n_edges"] == 2


def test_directed_false_stores_an_edge_list_both_ways():
    """An interaction table listing each pair once: ``directed=False`` sends the propagation both ways."""
    edges = pd.DataFrame(
        {"source": ["G1", "G3", "G4", "G2"], "target": ["G0", "G2", "G2", "G4"], "weight": [1.0, -0.5, 0.25, -1.0]}
    )
    a, b = _adata(), _adata()
    hp.pp.gene_network(a, edges)  # default: the listed order is the direction
    hp.pp.gene_network(b, edges, directed=False)
    Da, Db = a.varp["hp_adjacency_directed"].toarray(), b.varp["hp_adjacency_directed"].toarray()
    assert Da[1, 0] == 1 and Da[0, 1] == 0
    np.testing.assert_array_equal(Db, Db.T)
    assert Db[0, 1] == Db[1, 0] == 1 and Db[2, 3] == Db[3, 2] == pytest.approx(-0.5)
    assert Db[2, 4] == Db[4, 2] == -1  # a pair listed both ways keeps the larger magnitude
    for key in ("hp_adjacency", "hp_adjacency_sign"):  # the undirected graph is the same
        assert (a.varp[key] != b.varp[key]).nnz == 0, key
    assert not get_ledger(b)["network"]["params"]["directed"] and get_ledger(a)["network"]["params"]["directed"]
    with pytest.raises(ValueError, match="directed"):
        hp.pp.gene_network(_adata(), edges, directed="no")


def test_networkx_mode_of_regulation_attribute_gives_signs():
    g = nx.DiGraph()
    g.add_edge("G0", "G1", mode="Repression")
    g.add_edge("G2", "G3", mode="Activation", weight=0.5)
    a = _adata()
    hp.pp.gene_network(a, g)
    assert get_ledger(a)["network"]["signed"]
    S = a.varp["hp_adjacency_sign"]
    assert S[0, 1] == -1 and S[2, 3] == 1
    assert a.varp["hp_adjacency"][0, 1] == pytest.approx(1.0)  # no weight attribute: 1


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan, "strong"])
def test_networkx_non_finite_weight_is_refused_clearly(bad):
    g = nx.Graph()
    g.add_edge("G0", "G1", weight=bad)
    g.add_edge("G2", "G3", weight=0.5)
    a = _adata()
    before = snapshot(a)
    with pytest.raises(ValueError, match=r"Edge attribute 'weight' of the networkx\.Graph has 1 missing.*`weight=`"):
        hp.pp.gene_network(a, g)
    assert_unchanged(a, before)


# -- zero weights are no edges ---------------------------------------------------------------------------------------


def test_zero_weight_edges_are_not_stored_or_counted():
    edges = pd.DataFrame({"source": ["G1", "G3"], "target": ["G2", "G4"], "weight": [0.0, 1.0]})
    a = _adata()
    hp.pp.gene_network(a, edges)
    A = a.varp["hp_adjacency"]
    assert A.nnz == 2 and (A.data > 0).all()
    assert (a.varp["hp_adjacency_directed"].data != 0).all()
    led = get_ledger(a)["network"]
    assert led["n_edges"] == 1
    assert led["n_connected"] == led["n_connected_direct"] == 2 and led["n_isolated"] == 3
    assert led["n_matched"] == 2  # a gene named only by a zero-weight edge is not in the network


def test_zero_weight_edge_gives_no_two_hop_link_and_no_extra_edge():
    edges = pd.DataFrame(
        {
            "source": ["G0", "X1", "G2", "G3", "X2"],
            "target": ["X1", "G1", "G3", "X2", "G4"],
            "weight": [0, 0.5, 1, 0, 0.5],
        }
    )
    a = _adata()
    a.obs["perturbation"] = a.obs["perturbation"].replace({"B": "X1"})
    hp.pp.perturbations(a, ignore="multiple")
    hp.pp.gene_network(a, edges, hops=2)
    A = a.varp["hp_adjacency"]
    assert A.nnz == 2 and (A.data > 0).all()  # only G2 - G3: G0 and G1 share X1 through a zero edge
    assert get_ledger(a)["network"]["n_edges"] == 1
    assert _extra(a) == pytest.approx({(1, 5): 0.5})  # X1 - G1 kept, X1 - G0 (weight 0) not an edge


def test_all_zero_weights_is_an_empty_network():
    edges = pd.DataFrame({"source": ["G1"], "target": ["G2"], "weight": [0.0]})
    a = _adata()
    before = snapshot(a)
    with pytest.raises(ValueError, match="gives no edge between measured genes.*allow_empty=True"):
        hp.pp.gene_network(a, edges)
    assert_unchanged(a, before)
    hp.pp.gene_network(a, edges, allow_empty=True)
    assert a.varp["hp_adjacency"].nnz == 0 and get_ledger(a)["network"]["n_edges"] == 0


def test_n_edges_counts_a_pair_linked_both_ways_once():
    edges = pd.DataFrame({"source": ["G0", "G1", "G2"], "target": ["G1", "G0", "G3"], "weight": [0.5, 0.7, 1.0]})
    for sym in (True, False):
        a = _adata()
        hp.pp.gene_network(a, edges, symmetric=sym)
        assert get_ledger(a)["network"]["n_edges"] == 2, sym
