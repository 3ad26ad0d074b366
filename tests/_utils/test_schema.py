"""The typed ledger (``hyperperturb._utils._schema``): round trips through h5ad, refusal of outdated entries."""

from __future__ import annotations

import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc

import hyperperturb as hp
from hyperperturb._utils import record, require_step
from hyperperturb._utils._ledger import SCHEMA_VERSIONS
from hyperperturb._utils._schema import (
    ENTRIES,
    DesignEntry,
    EmbedNetworkEntry,
    EvaluationEntry,
    LogFoldChangeEntry,
    PreprocessEntry,
    TrainEntry,
    find,
    keys_of,
    read,
)
from hyperperturb._utils._validate import str_array

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
    if x.dtype.kind in "OUST" or y.dtype.kind in "OUST":  # T: StringDType (zarr)
        np.testing.assert_array_equal(str_array(x), str_array(y))
    else:
        np.testing.assert_allclose(x.astype(np.float64), y.astype(np.float64), equal_nan=True)


@pytest.fixture(scope="module")
def trained():
    a = _prepared(seed=2, n_genes=30, n_perturbations=4)
    hp.tl.train(a, epochs=3, verbose=False)
    return a


@pytest.fixture(scope="module")
def full(trained):
    """Every step of the tl pipeline after training (a design also under its own key)."""
    a = trained.copy()
    hp.pp.log_fold_change(a)
    hp.tl.evaluate(a, n_splits=2, models=(), baselines=("mean",), n_null=20, verbose=False)
    hp.tl.design(a, n=2)
    hp.tl.design(a, n=2, key_added="next")
    hp.tl.embed_network(a, epochs=10, verbose=False)
    return a


@pytest.fixture(scope="module")
def preprocessed():
    a = hp.datasets.synthetic(n_cells=300, n_genes=40, n_perturbations=4, seed=0)
    hp.pp.preprocess(a, n_top_genes=30, n_pcs=10, neighbors=False, perturbation_key="perturbation")
    return a


@pytest.fixture
def holder(request, full, preprocessed):
    """The object holding the entry of a step."""
    return preprocessed if request.param == "preprocess" else full


STEPS = list(ENTRIES)
#: The function that writes each step's entry (named by the "re-run" messages).
_HOW = {
    "preprocess": "pp.preprocess",
    "perturbations": "pp.perturbations",
    "log_fold_change": "pp.log_fold_change",
    "network": "pp.gene_network",
    "rewards": "tl.rewards",
    "train": "tl.train",
    "evaluation": "tl.evaluate",
    "design": "tl.design",
    "embed_network": "tl.embed_network",
}


def _round_trip(adata: ad.AnnData, path: Path) -> ad.AnnData:
    """``adata`` written to ``path`` and read back (h5ad or zarr, by the suffix)."""
    if path.suffix == ".zarr":
        adata.write_zarr(path)
        return ad.read_zarr(path)
    adata.write_h5ad(path)
    return ad.read_h5ad(path)


@pytest.mark.parametrize("suffix", [".h5ad", ".zarr"])
@pytest.mark.parametrize(("cls", "holder"), [(ENTRIES[s], s) for s in STEPS], indirect=["holder"])
def test_typed_entries_round_trip_through_h5ad_and_zarr(holder, cls, suffix, tmp_path):
    before = read(holder, cls, needed_by="test")
    # the reader inverts the writer: decoding to_uns() gives the same entry again
    _same(cls.from_uns({**before.to_uns(), "schema": cls.schema_version()}).to_uns(), before.to_uns())
    # zarr (anndata >= 0.12, NumPy 2) gives the names back as StringDType arrays, which `.astype(str)` refuses
    back = _round_trip(holder, tmp_path / f"l{suffix}")
    after = read(back, cls, needed_by="test")
    _same(before.to_uns(), after.to_uns())
    # the writer is the inverse of the reader: recording to_uns() stores the same entry again
    record(back, cls.STEP, after.to_uns())
    _same(find(back, cls).to_uns(), after.to_uns())
    stored = back.uns["hyperperturb"][cls.STEP]
    assert int(stored["schema"]) == cls.schema_version() == SCHEMA_VERSIONS[cls.STEP]


def test_every_typed_entry_has_a_schema_version():
    assert set(ENTRIES) <= set(SCHEMA_VERSIONS)


def test_every_step_has_a_typed_entry():
    assert set(ENTRIES) == set(SCHEMA_VERSIONS)


def test_a_design_under_its_own_key_is_read_typed(full):
    assert keys_of(full, DesignEntry) == ["design", "next"]
    d = read(full, DesignEntry, needed_by="test", step="next")
    assert len(d.proposals) == 2 and d.params["n"] == 2
    assert hp.get.design(full, key="next").equals(d.proposals)
    b = full.copy()
    b.uns["hyperperturb"]["next"] = {k: v for k, v in b.uns["hyperperturb"]["next"].items() if k != "proposals"}
    with pytest.raises(
        KeyError, match=r"'next' entry.*lacks 'proposals'.*Re-run `hp.tl.design\(adata, key_added='next'\)`"
    ):
        hp.get.design(b, key="next")


