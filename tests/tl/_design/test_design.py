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


def _chain_screen(signed: bool = False):
    """The synthetic screen with a hand-made network among unscreened genes: a → b → c, d → e, f ⊣ g (or f → g)."""
    a = hp.datasets.synthetic(n_cells=1500, n_genes=80, n_perturbations=10, regulator_fraction=0.5, seed=0)
    sc.pp.normalize_total(a)
    sc.pp.log1p(a)
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    screened = set(a.obs["perturbation"].astype(str))
    g = [x for x in map(str, a.var_names) if x not in screened][:7]
    edges = pd.DataFrame(
        {
            "source": [g[0], g[1], g[3], g[5]],
            "target": [g[1], g[2], g[4], g[6]],
            "weight": [1.0, 1.0, 1.0, -1.0 if signed else 1.0],
        }
    )
    hp.pp.gene_network(a, edges)
    hp.tl.rewards(a, verbose=False)
    return a, g


def test_network_effect_is_the_propagated_log_shift_of_the_other_genes():
    """Issue 21: the expected downstream effect of a knock-out, checked on a network whose answer is known."""
    a, g = _chain_screen(signed=True)
    L = a.var["hp_control_mean"]
    d = hp.get.design(hp.tl.design(a, n=4, predictor="network", candidates=[g[0], g[3], g[5], g[2]], copy=True))
    eff = d.set_index("gene")["predicted_effect"]
    # a loses all of b's only input, b passes it on to c: both drop by their whole log level
    assert eff[g[0]] == pytest.approx(L[g[1]] + L[g[2]])
    assert eff[g[3]] == pytest.approx(L[g[4]])
    # f represses g: its loss doubles g's input, a rise of log expression
    assert eff[g[5]] == pytest.approx(np.log1p(2 * np.expm1(L[g[6]])) - L[g[6]])
    assert eff[g[2]] == 0.0  # a leaf moves nothing downstream
    assert d["gene"].iloc[-1] == g[2]  # greedy: largest expected effect first
    assert (np.diff(d["predicted_effect"].to_numpy()) <= 1e-12).all()
    assert a.uns["hyperperturb"].get("design") is None  # copy=True left the object alone


def test_network_predictor_blocks_and_errors(monkeypatch):
    from hyperperturb.tl._design import _design

    a, _ = _chain_screen()
    ref = hp.get.design(hp.tl.design(a, n=3, predictor="network", copy=True))
    monkeypatch.setattr(_design, "_PROPAGATION_BLOCK", 3)
    blk = hp.get.design(hp.tl.design(a, n=3, predictor="network", copy=True))
    pd.testing.assert_frame_equal(blk, ref, check_exact=False, rtol=1e-12, atol=1e-12)
    b = hp.datasets.synthetic(n_cells=600, n_genes=30, n_perturbations=4, seed=1)
    sc.pp.normalize_total(b)
    sc.pp.log1p(b)
    hp.pp.perturbations(b, key="perturbation", control="non-targeting")
    hp.tl.rewards(b, verbose=False)
    with pytest.raises(KeyError, match="gene network"):
        hp.tl.design(b, predictor="network")
    assert "design" not in b.uns["hyperperturb"]


def test_model_effect_adds_the_target_change_to_the_network_effect(screen):
    """The model predictor: the network's downstream change plus the model's predicted change of the target itself."""
    a = screen.copy()
    hp.tl.train(a, epochs=3, verbose=False)
    net = hp.get.design(hp.tl.design(a, n=70, predictor="network", copy=True)).set_index("gene")
    mod = hp.get.design(hp.tl.design(a, n=70, predictor="model", copy=True)).set_index("gene")
    assert set(mod.index) == set(net.index)
    on_target = mod["predicted_effect"] - net.loc[mod.index, "predicted_effect"]
    assert (on_target >= -1e-12).all() and (on_target > 0).any()
    # the model's own predicted change of the target, above its noise floor
    from hyperperturb.tl._model._predict import predict

    genes = [x for x in mod.index[:5] if x in a.var_names]
    P = predict(a, perturbations=genes, kind="reward")
    B = a.var["hp_reward_baseline"]
    want = [max(float(P.loc[x, x] - B[x]), 0.0) for x in genes]
    np.testing.assert_allclose(on_target[genes].to_numpy(), want, rtol=1e-9, atol=1e-12)
    assert (np.diff(mod["predicted_effect"].to_numpy()) <= 1e-12).all()  # greedy follows it
    # the readout's choice does not switch greedy off the network any more (it ranks magnitudes, not profiles)
    a.uns["hyperperturb"]["train"]["kernel"]["source"] = "none"
    again = hp.get.design(hp.tl.design(a, n=70, predictor="model", copy=True)).set_index("gene")
    assert again.index.tolist() == mod.index.tolist()


