"""Issue 22: the stored model matched to genes by name, the protein modality resolved once, stale results refused."""

from __future__ import annotations

import warnings

import matplotlib
import mudata as md
import numpy as np
import pytest
import scanpy as sc

import hyperperturb as hp
from hyperperturb._utils import get_ledger

from ._snapshot import assert_unchanged, snapshot

matplotlib.use("Agg")


def _screen(seed: int = 0):
    a = hp.datasets.synthetic(n_cells=300, n_genes=30, n_perturbations=5, seed=seed)
    sc.pp.log1p(a)
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    hp.pp.gene_network(a, hp.datasets.truth_network(a))
    hp.tl.rewards(a, verbose=False)
    return a


@pytest.fixture(scope="module")
def trained():
    a = _screen()
    hp.tl.train(a, epochs=10, verbose=False)
    return a


# ------------------------------------------------------------------------------ genes matched by name (HIGH)
@pytest.mark.parametrize("method", ["auto", "head"])
@pytest.mark.parametrize("kind", ["policy", "reward"])
def test_predict_after_gene_reorder_matches_by_name(trained, method, kind):
    a = trained
    before = hp.tl.predict(a, kind=kind, method=method)
    b = a[:, list(a.var_names)[::-1]].copy()
    after = hp.tl.predict(b, kind=kind, method=method)
    assert list(after.index) == list(b.var_names)  # rows follow the object's gene order
    np.testing.assert_allclose(after.to_numpy(), before.loc[after.index].to_numpy(), rtol=1e-5, atol=1e-7)
    # a new perturbation named by its target gene, too
    new = [g for g in a.var_names if g not in set(hp.get.rewards(a).columns)][:1]
    np.testing.assert_allclose(
        hp.tl.predict(b, new, kind=kind, method=method).to_numpy(),
        hp.tl.predict(a, new, kind=kind, method=method).loc[list(b.var_names)].to_numpy(),
        rtol=1e-5,
        atol=1e-7,
    )


def test_kernel_readout_is_exercised(trained):
    assert bool(get_ledger(trained)["train"]["kernel"]["available"])


def test_predict_refuses_missing_or_added_genes(trained):
    b = trained[:, 1:].copy()
    snap = snapshot(b)
    with pytest.raises(ValueError, match=r"1 trained gene\(s\) are missing.*G000.*matched by name"):
        hp.tl.predict(b)
    assert_unchanged(b, snap)


def test_save_model_after_gene_reorder(trained, tmp_path):
    b = trained[:, list(trained.var_names)[::-1]].copy()
    path = hp.tl.save_model(b, tmp_path / "m.keras")
    assert path.exists()


