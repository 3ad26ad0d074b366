"""Streaming segment sums behind ``hp.tl.rewards`` (chunk drivers; private).

Every cell row carries up to ``k`` *slot* labels (``labels[i, :]``, ``-1`` padding at the end). A slot is one
(perturbation or control) × (pooled or group) combination; slot ``l`` is centred on the control-mean row
``slot_cm[l]``. For each slot and gene the kernels accumulate, in float64,

* ``absmode[l]`` true: ``sum_i (|x_ig - cm_g| - |cm_g|)`` over the slot's cells, *stored values only*. A zero
  entry contributes ``|0 - cm_g| - |cm_g| = 0`` whatever the sign of ``cm_g``, so the mean absolute deviation
  is recovered exactly as ``(S + n_l * |cm_g|) / n_l`` without ever visiting implicit zeros;
* ``absmode[l]`` false: ``sum_i x_ig`` (signed rewards: ``S / n_l - cm_g``).

Dense rows use the same formulas, so the finalisation is shared. Non-finite values in labelled rows propagate
into the accumulators (checked afterwards); unlabelled rows are scanned for NaN/inf when ``check_unlabeled``.

First call. The numba kernels (``_numba``) are compiled once per user and cached on disk; this module
imports numba only when it runs them. Their start-up is not free even when cached (importing numba ~0.2–0.3 s,
loading a cached kernel ~0.25 s; compiling it ~0.5–1 s more), and on a 2-core machine they are only ~2–3 ns per
stored value faster than the NumPy twin of the CSR kernel (``_numpy``, bit-identical sums). So in-memory CSR
matrices use the NumPy twin unless the numba kernel is already compiled in this process or the matrix is big
enough for numba to pay off: more than :data:`WARM_NNZ` stored values when the kernel is in the on-disk cache,
more than :data:`COMPILE_NNZ` when it would have to be compiled. See :func:`engine`;
``HYPERPERTURB_REWARDS_ENGINE=numba|numpy`` forces a path. Backed, Dask, dense and CSC inputs always use numba.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from ._slots import Slots, _bounds, _order

#: Upper bound (bytes) for the per-thread accumulators of the row-parallel kernels.
_ACC_BUDGET = 256 * 2**20
#: In-memory CSR with more stored values than this uses the numba kernel when it is in the on-disk cache.
WARM_NNZ = 100_000_000
#: ... and more than this compiles it when it is not (once per user: it is cached on disk afterwards).
COMPILE_NNZ = 400_000_000
_ENGINES = ("auto", "numba", "numpy")


def _numba_threads() -> int:
    """Numba's thread count (``numba.get_num_threads()``), without importing numba when it is not loaded yet."""
    par = sys.modules.get("numba.np.ufunc.parallel")
    if par is not None and getattr(par, "_is_initialized", False):  # threads launched: set_num_threads may apply
        import numba

        return int(numba.get_num_threads())
    cfg = sys.modules.get("numba.core.config")
    if cfg is not None:
        return int(cfg.NUMBA_NUM_THREADS)
    env = os.environ.get("NUMBA_NUM_THREADS", "").strip()
    if env:
        return int(env)
    if hasattr(os, "sched_getaffinity"):  # numba's default
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _n_threads(n_slots: int, n_genes: int) -> int:
    per = max(1, n_slots * n_genes * 8)
    return int(max(1, min(_numba_threads(), _ACC_BUDGET // per)))


# --------------------------------------------------------------------------------------------- engine choice


def _marker(kind: str, X: Any) -> Path | None:
    """File whose presence records that the numba kernel ``kind`` for ``X``'s dtypes is in the on-disk cache."""
    from importlib.metadata import PackageNotFoundError, version

    from hyperperturb._utils._cache import numba_cache_dir

    user = os.environ.get("NUMBA_CACHE_DIR")
    folder = Path(user) if user else numba_cache_dir()
    if folder is None:
        return None
    try:
        nb = version("numba")
    except PackageNotFoundError:  # pragma: no cover - numba is a dependency
        return None
    src = (Path(__file__).parent / "_numba.py").read_bytes()
    dtypes = (X.data.dtype.str, X.indices.dtype.str, X.indptr.dtype.str) if sparse.issparse(X) else (X.dtype.str,)
    key = "|".join([nb, sys.version, sys.platform, os.uname().machine if hasattr(os, "uname") else "", kind, *dtypes])
    digest = hashlib.sha256(key.encode() + src).hexdigest()[:20]
    return folder / f"hp_rewards_{kind}_{digest}.ok"


def _kernel_loaded(kind: str) -> bool:
    mod = sys.modules.get("hyperperturb.tl._rewards._numba")
    return mod is not None and bool(getattr(mod, kind).signatures)


def engine(X: Any) -> str:
    """``"numba"`` or ``"numpy"`` for an in-memory CSR matrix ``X`` (other inputs always use numba).

    numba when its CSR kernel is already compiled in this process, or ``X`` has more than :data:`WARM_NNZ` stored
    values and the kernel is in the on-disk cache (a marker written after numba cached it), or more than
    :data:`COMPILE_NNZ`; NumPy otherwise. ``HYPERPERTURB_REWARDS_ENGINE`` = ``numba`` or ``numpy`` forces one
    (``auto``, the default, decides as above). Both give the same numbers.
    """
    forced = os.environ.get("HYPERPERTURB_REWARDS_ENGINE", "auto").strip().lower() or "auto"
    if forced not in _ENGINES:
        msg = f"HYPERPERTURB_REWARDS_ENGINE must be one of {_ENGINES}, got {forced!r}; unset it or pick one of those."
        raise ValueError(msg)
    if forced != "auto":
        return forced
    if _kernel_loaded("_csr_core") or X.nnz > COMPILE_NNZ:
        return "numba"
    if X.nnz <= WARM_NNZ:
        return "numpy"
    m = _marker("_csr_core", X)
    return "numba" if m is not None and m.exists() else "numpy"


def _mark_cached(kind: str, X: Any) -> None:
    """After numba ran ``kind`` with caching on, record that the next process finds it on disk."""
    from hyperperturb._utils._cache import numba_cache_dir

    if not os.environ.get("NUMBA_CACHE_DIR") and numba_cache_dir() is None:
        return  # caching is off: every process compiles again
    m = _marker(kind, X)
    if m is None or m.exists():
        return
    try:
        m.touch()
    except OSError:  # pragma: no cover - a read-only cache folder only costs the NumPy path next time
        pass


def _in_parts(fn: Callable[[int], int], nt: int) -> int:
    """Run ``fn(t)`` for the ``nt`` parts (one thread each: the kernels release the GIL); sum of the results."""
    if nt == 1:
        return int(fn(0))
    with ThreadPoolExecutor(max_workers=nt) as pool:
        return int(sum(pool.map(fn, range(nt))))


def _is_dask(X: Any) -> bool:
    return type(X).__module__.startswith("dask") and hasattr(X, "dask")


def _canonical(X: Any) -> Any:
    """A CSR/CSC matrix without duplicate entries (copied only when needed)."""
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()
    return X


def _in_memory(X: Any, s: Slots, acc3: np.ndarray, rows: np.ndarray, check: bool) -> int:
    """Add ``rows`` (a visiting order) of an in-memory CSR or dense matrix into ``acc3``; returns the non-finite count.

    The rows are split into ``acc3.shape[0]`` parts of about equal work; part ``t`` goes into ``acc3[t]``.
    """
    from ._numba import _csr_core, _dense_core

    nt = acc3.shape[0]
    if sparse.issparse(X):
        b = _bounds(np.diff(X.indptr)[rows] + 1, nt)
        return _in_parts(
            lambda t: _csr_core(
                X.indptr,
                X.indices,
                X.data,
                rows,
                b[t],
                b[t + 1],
                s.labels,
                s.slot_cm,
                s.cm,
                s.acm,
                s.absmode,
                acc3[t],
                check,
            ),
            nt,
        )
    b = _bounds(np.ones(rows.size), nt)
    return _in_parts(
        lambda t: _dense_core(X, rows, b[t], b[t + 1], s.labels, s.slot_cm, s.cm, s.acm, s.absmode, acc3[t], check), nt
    )


def _as_chunk(block: Any) -> Any:
    """A row chunk as CSR (canonical) or a NumPy array."""
    if sparse.issparse(block):
        block = block.tocsr() if block.format != "csr" else block
        if not block.has_canonical_format:
            block.sum_duplicates()
        return block
    if hasattr(block, "todense") and not isinstance(block, np.ndarray):  # e.g. pydata sparse in a dask chunk
        block = sparse.csr_matrix(block.to_scipy_sparse()) if hasattr(block, "to_scipy_sparse") else block.todense()
    block = np.asarray(block)
    return block.astype(np.float32) if block.dtype == np.float16 else block  # numba has no float16


def segment_sums(
    X: Any,
    s: Slots,
    *,
    chunk_size: int,
    rows: np.ndarray | None = None,
    check_unlabeled: bool = True,
    progress: Callable[[Any], Any] = lambda it: it,
) -> tuple[np.ndarray, int]:
    """Stream over the cells of ``X`` once; return ``(S, n_nonfinite)`` with ``S`` of shape slots × genes.

    ``rows`` (sorted indices) restricts reading to those rows for out-of-core matrices (others are unlabelled).
    In-memory matrices are read in place (no copy); backed datasets are read ``chunk_size`` rows at a time;
    Dask arrays are reduced block-wise (parallel, never computed whole).
    """
    n, G = X.shape
    L = s.n_slots
    if _is_dask(X):
        return _dask_sums(X, s, check_unlabeled)
    if sparse.issparse(X) and X.format == "csc":
        from ._numba import _csc_parallel

        X = _canonical(X)
        accT = np.zeros((G, L), dtype=np.float64)
        bad = 0
        for _ in progress([0]):
            bad = int(
                _csc_parallel(
                    X.indptr, X.indices, X.data, s.labels, s.slot_cm, s.cm, s.acm, s.absmode, accT, check_unlabeled
                )
            )
        return np.ascontiguousarray(accT.T), bad
    nt = _n_threads(L, G)
    in_memory_csr = sparse.issparse(X) and X.format == "csr"
    if in_memory_csr:
        X = _canonical(X)
        if engine(X) == "numpy":
            from ._numpy import csr_sums

            for _ in progress([0]):
                out = csr_sums(X, s, nt=nt, chunk_size=chunk_size, check_unlabeled=check_unlabeled)
            return out
    acc3 = np.zeros((nt, L, G), dtype=np.float64)
    bad = 0
    # float16 (dense only: scipy.sparse has none) goes through the chunked path, upcast one chunk at a time
    if in_memory_csr or (isinstance(X, np.ndarray) and X.dtype != np.float16):
        order = _order(s.labels, check_unlabeled)
        for lo in progress(list(range(0, max(order.size, 1), chunk_size))):
            bad += _in_memory(X, s, acc3, order[lo : lo + chunk_size], check_unlabeled)
        if in_memory_csr:
            _mark_cached("_csr_core", X)
        return (acc3[0] if acc3.shape[0] == 1 else acc3.sum(axis=0)), bad
    # out of core (backed h5ad, h5py/zarr datasets) or other sparse formats: read row chunks
    if rows is not None:
        rows = np.asarray(rows, dtype=np.int64)
        starts = list(range(0, len(rows), chunk_size))
        for a in progress(starts):
            idx = rows[a : a + chunk_size]
            block = _as_chunk(X[idx])
            sub = s.take(idx)
            bad += _in_memory(block, sub, acc3, _order(sub.labels, check_unlabeled), check_unlabeled)
        return (acc3[0] if acc3.shape[0] == 1 else acc3.sum(axis=0)), bad
    starts = list(range(0, n, chunk_size))
    for lo in progress(starts):
        hi = min(lo + chunk_size, n)
        block = _as_chunk(X[lo:hi])
        sub = s.rows(lo, hi)
        bad += _in_memory(block, sub, acc3, _order(sub.labels, check_unlabeled), check_unlabeled)
    return (acc3[0] if acc3.shape[0] == 1 else acc3.sum(axis=0)), bad


def _dask_block(xb, lab, cm, *, slot_cm, absmode, check_unlabeled):  # pragma: no cover - runs inside dask
    """One block: slots × block-genes partial sums, plus one extra row holding the non-finite count."""
    from ._numba import _csr_core, _dense_core

    xb = _as_chunk(xb)
    L = slot_cm.shape[0]
    G = xb.shape[1]
    acc = np.zeros((L + 1, G), dtype=np.float64)
    cm = np.ascontiguousarray(cm, dtype=np.float64)
    lab = np.ascontiguousarray(lab, dtype=np.int32)
    acm = np.abs(cm)
    # serial kernels: dask already runs blocks in parallel, and nested numba pools are not thread-safe
    rows = _order(lab, check_unlabeled)
    if sparse.issparse(xb):
        bad = _csr_core(
            xb.indptr, xb.indices, xb.data, rows, 0, rows.size, lab, slot_cm, cm, acm, absmode, acc[:L], check_unlabeled
        )
    else:
        bad = _dense_core(xb, rows, 0, rows.size, lab, slot_cm, cm, acm, absmode, acc[:L], check_unlabeled)
    acc[L, 0] = bad
    return acc[None]


def _dask_sums(X: Any, s: Slots, check_unlabeled: bool) -> tuple[np.ndarray, int]:
    import dask.array as da

    lab = da.from_array(s.labels, chunks=(X.chunks[0], s.labels.shape[1]))
    cm = da.from_array(s.cm, chunks=(s.cm.shape[0], X.chunks[1]))
    L = s.n_slots
    parts = da.blockwise(
        _dask_block,
        "ilj",
        X,
        "ij",
        lab,
        "ik",
        cm,
        "rj",
        new_axes={"l": L + 1},
        adjust_chunks={"i": 1},
        concatenate=True,
        dtype=np.float64,
        meta=np.empty((0, 0, 0), dtype=np.float64),
        slot_cm=s.slot_cm,
        absmode=s.absmode,
        check_unlabeled=check_unlabeled,
    )
    total = np.asarray(parts.sum(axis=0).compute())
    return np.ascontiguousarray(total[:L]), int(round(total[L].sum()))