def test_unplaced_screened_target_does_not_blank_the_uncertainty():
    """A screened perturbation whose target is no graph node is skipped as a reference of the uncertainty.

    Before the fix its NaN coordinates made every candidate's distance to the nearest screened target NaN, which was
    then replaced by one constant: ucb ignored distances without a word (every Papalexi + STRING design hit this).
    """
    a = hp.datasets.synthetic(n_cells=400, n_genes=60, n_perturbations=6, seed=0)
    sc.pp.normalize_total(a)
    sc.pp.log1p(a)
    hp.pp.perturbations(a, key="perturbation", control="non-targeting", targets={"G007": "NOT_A_GENE"})
    hp.pp.gene_network(a, hp.datasets.truth_network(a, seed=0))
    hp.tl.rewards(a, verbose=False)
    hp.tl.train(a, epochs=3, seed=0, verbose=False)
    d = hp.get.design(hp.tl.design(a, n=50, strategy="greedy", predictor="model", copy=True))
    Z = np.asarray(a.varm["X_poincare"])
    pos = {g: i for i, g in enumerate(map(str, a.var_names))}
    placed = [t for t in a.obs["perturbation"].astype(str).unique() if t in pos and t != "G007"]  # G007: unplaced
    ref = Z[[pos[t] for t in placed]]
    genes = [g for g in d["gene"] if g in pos]
    want = np.sqrt(((Z[[pos[g] for g in genes]][:, None, :] - ref[None]) ** 2).sum(-1)).min(axis=1)
    got = d.set_index("gene").loc[genes, "uncertainty"].to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    assert np.unique(np.round(got, 9)).size > 1


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        # a bool passed the number checks: budget=True was budget 1.0, kappa=True kappa 1.0
        ({"budget": True}, ValueError, "`budget` must be a fraction"),
        ({"kappa": True}, ValueError, "`kappa` must be a non-negative number"),
        ({"n": True}, ValueError, "`n` must be a positive integer"),
        # seed=None raised a raw "int() argument must be ... not 'NoneType'"
        ({"seed": None}, TypeError, r"`seed` must be a non-negative integer, got None.*seed=0"),
        ({"seed": -1}, ValueError, r"`seed` must be a non-negative integer, got -1.*seed=0"),
    ],
)
def test_bools_and_seed_none_are_refused(screen, kwargs, exc, match):
    a = screen.copy()
    before = set(a.uns["hyperperturb"])
    with pytest.raises(exc, match=match):
        hp.tl.design(a, predictor="linear", **kwargs)
    assert set(a.uns["hyperperturb"]) == before


def _tiny(protein: bool = False):
    d = hp.datasets.synthetic(n_cells=300, n_genes=40, n_perturbations=6, seed=0, protein=protein, as_mudata=protein)
    rna = d.mod["rna"] if protein else d
    sc.pp.normalize_total(rna)
    sc.pp.log1p(rna)
    hp.pp.perturbations(d, key="perturbation", control="non-targeting")
    hp.pp.gene_network(d, hp.datasets.truth_network(d))
    hp.tl.rewards(d, verbose=False)
    return d


def test_stale_model_error_names_design():
    """The refusal of a model older than the rewards said "hp.tl.predict: ...", a function the user did not call."""
    a = _tiny()
    hp.tl.train(a, epochs=2, seed=0, verbose=False)
    hp.tl.rewards(a, statistic="mean_abs_lfc", verbose=False)
    before = set(a.uns["hyperperturb"])
    with pytest.raises(ValueError, match=r"^hp\.tl\.design: the 'train' results .* stale") as err:
        hp.tl.design(a, n=3)
    assert "hp.tl.predict" not in str(err.value)
    assert set(a.uns["hyperperturb"]) == before
    # the private predict entry point names its caller too
    from hyperperturb.tl._model._predict import predict_for

    with pytest.raises(ValueError, match=r"^hp\.tl\.design: the 'train' results"):
        predict_for(a, ["G001"], kind="reward", needed_by="hp.tl.design")


def test_protein_modality_is_refused():
    """On mod="prot" design proposed protein features (ADT_G007, ...) as knock-outs, screened genes among them."""
    m = _tiny(protein=True)
    before = set(m.mod["prot"].uns["hyperperturb"])
    with pytest.raises(ValueError, match=r"none of the screened targets .* modality 'prot'.*pass mod='rna'"):
        hp.tl.design(m, n=3, mod="prot")
    assert set(m.mod["prot"].uns["hyperperturb"]) == before
    hp.tl.design(m, n=3, mod="rna", predictor="linear")  # the RNA modality works
    assert len(hp.get.design(m)) == 3
