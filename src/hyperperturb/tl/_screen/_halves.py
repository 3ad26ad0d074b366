"""Split-half rewards and detectable effects of a screen (private; used by evaluation and the reliabilities)."""

from __future__ import annotations

from typing import Any

import numpy as np
from anndata import AnnData
from scipy import sparse

from hyperperturb._utils import _entries, get_matrix
from hyperperturb._utils._schema import PerturbationsEntry, read

from ._read import Screen


def _row_reader(X: Any) -> Any:
    """A function reading sorted row indices of ``X`` (dense, sparse, backed or Dask) as a dense float64 block."""

    def _rows(idx: np.ndarray) -> np.ndarray:
        block = X[np.sort(idx)] if not hasattr(X, "dask") else X[np.sort(idx)].compute()
        block = block.toarray() if sparse.issparse(block) else np.asarray(block)
        return block.astype(np.float64, copy=False)

    return _rows


def _perturbation_cells(adata: AnnData, screen: Screen, columns: np.ndarray) -> list[np.ndarray]:
    """Row indices of the cells carrying each perturbation in ``columns`` (the design's non-zero rows)."""
    if "perturbation_target" not in adata.obsm:
        msg = 'adata.obsm["perturbation_target"] is missing. Run `hp.pp.perturbations(adata, ...)` first.'
        raise KeyError(msg)
    design = sparse.csc_matrix(adata.obsm["perturbation_target"])
    all_names = {n: j for j, n in enumerate(_entries.perturbation_names(adata))}
    cells = []
    for c in columns:
        j = all_names[str(screen.names[c])]
        lo, hi = design.indptr[j], design.indptr[j + 1]
        rows = design.indices[lo:hi][np.asarray(design.data[lo:hi]) > 0.5]  # the rule of hp.tl.rewards
        cells.append(np.sort(rows.astype(np.int64)))
    return cells


def _control_mean(adata: AnnData, rows: Any, chunk_size: int) -> np.ndarray:
    if "hp_control_mean" in adata.var:
        return adata.var["hp_control_mean"].to_numpy(dtype=np.float64)
    ctrl = np.flatnonzero(adata.obs["hp_control"].to_numpy(dtype=bool))
    return sum(rows(ctrl[s : s + chunk_size]).sum(0) for s in range(0, ctrl.size, chunk_size)) / ctrl.size


#: Entries (columns x genes, rows x genes) per block of :func:`split_half_rewards`.
_SPLIT_BLOCK = 1 << 22


