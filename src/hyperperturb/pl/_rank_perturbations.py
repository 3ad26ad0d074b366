"""``hp.pl.rank_perturbations``: bar chart of the perturbations that move a gene most."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from matplotlib.axes import Axes

from hyperperturb.get._rank_perturbations import rank_perturbations as _get_rank

from ._utils import DOC_MOD, DOC_RETURNS, DOC_SHOW_AX, doc_params, finish, new_axes

_XLABELS = {"predicted": "predicted policy (probability)", "observed": "observed reward (mean |log fold change|)"}


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
    """Bar chart of the ``n`` perturbations that move ``gene`` most.

    The numbers are those of :func:`hyperperturb.get.rank_perturbations`.

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
    df = _get_rank(data, gene, n, source=source, mod=mod)
    k = len(df)
    fig, a = new_axes(ax, (4.2, 0.9 + 0.28 * k))
    ypos = np.arange(k)[::-1]
    a.barh(ypos, df["score"].to_numpy(), color=color, height=0.7)
    a.set_yticks(ypos)
    a.set_yticklabels(df["perturbation"].tolist(), fontsize=8)
    a.set_xlabel(_XLABELS[source], fontsize=9)
    a.set_ylabel("perturbation", fontsize=9)
    a.tick_params(axis="x", labelsize=8)
    a.set_ylim(-0.6, k - 0.4)
    for side in ("top", "right"):
        a.spines[side].set_visible(False)
    a.grid(axis="x", alpha=0.3, lw=0.5)
    a.set_axisbelow(True)
    a.set_title(title if title is not None else f"{gene}: top {k} perturbations", fontsize=10)
    return finish(fig, a, ax_given=ax is not None, show=show, return_fig=return_fig)
