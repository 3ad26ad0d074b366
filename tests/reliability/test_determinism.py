"""Same data, same seed: the whole pipeline gives bit-identical results (``.varm``, ``.var`` and ledger arrays)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hyperperturb as hp

_VOLATILE = {"wall_time", "versions", "version"}


def _pipeline(seed: int):
    a = hp.datasets.synthetic(n_cells=600, n_genes=40, n_perturbations=5, seed=seed, as_mudata=False)
    a.layers["counts"] = a.X.copy()
    import scanpy as sc

    sc.pp.normalize_total(a)
    sc.pp.log1p(a)
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    hp.pp.gene_network(a)
    hp.tl.rewards(a, verbose=False)
    hp.tl.train(a, epochs=4, seed=seed, verbose=False)
    return a


def _arrays(obj, path=""):
    """Every ndarray / number / string leaf of a nested ledger, keyed by path (volatile fields skipped)."""
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in _VOLATILE:
                continue
            if path.endswith("/weights"):
                # "000:model_name.var": Keras numbers the model name per process (hyper_perturb_model_1, ...);
                # the weights are matched by their index, as hp.tl.predict does
                k = str(k).split(":", 1)[0]
            out.update(_arrays(v, f"{path}/{k}"))
    elif isinstance(obj, pd.DataFrame):
        out[path] = obj.to_numpy()
    elif isinstance(obj, list | tuple):
        out[path] = np.asarray([str(x) for x in obj])
    else:
        out[path] = np.asarray(obj)
    return out


@pytest.mark.slow  # two whole pipelines; tl/test_train.py checks same seed, same training in the default run
def test_pipeline_twice_same_seed_identical():
    a, b = _pipeline(3), _pipeline(3)
    assert set(a.varm) == set(b.varm) and {"hp_reward", "X_poincare", "hp_policy"} <= set(a.varm)
    for k in a.varm:
        np.testing.assert_array_equal(np.asarray(a.varm[k]), np.asarray(b.varm[k]), err_msg=f"varm[{k!r}]")
    for k in a.varp:
        assert (a.varp[k] != b.varp[k]).nnz == 0, k
    pd.testing.assert_frame_equal(a.var, b.var)
    la, lb = _arrays(a.uns["hyperperturb"]), _arrays(b.uns["hyperperturb"])
    assert set(la) == set(lb)
    assert any("weights" in k for k in la), "model weights expected in the ledger"
    for k in la:
        np.testing.assert_array_equal(la[k], lb[k], err_msg=k)


@pytest.mark.slow
def test_different_seed_differs():
    a, b = _pipeline(3), _pipeline(4)
    assert not np.array_equal(a.varm["X_poincare"], b.varm["X_poincare"])
