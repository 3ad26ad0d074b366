"""Edges to network nodes outside ``var_names`` are matched to the genes by name after a gene subset or reorder.

``hp.pp.gene_network`` stores the edges of perturbation targets that are network nodes but not measured genes
("extra nodes"). They used to be stored only as positions in ``[*var_names, *extra_nodes]``: after
``adata[:, genes]`` (an HVG subset, a sorted gene order) ``hp.tl.train``, ``hp.tl.design``, ``hp.tl.embed_network``
and ``hp.tl.evaluate`` read those positions against the new genes, so a reorder wired the extra node to other
genes and a subset dropped its edges without a word. They now follow the genes, as the ``.varp`` network does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hyperperturb as hp
from hyperperturb._utils import _entries, get_ledger

from ._data import screen

#: X9 and Y7 are perturbation targets outside var_names (G0..G11) but in the network.
PERTS = ("G0", "G1", "X9", "Y7")
NET = pd.DataFrame({"a": ["G0", "G1", "X9", "X9", "Y7"], "b": ["G1", "G2", "G4", "G7", "G10"]})


def _named_edges(adata) -> set[tuple[str, str]]:
    ex = _entries.network_extra_edges(adata)
    nodes = [*map(str, adata.var_names), *_entries.network_extra_nodes(adata)]
    return {tuple(sorted((nodes[i], nodes[j]))) for i, j in zip(ex["i"], ex["j"], strict=True)}


@pytest.fixture
def networked():
    a = screen(perts=PERTS)
    hp.pp.perturbations(a)
    hp.pp.gene_network(a, NET)
    assert list(get_ledger(a)["network"]["extra_nodes"]) == ["X9", "Y7"]
    return a


def test_reorder_keeps_the_extra_edges_on_their_genes(networked):
    before = _named_edges(networked)
    assert before == {("G4", "X9"), ("G7", "X9"), ("G10", "Y7")}
    reordered = networked[:, networked.var_names[::-1]].copy()
    assert _named_edges(reordered) == before


def test_subset_drops_only_the_edges_of_removed_genes(networked):
    kept = [g for g in networked.var_names if g != "G7"]
    sub = networked[:, kept].copy()
    assert _named_edges(sub) == {("G4", "X9"), ("G10", "Y7")}


def test_train_after_a_reorder_places_the_extra_node_by_name(networked):
    hp.tl.rewards(networked)
    reordered = networked[:, networked.var_names[::-1]].copy()
    hp.tl.train(reordered, epochs=1, seed=0)
    g = get_ledger(reordered)["train"]["graph"]
    nodes = np.asarray(g["nodes"]).astype(str)
    edges = {
        tuple(sorted((nodes[i], nodes[j]))) for i, j in zip(g["extra_edges"]["i"], g["extra_edges"]["j"], strict=True)
    }
    assert {("G4", "X9"), ("G7", "X9"), ("G10", "Y7")} <= edges
