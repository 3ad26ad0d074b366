"""hp.tl.train(attention=True): the HyperbolicAttention layer is part of the trained model and round-trips."""

import anndata as ad
import numpy as np
import pytest
import scanpy as sc

import hyperperturb as hp


@pytest.fixture(scope="module")
def screen():
    a = hp.datasets.synthetic(800, 60, 6, seed=2)
    sc.pp.normalize_total(a)
    sc.pp.log1p(a)
    hp.pp.perturbations(a)
    hp.pp.gene_network(a, hp.datasets.truth_network(a))
    hp.tl.rewards(a, verbose=False)
    return a


def test_attention_trains_and_is_used(screen):
    a = hp.tl.train(screen, epochs=15, attention=True, verbose=False, copy=True)
    b = hp.tl.train(screen, epochs=15, attention=False, verbose=False, copy=True)
    entry = a.uns["hyperperturb"]["train"]
    assert entry["params"]["attention"] is True
    assert any("attention" in k for k in entry["weights"])
    assert not any("attention" in k for k in b.uns["hyperperturb"]["train"]["weights"])
    z = a.varm["X_poincare"]
    assert np.isfinite(z).all() and (np.linalg.norm(z, axis=1) < 1).all()
    assert not np.allclose(z, b.varm["X_poincare"])  # the layer changes the embedding
    loss = np.asarray(entry["history"]["value_loss"])
    assert loss[-1] < loss[0]


def test_attention_model_round_trips(screen, tmp_path):
    a = hp.tl.train(screen, epochs=10, attention=True, verbose=False, copy=True)
    before = hp.tl.predict(a, kind="reward", method="head")
    a.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    after = hp.tl.predict(back, kind="reward", method="head")
    np.testing.assert_allclose(after.to_numpy(), before.to_numpy(), rtol=1e-5, atol=1e-6)
