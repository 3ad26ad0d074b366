"""The value head is calibrated per modality: protein rewards (ADT counts) must not distort gene values."""

import numpy as np
import pytest
import scanpy as sc

import hyperperturb as hp


@pytest.fixture(scope="module")
def trained_mudata():
    mdata = hp.datasets.synthetic(1200, 80, 8, protein=True, n_proteins=6, seed=1)
    rna = mdata["rna"]
    sc.pp.normalize_total(rna)
    sc.pp.log1p(rna)
    hp.pp.perturbations(mdata)
    hp.pp.gene_network(mdata, hp.datasets.truth_network(rna))
    hp.tl.rewards(mdata, verbose=False)
    hp.tl.train(mdata, epochs=40, verbose=False)
    return mdata


def test_gene_values_on_the_scale_of_their_targets(trained_mudata):
    rna = trained_mudata["rna"]
    B = rna.var["hp_reward_baseline"].to_numpy()
    target = np.clip(rna.varm["hp_reward"] - B[:, None], 0, None).mean(1)  # mean excess beyond the noise floor
    pred = rna.var["hp_value"].to_numpy()
    # a model that mixed the protein scale into the gene unit overshoots by an order of magnitude
    assert np.abs(pred - target).mean() < 0.5 * target.std() + 0.05
    assert pred.max() < 3 * target.max()


def test_protein_values_on_the_scale_of_their_targets(trained_mudata):
    prot = trained_mudata["prot"]
    B = prot.var["hp_reward_baseline"].to_numpy()
    target = np.clip(prot.varm["hp_reward"] - B[:, None], 0, None).mean(1)
    pred = prot.var["hp_value"].to_numpy()
    assert np.isfinite(pred).all()
    assert pred.max() < 3 * target.max() + 1e-6
    assert pred.max() > 0.2 * target.max()
    entry = trained_mudata["rna"].uns["hyperperturb"]["train"]
    assert entry["value_unit_protein"] > entry["value_unit"]  # ADT counts: larger excess than log expression