def test_simple_model_after_gene_reorder():
    a = _screen()
    hp.tl.train(a, model="simple", epochs=5, verbose=False)
    before = hp.tl.predict(a, kind="reward")
    b = a[:, list(a.var_names)[::-1]].copy()
    after = hp.tl.predict(b, kind="reward")
    np.testing.assert_allclose(after.to_numpy(), before.loc[after.index].to_numpy(), rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------------------ protein modality (HIGH)
def _mudata(*names: str):
    m = hp.datasets.synthetic(n_cells=200, n_genes=20, n_perturbations=3, protein=True, seed=0)
    rna, prot = m.mod["rna"], m.mod["prot"]
    sc.pp.log1p(rna)
    sc.pp.log1p(prot)
    out = md.MuData({"rna": rna, **{n: prot.copy() for n in names}})
    hp.pp.perturbations(out, key="perturbation", control="non-targeting")
    return out


@pytest.mark.parametrize("name", ["adt", "protein"])
def test_train_with_adt_or_protein_modality(name):
    m = _mudata(name)
    hp.tl.rewards(m, verbose=False)
    hp.tl.train(m, epochs=2, verbose=False)
    assert m.mod[name].varm["X_poincare"].shape[0] == m.mod[name].n_vars
    assert np.isfinite(m.mod[name].var["hp_value"]).all()
    assert get_ledger(m.mod["rna"])["train"]["params"]["prot_mod"] == name


def test_two_protein_modalities_warn_and_name_the_choice():
    m = _mudata("adt", "protein")
    with pytest.warns(UserWarning, match=r"several protein-like modalities \['adt', 'protein'\].*prot_mod="):
        hp.tl.rewards(m, verbose=False)
    with warnings.catch_warnings():  # an explicit choice is silent
        warnings.simplefilter("error", UserWarning)
        hp.tl.rewards(m, prot_mod="protein", verbose=False)
    assert get_ledger(m.mod["rna"])["rewards"]["protein_mod"] == "protein"


# ------------------------------------------------------------------------------ stale results (MED)
def _stale_call(a, call):
    snap = snapshot(a)
    with pytest.raises(ValueError, match=r"stale.*Re-run `hp.tl.train"):
        call(a)
    assert_unchanged(a, snap)


@pytest.mark.parametrize(
    "call",
    [
        lambda a: hp.get.rank_perturbations(a, "G003", source="predicted"),
        lambda a: hp.pl.rank_perturbations(a, "G003", show=False),
        lambda a: hp.pl.poincare(a, show=False),
        lambda a: hp.get.embedding(a),
        lambda a: hp.tl.predict(a),
    ],
    ids=["get.rank_perturbations", "pl.rank_perturbations", "pl.poincare", "get.embedding", "predict"],
)
def test_readers_of_the_model_refuse_after_rewards_rerun(trained, call):
    a = trained.copy()
    call(a)  # current: works
    hp.tl.rewards(a, targets="reward", verbose=False)  # another result
    _stale_call(a, call)
    hp.get.rank_perturbations(a, "G003", source="observed")  # the new rewards themselves are current


def test_design_under_key_added_tracked_for_staleness(trained):
    a = trained.copy()
    hp.tl.design(a, n=2, key_added="next_batch")
    assert len(hp.get.design(a, key="next_batch")) == 2
    hp.tl.rewards(a, targets="reward", verbose=False)
    with pytest.raises(ValueError, match=r"stale.*key_added='next_batch'|stale.*hp.tl.train"):
        hp.get.design(a, key="next_batch")


def test_get_design_unknown_key_names_the_stored_designs(trained):
    a = trained.copy()
    hp.tl.design(a, n=1, key_added="next_batch")
    with pytest.raises(KeyError, match=r"No design stored under key='nope'.*\['next_batch'\]"):
        hp.get.design(a, key="nope")


def test_network_map_tracked_for_staleness():
    a = _screen()
    hp.tl.embed_network(a, epochs=5, verbose=False)
    hp.get.embedding(a, basis="X_poincare_network")
    hp.tl.embedding_quality(a, basis="X_poincare_network")
    hp.pp.gene_network(a, "coexpression")  # another network
    for call in (
        lambda x: hp.get.embedding(x, basis="X_poincare_network"),
        lambda x: hp.tl.embedding_quality(x, basis="X_poincare_network"),
    ):
        snap = snapshot(a)
        with pytest.raises(ValueError, match=r"stale.*Re-run `hp.tl.embed_network"):
            call(a)
        assert_unchanged(a, snap)


# ------------------------------------------------------------------------------ cells removed after rewards (MED)
@pytest.mark.parametrize("how", ["one_perturbation", "half", "controls_relabelled"])
def test_cells_changed_after_rewards_refused(how):
    a = _screen()
    if how == "one_perturbation":
        b = a[a.obs["perturbation"] != "G003"].copy()
    elif how == "half":
        b = a[::2].copy()
    else:
        b = a.copy()
        b.obs["hp_control"] = False
    snap = snapshot(b)
    with pytest.raises(ValueError, match=r"cells changed since `hp.tl.rewards`.*Re-run `hp.tl.rewards"):
        hp.tl.train(b, epochs=2, verbose=False)
    assert_unchanged(b, snap)


def test_cells_reordered_after_rewards_accepted():
    a = _screen()
    b = a[::-1].copy()
    hp.tl.train(b, epochs=2, verbose=False)
    assert "train" in get_ledger(b)


def test_cells_removed_after_training_refused_by_predict(trained):
    b = trained[trained.obs["perturbation"] != "G003"].copy()
    with pytest.raises(ValueError, match="cells changed since `hp.tl.rewards`"):
        hp.tl.predict(b)
