"""The SERGIO knock-out screen generator of benchmarks/knockout_screens.py (issue 21)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "knockout_screens.py"


@pytest.fixture(scope="module")
def ks():
    spec = importlib.util.spec_from_file_location("knockout_screens", _PATH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("knockout_screens", mod)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def collectri(shared_data: Path) -> Path:
    p = shared_data / "collectri_human.csv.gz"
    if not p.exists():
        pytest.skip(f"{p.name} is absent from the shared data folder")
    return p


@pytest.mark.real
def test_build_grn_is_a_connected_dag(ks, collectri):
    edges, info = ks.build_grn(0, data=collectri)
    assert list(edges.columns) == ["source", "target", "weight"]
    assert set(edges["weight"]) <= {-1.0, 1.0}
    assert not edges.duplicated(["source", "target"]).any()
    g = nx.DiGraph(zip(edges["source"], edges["target"], strict=True))
    assert nx.is_directed_acyclic_graph(g)
    assert nx.is_weakly_connected(g)
    assert 30 <= info["n_tf"] <= 40
    assert info["n_genes"] == g.number_of_nodes() <= 300
    assert g.number_of_nodes() >= 150
    assert set(info["tfs"]) == set(edges["source"])
    assert info["master_regulators"] and all(g.in_degree(m) == 0 for m in info["master_regulators"])
    # hierarchical: some TF lies at least three levels below a master regulator
    assert info["max_level"] >= 3
    again, _ = ks.build_grn(0, data=collectri)
    pd.testing.assert_frame_equal(edges, again)


def test_corrupt_network_keeps_the_edge_count(ks):
    genes = [f"g{i}" for i in range(30)]
    rng = np.random.default_rng(0)
    pairs = {(genes[i], genes[j]) for i, j in rng.integers(0, 30, (80, 2)) if i < j}
    edges = pd.DataFrame(sorted(pairs), columns=["source", "target"]).assign(weight=1.0)
    bad = ks.corrupt_network(edges, frac=0.3, seed=1)
    assert len(bad) == len(edges)
    assert not bad.duplicated(["source", "target"]).any()
    assert (bad["source"] != bad["target"]).all()
    kept = set(zip(bad["source"], bad["target"], strict=True)) & pairs
    assert len(kept) == len(edges) - round(0.3 * len(edges))
    assert set(bad["source"]) | set(bad["target"]) <= set(genes)


def test_knockout_propagates_downstream(ks):
    pytest.importorskip("SERGIO", reason='SERGIO is an optional extra: pip install -e ".[benchmark]"')
    # A -> B -> C -> D and A -| E; knocking out A must lower B, C, D and raise E (half-responses stay wild-type)
    edges = pd.DataFrame({"source": list("ABCA"), "target": list("BCDE"), "weight": [1.0, 1.0, 1.0, -1.0]})
    k = 3.0 * edges["weight"].to_numpy()
    state = np.random.get_state()
    expr, half = ks.simulate_conditions(
        edges, k, ["control", "A"], {"A": 4.0}, n_cells=20, seed=0, safety_iter=100, scale_iter=10
    )
    assert np.array_equal(np.random.get_state()[1], state[1])  # SERGIO's global draws are put back
    assert half[("A", "B")] == pytest.approx(4.0 / 0.8)  # wild-type steady state of A
    lab = np.repeat(["control", "A"], 20)
    ctrl = expr.loc[:, lab == "control"].mean(1)
    ko = expr.loc[:, lab == "A"].mean(1)
    assert ko["A"] == 0.0
    for g in "BCD":
        assert ko[g] < 0.5 * ctrl[g], g
    assert ko["E"] > 1.5 * ctrl["E"]


def test_technical_noise_is_seeded_counts(ks):
    clean = np.random.default_rng(0).gamma(2.0, 2.0, (50, 40))
    a = ks.technical_noise(clean, 3)
    assert a.shape == clean.shape
    assert np.issubdtype(a.dtype, np.integer) and (a >= 0).all()
    assert np.array_equal(a, ks.technical_noise(clean, 3))
    assert (a == 0).mean() > 0.05  # dropout
