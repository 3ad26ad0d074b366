"""``hp.pl.history``: training curves stored by ``hp.tl.train``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from hyperperturb._utils import resolve
from hyperperturb._utils._entries import train_history

from ._utils import DOC_MOD, DOC_RETURNS, DOC_SHOW_AX, check_bool, check_ncols, check_show, doc_params, finish

#: Panels drawn by default, in this order (those present in the history).
DEFAULT_KEYS = ("loss", "policy_loss", "value_loss", "graph_loss", "learning_rate", "complexity")

_YLABELS = {
    "loss": "total loss (weighted sum)",
    "policy_loss": "policy loss (KL to target)",
    "value_loss": "value loss (MSE)",
    "graph_loss": "graph loss (network reconstruction)",
    "learning_rate": "learning rate",
    "complexity": "share of perturbations in the loss",
}
_TITLES = {
    "loss": "total loss",
    "policy_loss": "policy loss (over the perturbations in play)",
    "value_loss": "value loss",
    "graph_loss": "graph loss",
    "learning_rate": "learning rate schedule",
    "complexity": "curriculum",
}


def _curriculum_steps(hist: dict[str, np.ndarray]) -> np.ndarray:
    """Epochs (1-based, between two epochs) after which the curriculum's share of perturbations changed."""
    cx = hist.get("complexity")
    if cx is None or len(cx) < 2:
        return np.zeros(0)
    changed = np.flatnonzero(np.abs(np.diff(cx)) > 1e-9)
    return changed + 1.5  # between epoch k+1 and k+2


