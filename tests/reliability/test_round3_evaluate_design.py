"""Numbers of hp.tl.evaluate and hp.tl.design recomputed from their definitions (probe of 2026-12-05).

Each test fails on the code before its fix:

- ``js_policy`` compared the model's policy (built from the excess over the noise floor) with ``|R|`` (noise floor
  included): a perfect policy scored worse than the constant mean baseline;
- ``topk_recall`` with signed rewards ranked by signed value (the strongest falls could never count);
- ``hp.tl.design`` proposed genes already screened inside a combination;
- ``hp.tl.design(predictor="model")``: a leaf's expected effect depended on which other candidates were asked for;
- ``random``/``degree`` proposals reported a predicted effect 0 and uncertainty 1 although nothing was predicted;
- ``hp.tl.evaluate(train_kwargs={"seed": k})`` replaced every split's seed in silence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scanpy as sc

import hyperperturb as hp
from hyperperturb.tl._evaluation._metrics import js_divergence_rows, row_normalise, score_split, topk_recall


def test_js_policy_of_the_observed_policy_is_zero():
    rng = np.random.default_rng(0)
    B = rng.uniform(0.2, 0.4, 30)  # a noise floor that every raw reward carries
    obs = B[:, None] + np.clip(rng.normal(0, 0.3, (30, 5)), 0, None)
    perfect = row_normalise(np.clip(obs - B[:, None], 0, None))  # what hp.tl.predict(kind="policy") returns
    _, split = score_split(obs, obs, B, excess=True, metrics=("js_policy",), pred_policy=perfect)
    assert split["js_policy"] == pytest.approx(0.0, abs=1e-12)
    const = np.repeat(obs.mean(axis=1, keepdims=True), 5, axis=1)  # the mean baseline: the same profile everywhere
    _, base = score_split(const, obs, B, excess=True, metrics=("js_policy",))
    assert base["js_policy"] > 0.05
    # signed rewards: both sides from |R|
    sg = rng.normal(0, 1, (30, 5))
    _, s2 = score_split(sg, sg, B, excess=False, metrics=("js_policy",))
    want = js_divergence_rows(row_normalise(np.abs(sg)), row_normalise(np.abs(sg))).mean()
    assert s2["js_policy"] == pytest.approx(want, abs=1e-12)


def test_topk_recall_with_signed_rewards_ranks_by_magnitude():
    rng = np.random.default_rng(1)
    obs = rng.normal(0, 1, (50, 4))
    obs[:5] = -5.0  # the five genes moved most all fall
    pred = obs + rng.normal(0, 0.5, obs.shape)
    per, _ = score_split(pred, obs, np.zeros(50), excess=False, metrics=("topk_recall",), k=5)
    want = [topk_recall(np.abs(pred[:, j]), np.abs(obs[:, j]), 5) for j in range(4)]
    np.testing.assert_allclose(per["topk_recall"], want)
    assert per["topk_recall"].mean() > 0.8  # the falls are found


@pytest.fixture(scope="module")
def combo_screen():
    a = hp.datasets.synthetic(n_cells=600, n_genes=40, n_perturbations=10, seed=0, verbose=False)
    sc.pp.normalize_total(a)
    sc.pp.log1p(a)
    lab = a.obs["perturbation"].astype(str).to_numpy().copy()
    ps = sorted(set(lab) - {"non-targeting"})
    free = [g for g in map(str, a.var_names) if g not in ps]
    combo = f"{ps[0]}+{free[0]}"  # free[0] is perturbed only inside this combination
    lab[lab == ps[0]] = combo
    a.obs["perturbation"] = pd.Categorical(lab)
    hp.pp.perturbations(a, key="perturbation", control="non-targeting", sep="+")
    net = hp.datasets.truth_network(a)
    # an unscreened regulator: free[1] -> free[2], free[3] (the synthetic regulators are all screened)
    net = pd.concat([net, pd.DataFrame({"source": [free[1]] * 2, "target": free[2:4], "weight": [1.0, 1.0]})])
    hp.pp.gene_network(a, net)
    hp.tl.rewards(a, verbose=False)
    hp.tl.train(a, epochs=10, seed=0, verbose=False)
    a.uns["test_regulator"] = free[1]
    return a, ps[0], free[0]


@pytest.mark.parametrize(("strategy", "predictor"), [("greedy", "network"), ("ucb", "model"), ("degree", "auto")])
def test_design_skips_genes_screened_in_a_combination(combo_screen, strategy, predictor):
    a, first, partner = combo_screen
    d = hp.tl.design(a, n=40, strategy=strategy, predictor=predictor, seed=0, copy=True)
    genes = set(hp.get.design(d)["gene"])
    assert first not in genes and partner not in genes
    # a single perturbation of the partner may still be asked for explicitly
    d2 = hp.tl.design(a, n=1, candidates=[partner], seed=0, copy=True)
    assert list(hp.get.design(d2)["gene"]) == [partner]


def test_model_effect_of_a_candidate_does_not_depend_on_the_others(combo_screen):
    a, *_ = combo_screen
    reg = str(a.uns["test_regulator"])
    net = hp.get.design(hp.tl.design(a, n=60, predictor="network", seed=0, copy=True)).set_index("gene")
    assert net.loc[reg, "predicted_effect"] > 0
    leaves = net[net["predicted_effect"] == 0].index[:3].tolist()  # nothing downstream in the network
    assert len(leaves) == 3
    alone = hp.get.design(hp.tl.design(a, n=3, predictor="model", candidates=leaves, seed=0, copy=True))
    mixed = hp.get.design(hp.tl.design(a, n=4, predictor="model", candidates=[*leaves, reg], seed=0, copy=True))
    np.testing.assert_allclose(
        alone.set_index("gene").loc[leaves, "predicted_effect"],
        mixed.set_index("gene").loc[leaves, "predicted_effect"],
        rtol=1e-9,
    )


@pytest.mark.parametrize("strategy", ["random", "degree"])
def test_unpredicted_strategies_report_no_effect(combo_screen, strategy):
    a, *_ = combo_screen
    d = hp.get.design(hp.tl.design(a, n=5, strategy=strategy, seed=0, copy=True))
    assert d["predicted_effect"].isna().all() and d["uncertainty"].isna().all()
    assert d["degree"].notna().all()


def test_evaluate_refuses_a_seed_in_train_kwargs(combo_screen):
    a, *_ = combo_screen
    with pytest.raises(ValueError, match="seed"):
        hp.tl.evaluate(a, n_splits=2, train_kwargs={"seed": 3}, verbose=False)
