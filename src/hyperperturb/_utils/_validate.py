"""Input validation shared by all namespaces."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse


def check_seed(seed: Any, *, name: str = "seed") -> None:
    """Raise a clear error unless ``seed`` is ``None``, a non-negative integer or a NumPy generator."""
    if seed is None or isinstance(seed, np.random.Generator):
        return
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        msg = f"`{name}` must be a non-negative integer (or None), got {seed!r} of type {type(seed).__name__}."
        raise TypeError(msg)
    if seed < 0:
        msg = f"`{name}` must be a non-negative integer, got {seed}. Use e.g. {name}=0."
        raise ValueError(msg)


def check_fixed_seed(seed: Any, *, name: str = "seed") -> None:
    """A seed that the ledger can record: a non-negative integer (``None`` and generators are refused clearly)."""
    if seed is None or isinstance(seed, np.random.Generator):
        msg = (
            f"`{name}` must be a non-negative integer, got {seed!r}: the seed of every result is recorded so that it "
            f"can be reproduced, so a fresh random seed is not supported. Pass e.g. {name}=0 (another integer "
            "gives another draw)."
        )
        raise TypeError(msg)
    check_seed(seed, name=name)


def as_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A NumPy generator from a seed (``None`` gives a non-reproducible generator); bad seeds raise clearly."""
    if isinstance(seed, np.random.Generator):
        return seed
    check_seed(seed)
    return np.random.default_rng(seed)


def check_numeric_matrix(X: Any, *, what: str = "adata.X") -> None:
    """Raise a :class:`TypeError` for an expression matrix that is not real-valued (object, string, complex)."""
    dtype = getattr(X, "dtype", None)
    if dtype is None:
        return
    dtype = np.dtype(dtype) if not isinstance(dtype, np.dtype) else dtype
    if dtype.kind not in "biuf":
        kind = {"c": "complex", "O": "object", "U": "string", "S": "bytes"}.get(dtype.kind, str(dtype))
        msg = (
            f"{what[:1].upper() + what[1:]} has dtype {dtype} ({kind}); hyperperturb needs real numbers. Convert it, "
            "e.g. `adata.X = adata.X.astype(np.float32)` (for complex values take the real part or the magnitude)."
        )
        raise TypeError(msg)


def check_unique_names(adata: AnnData, *, axis: str = "var") -> None:
    """Raise a :class:`ValueError` if ``var_names`` (or ``obs_names``) are duplicated."""
    names = adata.var_names if axis == "var" else adata.obs_names
    if not names.is_unique:
        dup = names[names.duplicated()].unique()[:5].tolist()
        fix = "adata.var_names_make_unique()" if axis == "var" else "adata.obs_names_make_unique()"
        msg = f"{axis}_names are not unique (e.g. {dup}). Make them unique first: `{fix}`."
        raise ValueError(msg)


def _block_is_finite(block: Any) -> bool:
    if sparse.issparse(block):
        return bool(np.isfinite(block.data).all())
    return bool(np.isfinite(np.asarray(block)).all())


def check_finite_matrix(X: Any, *, what: str = "adata.X", chunk_size: int = 10_000) -> None:
    """Raise a :class:`ValueError` if ``X`` holds NaN or inf, scanning in row chunks (works for backed data).

    Dask arrays are checked lazily-by-chunk with a single reduction.
    """
    check_numeric_matrix(X, what=what)
    if hasattr(X, "dask") or type(X).__module__.startswith("dask"):
        # per block, so that blocks of scipy sparse matrices (anndata's lazy sparse X) are checked too
        ok = bool(X.map_blocks(lambda b: np.array([[_block_is_finite(b)]]), dtype=bool, chunks=(1, 1)).all().compute())
    elif sparse.issparse(X) and hasattr(X, "data"):
        ok = bool(np.isfinite(X.data).all())
    elif isinstance(X, np.ndarray):
        ok = True
        for start in range(0, X.shape[0], chunk_size):
            if not np.isfinite(X[start : start + chunk_size]).all():
                ok = False
                break
    else:  # backed dataset or other array-like: read row chunks
        ok = True
        for start in range(0, X.shape[0], chunk_size):
            if not _block_is_finite(X[start : min(start + chunk_size, X.shape[0])]):
                ok = False
                break
    if not ok:
        msg = (
            f"{what} contains NaN or infinite values. Remove or impute them before running hyperperturb "
            "(for a few bad genes, e.g. `M = adata.X` (or the layer); `M = M.toarray() if hasattr(M, 'toarray') "
            "else M`; `adata = adata[:, np.isfinite(M).all(0)].copy()`)."
        )
        raise ValueError(msg)


