"""``hp.get.readout``: the held-out readout training chose, as one record."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import pytest

import hyperperturb as hp

sys.path.insert(0, str(Path(__file__).parents[1] / "tl" / "_model"))
from test_train import _prepared


@pytest.fixture(scope="module")
def screen():
    return _prepared(seed=1, n_genes=40, n_perturbations=8)


@pytest.fixture(scope="module")
def trained(screen):
    return hp.tl.train(screen, epochs=5, verbose=False, copy=True)


def _kernel(adata) -> dict:
    return adata.uns["hyperperturb"]["train"]["kernel"]


def test_readout_is_the_stored_choice(trained):
    before = copy.deepcopy(_kernel(trained))
    r = hp.get.readout(trained)
    k = _kernel(trained)
    assert r.name == "readout"
    assert r["available"] is True and r["n_cv"] == int(k["n_cv"]) == 8
    assert r["prior"] == k["prior"] and r["source"] == k["source"]
    assert r["cv_score"] == pytest.approx(float(k["cv_score"]))
    assert r["cv_score_without_network"] == pytest.approx(float(k["prior_cv_score"]))
    assert r["on_target"] == (float(k["on_target"]) != 0.0)
    # the true network of the synthetic hierarchy: a network term is kept here (not a condition that could skip)
    assert k["source"] != "none" and r["uses_network"] is True
    assert r["network_cv_gain"] == pytest.approx(r["cv_score"] - r["cv_score_without_network"])
    assert r["network_cv_gain"] > 0
    assert r["network_term"] in r["summary"] and "without the network" in r["summary"]
    assert r["summary"].startswith(f"{k['prior']} prior")
    # reading changes nothing
    assert set(_kernel(trained)) == set(before)
    assert all(np.array_equal(np.asarray(_kernel(trained)[f]), np.asarray(before[f])) for f in before)


@pytest.mark.parametrize(
    ("source", "term", "uses_map", "extra"),
    [
        ("none", "none", False, ()),
        ("propagation", "propagation along the network", False, ("prop_norm", "prop_alpha", "prop_shrink")),
        ("graph", "transfer from network neighbours", False, ("tau_rel", "kappa", "gamma")),
        ("embedding", "transfer from map neighbours", True, ("tau_rel", "kappa", "gamma")),
    ],
)
def test_each_network_term_in_words(trained, source, term, uses_map, extra):
    a = trained.copy()
    k = _kernel(a)
    k["source"] = source
    if source == "none":
        k["cv_score"] = k["prior_cv_score"]
        k["transfer_cv_gain"] = 0.0
    r = hp.get.readout(a)
    assert r["network_term"] == term
    assert r["uses_network"] == (source != "none")
    assert r["uses_map"] == uses_map
    assert all(f in r.index for f in extra)
    other = {"prop_norm", "prop_alpha", "prop_shrink", "tau_rel", "kappa", "gamma"} - set(extra)
    assert not other & set(r.index)
    if source == "none":
        assert r["network_cv_gain"] == 0.0
        assert "no network term" in r["summary"] and "did not beat it" in r["summary"]


def test_no_readout_fitted_is_said(trained):
    a = trained.copy()
    _kernel(a)["available"] = False
    r = hp.get.readout(a)
    assert r["available"] is False and r["uses_network"] is False and r["on_target"] is False
    assert r["network_term"] == "none" and "no readout fitted" in r["summary"]


def test_needs_training(screen):
    with pytest.raises(KeyError, match=r"hp\.tl\.train"):
        hp.get.readout(screen)


def test_simple_model_has_no_readout(screen):
    a = hp.tl.train(screen, model="simple", epochs=2, verbose=False, copy=True)
    with pytest.raises(ValueError, match="model='simple'"):
        hp.get.readout(a)


def test_survives_an_h5ad_round_trip(trained, tmp_path):
    import warnings

    import anndata as ad

    f = tmp_path / "t.h5ad"
    trained.write_h5ad(f)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # no array-to-scalar conversion of stored values
        back = hp.get.readout(ad.read_h5ad(f))
    here = hp.get.readout(trained)
    assert list(back.index) == list(here.index)
    for key in here.index:
        if isinstance(here[key], float):
            np.testing.assert_allclose(back[key], here[key])
        else:
            assert back[key] == here[key], key
