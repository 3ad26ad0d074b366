"""``hp.pl.history``: training curves stored by ``hp.tl.train``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
from matplotlib.axes import Axes

from hyperperturb._utils import resolve
from hyperperturb.get._embedding import _train_entry

from ._utils import DOC_MOD, DOC_RETURNS, DOC_SHOW_AX, doc_params, finish

#: Panels drawn by default, in this order (those present in the history).
DEFAULT_KEYS = ("loss", "policy_loss", "value_loss", "learning_rate", "complexity")

_YLABELS = {
    "loss": "total loss",
    "policy_loss": "policy loss (KL)",
    "value_loss": "value loss (MSE)",
    "learning_rate": "learning rate",
    "complexity": "curriculum share",
}


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
        Panels per row (default: up to 3).
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
    t = resolve(data, mod=mod)
    entry = _train_entry(t.adata, needed_by="hp.pl.history")
    hist = entry.get("history")
    if not isinstance(hist, dict) or not hist:
        msg = "The training entry has no history (it was trained without recording one); re-run `hp.tl.train`."
        raise KeyError(msg)
    hist = {str(k): np.asarray(v, dtype=float).ravel() for k, v in hist.items()}
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
        fig = axes[0].figure
    else:
        nc = (n if n <= 3 else 3) if ncols is None else max(1, int(ncols))
        nr = int(np.ceil(n / nc))
        fig, axs = plt.subplots(nr, nc, figsize=(2.9 * nc, 2.5 * nr), layout="constrained", squeeze=False)
        flat = list(axs.ravel())
        for extra in flat[n:]:
            extra.remove()
        axes = flat[:n]
    for a, k in zip(axes, keys, strict=True):
        y = hist[k]
        epochs = np.arange(1, len(y) + 1)
        a.plot(epochs, y, color="#1f77b4", lw=1.5, label="train" if f"val_{k}" in hist else None)
        if f"val_{k}" in hist:
            yv = hist[f"val_{k}"]
            a.plot(np.arange(1, len(yv) + 1), yv, color="#d62728", lw=1.3, ls="--", label="validation")
            a.legend(fontsize=7, frameon=False)
        if k == "learning_rate":
            a.yaxis.set_major_formatter(mticker.FormatStrFormatter("%.1e"))
        if log_loss and "loss" in k and np.all(y[np.isfinite(y)] > 0):
            a.set_yscale("log")
        a.set_xlabel("epoch", fontsize=9)
        a.set_ylabel(_YLABELS.get(k, k), fontsize=9)
        a.set_title(k, fontsize=10)
        a.tick_params(labelsize=8)
        a.grid(alpha=0.3, lw=0.5)
        for side in ("top", "right"):
            a.spines[side].set_visible(False)
    return finish(fig, axes if n > 1 else axes[0], ax_given=ax is not None, show=show, return_fig=return_fig)
