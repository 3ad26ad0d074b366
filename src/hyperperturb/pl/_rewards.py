"""``hp.pl.rewards``: heatmap of genes x perturbations (rewards, policy or policy target)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import TwoSlopeNorm
from scipy.cluster.hierarchy import dendrogram, leaves_list, linkage

from hyperperturb._utils import require_step, resolve
from hyperperturb._utils._entries import perturbation_columns
from hyperperturb._utils._validate import unknown_gene_message

from ._utils import (
    DOC_MOD,
    DOC_RETURNS,
    DOC_SHOW_AX,
    check_bool,
    check_limits,
    check_show,
    doc_params,
    feature_noun,
    finish,
    new_axes,
)

_KINDS = {
    "reward": ("hp_reward", "rewards", "reward (mean |log fold change|)"),
    "policy": ("hp_policy", "train", "predicted policy"),
    "policy_target": ("hp_policy_target", "rewards", "policy target"),
}


def _cluster(m: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Leaf order and linkage of an average-linkage clustering of the rows of ``m`` (no linkage below 3 rows)."""
    if m.shape[0] < 3:
        return np.arange(m.shape[0]), None
    z = linkage(m, method="average", metric="euclidean", optimal_ordering=True)
    return leaves_list(z), z


def _draw_dendrogram(a: Axes, z: np.ndarray, *, side: str) -> Axes:
    """A dendrogram of linkage ``z`` in an inset axes left of (rows) or above (columns) the heatmap ``a``."""
    n = z.shape[0] + 1
    if side == "left":
        dax = a.inset_axes((-0.22, 0.0, 0.14, 1.0))
        dendrogram(z, orientation="left", ax=dax, no_labels=True, color_threshold=0, above_threshold_color="0.35")
        dax.set_ylim(10 * n, 0)  # leaf k at row k, top to bottom like the heatmap
    else:
        dax = a.inset_axes((0.0, 1.02, 1.0, 0.12))
        dendrogram(z, orientation="top", ax=dax, no_labels=True, color_threshold=0, above_threshold_color="0.35")
        dax.set_xlim(0, 10 * n)
    dax.set_axis_off()
    dax.set_gid(f"hp_dendrogram_{'rows' if side == 'left' else 'columns'}")
    return dax


def _selection(names: Any, what: str, fix: str) -> list[str] | None:
    """``names`` as a list (one name for a string); ``None`` stays ``None``; an empty selection is refused."""
    if names is None:
        return None
    out = [names] if isinstance(names, str) else list(names)
    if not out:
        msg = f"`{what}` is an empty list: there is nothing to draw. Pass {fix}."
        raise ValueError(msg)
    return out


