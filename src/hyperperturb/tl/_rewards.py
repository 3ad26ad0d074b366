"""``hp.tl.rewards``: per gene × perturbation rewards, streamed over cells."""

from __future__ import annotations

import warnings
from contextlib import ExitStack
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from hyperperturb._utils import (
    array_digest,
    atomic_write,
    check_numeric_matrix,
    get_matrix,
    logger,
    obs_indexer,
    progress,
    protein_mod_name,
    record,
    require_step,
    resolve,
    resolve_protein,
)

_STEP = "rewards"
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

    if "hp_control" not in adata.obs.columns:
        msg = "adata.obs['hp_control'] is missing. Run `hp.pp.perturbations(adata, key=..., control=...)` first."
        raise KeyError(msg)
    ctrl = adata.obs["hp_control"]
    if ctrl.isna().any():
        msg = "adata.obs['hp_control'] has missing values. Re-run `hp.pp.perturbations` to rebuild it."
        raise ValueError(msg)
    control = ctrl.to_numpy().astype(bool)
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
            warnings.warn(
                f"{what} looks like raw counts (integer values up to {float(vals.max()):g}); rewards are mean absolute "
                "log fold changes and expect log-normalised data. Run `sc.pp.normalize_total(adata)` and "
                "`sc.pp.log1p(adata)` first (or pass `layer=` naming a log-normalised layer).",
                UserWarning,
                stacklevel=4,
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
) -> dict[str, Any]:
    """All numbers of one modality (nothing is written)."""
    from ._reward_kernels import Slots, segment_sums  # numba is imported on first use only

    n, G = X.shape
    P = n_perts
    n_groups = len(group_names)
    bar = lambda desc: lambda it: progress(it, verbose=verbose, desc=desc)

    # pass 1: control sums per block (block 0 = pooled via the total, blocks 1.. = groups)
    gc = group_codes if group_codes is not None else np.zeros(n, dtype=np.int64)
    n1 = max(n_groups, 1)
    lab1 = np.where(control & (gc >= 0), gc, -1).astype(np.int32)[:, None]
    s1 = Slots(lab1, np.zeros(n1, np.int32), np.zeros((1, G)), np.zeros(n1, bool))
    ctrl_rows = np.flatnonzero(lab1[:, 0] >= 0)
    S1, bad1 = segment_sums(
        X,
        s1,
        chunk_size=chunk_size,
        rows=ctrl_rows,
        check_unlabeled=False,
        progress=bar(f"hp.tl.rewards: control mean per gene ({what}, pass 1/2)"),
    )
    n_ctrl_g = np.bincount(lab1[ctrl_rows, 0], minlength=n1).astype(np.int64)
    n_ctrl = int(control.sum())
    cm_pooled = S1.sum(axis=0) / n_ctrl
    if bad1 or not np.isfinite(cm_pooled).all():
        _raise_nonfinite(what)
    ok_groups = [b for b in range(n_groups) if n_ctrl_g[b] > 0]
    skipped = [group_names[b] for b in range(n_groups) if n_ctrl_g[b] == 0]
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
    if signed:
        absmode[:] = False
        absmode[P::W] = True  # the control slots always give the (absolute) noise floor
    s2 = Slots(lab2.astype(np.int32), slot_cm, cm, absmode)
    S2, bad2 = segment_sums(
        X,
        s2,
        chunk_size=chunk_size,
        check_unlabeled=True,
        progress=bar(f"hp.tl.rewards: reward per gene x perturbation ({what}, pass 2/2)"),
    )
    if bad2 or not np.isfinite(S2).all():
        _raise_nonfinite(what)

    valid = lab2[lab2 >= 0]
    n_slot = np.bincount(valid, minlength=L).astype(np.int64)
    acm = np.abs(cm)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(
            absmode[:, None],
            (S2 + n_slot[:, None] * acm[slot_cm]) / n_slot[:, None],
            S2 / n_slot[:, None] - cm[slot_cm],
        )
    # floating-point noise around exact zeros (constant genes) is cleaned; absolute means cannot be negative
    tol = 1e-12 * (1.0 + acm[slot_cm])
    means[np.abs(means) <= tol] = 0.0
    means[absmode] = np.maximum(means[absmode], 0.0)

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
    A = np.abs(R)
    zero = ~(A.sum(axis=1) > 0)
    if kind == "excess" and baseline is not None and not signed:
        A = np.clip(A - np.nan_to_num(np.asarray(baseline, dtype=np.float64))[:, None], 0.0, None)
    tot = A.sum(axis=1)
    flat = ~(tot > 0)
    P = R.shape[1]
    policy = np.empty_like(A)
    policy[~flat] = A[~flat] / tot[~flat, None]
    policy[flat] = 1.0 / P
    value = A.mean(axis=1)
    return policy, value, zero