@doc_params(show_ax=DOC_SHOW_AX, returns=DOC_RETURNS, mod=DOC_MOD)
def history(
    data: Any,
    keys: str | Sequence[str] | None = None,
    *,
    log_loss: bool = False,
    ncols: int | None = None,
    mod: str = "rna",
    ax: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
    return_fig: bool = False,
) -> Any:
    """Training curves: losses, learning rate and curriculum complexity per epoch.

    Reads ``.uns["hyperperturb"]["train"]["history"]`` written by :func:`hyperperturb.tl.train`. Validation curves
    (``val_<key>``) are drawn dashed in the panel of ``<key>``.

    Every panel marks the **curriculum steps** (dotted vertical lines): with the curriculum on, each step adds
    perturbations to the policy loss, so the policy loss (a KL divergence over more perturbations) *rises* at the
    steps even when the model improves; compare epochs within one phase. The epoch whose weights were kept (the
    last one, or the restored best one when training records it) is marked with a dot on the loss curves and named
    in the legend.

    Parameters
    ----------
    data
        AnnData or MuData after :func:`hyperperturb.tl.train`.
    keys
        History entries to draw, one panel each. Default: those of ``loss``, ``policy_loss``, ``value_loss``,
        ``learning_rate`` and ``complexity`` that were recorded.
    log_loss
        Log scale for the loss axes.
    ncols
        Panels per row, an integer >= 1 (default: up to 3).
    {mod}
    ax
        One axes (for a single key) or one axes per key; a new figure is made when ``None``.
    show
        Show the figure (``plt.show()``) and return ``None``. Defaults to ``True`` unless ``ax`` is given or
        ``return_fig`` is set.
    return_fig
        Return the :class:`matplotlib.figure.Figure` instead of the axes.

    Returns
    -------
    {returns} With several panels, a list of axes.

    Raises
    ------
    KeyError
        If training has not run (run :func:`hyperperturb.tl.train` first) or a key is not in the history.

    Examples
    --------
    >>> import hyperperturb as hp
    >>> hp.pl.history(adata)  # doctest: +SKIP
    """
    check_bool("log_loss", log_loss)
    check_bool("return_fig", return_fig)
    check_show(show)
    check_ncols(ncols, allow_none=True)
    t = resolve(data, mod=mod)
    hist = train_history(t.adata, needed_by="hp.pl.history")
    if not hist:
        msg = "The training entry has no history (it was trained without recording one); re-run `hp.tl.train`."
        raise KeyError(msg)
    if keys is None:
        keys = [k for k in DEFAULT_KEYS if k in hist] or sorted(k for k in hist if not k.startswith("val_"))
    else:
        keys = [keys] if isinstance(keys, str) else list(keys)
        missing = [k for k in keys if k not in hist]
        if missing:
            msg = f"History keys {missing} not recorded; available: {sorted(hist)}."
            raise KeyError(msg)
    if not keys:
        msg = f"Nothing to draw: the history holds {sorted(hist)}; pass `keys=`."
        raise ValueError(msg)
    n = len(keys)
    if ax is not None:
        axes = [ax] if isinstance(ax, Axes) else list(ax)
        if len(axes) != n or not all(isinstance(a, Axes) for a in axes):
            msg = f"`ax` must be {n} matplotlib Axes (one per key {keys}), got {len(axes)}."
            raise ValueError(msg)
        fig = cast(Figure, axes[0].figure)
    else:
        nc = (n if n <= 3 else 3) if ncols is None else int(ncols)
        nr = int(np.ceil(n / nc))
        fig, axs = plt.subplots(nr, nc, figsize=(2.9 * nc, 2.5 * nr), layout="constrained", squeeze=False)
        flat = list(axs.ravel())
        for extra in flat[n:]:
            extra.remove()
        axes = flat[:n]
    steps = _curriculum_steps(hist)
    n_ep = max(len(v) for v in hist.values())
    kept, how = n_ep, "last epoch"  # hp.tl.train stores the weights of its last epoch
    handles = {"train": Line2D([], [], color="#1f77b4", lw=1.5, label="training")}
    if len(steps):
        handles["step"] = Line2D(
            [], [], color="0.45", lw=0.7, ls=":", label="curriculum step (adds perturbations: the policy loss rises)"
        )
    for a, k in zip(axes, keys, strict=True):
        y = hist[k]
        epochs = np.arange(1, len(y) + 1)
        a.plot(epochs, y, color="#1f77b4", lw=1.5, label="train")
        for x in steps:
            a.axvline(x, color="0.45", lw=0.7, ls=":", zorder=0.5, gid="hp_curriculum_step")
        if f"val_{k}" in hist:
            yv = hist[f"val_{k}"]
            a.plot(np.arange(1, len(yv) + 1), yv, color="#d62728", lw=1.3, ls="--", label="validation")
            handles["validation"] = Line2D([], [], color="#d62728", lw=1.3, ls="--", label="validation")
        if "loss" in k and 1 <= kept <= len(y) and np.isfinite(y[kept - 1]):
            a.plot([kept], [y[kept - 1]], "o", color="black", ms=4, zorder=3)
            handles["kept"] = Line2D(
                [], [], marker="o", ls="", color="black", ms=4, label=f"weights kept: {how} ({kept})"
            )
        if k == "learning_rate":
            a.yaxis.set_major_formatter(mticker.FormatStrFormatter("%.1e"))
        if log_loss and "loss" in k and np.all(y[np.isfinite(y)] > 0):
            a.set_yscale("log")
        a.set_xlabel("epoch", fontsize=9)
        a.set_ylabel(_YLABELS.get(k, k), fontsize=9)
        a.set_title(_TITLES.get(k, k), fontsize=9)
        a.tick_params(labelsize=8)
        a.grid(alpha=0.3, lw=0.5)
        for side in ("top", "right"):
            a.spines[side].set_visible(False)
    if len(handles) > 1:
        kw = {"handles": list(handles.values()), "fontsize": 7, "frameon": False, "ncols": min(len(handles), 2)}
        if ax is None:
            fig.legend(loc="outside lower center", **kw)
        else:
            axes[0].legend(**{**kw, "ncols": 1})
    return finish(fig, axes if n > 1 else axes[0], ax_given=ax is not None, show=show, return_fig=return_fig)
