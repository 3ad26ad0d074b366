"""``hp.tl.train(holdout=...)``: the held-out perturbations' ``hp_policy`` columns come from the held-out readout.

The heads never see a held-out perturbation, so their column of the policy head is unconstrained; read as the heads'
excess it took most of each gene's policy mass (0.5-0.7 of it on this 4-perturbation screen, where the data give
those perturbations 0.12-0.48), and ``hp.get.rank_perturbations`` put the held-out perturbation first for most genes.
"""

from __future__ import annotations

import numpy as np
import pytest
import scanpy as sc

import hyperperturb as hp


@pytest.fixture(scope="module")
def screen():
    a = hp.datasets.synthetic(n_cells=300, n_genes=40, n_perturbations=4, seed=0, verbose=False)
    sc.pp.normalize_total(a)
    sc.pp.log1p(a)
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    hp.pp.gene_network(a, hp.datasets.truth_network(a))
    hp.tl.rewards(a)
    return a


@pytest.mark.parametrize("held", [1, 3])
def test_held_out_column_is_the_readouts_prediction(screen, held):
    names = [str(p) for p in screen.uns["hyperperturb"]["rewards"]["perturbations"]]
    h = names[held]
    a = hp.tl.train(screen, epochs=40, seed=0, holdout=h, copy=True)
    P = np.asarray(a.varm["hp_policy"], dtype=np.float64)
    np.testing.assert_allclose(P.sum(1), 1.0, atol=1e-5)
    # the held-out column holds the excess hp.tl.predict gives it: no mass where the readout predicts none
    predicted = hp.tl.predict(a, [h], kind="reward")[h].to_numpy() - a.var["hp_reward_baseline"].to_numpy()
    col = P[:, names.index(h)]
    ranked = ~np.isclose(P, 1.0 / P.shape[1]).all(axis=1)  # rows with no excess anywhere are uniform
    assert np.all(col[ranked & (predicted <= 0)] == 0)
    assert np.all(col[predicted > 0] > 0)
    # and it no longer takes most of the genes' policy: near the share the data give it (0.6 / 0.51 before)
    target = np.asarray(a.varm["hp_policy_target"], dtype=np.float64)[:, names.index(h)].mean()
    assert abs(col.mean() - target) < 0.2
