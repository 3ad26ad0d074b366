"""The typed ledger (``hyperperturb._utils._schema``): round trips through h5ad, refusal of outdated entries."""

from __future__ import annotations

import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pytest

import hyperperturb as hp
from hyperperturb._utils import record, require_step
from hyperperturb._utils._ledger import SCHEMA_VERSIONS
from hyperperturb._utils._schema import (
    ENTRIES,
    NetworkEntry,
    PerturbationsEntry,
    RewardsEntry,
    TrainEntry,
    find,
    read,
)

sys.path.insert(0, str(Path(__file__).parents[1] / "tl" / "_model"))
from test_train import _prepared


def _same(a, b) -> None:
    """Two stored entries hold the same values (arrays compared by value, names as strings)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (sorted(a), sorted(b))
        for k in a:
            _same(a[k], b[k])
        return
    x, y = np.asarray(a), np.asarray(b)
    if x.dtype.kind in "OUS" or y.dtype.kind in "OUS":
        np.testing.assert_array_equal(x.astype(str), y.astype(str))
    else:
        np.testing.assert_allclose(x.astype(np.float64), y.astype(np.float64), equal_nan=True)


@pytest.fixture(scope="module")
def trained():
    a = _prepared(seed=2, n_genes=30, n_perturbations=4)
    hp.tl.train(a, epochs=3, verbose=False)
    return a


@pytest.mark.parametrize("cls", [PerturbationsEntry, NetworkEntry, RewardsEntry, TrainEntry])
def test_typed_entries_round_trip_through_h5ad(trained, cls, tmp_path):
    before = read(trained, cls, needed_by="test")
    path = tmp_path / "l.h5ad"
    trained.write_h5ad(path)
    back = ad.read_h5ad(path)
    after = read(back, cls, needed_by="test")
    _same(before.to_uns(), after.to_uns())
    # the writer is the inverse of the reader: recording to_uns() stores the same entry again
    record(back, cls.STEP, after.to_uns())
    _same(find(back, cls).to_uns(), after.to_uns())
    stored = back.uns["hyperperturb"][cls.STEP]
    assert int(stored["schema"]) == cls.schema_version() == SCHEMA_VERSIONS[cls.STEP]


def test_every_typed_entry_has_a_schema_version():
    assert set(ENTRIES) <= set(SCHEMA_VERSIONS)


def test_train_entry_typed_fields(trained):
    e = read(trained, TrainEntry, needed_by="test")
    assert e.model == "hyperperturb" and e.geometry == "poincare"
    assert e.kernel is not None and e.kernel.form == "residual"
    assert e.perturbation_embedding.shape == (len(e.perturbations), 2)
    assert e.graph.n_graph == e.graph.n_genes + e.graph.n_extra
    # the starting map of `refine` is stored once: in network_map, not among the Keras weights
    assert not any("base_map" in k for k in e.weights)
    assert e.map_embedding is not None and e.map_embedding.shape == (len(e.graph.nodes), 2)


@pytest.mark.parametrize("schema", [None, 0, 99])
@pytest.mark.parametrize("step", ["perturbations", "rewards", "train"])
def test_entries_without_the_current_schema_are_refused(trained, step, schema):
    b = trained.copy()
    entry = dict(b.uns["hyperperturb"][step])
    if schema is None:
        del entry["schema"]
    else:
        entry["schema"] = schema
    b.uns["hyperperturb"][step] = entry
    with pytest.raises(ValueError, match=rf"schema.*Re-run `hp\.(pp|tl)\.{step}"):
        require_step(b, step, needed_by="test")
    with pytest.raises(ValueError, match="Re-run"):
        find(b, ENTRIES[step])


def test_missing_field_names_the_step_to_re_run(trained):
    b = trained.copy()
    entry = dict(b.uns["hyperperturb"]["network"])
    del entry["extra_edges"]
    b.uns["hyperperturb"]["network"] = entry
    with pytest.raises(KeyError, match=r"lacks 'extra_edges'.*Re-run `hp.pp.gene_network"):
        find(b, NetworkEntry)


def test_predict_refuses_an_outdated_train_entry(trained):
    b = trained.copy()
    b.uns["hyperperturb"]["train"] = {k: v for k, v in b.uns["hyperperturb"]["train"].items() if k != "schema"}
    with pytest.raises(ValueError, match=r"no schema version.*Re-run `hp.tl.train"):
        hp.tl.predict(b)