def rewards(
    data: AnnData | Any,
    *,
    layer: str | None = None,
    signed: bool = False,
    groupby: str | None = None,
    chunk_size: int = 20_000,
    mod: str = "rna",
    prot_mod: str = "prot",
    targets: str = "excess",
    verbose: bool = True,
    copy: bool = False,
) -> AnnData | Any | None:
    r"""Per gene × perturbation rewards: mean absolute log fold change versus the control cells.

    For gene :math:`g` and perturbation :math:`p`, with :math:`C` the control cells, :math:`c_g` their mean
    expression and :math:`N_p` the cells carrying :math:`p`,

    .. math::

        R_{gp} = \frac{1}{|N_p|} \sum_{i \in N_p} |x_{ig} - c_g|
        \qquad (\texttt{signed=True}: \; R_{gp} = \frac{1}{|N_p|} \sum_{i \in N_p} (x_{ig} - c_g)).

    The design comes only from ``.obsm["perturbation_target"]`` and ``.obs["hp_control"]`` (written by
    :func:`hyperperturb.pp.perturbations`); ignored cells (all-zero design rows, not control) are skipped.
    The matrix is streamed over cells: in-memory CSR/CSC/dense matrices are read in place by fused numba kernels,
    backed ``.h5ad`` matrices ``chunk_size`` rows at a time, Dask arrays block-wise in parallel. A cells × genes
    fold-change matrix is never built; for sparse data only stored values are visited (a zero contributes
    :math:`|c_g|`, added once per cell count).

    Parameters
    ----------
    data
        AnnData, or MuData with the RNA modality ``mod``. Expression should be log-normalised
        (``sc.pp.normalize_total`` + ``sc.pp.log1p``); integer data with large values gives a warning.
    layer
        Layer with the expression; ``None`` uses the layer recorded by :func:`hyperperturb.pp.preprocess`,
        else ``X``.
    signed
        Signed rewards (mean of :math:`x - c`, up/down direction) instead of mean absolute deviations.
        The policy and value targets then use :math:`|R|` (no noise floor is subtracted).
    groupby
        Column of ``.obs`` (cell type, condition, replicate) for stratified rewards: within each group the
        control mean and the rewards use only that group's cells. Stored in the ledger under ``groups``; the
        pooled rewards are still written to ``.varm``. Groups without control cells are skipped with a warning.
    chunk_size
        Rows read per step (backed and dense matrices; also the progress-bar step). Dask arrays use their own
        chunks.
    mod
        RNA modality of a MuData.
    prot_mod
        Protein modality of a MuData. The default ``"prot"`` also finds ``"adt"`` (pertpy) and ``"protein"``
        when there is no ``"prot"`` modality; an explicit name that is not a modality raises :class:`KeyError`.
        Protein cells are matched to RNA cells by ``obs_names``; protein measured on a subset of cells uses the
        cells present in both. An AnnData with ``.obsm["protein"]`` (names in
        ``.uns["protein_names"]`` or DataFrame columns) gets protein rewards in the ledger.
    targets
        Definition of ``.varm["hp_policy_target"]`` and ``.var["hp_value_target"]``. ``"excess"`` (default): from
        the effect beyond each gene's control noise floor, :math:`E_{gp} = \max(R_{gp} - B_g, 0)` with
        :math:`B_g` = ``.var["hp_reward_baseline"]`` (the reward a random draw of control cells of typical size
        gets): the policy target is :math:`E_{gp} / \sum_q E_{gq}` (uniform when a gene has no excess) and the
        value target :math:`\operatorname{mean}_p E_{gp}`, so noisy genes are not mistaken for responsive ones.
        ``"reward"``: the original HyperPerturb definition, row-normalised :math:`R` and its mean (dominated by the
        noise floor: near-uniform policies, values that follow each gene's noise).
    verbose
        Show progress bars.
    copy
        Return a modified copy instead of writing in place (not for backed objects).

    Returns
    -------
    ``None``, or the modified copy if ``copy=True``. Writes, all with one row per gene:

    ``.varm["hp_reward"]``
        genes × perturbations (float64), columns in the order of ``.uns["hyperperturb"]["rewards"]["perturbations"]``.
    ``.varm["hp_policy_target"]``
        :math:`|R|` normalised per gene (rows sum to 1); genes whose rewards are all zero get a uniform row.
    ``.var["hp_value_target"]``
        Mean over perturbations of :math:`|R|` (the original design's value target; identical to the mean of :math:`R` when
        ``signed=False``).
    ``.var["hp_control_mean"]``, ``.var["hp_reward_baseline"]``
        Control mean :math:`c_g` and the noise floor :math:`B_g = \operatorname{mean}_{i \in C} |x_{ig} - c_g|`.
    ``.var["hp_zero_reward"]``
        Genes with all-zero rewards (uniform policy row).
    ``.uns["hyperperturb"]["rewards"]``
        ``params``, ``perturbations``, ``n_cells`` (per perturbation), ``n_control``, ``n_zero_reward``,
        ``value_target`` (its definition), ``groups`` (with ``groupby``: ``{group: {"reward", "n_cells",
        "n_control", "control_mean", "baseline"}}``), ``groups_skipped``, ``protein`` (AnnData with
        ``.obsm["protein"]``: ``names``, ``reward``, ``policy_target``, ``value_target``, ``control_mean``,
        ``baseline``).

    For a MuData with ``prot_mod``, the protein modality gets the same ``.var``/``.varm`` keys (cells matched
    by ``obs_names``) and its own ``rewards`` ledger entry.

    Examples
    --------
    >>> import scanpy as sc, hyperperturb as hp  # doctest: +SKIP
    >>> sc.pp.normalize_total(adata)
    >>> sc.pp.log1p(adata)  # doctest: +SKIP
    >>> hp.pp.perturbations(adata, key="perturbation", control="non-targeting")  # doctest: +SKIP
    >>> hp.tl.rewards(adata)  # doctest: +SKIP
    >>> hp.get.rewards(adata).loc["STAT1"].nlargest(5)  # doctest: +SKIP
    """
    if targets not in ("excess", "reward"):
        msg = f"`targets` must be 'excess' (default) or 'reward' (hyperperturb 0.1's definition), got {targets!r}."
        raise ValueError(msg)
    t = resolve(data, mod=mod)
    adata = t.adata
    if not isinstance(chunk_size, int | np.integer) or isinstance(chunk_size, bool) or chunk_size < 1:
        msg = f"`chunk_size` must be a positive integer, got {chunk_size!r}."
        raise ValueError(msg)
    chunk_size = int(chunk_size)
    pert = require_step(adata, "perturbations", needed_by="hp.tl.rewards")
    names = np.asarray(pert["names"]).astype(str)
    P = len(names)
    labels, control = _design_labels(adata, P)
    group_codes, group_names = _group_codes(adata, groupby)
    X = get_matrix(adata, layer)
    if tuple(X.shape) != (adata.n_obs, adata.n_vars):
        msg = f"The expression matrix has shape {tuple(X.shape)}, expected {adata.shape} (cells × genes)."
        raise ValueError(msg)
    where = f"layer {layer!r}" if layer is not None else "the expression matrix"
    check_numeric_matrix(X, what=where)
    _warn_raw_counts(X, where)
    res = _compute(
        X,
        labels,
        control,
        n_perts=P,
        group_codes=group_codes,
        group_names=group_names,
        signed=signed,
        chunk_size=chunk_size,
        verbose=verbose,
        what=where,
    )
    if res["n_empty"]:
        warnings.warn(
            f"{res['n_empty']} perturbation(s) have no cells in obsm['perturbation_target'] "
            f"({names[res['n_cells'] == 0][:10].tolist()}); their rewards are set to 0.",
            UserWarning,
            stacklevel=2,
        )
    if groupby is not None and res["groups_skipped"]:
        warnings.warn(
            f"Groups of obs[{groupby!r}] without control cells are skipped: {res['groups_skipped'][:20]}.",
            UserWarning,
            stacklevel=2,
        )
    policy, value, zero = _targets(res["reward"], res["baseline"], kind=targets, signed=signed)

    # protein modality
    prot: Any = resolve_protein(t, prot_mod)  # (names, matrix, AnnData or None) or None
    pname = protein_mod_name(t.data, prot_mod, mod=t.mod) if t.mod is not None else prot_mod
    pres = None
    if prot is not None:
        pnames, PX, padata = prot
        if padata is not None:
            # joined by obs_names: for each protein row, the RNA row of the same cell (-1: not an RNA cell)
            idx = obs_indexer(padata.obs_names, adata.obs_names, what=f"the protein modality {pname!r}")
            if (idx < 0).all():
                msg = (
                    f"The protein modality {pname!r} shares no cells (obs_names) with the RNA modality {mod!r}; "
                    "cannot compute protein rewards. Fix the obs_names or pass `prot_mod=` naming another modality."
                )
                raise ValueError(msg)
            plabels = np.where((idx >= 0)[:, None], labels[np.maximum(idx, 0)], -1).astype(np.int32)
            pcontrol = np.where(idx >= 0, control[np.maximum(idx, 0)], False)
        else:
            plabels, pcontrol = labels, control
        if isinstance(PX, pd.DataFrame):
            PX = PX.to_numpy()
        if not (sparse.issparse(PX) or hasattr(PX, "shape")):
            PX = np.asarray(PX)
        check_numeric_matrix(PX, what=f"protein modality {pname!r}" if padata is not None else "obsm['protein']")
        if not pcontrol.any():
            msg = (
                f"No control cells in the protein modality {pname!r} (none of its cells is an RNA control cell, "
                "matched by obs_names); cannot compute protein rewards."
            )
            raise ValueError(msg)
        pwhat = f"protein modality {pname!r}" if padata is not None else "obsm['protein']"
        pres = _compute(
            PX,
            plabels,
            pcontrol,
            n_perts=P,
            group_codes=None,
            group_names=[],
            signed=signed,
            chunk_size=chunk_size,
            verbose=verbose,
            what=pwhat,
        )
        ppolicy, pvalue, pzero = _targets(pres["reward"], pres["baseline"], kind=targets, signed=signed)

    params = {
        "layer": layer,
        "signed": bool(signed),
        "targets": targets,
        "groupby": groupby,
        "chunk_size": chunk_size,
        "mod": mod,
        "prot_mod": prot_mod,
    }
    entry: dict[str, Any] = {
        "params": params,
        "perturbations": names,
        "n_cells": res["n_cells"],
        "n_control": res["n_control"],
        "n_zero_reward": int(zero.sum()),
        "value_target": (
            "mean over perturbations of |reward|"
            if targets == "reward" or signed
            else "mean over perturbations of max(reward - noise floor, 0)"
        ),
        "checksum": array_digest(res["reward"]),
    }
    if groupby is not None:
        entry["groups"] = res["groups"]
        entry["groups_skipped"] = list(res["groups_skipped"])

    # ---- write (everything above may raise; nothing below does) ----
    if copy:
        t = t.copy()
    adata = t.adata
    prot_target = t.data.mod[pname] if (pres is not None and prot[2] is not None) else None
    # all-or-nothing: a failure (even Ctrl-C) in any write undoes the writes to both modalities
    with ExitStack() as stack:
        stack.enter_context(atomic_write(adata))
        if prot_target is not None:
            stack.enter_context(atomic_write(prot_target))
        adata.varm["hp_reward"] = res["reward"]
        adata.varm["hp_policy_target"] = policy
        adata.var["hp_value_target"] = value
        adata.var["hp_control_mean"] = res["control_mean"]
        adata.var["hp_reward_baseline"] = res["baseline"]
        adata.var["hp_zero_reward"] = zero
        if pres is not None:
            if prot[2] is not None:
                p = t.data.mod[pname]
                p.varm["hp_reward"] = pres["reward"]
                p.varm["hp_policy_target"] = ppolicy
                p.var["hp_value_target"] = pvalue
                p.var["hp_control_mean"] = pres["control_mean"]
                p.var["hp_reward_baseline"] = pres["baseline"]
                p.var["hp_zero_reward"] = pzero
                record(
                    p,
                    _STEP,
                    {
                        "params": params,
                        "perturbations": names,
                        "n_cells": pres["n_cells"],
                        "n_control": pres["n_control"],
                        "n_zero_reward": int(pzero.sum()),
                        "value_target": entry["value_target"],
                        "source": f"protein modality of {mod!r}",
                    },
                )
                entry["protein_mod"] = pname
            else:
                entry["protein"] = {
                    "names": list(pnames),
                    "reward": pres["reward"],
                    "policy_target": ppolicy,
                    "value_target": pvalue,
                    "control_mean": pres["control_mean"],
                    "baseline": pres["baseline"],
                    "n_zero_reward": int(pzero.sum()),
                }
        record(adata, _STEP, entry)
    if verbose:
        logger.info(
            "rewards: %d genes × %d perturbations from %d perturbed and %d control cells; %d zero-reward genes%s",
            adata.n_vars,
            P,
            int(res["n_cells"].sum()),
            res["n_control"],
            int(zero.sum()),
            f"; {len(res.get('groups', {}))} groups" if groupby is not None else "",
        )
    return t.done(copy)
