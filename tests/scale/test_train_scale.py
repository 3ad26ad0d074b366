"""The distance head has no genes x perturbations parameter matrix: its size does not grow with genes x perts."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")


def _n_params(n_genes: int, n_perts: int, head: str) -> int:
    from hyperperturb.nn._models import HyperPerturbModel

    rng = np.random.default_rng(0)
    net = HyperPerturbModel(
        n_genes,
        11,  # node features (fixed set, see tl._graph._inputs.FEATURES)
        rng.integers(0, n_genes, n_perts).astype(np.int64),
        geometry="poincare",
        head=head,
        dim=2,
        hidden=16,
        seed=0,
    )
    net.build()
    return int(sum(np.prod(w.shape) for w in net.trainable_weights))


def test_distance_head_parameters_do_not_grow_with_genes_times_perturbations():
    base = _n_params(100, 10, "distance")
    more_genes = _n_params(1000, 10, "distance")
    more_perts = _n_params(100, 100, "distance")
    both = _n_params(1000, 100, "distance")
    # no per-gene parameters at all, and a fixed cost per perturbation (embedding + bias), whatever the genes
    assert more_genes == base
    assert both == more_perts
    per_pert = (more_perts - base) / 90
    assert per_pert <= 2 + 1 + 1e-9, f"{per_pert} parameters per perturbation (dim=2 embedding + bias expected)"
    # the whole model is tiny compared with a genes x perturbations matrix
    assert both < 1000 * 100 / 10


def test_dense_head_is_the_one_that_grows_with_perturbations():
    # contrast: the dense policy head has hidden x perturbations weights (still not genes x perturbations)
    a, b = _n_params(100, 10, "dense"), _n_params(100, 100, "dense")
    assert b - a >= 90 * 2
    assert _n_params(1000, 100, "dense") == b
