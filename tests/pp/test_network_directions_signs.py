"""Directions and signs of edge lists reach the propagation readout as the table means them (probe of 2026-12-05).

Each test fails on the code before its fix:

- an interaction export listing each pair once (STRING: ``gene_a``/``gene_b``/``combined_score``, or
  ``hp.datasets.string_network``'s table) was stored one way in the listed, arbitrary order;
- the edges of an unmeasured regulator ("extra node") lost their direction and their repressions (sent both ways,
  positive), so knocking out one of its targets moved the regulator's other targets;
- a numeric ``mor``/``sign`` column next to a strength weight, or a weight column read as text, lost every sign;
- ids with surrounding whitespace matched no gene, and an edge listed as activation and as repression, silently.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from anndata import AnnData

import hyperperturb as hp
from hyperperturb._utils import _entries
from hyperperturb.tl._transfer._propagation import network_operator


def _genes(*names: str) -> AnnData:
    rng = np.random.default_rng(0)
    return AnnData(rng.poisson(2.0, size=(6, len(names))).astype(np.float32), var=pd.DataFrame(index=list(names)))


def _directed(a: AnnData) -> pd.DataFrame:
    D = a.varp["hp_adjacency_directed"].tocoo()
    v = a.var_names
    return pd.DataFrame({"s": v[D.row], "t": v[D.col], "w": D.data})


@pytest.mark.parametrize(
    "columns",
    [("gene_a", "gene_b", "combined_score"), ("protein1", "protein2", "combined_score"), ("node1", "node2", "score")],
)
def test_interaction_export_counts_both_ways(columns):
    a = _genes("A", "B", "C")
    s, t, w = columns
    hp.pp.gene_network(a, pd.DataFrame({s: ["A", "C"], t: ["B", "B"], w: [900, 800]}))
    d = _directed(a)
    assert set(zip(d.s, d.t, strict=True)) == {("A", "B"), ("B", "A"), ("C", "B"), ("B", "C")}
    assert _entries.params(a, "network")["directed"] is False
    # the listed order is kept when asked for
    hp.pp.gene_network(a, pd.DataFrame({s: ["A", "C"], t: ["B", "B"], w: [900, 800]}), directed=True)
    assert set(zip(_directed(a).s, _directed(a).t, strict=True)) == {("A", "B"), ("C", "B")}


def test_string_network_table_is_marked_undirected(tmp_path):
    pd.DataFrame({"gene_a": ["A", "C"], "gene_b": ["B", "B"], "combined_score": [900, 950]}).to_csv(
        tmp_path / "string_v12_human_ppi_symbols.csv.gz", index=False
    )
    net = hp.datasets.string_network(tmp_path, min_score=700)
    net = net[net["weight"] > 0.5]  # a filtered copy keeps the mark
    a = _genes("A", "B", "C")
    hp.pp.gene_network(a, net)
    assert len(_directed(a)) == 4


def test_regulon_keeps_the_listed_direction():
    a = _genes("A", "B", "C")
    hp.pp.gene_network(a, pd.DataFrame({"source": ["A", "B"], "target": ["B", "C"], "weight": [1.0, 1.0]}))
    assert set(zip(_directed(a).s, _directed(a).t, strict=True)) == {("A", "B"), ("B", "C")}
    assert _entries.params(a, "network")["directed"] is True


@pytest.mark.parametrize(
    "table",
    [
        pd.DataFrame({"tf": ["A", "A"], "target": ["B", "C"], "mor": [1.0, -1.0], "likelihood": [0.9, 0.9]}),
        pd.DataFrame({"source": ["A", "A"], "target": ["B", "C"], "weight": [0.9, 0.9], "mor": [1, -1]}),
        pd.DataFrame({"source": ["A", "A"], "target": ["B", "C"], "weight": [0.9, 0.9], "sign": [1, -1]}),
        pd.DataFrame({"source": ["A", "A"], "target": ["B", "C"], "weight": ["1", "-1"]}),
    ],
)
def test_signs_from_a_numeric_or_text_column(table):
    before = table.copy()
    a = _genes("A", "B", "C")
    hp.pp.gene_network(a, table)
    d = _directed(a).set_index("t")
    assert d.loc["B", "w"] > 0 and d.loc["C", "w"] < 0
    assert _entries.entry(a, "network")["signed"]
    pd.testing.assert_frame_equal(table, before)  # the caller's table is not converted in place


def test_whitespace_in_ids_is_removed_with_a_warning():
    a = _genes("A", "B", "C")
    with pytest.warns(UserWarning, match="whitespace"):
        hp.pp.gene_network(a, pd.DataFrame({"source": ["A ", " B"], "target": ["B", "C"]}))
    assert len(_directed(a)) == 2


def test_activation_and_repression_of_one_edge_warn():
    a = _genes("A", "B", "C")
    net = pd.DataFrame({"source": ["A", "A", "B"], "target": ["B", "B", "C"], "weight": [1.0, -1.0, 1.0]})
    with pytest.warns(UserWarning, match="both as activation and as repression"):
        hp.pp.gene_network(a, net)


def test_extra_node_edges_keep_direction_and_sign():
    # R (a screened regulator, not measured) activates A and B and represses C; C has no other edge
    a = _genes("A", "B", "C", "D")
    a.obs["perturbation"] = ["R", "R", "C", "C", "non-targeting", "non-targeting"]
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    net = pd.DataFrame(
        {"source": ["R", "R", "R", "A"], "target": ["A", "B", "C", "D"], "weight": [1.0, 1.0, -1.0, 1.0]}
    )
    hp.pp.gene_network(a, net)
    assert _entries.network_extra_nodes(a) == ["R"]
    ex = _entries.network_extra_edges(a)
    M = network_operator(a, 5, 4, ex).toarray()  # nodes A, B, C, D, R
    assert M[4, 0] > 0 and M[4, 1] > 0 and M[4, 2] < 0  # R -> A, R -> B, R -| C
    assert M[0, 4] == 0 and M[2, 4] == 0  # no edge back up to the regulator
    assert M[0, 3] > 0 and M[3, 0] == 0  # the measured edge as listed
    # a gene reorder keeps them on the right genes (stored by name)
    b = a[:, ["D", "C", "B", "A"]].copy()
    M2 = network_operator(b, 5, 4, _entries.network_extra_edges(b)).toarray()  # nodes D, C, B, A, R
    assert M2[4, 1] < 0 and M2[4, 3] > 0 and M2[1, 4] == 0


def test_extra_node_edges_both_ways_when_undirected():
    a = _genes("A", "B")
    a.obs["perturbation"] = ["R", "R", "A", "A", "non-targeting", "non-targeting"]
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hp.pp.gene_network(a, pd.DataFrame({"source": ["R", "A"], "target": ["A", "B"]}), directed=False)
    M = network_operator(a, 3, 2, _entries.network_extra_edges(a)).toarray()
    assert M[2, 0] > 0 and M[0, 2] > 0


def test_extra_node_edges_directed_when_no_measured_gene_pair_is_linked():
    a = _genes("A", "B", "C")
    a.obs["perturbation"] = ["R", "R", "A", "A", "non-targeting", "non-targeting"]
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    net = pd.DataFrame({"source": ["R", "R"], "target": ["A", "B"], "weight": [1.0, -1.0]})
    hp.pp.gene_network(a, net, allow_empty=True)  # no edge between measured genes: only R's
    M = network_operator(a, 4, 3, _entries.network_extra_edges(a)).toarray()
    assert M[3, 0] > 0 and M[3, 1] < 0 and M[0, 3] == 0 and M[1, 3] == 0