@doc_params(show_ax=DOC_SHOW_AX, returns=DOC_RETURNS, mod=DOC_MOD)
def rewards(
    data: Any,
    genes: Sequence[str] | None = None,
    perturbations: Sequence[str] | None = None,
    *,
    kind: Literal["reward", "policy", "policy_target"] = "reward",
    excess: bool = True,
    cluster: bool = True,
    n_genes: int = 30,
    cmap: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    title: str | None = None,
    mod: str = "rna",
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
) -> Any:
    """Heatmap of genes x perturbations: observed rewards, predicted policy or the policy target.

    Parameters
    ----------
    data
        AnnData or MuData after :func:`hyperperturb.tl.rewards` (``kind="reward"`` / ``"policy_target"``) or
        :func:`hyperperturb.tl.train` (``kind="policy"``).
    genes
        Genes (rows) to show. Default: the ``n_genes`` genes with the largest observed excess (the largest reward
        above the gene's noise floor over all perturbations) for ``kind="reward"``, the highest ``.var["hp_value"]``
        (predicted sensitivity) for ``kind="policy"``; the title says which.
    perturbations
        Perturbations (columns) to show; default all.
    kind
        ``"reward"``: ``.varm["hp_reward"]``; ``"policy"``: ``.varm["hp_policy"]``; ``"policy_target"``:
        ``.varm["hp_policy_target"]``.
    excess
        For ``kind="reward"``: show the *excess* — reward minus the gene's noise floor
        ``.var["hp_reward_baseline"]`` (what a control-vs-control comparison gives) — on a diverging scale centred at
        0, so that only effects beyond noise stand out. Ignored (raw rewards) when the noise floor is absent.
    cluster
        Order rows and columns by average-linkage hierarchical clustering (:func:`scipy.cluster.hierarchy.linkage`,
        Euclidean, optimal leaf ordering) and draw the dendrograms (rows left, columns on top); otherwise keep the
        given order.
    n_genes
        Number of top genes when ``genes`` is ``None``.
    cmap
        Colormap; default ``"RdBu_r"`` for the excess, ``"magma_r"`` otherwise.
    vmin, vmax
        Colour limits (``vmin`` at most ``vmax``).
    title
        Axes title; default describes ``kind``.
    {mod}
    {show_ax}

    Returns
    -------
    {returns}

    Raises
    ------
    KeyError
        If the results for ``kind`` are absent (the message says which function to run) or a name is unknown.
    ValueError
        If ``genes`` or ``perturbations`` is an empty list, or ``vmin`` is larger than ``vmax``.

    Examples
    --------
    >>> import hyperperturb as hp
    >>> hp.pl.rewards(adata, n_genes=25)  # doctest: +SKIP
    >>> hp.pl.rewards(adata, kind="policy", genes=["STAT1", "IRF1"])  # doctest: +SKIP
    """
    check_bool("cluster", cluster)
    check_bool("return_fig", return_fig)
    check_show(show)
    check_limits(vmin, vmax)
    genes = _selection(genes, "genes", "gene names from `adata.var_names`, or None for the top `n_genes`")
    perturbations = _selection(perturbations, "perturbations", "perturbation names, or None for all of them")
    if kind not in _KINDS:
        msg = f"`kind` must be one of {list(_KINDS)}, got {kind!r}."
        raise ValueError(msg)
    if not isinstance(n_genes, int | np.integer) or n_genes < 1:
        msg = f"`n_genes` must be a positive integer, got {n_genes!r}."
        raise ValueError(msg)
    t = resolve(data, mod=mod)
    adata = t.adata
    key, step, label = _KINDS[kind]
    check_bool("excess", excess)
    if key not in adata.varm:
        require_step(adata, step, needed_by=f"hp.pl.rewards(kind={kind!r})")
        msg = f".varm[{key!r}] is missing although {step!r} is recorded in .uns; re-run the step that writes it."
        raise KeyError(msg)
    cols = perturbation_columns(adata, key)
    m_full = np.asarray(adata.varm[key], dtype=float)
    use_excess = kind == "reward" and excess and "hp_reward_baseline" in adata.var
    if use_excess:
        m_full = m_full - np.asarray(adata.var["hp_reward_baseline"], dtype=float)[:, None]
        label = "excess reward (reward − noise floor)"
    finite_rows = np.isfinite(m_full).all(axis=1)
    noun = feature_noun(t.mod)
    chosen = f"the given {noun}s"
    if genes is None:
        vkey = (
            "hp_value" if "hp_value" in adata.var else ("hp_value_target" if "hp_value_target" in adata.var else None)
        )
        if kind == "reward" and "hp_reward" in adata.varm:
            vkey = None
            score = np.nanmax(m_full, axis=1) if m_full.shape[1] else np.zeros(adata.n_vars)
            chosen = f"the {{n}} {noun}s with the largest {'excess' if use_excess else 'reward'}"
        else:
            score = np.asarray(adata.var[vkey], dtype=float) if vkey is not None else np.nanmean(m_full, axis=1)
            chosen = f"the {{n}} {noun}s with the highest {vkey or 'mean'}"
        score = np.where(finite_rows & np.isfinite(score), score, -np.inf)
        rows = np.argsort(-score, kind="stable")[: min(n_genes, int(finite_rows.sum()))]
        if len(rows) == 0:
            msg = f".varm[{key!r}] has no finite rows; re-run the step that writes it."
            raise ValueError(msg)
    else:
        rows = adata.var_names.get_indexer(genes)
        for g, r in zip(genes, rows, strict=True):
            if r < 0:
                raise KeyError(unknown_gene_message(str(g), adata.var_names))
        bad = [g for g, r in zip(genes, rows, strict=True) if not finite_rows[r]]
        if bad:
            msg = f"Genes {bad[:5]} have no finite values in .varm[{key!r}] (not modelled); leave them out."
            raise ValueError(msg)
    if perturbations is None:
        pcols = np.arange(len(cols))
    else:
        missing = [p for p in perturbations if p not in cols]
        if missing:
            msg = f"Perturbations {missing[:5]} are not columns of .varm[{key!r}]; available: {cols[:30]}."
            raise KeyError(msg)
        pcols = np.asarray([cols.index(p) for p in perturbations])
    m = m_full[np.ix_(rows, pcols)]
    zr = zc = None
    if cluster:
        ro, zr = _cluster(m)
        co, zc = _cluster(m.T)
        m, rows, pcols = m[np.ix_(ro, co)], rows[ro], pcols[co]
    gene_names = [str(adata.var_names[r]) for r in rows]
    pert_names = [cols[j] for j in pcols]

    n_r, n_c = m.shape
    fig, a = new_axes(ax, (min(3.2 + 0.28 * n_c, 15), min(2.0 + 0.2 * n_r, 15)))
    norm = None
    if use_excess:
        lo = float(np.nanmin(m)) if vmin is None else vmin
        hi = float(np.nanmax(m)) if vmax is None else vmax
        span = max(abs(lo), abs(hi), 1e-12)
        norm = TwoSlopeNorm(vcenter=0.0, vmin=min(lo, -1e-12 * span) if lo < 0 else -span, vmax=max(hi, 1e-12))
        vmin = vmax = None
    cmap = cmap if cmap is not None else ("RdBu_r" if use_excess else "magma_r")
    im = a.imshow(m, aspect="auto", cmap=cmap, norm=norm, vmin=vmin, vmax=vmax, interpolation="nearest")
    a.set_xticks(np.arange(n_c))
    a.set_xticklabels(pert_names, rotation=90, fontsize=8)
    a.set_yticks(np.arange(n_r))
    a.set_yticklabels(gene_names, fontsize=7 if n_r > 40 else 8)
    a.set_xlabel("perturbation")
    a.set_ylabel(noun)
    a.tick_params(length=0)
    for spine in a.spines.values():
        spine.set_visible(False)
    cb = fig.colorbar(im, ax=a, shrink=0.6, pad=0.02, aspect=20)
    cb.set_label(label, fontsize=9)
    cb.ax.tick_params(labelsize=8)
    cb.outline.set_linewidth(0.5)
    if zr is not None:
        _draw_dendrogram(a, zr, side="left")
        a.yaxis.tick_right()
        a.yaxis.set_label_position("right")
    if zc is not None:
        _draw_dendrogram(a, zc, side="top")
    how = chosen.format(n=n_r)
    if cluster:
        how += "; rows and columns clustered (average linkage)"
    pad = 40 if zc is not None else 6
    a.set_title(title if title is not None else f"{label}\n{how}", fontsize=9, pad=pad)
    return finish(fig, a, ax_given=ax is not None, show=show, return_fig=return_fig)
