"""``hp.tl.rewards``: per gene × perturbation rewards, streamed over cells."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from hyperperturb._utils import (
    _entries,
    array_digest,
    atomic_write,
    cells_digest,
    check_numeric_matrix,
    get_matrix,
    logger,
    obs_indexer,
    protein_mod_name,
    record,
    resolve,
    resolve_protein,
)
from hyperperturb._utils._schema import PerturbationsEntry, read
from hyperperturb._utils._warn import warn

from ._compute import STATISTICS, _compute, _targets, to_mean_shift
from ._inputs import _design_labels, _group_codes, _warn_raw_counts

_STEP = "rewards"


def rewards(
    data: AnnData | Any,
    *,
    layer: str | None = None,
    signed: bool = False,
    statistic: str = "mean_shift",
    groupby: str | None = None,
    chunk_size: int = 20_000,
    mod: str = "rna",
    prot_mod: str = "prot",
    targets: str = "excess",
    verbose: bool = True,
    copy: bool = False,
) -> AnnData | Any | None:
    r"""Per gene × perturbation rewards: how far each perturbation shifts each gene from the control cells.

    For gene :math:`g` and perturbation :math:`p`, with :math:`C` the control cells, :math:`c_g` their mean
    expression and :math:`N_p` the cells carrying :math:`p`, the default (``statistic="mean_shift"``) is the
    pseudo-bulk shift and the original design's statistic (``"mean_abs_lfc"``) the mean absolute deviation per cell,

    .. math::

        R_{gp} = \Big|\frac{1}{|N_p|} \sum_{i \in N_p} x_{ig} - c_g\Big| , \qquad
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
        Layer with the expression; ``None`` uses the layer recorded by :func:`hyperperturb.pp.preprocess` (when it
        is still in ``.layers``), else ``X``. The ledger records the layer actually read
        (``params["layer"]``: e.g. ``"hp_lognorm"`` after :func:`hyperperturb.pp.preprocess`; ``None`` for ``X``),
        and the steps that read cells again (:func:`hyperperturb.tl.train`, :func:`hyperperturb.tl.evaluate`)
        use that layer.
    signed
        Signed rewards (mean of :math:`x - c`, up/down direction) instead of mean absolute deviations.
        The policy and value targets then use :math:`|R|` (no noise floor is subtracted).
    statistic
        ``"mean_abs_lfc"``: the original design's mean absolute log fold change per cell (formula above).
        ``"mean_shift"``: the pseudo-bulk shift :math:`R_{gp} = |\bar x_{gp} - c_g|`, with the noise floor of a
        difference of means, :math:`B_g = s_g \sqrt{2/\pi} \sqrt{1/n + 1/n_C}` (:math:`s_g` the control cells'
        standard deviation, :math:`n` the median number of cells per perturbation, :math:`n_C` the control cells).
        The per-cell statistic cannot see a sparse gene lose expression (a cell at zero deviates by
        :math:`c_g` whether or not the gene was knocked down: SSTR2 drops from 17 % to 5 % of cells under STAT1
        knock-out and scores below its noise floor), and its noise floor grows with each gene's cell-to-cell
        variance while a mean's shrinks with the number of cells. Measured on knock-out screens with a known
        network (``docs/benchmarks.md``): true regulators are ranked at AUROC 0.73 by ``"mean_shift"`` against 0.54
        by ``"mean_abs_lfc"``. Ignored when ``signed=True`` (the signed shift itself).
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
    >>> import scanpy as sc, hyperperturb as hp
    >>> adata = hp.datasets.synthetic(n_cells=300, n_genes=30, n_perturbations=4, seed=0)
    >>> sc.pp.normalize_total(adata)
    >>> sc.pp.log1p(adata)
    >>> hp.pp.perturbations(adata, key="perturbation", control="non-targeting")
    >>> hp.tl.rewards(adata, verbose=False)
    >>> hp.get.rewards(adata, layout="wide").shape  # genes x perturbations
    (30, 4)
    >>> hp.get.rewards(adata).columns.tolist()  # tidy: one row per gene and perturbation
    ['gene', 'perturbation', 'value']
    """
    t, chunk_size = _checked(data, statistic=statistic, targets=targets, mod=mod, chunk_size=chunk_size)
    shift = statistic == "mean_shift" and not signed
    adata = t.adata
    names = np.asarray(read(adata, PerturbationsEntry, needed_by="hp.tl.rewards").names, dtype=str)
    labels, control = _design_labels(adata, len(names))
    group_codes, group_names = _group_codes(adata, groupby)
    how = {"signed": signed, "shift": shift, "targets": targets, "chunk_size": chunk_size, "verbose": verbose}
    layer = _used_layer(adata, layer)  # recorded as read: the preprocess layer, not None, when that was used
    rna = _rna_rewards(adata, layer, labels, control, group_codes, group_names, names, groupby=groupby, how=how)
    # protein modality (found here, not in a helper: its warnings point at the caller by stack depth)
    pname = protein_mod_name(t.data, prot_mod, mod=t.mod) if t.mod is not None else prot_mod  # resolved once
    prot: Any = resolve_protein(t, pname)  # (names, matrix, AnnData or None) or None
    pout = None if prot is None else _protein_rewards(prot, adata, pname, labels, control, len(names), mod=mod, how=how)
    params = {
        "layer": layer,
        "signed": bool(signed),
        "statistic": statistic,
        "targets": targets,
        "groupby": groupby,
        "chunk_size": chunk_size,
        "mod": mod,
        "prot_mod": prot_mod,
    }
    entry = _ledger_entry(adata, rna, params, names, groupby=groupby, targets=targets, signed=signed)
    # ---- write (everything above may raise; nothing below does) ----
    t = _write(t.copy() if copy else t, rna, entry, prot=prot, pout=pout, pname=pname, mod=mod)
    if verbose:
        _log_summary(t.adata, rna, len(names), groupby)
    return t.done(copy)


def _used_layer(adata: AnnData, layer: str | None) -> str | None:
    """The layer the expression is read from, resolved as :func:`~hyperperturb._utils.get_matrix` does.

    ``layer`` itself when given, else the layer recorded by ``hp.pp.preprocess`` when it is still in ``.layers``,
    else ``None`` (``X``).
    """
    if layer is not None:
        return layer
    recorded = _entries.preprocess_layer(adata)
    return recorded if recorded is not None and recorded in adata.layers else None


class _Result(NamedTuple):
    """One modality's rewards (``res`` from :func:`_compute`) and the targets derived from them."""

    res: dict[str, Any]
    policy: np.ndarray
    value: np.ndarray
    zero: np.ndarray


