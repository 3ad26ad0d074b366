"""Inputs of ``hp.tl.rewards``: the design labels of each cell, group codes, the raw-counts check."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from hyperperturb._utils._warn import warn

#: Integer-valued data whose maximum exceeds this is taken for raw counts (warning).
_RAW_MAX = 20.0
#: Rows read to detect raw counts.
_RAW_SAMPLE = 1_000


def _design_labels(adata: AnnData, n_perts: int) -> tuple[np.ndarray, np.ndarray]:
    """Perturbation indices per cell (``(n, k)``, ``-1`` padded) and the control mask, validated."""
    if "perturbation_target" not in adata.obsm:
        msg = (
            "adata.obsm['perturbation_target'] is missing although the ledger has a 'perturbations' entry. "
            "Re-run `hp.pp.perturbations(adata, key=..., control=...)`."
        )
        raise KeyError(msg)
    D = adata.obsm["perturbation_target"]
    if isinstance(D, pd.DataFrame):
        D = D.to_numpy()
    if D.shape != (adata.n_obs, n_perts):
        msg = (
            f"adata.obsm['perturbation_target'] has shape {tuple(D.shape)} but the object has {adata.n_obs} cells and "
            f"the ledger lists {n_perts} perturbations; they are out of sync (was the object subset or the design "
            "edited?). Re-run `hp.pp.perturbations(adata, key=..., control=...)`."
        )
        raise ValueError(msg)
    D = sparse.csr_matrix(D) if not sparse.issparse(D) else D.tocsr()
    coo = D.tocoo()
    keep = np.asarray(coo.data) > 0.5  # the original design's rule: targets[:, p] > 0.5
    rows = coo.row[keep].astype(np.int64)
    cols = coo.col[keep].astype(np.int32)
    order = np.lexsort((cols, rows))
    rows, cols = rows[order], cols[order]
    counts = np.bincount(rows, minlength=adata.n_obs)
    k = max(1, int(counts.max()) if counts.size else 1)
    labels = np.full((adata.n_obs, k), -1, dtype=np.int32)
    rank = np.arange(rows.size) - (np.cumsum(counts) - counts)[rows]
    labels[rows, rank] = cols

    control = _control_mask(adata)
    if not control.any():
        msg = "No control cells: adata.obs['hp_control'] is all False. Re-run `hp.pp.perturbations` with the right `control=` label."
        raise ValueError(msg)
    clash = control & (counts > 0)
    if clash.any():
        msg = (
            f"{int(clash.sum())} control cell(s) also carry a perturbation in obsm['perturbation_target'] "
            f"(e.g. {adata.obs_names[np.flatnonzero(clash)[:3]].tolist()}); control rows must be all zero. "
            "Re-run `hp.pp.perturbations`."
        )
        raise ValueError(msg)
    return labels, control


def _control_mask(adata: AnnData) -> np.ndarray:
    """``obs['hp_control']`` as a boolean mask, refused when it is absent, has missing values or is not boolean.

    A CSV or R round trip can turn the column into the strings ``"True"``/``"False"`` (every one of which
    ``astype(bool)`` reads as ``True``): such a column is refused by its dtype rather than read as all controls.
    """
    if "hp_control" not in adata.obs.columns:
        msg = "adata.obs['hp_control'] is missing. Run `hp.pp.perturbations(adata, key=..., control=...)` first."
        raise KeyError(msg)
    ctrl = adata.obs["hp_control"]
    if ctrl.isna().any():
        msg = "adata.obs['hp_control'] has missing values. Re-run `hp.pp.perturbations` to rebuild it."
        raise ValueError(msg)
    if pd.api.types.is_integer_dtype(ctrl.dtype) and set(np.unique(ctrl.to_numpy())) <= {0, 1}:
        return ctrl.to_numpy() != 0  # 0/1 flags (an edited or exported column) read as booleans
    if not pd.api.types.is_bool_dtype(ctrl.dtype):
        msg = (
            f"adata.obs['hp_control'] must be boolean (True for control cells), but it has dtype {ctrl.dtype} "
            f"(values such as {ctrl.astype(str).unique()[:3].tolist()}; a CSV or R round trip turns it into "
            "strings). Re-run `hp.pp.perturbations(adata, key=..., control=...)` to rebuild it."
        )
        raise TypeError(msg)
    return ctrl.to_numpy(dtype=bool)


def _group_codes(adata: AnnData, groupby: str | None) -> tuple[np.ndarray | None, list[str]]:
    if groupby is None:
        return None, []
    if not isinstance(groupby, str) or groupby not in adata.obs.columns:
        msg = f"`groupby={groupby!r}` is not a column of adata.obs; columns are {list(adata.obs.columns)}."
        raise KeyError(msg)
    col = adata.obs[groupby]
    cat = pd.Categorical(col).remove_unused_categories()
    names = [str(c) for c in cat.categories]
    if len(set(names)) != len(names):
        msg = f"obs[{groupby!r}] has categories that coincide as strings ({names}); rename them."
        raise ValueError(msg)
    slashed = [n for n in names if "/" in n]
    if slashed:  # the groups are stored as keys of .uns["hyperperturb"]["rewards"]["groups"]
        msg = (
            f"obs[{groupby!r}] has group names with '/' ({slashed[:5]}); the rewards of each group are stored under "
            "its name in .uns, and an .h5ad file cannot hold '/' in a key (anndata splits it into nested groups, "
            f"and newer versions refuse to write it). Rename them first, e.g. adata.obs[{groupby!r}] = "
            f"adata.obs[{groupby!r}].astype(str).str.replace('/', '-')."
        )
        raise ValueError(msg)
    return np.asarray(cat.codes, dtype=np.int64), names


def _warn_raw_counts(X: Any, what: str) -> None:
    m = min(X.shape[0], _RAW_SAMPLE)
    block = X[:m]
    if hasattr(block, "compute"):
        block = block.compute()
    vals = block.data if sparse.issparse(block) else np.asarray(block)
    vals = np.asarray(vals)
    if vals.size == 0 or not np.isfinite(vals).all():
        return  # non-finite values are reported (as an error) by the main pass
    if np.issubdtype(vals.dtype, np.integer) or np.array_equal(vals, np.round(vals)):
        if float(vals.max()) > _RAW_MAX:
            warn(
                f"{what} looks like raw counts (integer values up to {float(vals.max()):g}); rewards are mean absolute "
                "log fold changes and expect log-normalised data. Run `sc.pp.normalize_total(adata)` and "
                "`sc.pp.log1p(adata)` first (or pass `layer=` naming a log-normalised layer).",
                UserWarning,
            )
