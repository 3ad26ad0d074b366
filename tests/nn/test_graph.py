from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import tensorflow as tf

from hyperperturb.nn import normalized_adjacency


def test_row_normalised_with_self_loops_and_isolated_nodes():
    a = sp.csr_matrix(np.array([[0, 2, 0, 0], [2, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]], float))
    adj = normalized_adjacency(a)
    assert isinstance(adj, tf.SparseTensor) and adj.dtype == tf.float32
    dense = tf.sparse.to_dense(adj).numpy()
    np.testing.assert_allclose(dense.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(dense[0], [1 / 3, 2 / 3, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(dense[3], [0, 0, 0, 1])  # isolated node keeps itself
    idx = adj.indices.numpy()
    assert np.array_equal(idx, idx[np.lexsort((idx[:, 1], idx[:, 0]))])  # sorted row-major
    assert np.all(adj.values.numpy() > 0)


def test_without_self_loops_zero_rows_stay_zero_and_dense_input():
    a = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]], float)
    adj = normalized_adjacency(a, add_self_loops=False, dtype="float64")
    dense = tf.sparse.to_dense(adj).numpy()
    assert adj.dtype == tf.float64
    np.testing.assert_allclose(dense, [[0, 1, 0], [1, 0, 0], [0, 0, 0]])
    rect = normalized_adjacency(np.ones((2, 3)), add_self_loops=False)
    assert tuple(rect.dense_shape.numpy()) == (2, 3)


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"square"):
        normalized_adjacency(sp.csr_matrix((3, 4)))
    with pytest.raises(ValueError, match="negative"):
        normalized_adjacency(np.array([[0, -1], [-1, 0]], float))
    with pytest.raises(ValueError, match="NaN"):
        normalized_adjacency(np.array([[0, np.nan], [np.nan, 0]]))
    with pytest.raises(ValueError, match="dtype"):
        normalized_adjacency(np.eye(2), dtype="int32")
    with pytest.raises(ValueError, match="2-D"):
        normalized_adjacency(np.ones(3))
