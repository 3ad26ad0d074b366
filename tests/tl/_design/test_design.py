"""hp.tl.design: proposals, strategies, ledger, simulated acquisition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scanpy as sc

import hyperperturb as hp
from hyperperturb.tl._design._design import _simulate_acquisition


@pytest.fixture(scope="module")
def screen():
    a = hp.datasets.synthetic(n_cells=1500, n_genes=80, n_perturbations=10, regulator_fraction=0.5, seed=0)
    sc.pp.normalize_total(a)
    sc.pp.log1p(a)
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    hp.pp.gene_network(a, hp.datasets.truth_network(a))
    hp.tl.rewards(a, verbose=False)
    return a


@pytest.mark.parametrize("strategy", ["greedy", "ucb", "random", "degree"])
def test_proposals_are_unscreened_graph_genes(screen, strategy):
    a = screen.copy()
    hp.tl.design(a, n=5, strategy=strategy, predictor="linear")
    d = hp.get.design(a)
    assert list(d.columns) == ["rank", "gene", "score", "predicted_effect", "uncertainty", "degree", "measured"]
    assert len(d) == 5 and d["rank"].tolist() == [1, 2, 3, 4, 5]
    assert not set(d["gene"]) & set(a.obs["perturbation"].astype(str))
    assert d["gene"].is_unique
    ent = a.uns["hyperperturb"]["design"]
    pd.testing.assert_frame_equal(ent["proposals"], d)
    assert ent["params"]["strategy"] == strategy


def test_degree_proposes_regulators_before_leaves(screen):
    cand = ~screen.var["is_perturbation_target"]
    n_reg = int((screen.var["is_regulator"] & cand).sum())
    assert n_reg >= 1
    d = hp.get.design(hp.tl.design(screen.copy(), n=n_reg, strategy="degree", copy=True))
    assert screen.var.loc[d["gene"], "is_regulator"].all()


def test_greedy_ranks_by_predicted_effect_and_ucb_spreads(screen):
    d = hp.get.design(hp.tl.design(screen.copy(), n=8, strategy="greedy", predictor="linear", copy=True))
    assert (np.diff(d["predicted_effect"].to_numpy()) <= 1e-12).all()
    u = hp.get.design(hp.tl.design(screen.copy(), n=8, strategy="ucb", predictor="linear", kappa=5.0, copy=True))
    assert u["uncertainty"].mean() >= d["uncertainty"].mean()


def test_random_is_seeded_and_budget_stops_early(screen):
    r1 = hp.get.design(hp.tl.design(screen.copy(), n=6, strategy="random", seed=1, copy=True))
    r2 = hp.get.design(hp.tl.design(screen.copy(), n=6, strategy="random", seed=1, copy=True))
    pd.testing.assert_frame_equal(r1, r2)
    full = hp.get.design(hp.tl.design(screen.copy(), n=60, strategy="greedy", predictor="linear", copy=True))
    part = hp.get.design(
        hp.tl.design(screen.copy(), n=60, strategy="greedy", predictor="linear", budget=0.2, copy=True)
    )
    assert 1 <= len(part) < len(full)


def test_copy_and_errors_leave_object_unchanged(screen):
    a = screen.copy()
    before = set(a.uns["hyperperturb"])
    out = hp.tl.design(a, n=3, copy=True, predictor="linear")
    assert "design" in out.uns["hyperperturb"] and set(a.uns["hyperperturb"]) == before
    # in place: returns None; proposals via hp.get.design under key_added
    assert hp.tl.design(a, n=3, predictor="linear", key_added="next_round") is None
    assert len(hp.get.design(a, key="next_round")) == 3
    with pytest.raises(KeyError, match="design"):
        hp.get.design(a)  # nothing stored under the default key
    before = set(a.uns["hyperperturb"])
    for kw, match in [
        ({"strategy": "thompson"}, "strategy"),
        ({"n": 0}, "positive integer"),
        ({"budget": 1.5}, "budget"),
        ({"predictor": "model"}, "hp.tl.train"),
        ({"candidates": [a.obs["perturbation"].astype(str).iloc[-1]]}, "already screened|not nodes"),
        ({"candidates": ["NOT_A_GENE"]}, "not nodes"),
    ]:
        with pytest.raises((ValueError, KeyError), match=match):
            hp.tl.design(a, **kw)
    assert set(a.uns["hyperperturb"]) == before


def test_simulated_acquisition_coverage_curve(screen):
    sim = _simulate_acquisition(screen, n_splits=2, holdout_frac=0.5, seed=0)
    assert set(sim["strategy"]) == {"greedy", "ucb", "random", "degree"}
    last = sim.groupby(["split", "strategy"])["coverage"].max()
    np.testing.assert_allclose(last, 1.0)  # all hidden effect is covered once every candidate is proposed
    mono = sim.groupby(["split", "strategy"])["coverage"].apply(lambda c: bool((np.diff(c.to_numpy()) >= -1e-12).all()))
    assert mono.all()


@pytest.mark.parametrize("strategy", ["greedy", "ucb"])
@pytest.mark.parametrize(
    "predictor",
    ["linear", pytest.param("model", marks=pytest.mark.slow)],  # "model" trains the network
)
def test_blocked_candidates_give_the_same_proposals(screen, monkeypatch, strategy, predictor):
    """Issue 16: candidates are predicted and their distances computed in blocks; the proposals do not change."""
    from hyperperturb.tl._design import _design

    a = screen.copy()
    if predictor == "model":
        hp.tl.train(a, epochs=3, verbose=False)
    ref = hp.get.design(hp.tl.design(a.copy(), n=8, strategy=strategy, predictor=predictor, copy=True))
    monkeypatch.setattr(_design, "CANDIDATE_BLOCK", 7)
    monkeypatch.setattr(_design, "_DIST_BLOCK", 5)
    blk = hp.get.design(hp.tl.design(a.copy(), n=8, strategy=strategy, predictor=predictor, copy=True))
    assert blk["gene"].tolist() == ref["gene"].tolist()
    pd.testing.assert_frame_equal(blk, ref, check_exact=False, rtol=1e-12, atol=1e-12)


def test_greedy_falls_back_to_degree_when_the_readout_kept_no_network_term(screen):
    a = screen.copy()
    hp.tl.train(a, epochs=3, verbose=False)
    kern = a.uns["hyperperturb"]["train"]["kernel"]
    if str(kern["source"]) != "none":  # the readout uses the network: greedy follows the predicted effect
        hp.tl.design(a, n=6, strategy="greedy", predictor="model")
        assert (np.diff(hp.get.design(a)["predicted_effect"].to_numpy()) <= 1e-12).all()
    kern["source"] = "none"  # as if leave-one-out had found no network term worth keeping
    hp.tl.design(a, n=6, strategy="greedy", predictor="model")
    d = hp.get.design(a)
    assert (np.diff(d["degree"].to_numpy()) <= 0).all()  # network degree first
    assert d["degree"].iloc[0] == a.uns["hyperperturb"]["design"]["proposals"]["degree"].max()
