"""Full pipeline on the real Papalexi 2021 screen with the STRING network: train and predict."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest

import hyperperturb as hp

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def screen(papalexi_path, string_path):
    sc = pytest.importorskip("scanpy")
    a = ad.read_h5ad(papalexi_path)
    a = a[a.obs["grna_assigned"].astype(bool)].copy()
    sc.pp.normalize_total(a)
    sc.pp.log1p(a)
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    hp.pp.gene_network(a, string_path, min_weight=0.7, hops=2)
    hp.tl.rewards(a, verbose=False)
    hp.tl.train(a, epochs=50, verbose=False)
    return a


def test_trains_and_writes_everything(screen):
    e = screen.uns["hyperperturb"]["train"]
    loss = np.asarray(e["history"]["loss"])
    assert np.isfinite(loss).all() and loss.min() < loss[0]  # the curriculum adds perturbations: not monotone
    kern = e["kernel"]
    assert kern["available"] and len(kern["perturbations"]) == 25 and 0 <= kern["shrinkage"] <= 1
    z = screen.varm["X_poincare"]
    assert z.shape == (screen.n_vars, 2) and np.linalg.norm(z, axis=1).max() < 1
    np.testing.assert_allclose(screen.varm["hp_policy"].sum(1), 1.0, atol=1e-5)
    assert np.isfinite(screen.var["hp_value"]).all()
    assert len(e["perturbations"]) == 25
    n_extra = len(e["extra_nodes"])
    assert np.asarray(e["extra_embedding"]).shape == (n_extra, 2)
    # targets outside the 299 measured genes become scorable through STRING (unmeasured nodes)
    n_scorable = int(np.sum(e["scorable"]))
    in_var = sum(t in set(screen.var_names) for t in e["targets"])
    assert n_scorable >= in_var
    assert n_scorable == int(e["n_scorable"])


def test_predict_after_round_trip(screen, tmp_path):
    before = hp.tl.predict(screen, kind="reward")
    p = tmp_path / "p.h5ad"
    screen.write_h5ad(p)
    after = hp.tl.predict(ad.read_h5ad(p), kind="reward")
    np.testing.assert_array_equal(before.to_numpy(), after.to_numpy())
