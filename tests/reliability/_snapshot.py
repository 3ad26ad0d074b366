"""A deep snapshot of an AnnData and an equality check: what a failing call must leave untouched."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

_MAPPINGS = ("obsm", "varm", "varp", "obsp", "layers")


def checksum(x: Any) -> str:
    """A content hash of a dense/sparse/DataFrame/backed value (type, shape, dtype and bytes)."""
    h = hashlib.sha1()
    if x is None:
        return "None"
    if isinstance(x, pd.DataFrame):
        h.update(pd.util.hash_pandas_object(x, index=True).to_numpy().tobytes())
        h.update(repr(list(x.columns)).encode())
        return h.hexdigest()
    if sparse.issparse(x):
        x = x.tocsr(copy=True)
        x.sum_duplicates()
        h.update(f"sparse{x.shape}{x.dtype}".encode())
        for part in (x.indptr, x.indices, x.data):
            h.update(np.ascontiguousarray(part).tobytes())
        return h.hexdigest()
    if type(x).__module__.startswith("dask"):
        return f"dask:{x.name}"
    if not isinstance(x, np.ndarray) and hasattr(x, "shape") and hasattr(x, "dtype"):  # backed dataset
        h.update(f"backed{x.shape}{x.dtype}".encode())
        for lo in range(0, x.shape[0], 4096):
            blk = x[lo : lo + 4096]
            blk = blk.toarray() if sparse.issparse(blk) else np.asarray(blk)
            h.update(np.ascontiguousarray(blk).tobytes())
        return h.hexdigest()
    a = np.asarray(x)
    h.update(f"{a.shape}{a.dtype}".encode())
    h.update(np.ascontiguousarray(a).tobytes() if a.dtype != object else repr(a.tolist()).encode())
    return h.hexdigest()


def snapshot(adata: AnnData) -> dict[str, Any]:
    """Everything a failed call must leave untouched (checksums of arrays, deep copy of ``.uns``)."""
    return {
        "shape": adata.shape,
        "obs_names": checksum(adata.obs_names.to_numpy().astype(str)),
        "var_names": checksum(adata.var_names.to_numpy().astype(str)),
        "obs": {c: checksum(adata.obs[c].astype(str).to_numpy()) for c in adata.obs.columns},
        "obs_dtypes": {c: str(adata.obs[c].dtype) for c in adata.obs.columns},
        "var": {c: checksum(adata.var[c].astype(str).to_numpy()) for c in adata.var.columns},
        "var_dtypes": {c: str(adata.var[c].dtype) for c in adata.var.columns},
        **{name: {k: checksum(v) for k, v in getattr(adata, name).items()} for name in _MAPPINGS},
        "uns": copy.deepcopy(dict(adata.uns)),
        "X": checksum(adata.X),
    }


def _equal(a: Any, b: Any, path: str) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict), f"{path}: dict became {type(b).__name__}"
        assert set(a) == set(b), f"{path}: keys changed: {sorted(set(a) ^ set(b))}"
        for k in a:
            _equal(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, obj=path)
    elif isinstance(a, np.ndarray | list | tuple) and not (
        isinstance(a, list | tuple) and a and isinstance(a[0], dict)
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=path)
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _equal(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b), path
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def assert_unchanged(adata: AnnData, snap: dict[str, Any]) -> None:
    """Assert that ``adata`` is exactly as when ``snap = snapshot(adata)`` was taken."""
    now = snapshot(adata)
    for key in snap:
        _equal(snap[key], now[key], key)
