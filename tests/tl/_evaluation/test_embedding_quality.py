"""hp.tl.embedding_quality: MAP, distortion, depth-radius on hand-made embeddings."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
from scipy import sparse

import hyperperturb as hp
from hyperperturb._utils._ball import pairwise_distance as poincare_distance
from hyperperturb.tl._map._precision import mean_average_precision


def _path_adata(Z):
    A = sparse.csr_matrix(np.array([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0]], dtype=float))
    a = ad.AnnData(np.zeros((2, 4)))
    a.varm["X_e"] = np.asarray(Z, dtype=float)
    a.varp["hp_adjacency"] = A
    return a


def _val(df, metric):
    return float(df.loc[df["metric"] == metric, "value"].iloc[0])


def test_path_on_a_line_is_perfect():
    q = hp.tl.embedding_quality(_path_adata([[0.0], [1.0], [2.0], [3.0]]), basis="X_e", geometry="euclidean")
    assert _val(q, "map") == pytest.approx(1.0)
    assert _val(q, "distortion") == pytest.approx(0.0, abs=1e-12)
    assert list(q.columns) == ["metric", "value", "n"]


def test_scrambled_path_hand_value():
    # positions 0,2,1,3 for the path 0-1-2-3: APs per node 1/2, 7/12, 7/12, 1/2
    q = hp.tl.embedding_quality(_path_adata([[0.0], [2.0], [1.0], [3.0]]), basis="X_e", geometry="euclidean")
    assert _val(q, "map") == pytest.approx((0.5 + 7 / 12 + 7 / 12 + 0.5) / 4)
    assert _val(q, "distortion") > 0.1


def test_poincare_distance_closed_form():
    x = np.array([[0.0, 0.0], [0.5, 0.0], [0.0, -0.3]])
    D = poincare_distance(x, x)
    assert D[0, 1] == pytest.approx(2 * np.arctanh(0.5))  # distance from the origin
    np.testing.assert_allclose(np.diag(D), 0.0, atol=1e-7)
    u, v = x[1], x[2]
    expected = np.arccosh(1 + 2 * np.sum((u - v) ** 2) / ((1 - u @ u) * (1 - v @ v)))
    assert D[1, 2] == pytest.approx(expected)


def test_depth_radius_on_a_star():
    # hub at the centre, leaves near the boundary: depth and radius agree
    Z = np.array([[0.0, 0.0], [0.9, 0.0], [0.0, 0.9], [-0.9, 0.0], [0.0, -0.85]])
    A = sparse.csr_matrix(np.array([[0, 1, 1, 1, 1]] + [[1, 0, 0, 0, 0]] * 4, dtype=float))
    a = ad.AnnData(np.zeros((1, 5)))
    a.varm["X_poincare"] = Z
    a.varp["hp_adjacency"] = A
    a.var["depth"] = [0, 1, 1, 1, 1]
    q = hp.tl.embedding_quality(a)
    assert _val(q, "map") == pytest.approx(1.0)
    # ranks: depth (1, 3.5, 3.5, 3.5, 3.5), radius (1, 4, 4, 4, 2) -> r = 5 / sqrt(5 * 8)
    assert _val(q, "spearman_depth_radius") == pytest.approx(5 / np.sqrt(40))


def test_errors():
    a = _path_adata([[0.0], [1.0], [2.0], [3.0]])
    with pytest.raises(KeyError, match="hp.tl.train"):
        hp.tl.embedding_quality(a, basis="X_missing")
    a.varm["X_out"] = np.array([[0.0], [1.5], [0.2], [0.3]])
    with pytest.raises(ValueError, match="outside the Poincar"):
        hp.tl.embedding_quality(a, basis="X_out")
    with pytest.raises(ValueError, match="geometry"):
        hp.tl.embedding_quality(a, basis="X_e", geometry="spherical")


def test_map_ignores_isolated_nodes():
    D = np.array([[0, 1, 2], [1, 0, 1], [2, 1, 0]], dtype=float)
    A = sparse.csr_matrix(np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=float))
    m, n = mean_average_precision(D, A)
    assert n == 2
    assert m == pytest.approx((1.0 + 0.5) / 2)  # node 1: node 2 ties with node 0 (pessimistic)


def test_truth_must_be_numeric():
    a = _path_adata([[0.0], [0.1], [0.2], [0.3]])
    a.var["parent"] = ["G1", "G2", "G3", "G0"]
    with pytest.raises(TypeError, match=r"`truth='parent'` names a .var column of dtype .*a number"):
        hp.tl.embedding_quality(a, basis="X_e", truth="parent")
    with pytest.raises(TypeError, match="one number"):
        hp.tl.embedding_quality(a, basis="X_e", truth=np.array(["a", "b", "c", "d"]))
