"""A network stored with its directions (``hp.pp.gene_network(..., symmetric=False)``) works in every later step.

The models, the map and the plots use the undirected graph (the larger weight of the two directions); the
directions stay in ``.varp["hp_adjacency_directed"]`` for the propagation readout. Before this was handled, every
reader refused the directed matrix as "changed after hp.pp.gene_network wrote it".
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import scanpy as sc
from matplotlib.collections import LineCollection

import hyperperturb as hp

#: Trains two models (about 20 s on 2 cores): run in CI, not by default.
pytestmark = pytest.mark.slow

EPOCHS = 6


@pytest.fixture(scope="module")
def pair():
    """The same screen with its network stored undirected (default) and directed, each rewarded and trained."""
    base = hp.datasets.synthetic(n_cells=500, n_genes=40, n_perturbations=6, seed=5)
    sc.pp.normalize_total(base)
    sc.pp.log1p(base)
    hp.pp.perturbations(base, key="perturbation", control="non-targeting")
    net = hp.datasets.truth_network(base)
    undirected, directed = base.copy(), base.copy()
    hp.pp.gene_network(undirected, net)
    hp.pp.gene_network(directed, net, symmetric=False)
    for a in (undirected, directed):
        hp.tl.rewards(a)
        hp.tl.train(a, epochs=EPOCHS, verbose=False)
    return undirected, directed


def test_the_stored_matrix_keeps_its_directions(pair):
    undirected, directed = pair
    A = directed.varp["hp_adjacency"]
    assert abs(A - A.T).max() > 0  # really directed
    U = undirected.varp["hp_adjacency"]
    assert abs(A.maximum(A.T) - U).max() == 0


def test_training_sees_the_undirected_graph(pair):
    undirected, directed = pair
    np.testing.assert_array_equal(directed.varm["hp_reward"], undirected.varm["hp_reward"])
    np.testing.assert_allclose(directed.varm["hp_policy"], undirected.varm["hp_policy"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(directed.varm["X_poincare"], undirected.varm["X_poincare"], rtol=1e-5, atol=1e-6)


def test_design_and_embed_network_give_the_same_results(pair):
    undirected, directed = pair
    d_d = hp.tl.design(directed, n=3, copy=True)
    d_u = hp.tl.design(undirected, n=3, copy=True)
    assert list(hp.get.design(d_d)["gene"]) == list(hp.get.design(d_u)["gene"])
    np.testing.assert_allclose(hp.get.design(d_d)["degree"], hp.get.design(d_u)["degree"])
    e_d = hp.tl.embed_network(directed, dim=2, seed=0, copy=True)
    e_u = hp.tl.embed_network(undirected, dim=2, seed=0, copy=True)
    np.testing.assert_allclose(e_d.varm["X_poincare_network"], e_u.varm["X_poincare_network"])


def test_the_disk_draws_every_edge_of_a_directed_network(pair):
    undirected, directed = pair
    counts = []
    for a in (undirected, directed):
        ax = hp.pl.poincare(a, edges=True, show=False)
        counts.append(sum(len(c.get_segments()) for c in ax.collections if isinstance(c, LineCollection)))
        plt.close("all")
    assert counts[0] > 0 and counts[0] == counts[1]