def test_typed_entries_of_the_later_steps(full, preprocessed):
    ev = read(full, EvaluationEntry, needed_by="test")
    assert ev.baselines == ["mean"] and set(ev.splits) == set(ev.scored) == {"0", "1"}
    assert {"model", "metric", "value"} <= set(ev.results.columns)
    em = read(full, EmbedNetworkEntry, needed_by="test")
    assert em.key_added in full.varm and em.extra_embedding.shape[0] == len(em.extra_nodes)
    assert read(full, LogFoldChangeEntry, needed_by="test").n_control == int(full.obs["hp_control"].sum())
    pp = read(preprocessed, PreprocessEntry, needed_by="test")
    assert (pp.n_cells, pp.n_genes) == preprocessed.shape and pp.layer in preprocessed.layers


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
@pytest.mark.parametrize(("step", "holder"), [(s, s) for s in STEPS], indirect=["holder"])
def test_entries_without_the_current_schema_are_refused(holder, step, schema):
    b = holder.copy()
    entry = dict(b.uns["hyperperturb"][step])
    if schema is None:
        del entry["schema"]
    else:
        entry["schema"] = schema
    b.uns["hyperperturb"][step] = entry
    with pytest.raises(ValueError, match=rf"schema.*Re-run `hp\.{_HOW[step]}"):
        require_step(b, step, needed_by="test")
    with pytest.raises(ValueError, match="Re-run"):
        find(b, ENTRIES[step])


#: A field the writer of each step always stores.
_ALWAYS = {
    "preprocess": "layer",
    "perturbations": "names",
    "log_fold_change": "n_control",
    "network": "extra_edges",
    "rewards": "value_target",
    "train": "kernel",
    "evaluation": "summary",
    "design": "proposals",
    "embed_network": "level",
}


@pytest.mark.parametrize(("step", "holder"), [(s, s) for s in STEPS], indirect=["holder"])
def test_missing_field_names_the_step_to_re_run(holder, step):
    assert set(_ALWAYS) == set(ENTRIES)
    b = holder.copy()
    field = _ALWAYS[step]
    b.uns["hyperperturb"][step] = {k: v for k, v in b.uns["hyperperturb"][step].items() if k != field}
    with pytest.raises(KeyError, match=rf"lacks '{field}'.*Re-run `hp\.{_HOW[step]}"):
        find(b, ENTRIES[step])


def test_predict_refuses_an_outdated_train_entry(trained):
    b = trained.copy()
    b.uns["hyperperturb"]["train"] = {k: v for k, v in b.uns["hyperperturb"]["train"].items() if k != "schema"}
    with pytest.raises(ValueError, match=r"no schema version.*Re-run `hp.tl.train"):
        hp.tl.predict(b)


@pytest.fixture(scope="module")
def tiny_trained():
    """The tiny pipeline of the README: perturbations, truth network, rewards and two epochs of training."""
    a = hp.datasets.synthetic(n_cells=300, n_genes=40, n_perturbations=4, seed=0, verbose=False)
    sc.pp.normalize_total(a)
    sc.pp.log1p(a)
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    hp.pp.gene_network(a, hp.datasets.truth_network(a))
    hp.tl.rewards(a)
    hp.tl.train(a, epochs=2, seed=0, verbose=False)
    return a


def test_the_get_functions_read_the_same_after_a_zarr_round_trip(tiny_trained, tmp_path):
    back = _round_trip(tiny_trained, tmp_path / "a.zarr")
    pd.testing.assert_frame_equal(
        hp.get.rank_perturbations(back, "G001"), hp.get.rank_perturbations(tiny_trained, "G001")
    )
    pd.testing.assert_frame_equal(hp.get.embedding(back), hp.get.embedding(tiny_trained))
    pd.testing.assert_series_equal(hp.get.readout(back), hp.get.readout(tiny_trained))
    pd.testing.assert_frame_equal(hp.tl.predict(back), hp.tl.predict(tiny_trained))


def test_rewards_and_train_run_again_after_a_zarr_round_trip(tiny_trained, tmp_path):
    back = _round_trip(tiny_trained, tmp_path / "a.zarr")
    again = tiny_trained.copy()
    for x in (back, again):
        hp.tl.rewards(x)
        hp.tl.train(x, epochs=2, seed=0, verbose=False)
    np.testing.assert_allclose(back.varm["hp_reward"], again.varm["hp_reward"])
    np.testing.assert_allclose(back.varm["hp_policy"], again.varm["hp_policy"], rtol=1e-5, atol=1e-6)
