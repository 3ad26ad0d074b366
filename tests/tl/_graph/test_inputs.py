"""The node graph of training and the one prediction rebuilds from the ledger are the same matrix."""

from __future__ import annotations

import numpy as np
import scanpy as sc

import hyperperturb as hp
from hyperperturb._utils import resolve
from hyperperturb.tl._graph._inputs import build_graph_inputs, stored_adjacency, symmetric_adjacency


def test_training_graph_equals_the_graph_prediction_rebuilds():
    a = hp.datasets.synthetic(n_cells=300, n_genes=30, n_perturbations=4, seed=0)
    sc.pp.log1p(a)
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    hp.pp.gene_network(a, hp.datasets.truth_network(a))
    hp.tl.rewards(a, verbose=False)
    g = build_graph_inputs(resolve(a), seed=0)
    assert g.adjacency.nnz > 0
    rebuilt = stored_adjacency(a, g.n_nodes, g.n_genes, g.extra_edges)
    assert (rebuilt != g.adjacency).nnz == 0


def test_symmetric_adjacency_drops_loops_and_bad_weights_and_caps_at_one():
    rows = [np.array([0, 1, 2, 0, 2]), np.array([1])]
    cols = [np.array([1, 1, 0, 2, 1]), np.array([0])]
    vals = [np.array([0.7, 0.9, np.nan, -1.0, 2.0]), np.array([0.6])]
    A = symmetric_adjacency(rows, cols, vals, 3).toarray()
    # (0,1) 0.7 and (1,0) 0.6 -> max 0.7; the loop (1,1), NaN and negative weights are dropped; 2.0 is clipped to 1
    np.testing.assert_array_equal(A, [[0, 0.7, 0], [0.7, 0, 1.0], [0, 1.0, 0]])


def test_symbol_targets_on_ensembl_var_names_are_placed_through_the_network_mapping():
    """gene_network(mapping=...) maps the targets; training places them where the symbol screen places them."""
    import pandas as pd

    a = hp.datasets.synthetic(n_cells=300, n_genes=30, n_perturbations=4, seed=0)
    sc.pp.log1p(a)
    # one target unmeasured ("X", a network node), the others measured genes (labels G0xx)
    a.obs["perturbation"] = a.obs["perturbation"].astype(str).replace({"G007": "X"})
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    extra = pd.DataFrame({"source": ["X", "X"], "target": ["G010", "G011"], "weight": [1.0, 0.5]})
    net = pd.concat([hp.datasets.truth_network(a, seed=0), extra])
    genes = [*map(str, a.var_names), "X"]
    table = pd.DataFrame({"hgnc_symbol": genes, "ensembl_gene_id": [f"ENSG{k:05d}" for k in range(len(genes))]})
    table["uniprot_id"] = [None if k % 3 else f"P{k}" for k in range(len(genes))]  # gaps in an unused column
    sym, ens = a.copy(), a.copy()
    ens.var_names = table["ensembl_gene_id"][: a.n_vars].to_list()
    hp.pp.gene_network(sym, net)
    hp.pp.gene_network(ens, net, mapping=table)
    graphs = []
    for b in (sym, ens):
        hp.tl.rewards(b, verbose=False)
        graphs.append(build_graph_inputs(resolve(b), seed=0))
    gs, ge = graphs
    assert (gs.target_node >= 0).all()
    np.testing.assert_array_equal(gs.target_node, ge.target_node)
    assert ge.nodes[gs.n_genes :] == [table["ensembl_gene_id"].iloc[-1]]  # X is an extra node, by its mapped id
    assert [ge.nodes[k] for k in ge.target_node] == ge.targets  # the recorded targets are the nodes' names
    assert gs.targets == [gs.nodes[k] for k in gs.target_node]  # without a mapping: the labels, as before
    assert (gs.adjacency != ge.adjacency).nnz == 0
