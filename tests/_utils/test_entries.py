"""Typed ledger readers (_utils/_entries.py): the h5ad encoding is decoded once, absent entries read as empty."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest

from hyperperturb._utils import _entries, record


def _adata() -> ad.AnnData:
    a = ad.AnnData(np.zeros((3, 4), dtype=np.float32))
    a.var_names = ["G0", "G1", "G2", "G3"]
    return a


def test_absent_entries_read_as_empty():
    a = _adata()
    assert _entries.entry(a, "train") == {}
    assert _entries.params(a, "train") == {}
    assert _entries.perturbation_names(a) == [] and _entries.perturbation_targets(a) == []
    assert _entries.reward_perturbations(a) == [] and _entries.train_perturbations(a) == []
    assert _entries.network_extra_nodes(a) == []
    ee = _entries.network_extra_edges(a)
    assert [len(ee[k]) for k in ("i", "j", "weight")] == [0, 0, 0]
    assert _entries.curvature(a) == 1.0 and _entries.geometry(a) == "poincare"
    assert _entries.preprocess_layer(a) is None
    nodes, emb = _entries.train_extra_nodes(a, dim=2)
    assert nodes == [] and emb.shape == (0, 2)
    with pytest.raises(KeyError, match="hp.tl.train"):
        _entries.train_entry(a, needed_by="test")


def test_none_is_decoded_once_after_an_h5ad_round_trip(tmp_path):
    a = _adata()
    record(a, "train", {"params": {"refine": None, "curvature": 0.5, "geometry": "poincare", "key_added": "X_p"}})
    record(a, "preprocess", {"layer": None})
    a.write_h5ad(tmp_path / "a.h5ad")
    b = ad.read_h5ad(tmp_path / "a.h5ad")
    assert b.uns["hyperperturb"]["train"]["params"]["refine"] == "None"  # how h5ad stores it
    p = _entries.train_params(b)
    assert p["refine"] is None and p["key_added"] == "X_p"
    assert _entries.curvature(b) == 0.5
    assert _entries.preprocess_layer(b) is None
    assert _entries.decode("None") is None and _entries.decode("none") == "none" and _entries.decode(0) == 0


def test_perturbations_network_and_columns():
    a = _adata()
    record(a, "perturbations", {"names": np.array(["p1", "p2"]), "targets": np.array(["G1", "G2"])})
    record(a, "network", {"extra_nodes": np.array(["X"]), "extra_edges": {"i": [4], "j": [0]}})
    record(a, "rewards", {"perturbations": np.array(["p2"])})
    assert _entries.perturbation_names(a) == ["p1", "p2"]
    assert _entries.target_of(a) == {"p1": "G1", "p2": "G2"}
    assert _entries.reward_perturbations(a) == ["p2"]
    assert _entries.network_extra_nodes(a) == ["X"]
    ee = _entries.network_extra_edges(a)
    assert ee["i"].tolist() == [4] and ee["j"].tolist() == [0] and ee["weight"].tolist() == [1.0]
    a.varm["hp_reward"] = np.zeros((4, 1))
    a.varm["other"] = np.zeros((4, 2))
    assert _entries.perturbation_columns(a, "hp_reward") == ["p2"]
    assert _entries.perturbation_columns(a, "other") == ["p1", "p2"]
    a.varm["bad"] = np.zeros((4, 3))
    with pytest.raises(ValueError, match="no perturbation names of that length"):
        _entries.perturbation_columns(a, "bad")


def test_names_of_any_shape():
    assert _entries.names(np.array([["a"], ["b"]])) == ["a", "b"]
    assert _entries.names("x") == ["x"]
    assert _entries.names([1, 2]) == ["1", "2"]
