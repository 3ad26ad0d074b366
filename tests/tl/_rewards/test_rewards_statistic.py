"""``hp.tl.rewards(statistic=...)``: the pseudo-bulk |mean shift| against the original mean |log fold change|."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import hyperperturb as hp


def _sparse_gene_screen(seed: int = 0, n: int = 400) -> ad.AnnData:
    """Gene 0 is expressed in 17 % of control cells and 5 % of KO cells (loss of expression); gene 1 moves up."""
    rng = np.random.default_rng(seed)
    labels = np.array(["nt", "KO", "LACZ"])[np.arange(n) % 3]
    X = np.log1p(rng.poisson(2.0, size=(n, 20))).astype(np.float64)
    frac = np.where(labels == "KO", 0.05, 0.17)
    X[:, 0] = np.where(rng.random(n) < frac, np.log1p(rng.poisson(3.0, n) + 1), 0.0)
    X[labels == "KO", 1] += 0.5
    obs = pd.DataFrame({"perturbation": labels}, index=[f"c{i}" for i in range(n)])
    a = ad.AnnData(
        sparse.csr_matrix(X.astype(np.float32)), obs=obs, var=pd.DataFrame(index=[f"g{i}" for i in range(20)])
    )
    hp.pp.perturbations(a, key="perturbation", control="nt")
    return a


def test_mean_shift_is_the_absolute_signed_reward_with_a_pseudo_bulk_noise_floor():
    a = _sparse_gene_screen()
    s = hp.tl.rewards(a, signed=True, verbose=False, copy=True)
    m = hp.tl.rewards(a, statistic="mean_shift", verbose=False, copy=True)
    np.testing.assert_allclose(m.varm["hp_reward"], np.abs(s.varm["hp_reward"]), atol=1e-10)
    ctrl = a.obs["hp_control"].to_numpy()
    X = a.X.toarray().astype(np.float64)
    sd = X[ctrl].std(0, ddof=1)
    n_cells = np.median(m.uns["hyperperturb"]["rewards"]["n_cells"])
    want = sd * np.sqrt(2 / np.pi) * np.sqrt(1 / n_cells + 1 / ctrl.sum())
    np.testing.assert_allclose(m.var["hp_reward_baseline"], want, rtol=1e-6)
    assert m.uns["hyperperturb"]["rewards"]["params"]["statistic"] == "mean_shift"


def test_mean_shift_sees_loss_of_expression_in_a_sparse_gene_that_mean_abs_lfc_misses():
    a = _sparse_gene_screen()
    perts = list(a.uns["hyperperturb"]["perturbations"]["names"])
    ko = perts.index("KO")
    excess = {}
    for stat in ("mean_shift", "mean_abs_lfc"):
        b = hp.tl.rewards(a, statistic=stat, verbose=False, copy=True)
        excess[stat] = np.asarray(b.varm["hp_reward"])[:, ko] - b.var["hp_reward_baseline"].to_numpy()
    # relative to its noise floor, the sparse gene's drop stands out only for the pseudo-bulk shift
    assert excess["mean_shift"][0] > 0.05
    assert excess["mean_abs_lfc"][0] < 0.5 * excess["mean_shift"][0]


def test_mean_shift_noise_floor_is_unbiased_for_a_null_perturbation():
    rng = np.random.default_rng(1)
    n, g = 3000, 200
    labels = np.array(["nt", "LACZ"])[rng.integers(0, 2, n)]
    X = np.log1p(rng.poisson(rng.uniform(0.1, 5, g), size=(n, g))).astype(np.float32)
    a = ad.AnnData(X, obs=pd.DataFrame({"perturbation": labels}, index=[f"c{i}" for i in range(n)]))
    hp.pp.perturbations(a, key="perturbation", control="nt")
    hp.tl.rewards(a, statistic="mean_shift", verbose=False)
    E = np.asarray(a.varm["hp_reward"])[:, 0] - a.var["hp_reward_baseline"].to_numpy()
    B = a.var["hp_reward_baseline"].to_numpy()
    assert abs(float((E / B).mean())) < 0.15  # mean excess over noise ~ 0 in floor units


def test_mean_shift_is_the_same_for_dense_sparse_and_groups():
    a = _sparse_gene_screen(2)
    a.obs["batch"] = np.where(np.arange(a.n_obs) % 2 == 0, "b1", "b2")
    s = hp.tl.rewards(a, statistic="mean_shift", verbose=False, copy=True, groupby="batch")
    d = a.copy()
    d.X = d.X.toarray()
    hp.tl.rewards(d, statistic="mean_shift", verbose=False, groupby="batch")
    np.testing.assert_allclose(s.varm["hp_reward"], d.varm["hp_reward"], atol=1e-10)
    np.testing.assert_allclose(s.var["hp_reward_baseline"], d.var["hp_reward_baseline"], atol=1e-10)
    for grp in ("b1", "b2"):
        gr = s.uns["hyperperturb"]["rewards"]["groups"][grp]
        assert (np.asarray(gr["reward"]) >= 0).all() and (np.asarray(gr["baseline"]) > 0).any()


def test_unknown_statistic_is_refused_and_nothing_is_written():
    a = _sparse_gene_screen()
    before = set(a.varm.keys())
    with pytest.raises(ValueError, match="statistic"):
        hp.tl.rewards(a, statistic="median_lfc", verbose=False)
    assert set(a.varm.keys()) == before