def _checked(data: Any, *, statistic: str, targets: str, mod: str, chunk_size: Any) -> tuple[Any, int]:
    """Validate the arguments (in this order) and resolve ``data``; returns the target and ``chunk_size``."""
    if statistic not in STATISTICS:
        msg = f"`statistic` must be one of {STATISTICS}, got {statistic!r}."
        raise ValueError(msg)
    if targets not in ("excess", "reward"):
        msg = f"`targets` must be 'excess' (default) or 'reward' (hyperperturb 0.1's definition), got {targets!r}."
        raise ValueError(msg)
    t = resolve(data, mod=mod)
    if not isinstance(chunk_size, int | np.integer) or isinstance(chunk_size, bool) or chunk_size < 1:
        msg = f"`chunk_size` must be a positive integer, got {chunk_size!r}."
        raise ValueError(msg)
    return t, int(chunk_size)


def _modality_rewards(
    X: Any, labels: np.ndarray, control: np.ndarray, n_perts: int, group: tuple[Any, list], *, what: str, how: dict
) -> dict[str, Any]:
    """Stream one cells × features matrix into rewards (and the pseudo-bulk shift for ``"mean_shift"``)."""
    res = _compute(
        X,
        labels,
        control,
        n_perts=n_perts,
        group_codes=group[0],
        group_names=group[1],
        signed=how["signed"] or how["shift"],
        chunk_size=how["chunk_size"],
        verbose=how["verbose"],
        what=what,
        plain=how["shift"],
    )
    if how["shift"]:
        to_mean_shift(res, X, control, how["chunk_size"])
    return res


def _rna_rewards(
    adata: AnnData,
    layer: str | None,
    labels: np.ndarray,
    control: np.ndarray,
    group_codes: Any,
    group_names: list,
    names: np.ndarray,
    *,
    groupby: str | None,
    how: dict,
) -> _Result:
    """Rewards and targets of the RNA expression matrix, with the warnings about its perturbations and groups."""
    X = get_matrix(adata, layer)
    if tuple(X.shape) != (adata.n_obs, adata.n_vars):
        msg = f"The expression matrix has shape {tuple(X.shape)}, expected {adata.shape} (cells × genes)."
        raise ValueError(msg)
    where = f"layer {layer!r}" if layer is not None else "the expression matrix"
    check_numeric_matrix(X, what=where)
    _warn_raw_counts(X, where)
    res = _modality_rewards(X, labels, control, len(names), (group_codes, group_names), what=where, how=how)
    if res["n_empty"]:  # a reward of 0 would read as a measured "no effect", and training would fit it
        msg = (
            f"{res['n_empty']} perturbation(s) of hp.pp.perturbations have no cells in this object "
            f"({names[res['n_cells'] == 0][:10].tolist()}): cells were removed after hp.pp.perturbations ran "
            "(a QC filter or a subset). They have no data, not zero effect. Re-run `hp.pp.perturbations` (same "
            "arguments) on this object, which leaves them out, then `hp.tl.rewards`."
        )
        raise ValueError(msg)
    if groupby is not None and res["groups_skipped"]:
        warn(
            f"Groups of obs[{groupby!r}] without control cells are skipped: {res['groups_skipped'][:20]}.",
            UserWarning,
        )
    return _Result(res, *_targets(res["reward"], res["baseline"], kind=how["targets"], signed=how["signed"]))


