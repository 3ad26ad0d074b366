"""Row-normalised adjacency ``D^-1 (A + I)`` as a ``tf.SparseTensor``."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import tensorflow as tf

__all__ = ["normalized_adjacency"]


def normalized_adjacency(adj: Any, *, add_self_loops: bool = True, dtype: str = "float32") -> tf.SparseTensor:
    r"""Row-normalise an adjacency matrix, :math:`\hat A = D^{-1}(A + I)`, and return it as a ``tf.SparseTensor``.

    With self-loops every row has a positive sum, so each node's aggregate is a convex combination of
    itself and its neighbours and isolated nodes simply keep their own features. Without self-loops,
    rows of isolated nodes stay all zero (never divided by zero).

    Parameters
    ----------
    adj
        Square ``(n, n)`` scipy sparse matrix or dense array of non-negative, finite edge weights
        (e.g. ``adata.varp["hp_adjacency"]``). Existing diagonal entries are kept and 1 is added to them.
        A rectangular matrix is accepted with ``add_self_loops=False`` (e.g. a cross-attention mask).
    add_self_loops
        Add the identity before normalising (HGCN's :math:`A + I`); needs a square ``adj``.
    dtype
        ``"float32"`` or ``"float64"``.

    Returns
    -------
    ``tf.SparseTensor`` of the shape of ``adj`` with sorted (row-major) ``int64`` indices and no explicit zeros.
    """
    if dtype not in ("float32", "float64"):
        msg = f"dtype must be 'float32' or 'float64', got {dtype!r}."
        raise ValueError(msg)
    if isinstance(adj, tf.SparseTensor):
        msg = "adj is already a tf.SparseTensor; pass the scipy sparse matrix (e.g. adata.varp['hp_adjacency'])."
        raise TypeError(msg)
    if not sp.issparse(adj):
        arr = np.asarray(adj)
        if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
            msg = f"adj must be a numeric scipy sparse matrix or array, got dtype {arr.dtype}."
            raise TypeError(msg)
        if arr.ndim != 2:
            msg = f"adj must be a 2-D square (n, n) matrix, got an array with shape {arr.shape}."
            raise ValueError(msg)
        adj = sp.csr_matrix(arr)
    n_rows, n_cols = adj.shape
    if n_rows != n_cols and add_self_loops:
        msg = (
            f"adj must be square with shape (n, n) to add self-loops, got shape {adj.shape}; use the gene-gene "
            "adjacency, or add_self_loops=False for a rectangular (n_query, n_key) attention mask."
        )
        raise ValueError(msg)
    a = sp.csr_matrix(adj, dtype=np.float64)
    a.sum_duplicates()
    if not np.all(np.isfinite(a.data)):
        msg = "adj contains NaN or Inf edge weights; replace them (e.g. with 0) before normalising."
        raise ValueError(msg)
    if np.any(a.data < 0):
        msg = "adj contains negative edge weights; row normalisation needs weights >= 0 (use abs() or clip)."
        raise ValueError(msg)
    if add_self_loops:
        a = a + sp.identity(n_rows, dtype=np.float64, format="csr")
    a.eliminate_zeros()
    deg = np.asarray(a.sum(axis=1)).ravel()
    inv = np.divide(1.0, deg, out=np.zeros_like(deg), where=deg > 0)
    a = sp.csr_matrix(sp.diags(inv) @ a)
    a.sort_indices()
    coo = a.tocoo()
    indices = np.stack([coo.row, coo.col], axis=1).astype(np.int64)
    if indices.size == 0:
        indices = np.zeros((0, 2), dtype=np.int64)
    return tf.SparseTensor(indices=indices, values=coo.data.astype(dtype), dense_shape=(n_rows, n_cols))