def str_array(x: Any) -> np.ndarray:
    """Stored names as a NumPy ``str`` array of the same shape, whatever their stored dtype.

    Name arrays in ``.uns`` come back from disk in several dtypes: ``str`` (h5ad), NumPy's variable-width
    ``StringDType`` (zarr with anndata >= 0.12 and NumPy 2, which ``.astype(str)`` refuses to cast), ``object``
    (of ``str`` or ``bytes``) and ``bytes``. Read every stored name through this helper.

    Parameters
    ----------
    x
        A name array of any shape and dtype, a list of names or a single name.

    Returns
    -------
    numpy.ndarray
        The names as ``str`` (``bytes`` decoded as UTF-8), with the shape of ``np.asarray(x)``.
    """
    arr = np.asarray(x)
    if arr.dtype.kind == "U":
        return arr
    if arr.dtype.kind == "S":
        return np.char.decode(arr, "utf-8")
    flat = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in arr.ravel().tolist()]
    return np.asarray(flat, dtype=str).reshape(arr.shape)


#: How :func:`sanitize_for_h5ad` stores ``None`` (h5ad has no null); :func:`decode` reads it back.
NONE = "None"


def decode(value: Any) -> Any:
    """A stored value with ``"None"`` (how :func:`sanitize_for_h5ad` writes ``None``) turned back into ``None``."""
    return None if isinstance(value, str) and value == NONE else value


def sanitize_for_h5ad(obj: Any) -> Any:
    """Turn ``obj`` into values that ``write_h5ad`` can store (nested dicts of str, numbers, lists, ndarrays).

    Tuples become lists, ``None`` becomes the string ``"None"``, NumPy scalars become Python scalars, pandas
    objects become arrays (DataFrames are kept: anndata writes them), keys become ``str``.
    """
    if isinstance(obj, Mapping):
        return {str(k): sanitize_for_h5ad(v) for k, v in obj.items()}
    if obj is None:
        return NONE
    if isinstance(obj, pd.DataFrame):
        return obj
    if isinstance(obj, pd.Series | pd.Index):
        return sanitize_for_h5ad(obj.to_numpy())
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            return str_array(obj)
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, list | tuple):
        if all(isinstance(x, str) for x in obj):
            return [str(x) for x in obj]
        if len(obj) and all(isinstance(x, int | float | np.number) and not isinstance(x, bool) for x in obj):
            return np.asarray(obj)
        return [sanitize_for_h5ad(x) for x in obj] if obj else np.asarray([], dtype=float)
    return obj


def close_matches(word: str, names: Sequence[str], *, n: int = 3) -> list[str]:
    """Names that ``word`` may have meant: case-insensitive exact matches first, then :func:`difflib.get_close_matches`.

    ``close_matches("stat1", ["STAT1", "STAT2"])`` gives ``["STAT1"]``; a near miss such as ``"STAT11"`` gives the
    closest names (compared case-insensitively).
    """
    names = [str(x) for x in names]
    low = str(word).lower()
    exact = [x for x in names if x.lower() == low]
    if exact:
        return exact[:n]
    by_lower: dict[str, str] = {}
    for x in names:
        by_lower.setdefault(x.lower(), x)
    return [by_lower[m] for m in difflib.get_close_matches(low, list(by_lower), n=n)]


def unknown_gene_message(gene: str, names: Sequence[str]) -> str:
    """The error message for a gene that is not in ``var_names``, with close matches ("did you mean 'STAT1'?")."""
    close = close_matches(gene, list(names))
    hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
    return f"Gene {gene!r} is not in var_names.{hint} Pass names from `adata.var_names`."


#: ``DataFrame.attrs`` key marking an undirected interaction table (``hp.datasets.string_network`` sets it;
#: ``hp.pp.gene_network(directed=None)`` then sends the table's edges both ways).
UNDIRECTED_ATTR = "hyperperturb_undirected"