def _protein_rewards(
    prot: tuple[list[str], Any, AnnData | None],
    adata: AnnData,
    pname: str | None,
    labels: np.ndarray,
    control: np.ndarray,
    n_perts: int,
    *,
    mod: str,
    how: dict,
) -> _Result:
    """Rewards and targets of the protein matrix, its cells matched to the RNA cells by ``obs_names``."""
    _, PX, padata = prot
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
    pwhat = f"protein modality {pname!r}" if padata is not None else "obsm['protein']"
    check_numeric_matrix(PX, what=pwhat)
    if not pcontrol.any():
        msg = (
            f"No control cells in the protein modality {pname!r} (none of its cells is an RNA control cell, "
            "matched by obs_names); cannot compute protein rewards."
        )
        raise ValueError(msg)
    pres = _modality_rewards(PX, plabels, pcontrol, n_perts, (None, []), what=pwhat, how=how)
    return _Result(pres, *_targets(pres["reward"], pres["baseline"], kind=how["targets"], signed=how["signed"]))


def _ledger_entry(
    adata: AnnData,
    rna: _Result,
    params: dict[str, Any],
    names: np.ndarray,
    *,
    groupby: str | None,
    targets: str,
    signed: bool,
) -> dict[str, Any]:
    """The ``rewards`` ledger entry of the RNA modality (the protein part is added when written)."""
    res = rna.res
    entry: dict[str, Any] = {
        "params": params,
        "perturbations": names,
        "n_cells": res["n_cells"],
        "n_control": res["n_control"],
        "n_zero_reward": int(rna.zero.sum()),
        "value_target": (
            "mean over perturbations of |reward|"
            if targets == "reward" or signed
            else "mean over perturbations of max(reward - noise floor, 0)"
        ),
        "checksum": array_digest(res["reward"]),
        "cells": cells_digest(adata),  # later steps refuse these rewards once cells are removed or relabelled
    }
    if groupby is not None:
        entry["groups"] = res["groups"]
        entry["groups_skipped"] = list(res["groups_skipped"])
    return entry


def _set_outputs(a: AnnData, out: _Result) -> None:
    a.varm["hp_reward"] = out.res["reward"]
    a.varm["hp_policy_target"] = out.policy
    a.var["hp_value_target"] = out.value
    a.var["hp_control_mean"] = out.res["control_mean"]
    a.var["hp_reward_baseline"] = out.res["baseline"]
    a.var["hp_zero_reward"] = out.zero


def _write(
    t: Any,
    rna: _Result,
    entry: dict[str, Any],
    *,
    prot: Any,
    pout: _Result | None,
    pname: str | None,
    mod: str,
) -> Any:
    """Write the outputs of both modalities and their ledger entries, all or nothing; returns ``t``."""
    adata = t.adata
    prot_target = t.data.mod[pname] if (pout is not None and prot[2] is not None) else None
    # all-or-nothing: a failure (even Ctrl-C) in any write undoes the writes to both modalities
    with ExitStack() as stack:
        stack.enter_context(atomic_write(adata))
        if prot_target is not None:
            stack.enter_context(atomic_write(prot_target))
        _set_outputs(adata, rna)
        if pout is not None:
            if prot_target is not None:
                _set_outputs(prot_target, pout)
                record(
                    prot_target,
                    _STEP,
                    {
                        "params": entry["params"],
                        "perturbations": entry["perturbations"],
                        "n_cells": pout.res["n_cells"],
                        "n_control": pout.res["n_control"],
                        "n_zero_reward": int(pout.zero.sum()),
                        "value_target": entry["value_target"],
                        "source": f"protein modality of {mod!r}",
                    },
                )
                entry["protein_mod"] = pname
            else:
                entry["protein"] = {
                    "names": list(prot[0]),
                    "reward": pout.res["reward"],
                    "policy_target": pout.policy,
                    "value_target": pout.value,
                    "control_mean": pout.res["control_mean"],
                    "baseline": pout.res["baseline"],
                    "n_zero_reward": int(pout.zero.sum()),
                }
        record(adata, _STEP, entry)
    return t


def _log_summary(adata: AnnData, rna: _Result, n_perts: int, groupby: str | None) -> None:
    res = rna.res
    logger.info(
        "rewards: %d genes × %d perturbations from %d perturbed and %d control cells; %d zero-reward genes%s",
        adata.n_vars,
        n_perts,
        int(res["n_cells"].sum()),
        res["n_control"],
        int(rna.zero.sum()),
        f"; {len(res.get('groups', {}))} groups" if groupby is not None else "",
    )
