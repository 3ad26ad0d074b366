"""Shared plotting helpers: axes handling, returning like ``sc.pl``, docstring fragments."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, TypeVar, cast

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

F = TypeVar("F", bound=Callable[..., Any])

DOC_SHOW_AX = """\
ax
    A :class:`matplotlib.axes.Axes` to draw into; a new figure is made when ``None``.
show
    Show the figure (``plt.show()``) and return ``None``. Defaults to ``True`` unless ``ax`` is given or
    ``return_fig`` is set.
return_fig
    Return the :class:`matplotlib.figure.Figure` instead of the axes."""

DOC_RETURNS = """\
The :class:`~matplotlib.figure.Figure` if ``return_fig``; else the :class:`~matplotlib.axes.Axes` when
``show=False``; else ``None`` (the figure is shown). Save with ``ax.figure.savefig("plot.png")``."""

DOC_MOD = """\
mod
    Modality of a MuData holding the RNA and the ``.uns['hyperperturb']`` ledger."""


def doc_params(**kwds: str) -> Callable[[F], F]:
    """Fill ``{name}`` fragments in a docstring (fragments are indented to match the placeholder's line)."""

    def dec(obj: F) -> F:
        doc = obj.__doc__ or ""
        for name, text in kwds.items():
            placeholder = "{" + name + "}"
            for line in doc.splitlines():
                if placeholder in line:
                    indent = line[: len(line) - len(line.lstrip())]
                    filled = text.replace("\n", "\n" + indent)
                    doc = doc.replace(placeholder, filled)
                    break
        obj.__doc__ = doc
        return obj

    return dec


def new_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """The figure and axes to draw into: ``ax`` and its figure, or a new figure of ``figsize`` inches."""
    if ax is not None:
        if not isinstance(ax, Axes):
            msg = f"`ax` must be a matplotlib Axes, got {type(ax).__name__}. Make one with `fig, ax = plt.subplots()`."
            raise TypeError(msg)
        return cast(Figure, ax.figure), ax  # an Axes of a subfigure draws into its parent figure the same way
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return fig, ax


def finish(fig: Figure, axes: Any, *, ax_given: bool, show: bool | None, return_fig: bool) -> Any:
    """Return like ``sc.pl``: Figure if ``return_fig``, Axes if not shown, ``None`` after showing."""
    if return_fig:
        return fig
    if show is None:
        show = not ax_given
    if not show:
        return axes
    with warnings.catch_warnings():
        # non-interactive backends (Agg in scripts and tests) warn that they cannot show
        warnings.filterwarnings("ignore", message=".*non-interactive.*")
        warnings.filterwarnings("ignore", message=".*cannot be shown.*")
        plt.show()
    return None


def check_bool(name: str, value: Any) -> None:
    """Raise a :class:`TypeError` unless ``value`` is a bool."""
    if not isinstance(value, bool):
        msg = f"`{name}` must be True or False, got {value!r}."
        raise TypeError(msg)


def check_show(show: Any) -> None:
    """Raise a :class:`TypeError` unless ``show`` is ``True``, ``False`` or ``None`` (the default: show unless ``ax``)."""
    if show is not None and not isinstance(show, bool):
        msg = (
            f"`show` must be True, False or None (show unless `ax` is given or `return_fig` is set), got {show!r}. "
            "Pass show=False to get the axes back without showing the figure."
        )
        raise TypeError(msg)


def check_ncols(ncols: Any, *, allow_none: bool = False) -> None:
    """Raise a :class:`ValueError` unless ``ncols`` is an integer >= 1 (or ``None`` where ``allow_none``)."""
    if ncols is None and allow_none:
        return
    if isinstance(ncols, bool) or not isinstance(ncols, int | np.integer) or ncols < 1:
        msg = f"`ncols` must be an integer >= 1 (panels per row), got {ncols!r}."
        raise ValueError(msg)


def check_limits(vmin: Any, vmax: Any) -> None:
    """Refuse colour limits that are not finite numbers (or ``None``), and ``vmin > vmax``."""
    for name, val in (("vmin", vmin), ("vmax", vmax)):
        if val is None:
            continue
        if isinstance(val, bool) or not isinstance(val, int | float | np.integer | np.floating) or not np.isfinite(val):
            msg = f"`{name}` must be a finite number or None (automatic limit), got {val!r}."
            raise ValueError(msg)
    if vmin is not None and vmax is not None and vmin > vmax:
        msg = (
            f"`vmin` ({vmin!r}) is larger than `vmax` ({vmax!r}): the colour scale would run backwards. Swap them, "
            "or use a reversed colormap (e.g. cmap='viridis_r') to reverse the colours."
        )
        raise ValueError(msg)


def feature_noun(mod: str | None) -> str:
    """``"protein"`` for a protein modality of a MuData (``"prot"``, ``"adt"``, ``"protein"``), else ``"gene"``."""
    from hyperperturb._utils._data import PROTEIN_MODALITIES

    return "protein" if mod is not None and str(mod).lower() in PROTEIN_MODALITIES else "gene"
