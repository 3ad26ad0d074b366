"""The numbers of ``hp.tl.rewards`` (nothing is written here): streamed sums per perturbation, and the targets."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse

from hyperperturb._utils import (
    progress,
)


def _compute(
    X: Any,
    labels: np.ndarray,
    control: np.ndarray,
    *,
    n_perts: int,
    group_codes: np.ndarray | None,
    group_names: list[str],
    signed: bool,
    chunk_size: int,
    verbose: bool,
    what: str,
    plain: bool = False,
) -> dict[str, Any]:
    """All numbers of one modality (nothing is written).

    ``plain=True`` (``statistic="mean_shift"``, whose noise floor comes from the control SD, see
    :func:`to_mean_shift`): every slot, control slots included, is a plain sum of ``x``, so one pass gives both the
    control means and the perturbation means (no centring pass first; the ``baseline`` is left to
    :func:`to_mean_shift`). In-memory CSR is then read in storage order, never gathered.
    """
    from ._kernels import segment_sums  # numba is imported on first use only
    from ._slots import Slots

    n, G = X.shape
    P = n_perts
    n_groups = len(group_names)
    bar = lambda desc: lambda it: progress(it, verbose=verbose, desc=desc)

    # pass 1: control sums per block (block 0 = pooled via the total, blocks 1.. = groups)
    gc = group_codes if group_codes is not None else np.zeros(n, dtype=np.int64)
    n1 = max(n_groups, 1)
    lab1 = np.where(control & (gc >= 0), gc, -1).astype(np.int32)[:, None]
    ctrl_rows = np.flatnonzero(lab1[:, 0] >= 0)
    n_ctrl_g = np.bincount(lab1[ctrl_rows, 0], minlength=n1).astype(np.int64)
    n_ctrl = int(control.sum())
    ok_groups = [b for b in range(n_groups) if n_ctrl_g[b] > 0]
    skipped = [group_names[b] for b in range(n_groups) if n_ctrl_g[b] == 0]
    npass = 1 if plain else 2
    if plain:  # the control means come out of the same pass as the perturbation sums (control slots)
        cm = np.zeros((1 + n_groups, G))
    else:
        s1 = Slots(lab1, np.zeros(n1, np.int32), np.zeros((1, G)), np.zeros(n1, bool))
        S1, bad1 = segment_sums(
            X,
            s1,
            chunk_size=chunk_size,
            rows=ctrl_rows,
            check_unlabeled=False,
            progress=bar(f"hp.tl.rewards: control mean per gene ({what}, pass 1/2)"),
        )
        cm_pooled = S1.sum(axis=0) / n_ctrl
        if bad1 or not np.isfinite(cm_pooled).all():
            _raise_nonfinite(what)
        cm_rows = [cm_pooled] + [S1[b] / max(n_ctrl_g[b], 1) for b in range(n_groups)]
        cm = np.vstack(cm_rows)

    # pass 2: slot labels; block b (0 pooled, 1+g group g) has P perturbation slots and one control slot
    W = P + 1
    base = np.where(control[:, None], np.full_like(labels, -1), labels)
    base[control, 0] = P
    cols = [base]
    if group_codes is not None:
        ok = np.isin(group_codes, ok_groups)
        off = np.where(ok, (group_codes + 1) * W, 0)
        gl = np.where((base >= 0) & ok[:, None], base + off[:, None], -1)
        cols.append(gl)
    lab2 = np.concatenate(cols, axis=1) if len(cols) > 1 else base
    if lab2.shape[1] > 1:
        lab2 = -np.sort(-lab2, axis=1)  # valid slots first, -1 padding last
    L = W * (1 + n_groups)
    slot_cm = np.repeat(np.arange(1 + n_groups, dtype=np.int32), W)
    absmode = np.ones(L, dtype=bool)
    if signed or plain:
        absmode[:] = False
        absmode[P::W] = not plain  # the control slots give the (absolute) noise floor, or (plain) the control means
    s2 = Slots(lab2.astype(np.int32), slot_cm, cm, absmode)
    S2, bad2 = segment_sums(
        X,
        s2,
        chunk_size=chunk_size,
        check_unlabeled=True,
        progress=bar(f"hp.tl.rewards: reward per gene x perturbation ({what}, pass {npass}/{npass})"),
    )
    if bad2 or not np.isfinite(S2).all():
        _raise_nonfinite(what)

    valid = lab2[lab2 >= 0]
    n_slot = np.bincount(valid, minlength=L).astype(np.int64)
    if plain:  # control slot b·W + P holds the control sum of block b (0 pooled, 1 + g group g)
        for b in [0] + [g + 1 for g in ok_groups]:
            cm[b] = S2[b * W + P] / max(int(n_slot[b * W + P]), 1)
    cm_pooled = cm[0]
    acm = np.abs(cm)
    means = S2  # finalised in place, a few slots at a time: no slots x genes temporaries (genome-scale screens)
    step = max(1, _FINAL_BLOCK // max(G, 1))
    for b in [0] + [g + 1 for g in ok_groups]:  # blocks of skipped groups are never read
        tol = 1e-12 * (1.0 + acm[b])
        for lo in range(b * W, (b + 1) * W, step):
            sl = slice(lo, min(lo + step, (b + 1) * W))
            M, n_b, ab = means[sl], n_slot[sl, None], absmode[sl]
            with np.errstate(invalid="ignore", divide="ignore"):
                M[...] = np.where(ab[:, None], (M + n_b * acm[b]) / n_b, M / n_b - cm[b])
            # floating-point noise around exact zeros (constant genes) is cleaned; absolute means cannot be negative
            M[np.abs(M) <= tol] = 0.0
            M[ab] = np.maximum(M[ab], 0.0)

    def block(b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        sl = slice(b * W, b * W + P)
        return means[sl].T.copy(), n_slot[sl].copy(), means[b * W + P].copy()

    R, n_cells, baseline = block(0)
    empty = n_cells == 0
    R[:, empty] = 0.0
    out: dict[str, Any] = {
        "reward": R,
        "n_cells": n_cells,
        "n_empty": int(empty.sum()),
        "control_mean": cm_pooled,
        "baseline": baseline,
        "n_control": n_ctrl,
        "n_used": int((labels[:, 0] >= 0).sum()),
    }
    if group_codes is not None:
        groups = {}
        for b in ok_groups:
            Rg, ng, Bg = block(b + 1)
            Rg[:, ng == 0] = 0.0  # a perturbation without cells in this group: 0, as in the pooled rewards (not NaN)
            groups[group_names[b]] = {
                "reward": Rg,
                "n_cells": ng,
                "n_control": int(n_ctrl_g[b]),
                "control_mean": cm[b + 1],
                "baseline": Bg,
            }
        out["groups"] = groups
        out["groups_skipped"] = skipped
    return out


#: Entries per block when the slots x genes sums are turned into means and the targets are formed.
_FINAL_BLOCK = 1 << 21


def _raise_nonfinite(what: str) -> None:
    what = what[:1].upper() + what[1:]  # "the expression matrix" / "layer 'x'" / "protein modality 'prot'"
    msg = (
        f"{what} contains NaN or infinite values. Remove or impute them before "
        "`hp.tl.rewards` (e.g. check `np.isfinite(adata.X.data).all()` for sparse X); nothing was written."
    )
    raise ValueError(msg)


def _targets(
    R: np.ndarray, baseline: np.ndarray | None = None, *, kind: str = "excess", signed: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Policy target, value target and zero-reward flags.

    ``kind="excess"``: from ``E = max(|R| - B, 0)``, the effect beyond each gene's control noise floor ``B`` (``B = 0``
    for signed rewards, whose noise averages out); ``kind="reward"``: from ``|R|`` (hyperperturb 0.1). The policy
    target is the row normalised (uniform rows where it is all zero), the value target its mean over perturbations.
    """
    n, P = R.shape
    sub = kind == "excess" and baseline is not None and not signed
    B = np.nan_to_num(np.asarray(baseline, dtype=np.float64)) if sub else None
    policy = np.empty((n, P), dtype=np.float64)
    value = np.empty(n, dtype=np.float64)
    zero = np.empty(n, dtype=bool)
    step = max(1, _FINAL_BLOCK // max(P, 1))  # genes per block: the temporaries stay small at genome scale
    for lo in range(0, n, step):
        sl = slice(lo, min(lo + step, n))
        A = np.abs(R[sl], dtype=np.float64)
        zero[sl] = ~(A.sum(axis=1) > 0)
        if B is not None:
            A -= B[sl, None]
            np.clip(A, 0.0, None, out=A)
        tot = A.sum(axis=1)
        flat = ~(tot > 0)
        pol = policy[sl]
        pol[~flat] = A[~flat] / tot[~flat, None]
        pol[flat] = 1.0 / P
        value[sl] = A.mean(axis=1)
    return policy, value, zero


#: Per-gene × perturbation statistics of :func:`hyperperturb.tl.rewards`.
STATISTICS = ("mean_shift", "mean_abs_lfc")


def _control_sd(X: Any, control: np.ndarray, cm: np.ndarray, chunk_size: int) -> np.ndarray:
    """Standard deviation per gene over the control cells (rows read ``chunk_size`` at a time, sparse kept sparse).

    Sparse rows add ``(x - c)^2`` over their stored values and ``c^2`` once per implicit zero (counted per gene), so
    every term is non-negative (no cancellation) and the zeros are never materialised. In-memory matrices are read
    a bounded number of values at a time (small temporaries whatever ``chunk_size``).
    """
    from ._numpy import _GATHER, _pieces

    rows = np.flatnonzero(control)
    G = cm.shape[0]
    ss = np.zeros(G)  # sum over control cells of (x - c)^2
    zeros = np.full(G, rows.size, dtype=np.int64)  # control cells at an implicit zero, per gene
    if sparse.issparse(X) and X.format == "csr":
        pieces = [(rows[a:b], None) for a, b in _pieces(np.diff(X.indptr)[rows], _GATHER)]
    elif isinstance(X, np.ndarray):
        step = max(1, (4 * _GATHER) // max(G, 1))
        pieces = [(rows[lo : lo + step], None) for lo in range(0, rows.size, step)]
    else:
        pieces = [(rows[lo : lo + chunk_size], None) for lo in range(0, rows.size, chunk_size)]
    for idx, _ in pieces:
        block = X[idx]
        if hasattr(block, "compute"):  # dask
            block = block.compute()
        if sparse.issparse(block):
            block = block.tocsr() if block.format != "csr" else block
            if not block.has_canonical_format:  # duplicates add up before squaring
                block = block.copy()
                block.sum_duplicates()
            j = block.indices
            d = np.subtract(block.data, cm[j], dtype=np.float64)
            ss += np.bincount(j, weights=d * d, minlength=G)
            zeros -= np.bincount(j, minlength=G)
        else:
            d = np.asarray(block, dtype=np.float64) - cm[None, :]
            ss += (d * d).sum(axis=0)
            zeros -= len(idx)
    ss += zeros * (cm * cm)
    return np.sqrt(np.clip(ss, 0.0, None) / max(rows.size - 1, 1))


def to_mean_shift(res: dict[str, Any], X: Any, control: np.ndarray, chunk_size: int) -> None:
    """Turn signed rewards (``mean(x) - c``) into ``|mean(x) - c|`` with the noise floor of a pseudo-bulk mean.

    The floor is what a perturbation of typical size (the median number of cells) gets from noise alone:
    ``B_g = sd_g · sqrt(2/π) · sqrt(1/n + 1/n_control)`` (the mean absolute value of a normal difference of means),
    with ``sd_g`` the control cells' standard deviation. Groups (``groupby``) use their own cell counts and the
    pooled ``sd_g``. Modifies ``res`` in place.
    """
    sd = _control_sd(X, control, np.asarray(res["control_mean"], dtype=np.float64), chunk_size)

    def floor(n_cells: np.ndarray, n_control: int) -> np.ndarray:
        nc = np.asarray(n_cells)[np.asarray(n_cells) > 0]
        n = float(np.median(nc)) if nc.size else 1.0
        return sd * np.sqrt(2.0 / np.pi) * np.sqrt(1.0 / max(n, 1.0) + 1.0 / max(int(n_control), 1))

    res["reward"] = np.abs(res["reward"], out=res["reward"])  # in place: the reward matrix is ours
    res["baseline"] = floor(res["n_cells"], res["n_control"])
    for g in (res.get("groups") or {}).values():
        g["reward"] = np.abs(g["reward"], out=g["reward"])
        g["baseline"] = floor(g["n_cells"], g["n_control"])