def split_half_rewards(
    adata: AnnData,
    screen: Screen,
    columns: np.ndarray,
    *,
    rng: np.random.Generator,
    chunk_size: int = 5000,
    layer: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rewards of each perturbation in ``columns`` computed separately on two random halves of its cells.

    The cells of a perturbation are shuffled (seeded by ``rng``) and split into ``A`` (the first ``n // 2``) and
    ``B`` (the rest); on each half the reward is computed as :func:`hyperperturb.tl.rewards` does for the pooled
    matrix: the mean over the half's cells of ``|x - c|`` (signed rewards: ``x - c``; ``statistic="mean_shift"``:
    ``|mean(x) - c|``), with ``c`` the control mean
    ``.var["hp_control_mean"]``. The perturbed cells are streamed in row chunks, a block of columns at a time (a
    cell carrying perturbations of two blocks is read twice), so memory is bounded by the two outputs plus small
    blocks whatever the numbers of genes and perturbations.

    Returns
    -------
    ``(R_A, R_B, n_cells)``: genes x columns halves (``nan`` columns for perturbations with fewer than 2 cells) and
    the number of cells per perturbation.
    """
    X = get_matrix(adata, layer)
    rows = _row_reader(X)
    cells = _perturbation_cells(adata, screen, columns)
    mu = _control_mean(adata, rows, chunk_size)
    n_col = len(cells)
    n_cells = np.asarray([c.size for c in cells], dtype=np.int64)
    perms = [rng.permutation(idx) if idx.size >= 2 else None for idx in cells]  # drawn in column order
    G = adata.n_vars
    R_A = np.full((G, n_col), np.nan)
    R_B = np.full((G, n_col), np.nan)
    # bounded memory at genome scale: a few columns' sums and a few rows' deviations at a time (never 2 x columns x
    # genes sums next to the outputs, nor chunk_size x genes dense rows for thousands of genes)
    step_c = max(1, _SPLIT_BLOCK // max(G, 1))
    step_r = max(1, min(int(chunk_size), _SPLIT_BLOCK // max(G, 1)))
    for c0 in range(0, n_col, step_c):
        c1 = min(c0 + step_c, n_col)
        r_idx, c_idx = [], []
        for j in range(c0, c1):
            perm = perms[j]
            if perm is None:
                continue
            half = np.zeros(perm.size, dtype=np.int64)
            half[perm.size // 2 :] = 1
            r_idx.append(perm)
            c_idx.append(2 * (j - c0) + half)
        if not r_idx:
            continue
        r_all = np.concatenate(r_idx)
        c_all = np.concatenate(c_idx)
        W = sparse.csr_matrix((np.ones(r_all.size), (r_all, c_all)), shape=(adata.n_obs, 2 * (c1 - c0)))
        counts = np.asarray(W.sum(axis=0)).ravel()
        used = np.unique(r_all)
        sums = np.zeros((2 * (c1 - c0), G))
        for s in range(0, used.size, step_r):
            blk_rows = used[s : s + step_r]
            dev = rows(blk_rows)
            dev -= mu
            if not (screen.signed or screen.shift):
                np.abs(dev, out=dev)
            sums += W[blk_rows].T @ dev
        if not np.isfinite(sums).all():
            msg = "The expression matrix contains NaN or infinite values; the split-half ceiling cannot be computed."
            raise ValueError(msg)
        ok = counts > 0
        sums[ok] /= counts[ok, None]
        sums[~ok] = np.nan
        if screen.shift:
            np.abs(sums, out=sums)
        R_A[:, c0:c1] = sums[0::2].T
        R_B[:, c0:c1] = sums[1::2].T
    return R_A, R_B, n_cells


def detectable_effects(
    adata: AnnData,
    screen: Screen,
    columns: np.ndarray,
    *,
    effect_level: float,
    n_null: int,
    rng: np.random.Generator,
    chunk_size: int = 5000,
    layer: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whether each perturbation in ``columns`` has an effect beyond control-vs-control resampling.

    The statistic is the L2 norm over genes of the excess profile ``mean_cells |x - mu| - B`` (with
    ``statistic="mean_shift"`` rewards: ``|mean_cells x - mu| - B``), computed on the
    perturbation's own cells and, for the null, on ``n_null`` bootstrap samples (with replacement, so that the null
    has the sampling variance of independent cells) of the same number of control cells. One streamed pass over the control cells and one over the
    perturbed cells, in row chunks; ``X`` is never densified beyond ``chunk_size`` rows.

    Returns
    -------
    ``(detectable, statistic, threshold)`` arrays, one entry per column.
    """
    X = get_matrix(adata, layer)
    if "hp_control" in adata.obs:
        ctrl = np.flatnonzero(adata.obs["hp_control"].to_numpy(dtype=bool))
    else:
        pert = read(adata, PerturbationsEntry, needed_by="the detectability test")
        key, control = pert.key, list(pert.control)
        ctrl = np.flatnonzero(adata.obs[key].astype(str).isin(control).to_numpy())
    if ctrl.size < 2:
        msg = "Fewer than 2 control cells; detectability needs control cells. Check `hp.pp.perturbations(control=...)`."
        raise ValueError(msg)
    cells = _perturbation_cells(adata, screen, columns)
    _rows = _row_reader(X)
    mu = (
        adata.var["hp_control_mean"].to_numpy(dtype=np.float64)
        if "hp_control_mean" in adata.var
        else sum(_rows(ctrl[s : s + chunk_size]).sum(0) for s in range(0, ctrl.size, chunk_size)) / ctrl.size
    )
    B = screen.baseline if not screen.signed else None
    n_null = max(int(n_null), 1)
    # batches of perturbations so that the null profiles (draws x genes per perturbation) stay ~ 200 MB at most
    per_batch = max(1, int(2.5e7 // max(n_null * adata.n_vars, 1)))
    stat = np.empty(len(cells))
    thr = np.empty(len(cells))
    for b0 in range(0, len(cells), per_batch):
        batch = cells[b0 : b0 + per_batch]
        s_b, t_b = _null_batch(
            batch, ctrl, mu, B, n_null, rng, _rows, chunk_size, adata.n_vars, 1.0 - effect_level, shift=screen.shift
        )
        stat[b0 : b0 + len(batch)] = s_b
        thr[b0 : b0 + len(batch)] = t_b
    return stat > thr, stat, thr


def _null_batch(
    cells: list[np.ndarray],
    ctrl: np.ndarray,
    mu: np.ndarray,
    B: np.ndarray | None,
    n_null: int,
    rng: np.random.Generator,
    rows: Any,
    chunk_size: int,
    n_vars: int,
    q: float,
    *,
    shift: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Observed statistic and null threshold for a batch of perturbations (one pass over the control cells)."""
    n_c = ctrl.size
    blocks = []
    for idx in cells:
        n_p = max(int(idx.size), 1)
        pick = rng.integers(0, n_c, size=n_p * n_null)  # bootstrap: no finite-population shrinkage
        col = np.repeat(np.arange(n_null), n_p)
        blocks.append(sparse.coo_matrix((np.full(pick.size, 1.0 / n_p), (pick, col)), shape=(n_c, n_null)).tocsr())
    W_all = sparse.hstack(blocks).tocsr()
    null_prof = np.zeros((W_all.shape[1], n_vars))
    order = np.argsort(ctrl)
    ctrl_sorted = ctrl[order]
    for s in range(0, n_c, chunk_size):
        dev = rows(ctrl_sorted[s : s + chunk_size]) - mu
        if B is not None and not shift:
            dev = np.abs(dev)
        null_prof += W_all[order[s : s + chunk_size]].T @ dev
    if shift:
        np.abs(null_prof, out=null_prof)
    stat = np.zeros(len(cells))
    thr = np.full(len(cells), np.inf)
    for i, idx in enumerate(cells):
        if idx.size == 0:
            continue
        tot = np.zeros(n_vars)
        srt = np.sort(idx)
        for s in range(0, srt.size, chunk_size):
            blk = rows(srt[s : s + chunk_size]) - mu
            tot += np.abs(blk).sum(0) if (B is not None and not shift) else blk.sum(0)
        prof = np.abs(tot / idx.size) if shift else tot / idx.size
        nulls = null_prof[i * n_null : (i + 1) * n_null]
        if B is not None:
            prof = prof - B
            nulls = nulls - B
        stat[i] = float(np.linalg.norm(prof))
        thr[i] = float(np.quantile(np.linalg.norm(nulls, axis=1), q))
    return stat, thr
