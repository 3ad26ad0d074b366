"""``hp.pl.rank_perturbations``: bar chart of the perturbations that move a gene most."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.patches import Patch

from hyperperturb._utils import resolve
from hyperperturb._utils._data import is_mudata
from hyperperturb.get._rank_perturbations import rank_perturbations as _get_rank

from ._utils import (
    DOC_MOD,
    DOC_RETURNS,
    DOC_SHOW_AX,
    check_bool,
    check_show,
    doc_params,
    feature_noun,
    finish,
    new_axes,
)

_XLABELS = {"predicted": "predicted policy (probability)", "observed": "observed reward (mean |log fold change|)"}


def _reference(data: Any, gene: str, *, source: str, mod: str) -> tuple[float | None, str]:
    """The no-preference reference: the uniform policy 1/P, or the gene's noise floor for observed rewards."""
    adata = resolve(data, mod=mod).adata
    if source == "predicted":
        n_p = int(np.asarray(adata.varm["hp_policy"]).shape[1])
        return 1.0 / n_p, f"uniform policy (1/{n_p} = {1.0 / n_p:.3g})"
    if "hp_reward_baseline" in adata.var:
        b = float(adata.var["hp_reward_baseline"].iloc[int(adata.var_names.get_loc(gene))])
        if np.isfinite(b):
            return b, f"noise floor of {gene} ({b:.3g})"
    return None, ""


@doc_params(show_ax=DOC_SHOW_AX, returns=DOC_RETURNS, mod=DOC_MOD)
def rank_perturbations(
    data: Any,
    gene: str,
    n: int = 10,
    *,
    source: Literal["predicted", "observed"] = "predicted",
    color: str = "#3b6ea5",
    title: str | None = None,
    mod: str = "rna",
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
) -> Any:
    """Bar chart of the ``n`` perturbations that move ``gene`` most, against a no-preference reference.

    The numbers are those of :func:`hyperperturb.get.rank_perturbations`. Bars start at a reference line so that
    their length is the difference that matters: for the predicted policy the *uniform policy* 1/P (P
    perturbations; a model without any preference gives every perturbation 1/P), for observed rewards the gene's
    noise floor ``.var["hp_reward_baseline"]`` (the reward a control-vs-control split gives; no line when absent).
    Perturbations below the reference are drawn grey.

    Parameters
    ----------
    data
        AnnData or MuData after :func:`hyperperturb.tl.train` (or :func:`hyperperturb.tl.rewards` for
        ``source="observed"``).
    gene
        A gene name from ``var_names``.
    n
        Number of perturbations (bars).
    source
        ``"predicted"`` (``.varm["hp_policy"]``) or ``"observed"`` (``.varm["hp_reward"]``).
    color
        Bar colour.
    title
        Axes title; default the gene name.
    {mod}
    {show_ax}

    Returns
    -------
    {returns}

    Examples
    --------
    >>> import hyperperturb as hp
    >>> hp.pl.rank_perturbations(adata, "IRF1", n=8)  # doctest: +SKIP
    """
    if not isinstance(gene, str):
        msg = f"`gene` must be one gene name (a string), got {type(gene).__name__}; use hp.get.rank_perturbations for many."
        raise TypeError(msg)
    check_show(show)
    check_bool("return_fig", return_fig)
    df = _get_rank(data, gene, n, source=source, mod=mod)
    ref, ref_label = _reference(data, gene, source=source, mod=mod)
    k = len(df)
    fig, a = new_axes(ax, (4.6, 1.3 + 0.28 * k))
    ypos = np.arange(k)[::-1]
    score = df["score"].to_numpy(dtype=float)
    base = ref if ref is not None else 0.0
    above = score >= base
    cols = np.where(above, color, "#b0b0b0")
    # bars start at the reference: their length is the difference from what no preference would give
    a.barh(ypos, score - base, left=base, color=cols, height=0.7)
    handles: list[Artist] = [
        Patch(color=color, label=f"above {'reference' if ref is None else ref_label.split(' (')[0]}")
    ]
    if (~above).any():
        handles.append(Patch(color="#b0b0b0", label="below"))
    if ref is not None:
        handles.insert(0, a.axvline(ref, color="0.2", lw=1.0, ls="--", label=ref_label, gid="hp_reference"))
    a.legend(handles=handles, fontsize=7, frameon=False, loc="lower right")
    a.set_yticks(ypos)
    a.set_yticklabels(df["perturbation"].tolist(), fontsize=8)
    a.set_xlabel(_XLABELS[source], fontsize=9)
    a.set_ylabel("perturbation (knocked-out gene)", fontsize=9)
    a.tick_params(axis="x", labelsize=8)
    a.set_ylim(-0.6, k - 0.4)
    lo = min(float(np.min(score)), base)
    hi = max(float(np.max(score)), base)
    a.set_xlim(max(0.0, lo - 0.15 * (hi - lo)) if lo >= 0 else lo - 0.1 * (hi - lo), hi + 0.08 * (hi - lo))
    for side in ("top", "right"):
        a.spines[side].set_visible(False)
    a.grid(axis="x", alpha=0.3, lw=0.5)
    a.set_axisbelow(True)
    what = "predicted" if source == "predicted" else "observed"
    noun = feature_noun(mod if is_mudata(data) else None)
    a.set_title(title if title is not None else f"{noun} {gene}: top {k} perturbations ({what})", fontsize=10)
    return finish(fig, a, ax_given=ax is not None, show=show, return_fig=return_fig)
