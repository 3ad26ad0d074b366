"""``hp.pp.log_fold_change``: control mean per gene and per-cell log fold change versus control."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import numpy as np
from anndata import AnnData
from scipy import sparse

from hyperperturb._utils import (
    _entries,
    atomic_write,
    check_finite_matrix,
    get_matrix,
    logger,
    protein_mod_name,
    record,
    require_step,
    resolve,
    resolve_protein,
)
from hyperperturb._utils._schema import LogFoldChangeEntry
from hyperperturb._utils._warn import warn

_STEP = "log_fold_change"


def _dense_rows(X: Any, rows: slice | np.ndarray) -> np.ndarray:
    block = X[rows]
    if sparse.issparse(block):
        block = block.toarray()
    elif hasattr(block, "compute"):
        block = block.compute()
        if sparse.issparse(block):
            block = block.toarray()
    return np.asarray(block, dtype=np.float64)


def _control_mean(X: Any, control_rows: np.ndarray, chunk_size: int) -> np.ndarray:
    """Mean over the control rows, streamed in chunks (works for dense, sparse, backed and Dask matrices)."""
    total = np.zeros(X.shape[1], dtype=np.float64)
    for lo in range(0, len(control_rows), chunk_size):
        total += _dense_rows(X, control_rows[lo : lo + chunk_size]).sum(0)
    return total / len(control_rows)


def _looks_like_counts(X: Any, n_rows: int = 500) -> tuple[bool, bool]:
    """(integer-valued with a large maximum, has negative values) on the first rows."""
    block = X[: min(n_rows, X.shape[0])]
    if hasattr(block, "compute"):
        block = block.compute()
    vals = block.data if sparse.issparse(block) else np.asarray(block).ravel()
    if vals.size == 0:
        return False, False
    integer = bool(np.all(np.mod(vals, 1) == 0)) and float(vals.max()) > 30
    return integer, bool(vals.min() < 0)


def _lfc(X: Any, mean: np.ndarray, chunk_size: int) -> np.ndarray:
    """Dense float32 cells × genes ``X - mean``, filled chunk by chunk (peak: output + one chunk)."""
    out = np.empty(X.shape, dtype=np.float32)
    for lo in range(0, X.shape[0], chunk_size):
        hi = min(lo + chunk_size, X.shape[0])
        out[lo:hi] = _dense_rows(X, slice(lo, hi)) - mean
    return out


def _check_input(X: Any, what: str, fix_layer: bool) -> None:
    check_finite_matrix(X, what=what)
    counts, negative = _looks_like_counts(X)
    if counts:
        warn(
            f"{what} looks like raw counts (integer values up to > 30). Log fold changes need log-normalised "
            "expression: run `sc.pp.normalize_total(adata); sc.pp.log1p(adata)` or `hp.pp.preprocess(adata)` first"
            + (" (or pass `layer=` naming a log-normalised layer)." if fix_layer else "."),
            UserWarning,
        )
    elif negative and fix_layer:
        warn(
            f"{what} has negative values (scaled or centred data?); the differences are then not log fold changes. "
            "Pass `layer=` naming the log-normalised layer (hp.pp.preprocess keeps it in 'hp_lognorm').",
            UserWarning,
        )


def log_fold_change(
    data: AnnData | Any,
    *,
    layer: str | None = None,
    chunk_size: int = 10_000,
    max_gb: float = 2.0,
    mod: str = "rna",
    prot_mod: str = "prot",
    copy: bool = False,
) -> AnnData | Any | None:
    """Control mean per gene and per-cell log fold change versus the control mean.

    The control mean is streamed over the control cells in chunks; the per-cell fold change
    ``X - control_mean`` is a dense float32 cells × genes matrix filled chunk by chunk (peak memory: the output
    plus one chunk). :func:`hyperperturb.tl.rewards` does not need it; compute it only to inspect fold changes.

    Parameters
    ----------
    data
        AnnData, or MuData with the RNA modality ``mod``. :func:`hyperperturb.pp.perturbations` must have run.
    layer
        Layer with log-normalised expression (default: the layer recorded by
        :func:`hyperperturb.pp.preprocess`, else ``X``). Dense, CSR, CSC, backed and Dask matrices work.
    chunk_size
        Cells per chunk.
    max_gb
        Warn when the dense output would be larger than this many gigabytes.
    mod
        RNA modality of a MuData.
    prot_mod
        Protein modality of a MuData; if present, its control mean and fold change are computed on its own ``X``
        (CLR-normalise it first, e.g. ``mu.prot.pp.clr(mdata["prot"])``).
    copy
        Return a modified copy instead of writing in place.

    Returns
    -------
    ``None``, or the modified copy if ``copy=True``. Writes ``.var["hp_control_mean"]`` (float64),
    ``.obsm["log_fold_change"]`` (dense float32) and ``.uns["hyperperturb"]["log_fold_change"]`` (``params``,
    ``layer``, ``n_control`` and, for an AnnData with ``.obsm["protein"]``, ``protein`` = ``names`` +
    ``control_mean``). A MuData protein modality gets its own ``.var["hp_control_mean"]`` and
    ``.obsm["log_fold_change"]``.

    Examples
    --------
    >>> hp.pp.perturbations(adata, key="perturbation", control="non-targeting")  # doctest: +SKIP
    >>> hp.pp.log_fold_change(adata)  # doctest: +SKIP
    """
    t = resolve(data, mod=mod)
    adata = t.adata
    require_step(adata, "perturbations", needed_by="hp.pp.log_fold_change")
    if not isinstance(chunk_size, int | np.integer) or chunk_size < 1:
        msg = f"`chunk_size` must be a positive integer, got {chunk_size!r}."
        raise ValueError(msg)
    if "hp_control" not in adata.obs.columns:
        msg = "obs['hp_control'] is missing although hp.pp.perturbations has run; run it again to restore it."
        raise KeyError(msg)
    used_layer = layer if layer is not None else _entries.preprocess_layer(adata)
    X = get_matrix(adata, layer)
    if used_layer is not None and used_layer not in adata.layers:
        used_layer = None
    what = f"adata.layers[{used_layer!r}]" if used_layer is not None else "adata.X"
    _check_input(X, what, fix_layer=True)
    ctrl = np.flatnonzero(adata.obs["hp_control"].to_numpy(dtype=bool))
    if len(ctrl) == 0:
        msg = "No control cells (obs['hp_control'] is all False). Re-run hp.pp.perturbations with the right `control=`."
        raise ValueError(msg)
    gb = X.shape[0] * X.shape[1] * 4 / 1e9
    if gb > max_gb:
        warn(
            f"obsm['log_fold_change'] will be a dense {X.shape[0]} x {X.shape[1]} float32 matrix of {gb:.2f} GB "
            f"(> max_gb={max_gb}). hp.tl.rewards does not need it; skip this step or subset genes if memory is short.",
            UserWarning,
        )
    mean = _control_mean(X, ctrl, chunk_size)
    lfc = _lfc(X, mean, chunk_size)

    # protein: MuData modality (own X, own control cells) or AnnData .obsm["protein"]
    pname = protein_mod_name(t.data, prot_mod, mod=t.mod) if t.mod is not None else prot_mod  # resolved once
    prot = resolve_protein(t, pname)
    prot_result: tuple[np.ndarray, np.ndarray] | None = None
    prot_entry: dict[str, Any] | None = None
    if prot is not None:
        names, P, p_adata = prot
        if p_adata is not None:
            if "hp_control" in p_adata.obs.columns:
                pc = p_adata.obs["hp_control"].to_numpy(dtype=bool)
            else:
                pc = adata.obs["hp_control"].reindex(p_adata.obs_names).fillna(False).to_numpy(dtype=bool)
            _check_input(P, f"mdata[{pname!r}].X", fix_layer=False)
            prows = np.flatnonzero(pc)
            if len(prows) == 0:
                msg = (
                    f"Modality {pname!r} shares no control cells with {mod!r}; check the cell names of both modalities."
                )
                raise ValueError(msg)
            pmean = _control_mean(P, prows, chunk_size)
            prot_result = (pmean, _lfc(P, pmean, chunk_size))
        else:
            P = P.to_numpy() if hasattr(P, "to_numpy") else P
            _check_input(P, "adata.obsm['protein']", fix_layer=False)
            prot_entry = {"names": np.asarray(names, dtype=str), "control_mean": _control_mean(P, ctrl, chunk_size)}

    entry = LogFoldChangeEntry(
        layer=used_layer if used_layer is not None else "X",
        n_control=len(ctrl),
        params={
            "layer": layer,
            "chunk_size": int(chunk_size),
            "max_gb": float(max_gb),
            "mod": mod,
            "prot_mod": prot_mod,
        },
        protein=prot_entry,
    )
    if copy:
        t = t.copy()
    adata = t.adata
    with ExitStack() as stack:  # all-or-nothing, across modalities
        stack.enter_context(atomic_write(adata))
        if prot_result is not None:
            stack.enter_context(atomic_write(t.data.mod[pname]))
        adata.var["hp_control_mean"] = mean
        adata.obsm["log_fold_change"] = lfc
        if prot_result is not None:
            p_adata = t.data.mod[pname]
            p_adata.var["hp_control_mean"] = prot_result[0]
            p_adata.obsm["log_fold_change"] = prot_result[1]
        record(adata, _STEP, entry.to_uns())
    logger.info("log_fold_change: %d cells x %d genes vs %d control cells (%s)", *X.shape, len(ctrl), entry.layer)
    return t.done(copy)
