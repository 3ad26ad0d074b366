"""``hp.tl.predict`` beyond what the training tests cover."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import hyperperturb as hp

sys.path.insert(0, str(Path(__file__).parent))
from test_train import _prepared


@pytest.fixture(scope="module")
def trained():
    a = _prepared(seed=1, n_genes=40, n_perturbations=5)
    hp.tl.train(a, epochs=15, verbose=False)
    return a


def test_predict_subset_and_kinds(trained):
    perts = list(trained.uns["hyperperturb"]["train"]["perturbations"])
    full = hp.tl.predict(trained)
    sub = hp.tl.predict(trained, perts[1:3])
    np.testing.assert_allclose(sub.to_numpy(), full[perts[1:3]].to_numpy())
    one = hp.tl.predict(trained, perts[0])
    assert list(one.columns) == [perts[0]]
    r = hp.tl.predict(trained, kind="reward")
    assert (r.to_numpy() >= 0).all()
    with pytest.raises(ValueError, match="kind"):
        hp.tl.predict(trained, kind="logits")


def test_predict_new_gene_extends_softmax(trained):
    perts = list(trained.uns["hyperperturb"]["train"]["perturbations"])
    new = next(g for g in trained.var_names if g not in perts)
    df = hp.tl.predict(trained, [*perts, new])
    np.testing.assert_allclose(df.sum(1).to_numpy(), 1.0, atol=1e-5)
    assert (df[new] > 0).all()


def test_predict_needs_training():
    a = _prepared(seed=2, n_genes=20, n_perturbations=3)
    with pytest.raises(KeyError, match="hp.tl.train"):
        hp.tl.predict(a)
