"""``hp.pl.poincare``: genes on the Poincaré disk."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from hyperperturb._utils import _ball, _entries, logger, resolve
from hyperperturb._utils._ball import geodesic_segments
from hyperperturb._utils._data import PROTEIN_MODALITIES

from ._disk import (
    _NA_COLOR,
    GRID_RADII,
    _categorical_palette,
    _check_components,
    _Colour,
    _draw_disk,
    _draw_distance_disk,
    _edges,
    _resolve_colour,
    outer_distance,
    to_distance_display,
)
from ._labels import place_labels
from ._utils import (
    DOC_MOD,
    DOC_RETURNS,
    DOC_SHOW_AX,
    check_bool,
    check_limits,
    check_ncols,
    check_show,
    doc_params,
    finish,
    new_axes,
)

__all__ = ["GRID_RADII", "geodesic_segments", "place_labels", "poincare"]

#: Hubs labelled by ``labels="top"``: the gene nearest the centre and any other within this hyperbolic distance of
#: the nearest one (at most ``_MAX_HUBS``).
_HUB_BAND = 0.5
_MAX_HUBS = 3


def _in_network(adata: Any) -> np.ndarray:
    """Genes with at least one network edge: ``.var["hp_in_network"]``, else adjacency rows with an entry."""
    if "hp_in_network" in adata.var:
        return np.asarray(adata.var["hp_in_network"], dtype=bool)
    if _entries.has_network(adata):
        a = _entries.network_graph(adata)
        return np.asarray(abs(a).sum(axis=1)).ravel() > 0
    return np.ones(adata.n_vars, dtype=bool)  # no network: nothing to set apart


def _excess_score(adata: Any) -> np.ndarray:
    """Per gene: the largest observed reward above its noise floor (``hp_reward`` - ``hp_reward_baseline``)."""
    if "hp_reward" in adata.varm:
        r = np.asarray(adata.varm["hp_reward"], dtype=float)
        base: Any = (
            np.asarray(adata.var["hp_reward_baseline"], dtype=float) if "hp_reward_baseline" in adata.var else 0.0
        )
        with np.errstate(invalid="ignore"):
            ex = r - (base[:, None] if np.ndim(base) else base)
            ex = np.where(np.isfinite(ex), ex, -np.inf)
        return ex.max(axis=1) if ex.shape[1] else np.full(adata.n_vars, -np.inf)
    if "hp_value" in adata.var:
        return np.asarray(adata.var["hp_value"], dtype=float)
    return np.zeros(adata.n_vars)


def _label_order(colour: _Colour, excess: np.ndarray, drawn: np.ndarray, n_labels: int) -> np.ndarray:
    """Genes to label for ``labels="top"`` (only genes drawn in the network; see ``labels`` in the docstring)."""
    if colour.highlight is not None:  # distance to a gene: that gene and its nearest neighbours
        d = np.where(drawn, np.asarray(colour.values, dtype=float), np.inf)
        order = np.argsort(d, kind="stable")
        return order[np.isfinite(d[order])][:n_labels]
    score = np.asarray(colour.values, dtype=float) if colour.title.startswith("genes moved") else excess
    score = np.where(drawn & np.isfinite(score), score, -np.inf)
    order = np.argsort(-score, kind="stable")
    return order[np.isfinite(score[order])][:n_labels]


def _robust_limits(vals: np.ndarray, vmin: float | None, vmax: float | None) -> tuple[float, float]:
    """Colour limits: ``vmin``/``vmax`` where given, else the 2nd/98th percentiles (min/max if those coincide)."""
    lo = float(np.percentile(vals, 2)) if vmin is None else float(vmin)
    hi = float(np.percentile(vals, 98)) if vmax is None else float(vmax)
    if not hi > lo:
        lo = float(vals.min()) if vmin is None else lo
        hi = float(vals.max()) if vmax is None else hi
    if not hi > lo:  # constant values: a small window around them
        lo, hi = lo - 0.5 * (abs(lo) or 1.0), hi + 0.5 * (abs(hi) or 1.0)
    return lo, hi


def _colour_scale(vals: np.ndarray, cmap: Any, vmin: float | None, vmax: float | None) -> tuple[Any, Any, list[float]]:
    """Colormap, norm and colour-bar ticks of numeric values (robust limits; diverging at 0 for two-signed values)."""
    lo, hi = _robust_limits(vals, vmin, vmax)
    if lo < 0 < hi:
        norm: Any = mpl.colors.TwoSlopeNorm(vcenter=0.0, vmin=lo, vmax=hi)
        neg = [v for v in mpl.ticker.MaxNLocator(2).tick_values(lo, 0.0) if lo <= v < 0]
        pos = [v for v in mpl.ticker.MaxNLocator(4).tick_values(0.0, hi) if 0 <= v <= hi]
        ticks = [*neg, *pos]
        cm = plt.get_cmap("RdBu_r" if cmap is None else cmap)
    else:
        norm = mpl.colors.Normalize(vmin=lo, vmax=hi)
        ticks = [v for v in mpl.ticker.MaxNLocator(5).tick_values(lo, hi) if lo <= v <= hi]
        cm = plt.get_cmap("viridis" if cmap is None else cmap)
    return cm, norm, ticks


def _draw_genes(
    a: Axes, fig: Figure, adata: Any, colour: _Colour, xy: np.ndarray, idx: np.ndarray, kw: dict[str, Any], palette: Any,
    cmap: Any, vmin: float | None, vmax: float | None, noun: str = "gene",
) -> list[Line2D]:  # fmt: skip
    """Scatter the genes ``idx`` coloured by ``colour`` (with a colour bar); their legend handles (one per category)."""
    if colour.kind == "none":
        a.scatter(xy[idx, 0], xy[idx, 1], c="#4c72b0", **kw)
        return [Line2D([], [], marker="o", ls="", color="#4c72b0", ms=4, label=f"{noun} ({len(idx)})")]
    if colour.kind == "categorical":
        cat = colour.values
        cats = list(cat.cat.categories)
        pal = _categorical_palette(adata, colour.label, cats, palette)
        codes = np.asarray(cat.cat.codes)[idx]
        size = np.bincount(codes[codes >= 0], minlength=len(cats))
        order = np.argsort(-np.where(codes >= 0, size[np.maximum(codes, 0)], len(idx) + 1), kind="stable")
        idx, codes = idx[order], codes[order]  # small categories drawn last (on top)
        cols = np.array([mpl.colors.to_rgba(pal[k]) if k >= 0 else mpl.colors.to_rgba(_NA_COLOR) for k in codes])
        a.scatter(xy[idx, 0], xy[idx, 1], c=cols, **kw)
        return [
            Line2D([], [], marker="o", ls="", color=pal[k], markersize=6, label=str(cn)) for k, cn in enumerate(cats)
        ]
    vals = np.asarray(colour.values, dtype=float)[idx]
    fin = np.isfinite(vals)
    if (~fin).any():
        a.scatter(xy[idx[~fin], 0], xy[idx[~fin], 1], c=_NA_COLOR, **{**kw, "zorder": 1.9})
    order = np.argsort(vals[fin], kind="stable")  # high values on top
    sel = idx[fin][order]
    shown = vals[fin][order]
    if shown.size:
        cm, norm, ticks = _colour_scale(shown, cmap, vmin, vmax)
    else:
        cm, norm, ticks = plt.get_cmap("viridis" if cmap is None else cmap), mpl.colors.Normalize(0, 1), []
    sc_ = a.scatter(xy[sel, 0], xy[sel, 1], c=shown, cmap=cm, norm=norm, **kw)
    below = bool(shown.size and shown.min() < norm.vmin)
    above = bool(shown.size and shown.max() > norm.vmax)
    extend = {(False, False): "neither", (True, False): "min", (False, True): "max", (True, True): "both"}[
        (below, above)
    ]
    cb = fig.colorbar(sc_, ax=a, shrink=0.7, pad=0.02, aspect=25, extend=extend)
    if ticks:
        cb.set_ticks(ticks)
    cb.set_label(colour.label, fontsize=9)
    cb.ax.tick_params(labelsize=8)
    cb.outline.set_linewidth(0.5)
    mid: Any = sc_.cmap(sc_.norm(np.nanmedian(shown))) if shown.size else "0.5"
    return [Line2D([], [], marker="o", ls="", color=mid, ms=4, label=f"{noun} ({len(idx)}), colour: see bar")]


def _style_axes(a: Axes, lim: float, geometry: str, key: str, comps: tuple[int, int], dim: int) -> None:
    a.set_xlim(-lim, lim)
    a.set_ylim(-lim, lim)
    a.set_aspect("equal", adjustable="box")
    a.set_xticks([])
    a.set_yticks([])
    for spine in a.spines.values():
        spine.set_visible(geometry == "euclidean")
        spine.set_linewidth(0.5)
    a.set_xlabel(f"{key}[{comps[0]}]" if dim > 2 else "", fontsize=8)
    a.set_ylabel(f"{key}[{comps[1]}]" if dim > 2 else "", fontsize=8)


@doc_params(show_ax=DOC_SHOW_AX, returns=DOC_RETURNS, mod=DOC_MOD)
def poincare(
    data: Any,
    color: str | Sequence[str] | None = None,
    *,
    basis: str = "X_poincare",
    components: Sequence[int] = (0, 1),
    radius: Literal["distance", "poincare"] = "distance",
    labels: Literal["top"] | Sequence[str] | None = "top",
    n_labels: int = 10,
    edges: bool | None = None,
    max_edges: int = 2000,
    perturbations: bool = False,
    grid: bool = True,
    isolated: Literal["faint", "hide", "show"] = "faint",
    legend: bool = True,
    source: Literal["predicted", "observed"] = "predicted",
    palette: Any = None,
    cmap: str | mpl.colors.Colormap | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    size: float | None = None,
    title: str | Sequence[str] | None = None,
    ncols: int = 3,
    mod: str = "rna",
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
    **kwargs: Any,
) -> Any:
    r"""Genes on the Poincaré disk.

    Draws the gene embedding learned by :func:`hyperperturb.tl.train`: genes as points coloured by a gene
    annotation, the predicted sensitivity or a perturbation's effect size, a grid of circles of equal hyperbolic
    distance from the centre, and optionally the gene network as geodesic arcs and the perturbation embeddings.
    Hubs of the network (genes close to many others) sit near the centre, specific genes towards the rim.

    By default (``radius="distance"``) each gene keeps its direction from the centre and is drawn at a radius
    proportional to its hyperbolic distance :math:`d = 2\,\mathrm{artanh}(\sqrt{c}\,|x|)/\sqrt{c}` from the origin
    (the azimuthal equidistant view of the hyperbolic plane): the rim is the ring :math:`d = d_{max}` (the largest
    distance, rounded up to a ring) and the rings are labelled in units of :math:`d`. In the disk model itself
    (``radius="poincare"``) a learned embedding crowds on the boundary circle (:math:`|x| > 0.99` is already
    :math:`d > 5.3`), which hides the hierarchy.

    Parameters
    ----------
    data
        AnnData or MuData after :func:`hyperperturb.tl.train`.
    color
        What colours the genes (``None``: ``.var["hp_value"]`` if present). One of

        * a ``.var`` column: categorical (legend) or numeric (colourbar), e.g. ``"hp_value"``;
        * a perturbation name (a column of ``.varm["hp_policy"]``): each gene is coloured by the perturbation's
          predicted effect on it, the excess over the gene's noise floor predicted by the heads,
          ``n_p * hp_value * hp_policy[:, p]`` (mean \|LFC\| above the noise floor; without ``.var["hp_value"]``: the
          policy share, and the colour bar says so). ``source="observed"`` uses the measured excess
          ``.varm["hp_reward"] - .var["hp_reward_baseline"]`` instead;
        * a perturbation *target* gene (from ``hp.pp.perturbations``): the mean over the perturbations of that
          target;
        * any other gene name: genes are coloured by their hyperbolic distance to that gene (its neighbourhood on the
          disk), and the gene is ringed.

        A list draws one panel per entry (``ncols`` per row).
    basis
        Key of the embedding in ``.varm`` (``"poincare"`` works too).
    components
        The two embedding axes to draw when ``dim > 2`` (a projection; arcs are then drawn as geodesics of the
        projected disk).
    radius
        ``"distance"`` (default): plotted radius :math:`d / d_{max}`, proportional to the hyperbolic distance from the
        centre (network edges are the disk's geodesics moved the same way). ``"poincare"``: the raw Poincaré disk
        (plotted radius :math:`|x|`, the boundary circle at infinity). Ignored for ``geometry="euclidean"``.
    labels
        ``"top"`` (default): label the ``n_labels`` genes that matter most for the panel — the genes with the
        largest observed *excess* (reward above the gene's noise floor, ``.varm["hp_reward"]`` minus
        ``.var["hp_reward_baseline"]``; predicted ``hp_value`` when rewards are absent), the genes most moved when
        colouring by a perturbation, the nearest genes when colouring by distance to a gene — plus the hub(s): the
        network gene nearest the centre and any other within 0.5 of its distance (at most 3). A list of gene names
        labels those genes; ``None`` draws no labels. Labels are placed by a repulsion step so that none overlap
        each other and, where there is room, none covers a point (labels that find no free spot are left out); a
        gene that is also a drawn perturbation is labelled once.
    n_labels
        Number of labels for ``labels="top"``.
    edges
        Draw the gene network (``.varp`` under the ``key_added`` of :func:`hyperperturb.pp.gene_network`, default
        ``"hp_adjacency"``) as geodesic arcs (thin, translucent). Default: when the network is present.
    max_edges
        Draw at most this many edges, the strongest by weight.
    perturbations
        Overlay the perturbation embeddings (``.uns["hyperperturb"]["train"]["perturbation_embedding"]``) as
        diamonds with their names.
    grid
        Draw circles of equal hyperbolic distance :math:`d` from the origin, labelled ``d=2``, ``d=4`` ... and
        diameters. ``radius="distance"``: rings every 1, 2 or 5 units up to :math:`d_{max}` (at most 6);
        ``radius="poincare"``: :math:`d` = 1, 2, 3 at Euclidean radius :math:`\tanh(\sqrt{c}\,d/2)/\sqrt{c}`.
    isolated
        Genes without any network edge (``.var["hp_in_network"]`` is ``False``, else rows of
        the network's ``.varp`` without an entry) carry no network information in their position.
        ``"faint"`` (default): drawn as small light-grey hollow circles under the other genes, with their own legend
        entry "not in network", and never labelled by ``labels="top"``; ``"hide"``: not drawn; ``"show"``: drawn
        like the others.
    legend
        Add a legend of the marks drawn (genes, not in network, network edges, perturbation targets, the ringed
        gene) below the disk; categorical colours always get their legend.
    source
        When ``color`` names a perturbation: colour by its ``"predicted"`` excess (from ``hp_value`` and
        ``hp_policy``) or its ``"observed"`` excess (``hp_reward`` minus ``hp_reward_baseline``).
    palette
        Colours of categories: a list, a dict category → colour, or a colormap name. Defaults to
        ``.uns[f"<key>_colors"]`` if present, else tab10/tab20.
    cmap
        Colormap of numeric colours. Default: ``"viridis"``; ``"RdBu_r"`` centred at 0 when the values have both
        signs (e.g. an observed excess below the noise floor), with ticks on both halves of the colour bar.
    vmin, vmax
        Limits of the colour scale of numeric colours (``vmin`` at most ``vmax``). Default: the 2nd and 98th percentiles of the drawn values
        (robust limits: a few extreme genes do not flatten the others into one colour); values beyond them get
        the end colours and the colour bar an arrow.
    size
        Marker size (points²); default scales with the number of genes.
    title
        Panel title(s); default says what is shown (e.g. "genes moved by perturbation STAT1 (predicted excess)");
        the colour bar names the colour scale and its units. A protein modality (``mod="prot"``) says "protein".
    ncols
        Panels per row when ``color`` is a list (an integer >= 1).
    {mod}
    {show_ax}
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.scatter`.

    Returns
    -------
    {returns} A list of axes when ``color`` is a list.

    Raises
    ------
    KeyError
        If training results are absent (run :func:`hyperperturb.tl.train` first) or ``color`` is unknown (the
        message lists what is available).
    ValueError
        If ``color`` is an empty list, ``ncols`` is below 1 or ``vmin`` is larger than ``vmax``.
    TypeError
        If a flag (``show``, ``legend``, ``grid``, ...) is not a bool.

    Notes
    -----
    Genes whose embedding row is not finite (not modelled) are not drawn; genes with a missing colour value are
    drawn in light grey. With ``geometry="euclidean"`` training no disk or grid is drawn and edges are straight.

    Examples
    --------
    >>> import hyperperturb as hp
    >>> hp.pl.poincare(adata, color="hp_value", labels="top", edges=True)  # doctest: +SKIP
    >>> hp.pl.poincare(adata, color="STAT1", perturbations=True)  # doctest: +SKIP
    """
    _check_options(perturbations=perturbations, grid=grid, return_fig=return_fig, source=source, radius=radius,
                   n_labels=n_labels, legend=legend, show=show, ncols=ncols, vmin=vmin, vmax=vmax)  # fmt: skip
    if "save" in kwargs:  # scanpy's habit; here it would reach matplotlib's scatter as an unknown property
        msg = (
            "hp.pl.poincare() has no `save=`: use `fig = hp.pl.poincare(..., return_fig=True)` and `fig.savefig(path)`."
        )
        raise TypeError(msg)
    t = resolve(data, mod=mod)
    adata = t.adata
    noun = "protein" if t.mod is not None and str(t.mod).lower() in PROTEIN_MODALITIES else "gene"
    emb = _read_embedding(adata, basis, components, noun)
    colours_in: list[Any] = list(color) if isinstance(color, list | tuple) else [color]
    if not colours_in:
        msg = "`color` is an empty list; pass a key, a list of keys or None."
        raise ValueError(msg)
    x_safe = np.where(emb.ok[:, None], emb.x_full, 0.0)
    colours = [_resolve_colour(adata, k, x_safe, source=source, c=emb.c, geometry=emb.geometry) for k in colours_in]
    label_genes = _label_genes(adata, labels, noun)
    in_net = _in_network(adata)
    if edges is None:
        edges = _entries.has_network(adata)
    check_bool("edges", edges)
    if isolated not in ("faint", "hide", "show"):
        msg = f"`isolated` must be 'faint', 'hide' or 'show', got {isolated!r}."
        raise ValueError(msg)
    edge_list = _edges(adata, emb.ok, max_edges) if edges else None
    pert_emb, pert_names = _perturbation_marks(adata, emb.comps) if perturbations else (None, None)
    titles = _titles(title, len(colours))
    multi = len(colours) > 1
    if multi and ax is not None:
        msg = "`ax` cannot be used with a list of colours; draw each colour into its own axes instead."
        raise ValueError(msg)

    # ---- where things are drawn ----------------------------------------------------------------------------------
    apart = ~in_net if isolated != "show" else np.zeros_like(emb.ok)
    scene = _Scene(
        adata=adata, noun=noun, emb=emb, in_net=in_net, apart=apart, drawn=emb.ok & ~apart,
        by_distance=emb.geometry != "euclidean" and radius == "distance", edges=edge_list, pert_emb=pert_emb,
        pert_names=pert_names, isolated=isolated, legend=legend, grid=grid,
    )  # fmt: skip
    scene.place()
    if size is None:
        size = float(np.clip(4000.0 / max(int(scene.drawn.sum()), 1), 4.0, 60.0))
    fig, axes = _panels(len(colours), ncols, ax, legend)
    label_jobs = []
    score = _excess_score(adata)
    hubs = _hubs(scene.dist0, scene.drawn & in_net) if emb.geometry != "euclidean" else np.zeros(0, dtype=int)
    draw_kw = {"palette": palette, "cmap": cmap, "vmin": vmin, "vmax": vmax}
    for a, colour, ttl in zip(axes, colours, titles, strict=True):
        scatter_kw = {"s": size, "linewidths": 0, "zorder": 2, "rasterized": int(emb.ok.sum()) > 5000}
        scatter_kw.update(kwargs)
        _draw_panel(a, fig, scene, colour, ttl, size, scatter_kw, draw_kw)
        genes_idx = _labelled_genes(scene, colour, labels, n_labels, label_genes, score, hubs)
        job = _label_job(scene, genes_idx)
        if job is not None:
            label_jobs.append((a, *job))
    for a, label_pts, label_txt, label_pert in label_jobs:
        flags = [k in label_pert for k in range(len(label_txt))]
        colors = ["crimson" if f else "black" for f in flags]
        obstacles = scene.plot_xy[scene.drawn]
        if scene.pert_emb is not None:
            obstacles = np.vstack([obstacles, scene.pert_emb])
        place_labels(a, label_pts, label_txt, obstacles=obstacles, colors=colors, bold=flags)
    return finish(fig, axes if multi else axes[0], ax_given=ax is not None, show=show, return_fig=return_fig)


# -- the steps of poincare -------------------------------------------------------------------------------------------


def _check_options(
    *, perturbations: Any, grid: Any, return_fig: Any, source: Any, radius: Any, n_labels: Any, legend: Any, show: Any,
    ncols: Any, vmin: Any, vmax: Any,
) -> None:  # fmt: skip
    """Refuse option values that are not among the documented ones."""
    for name, val in (("perturbations", perturbations), ("grid", grid), ("return_fig", return_fig), ("legend", legend)):
        check_bool(name, val)
    check_show(show)
    check_ncols(ncols)
    check_limits(vmin, vmax)
    if source not in ("predicted", "observed"):
        msg = f"`source` must be 'predicted' or 'observed', got {source!r}."
        raise ValueError(msg)
    if radius not in ("distance", "poincare"):
        msg = f"`radius` must be 'distance' (radius proportional to hyperbolic distance) or 'poincare', got {radius!r}."
        raise ValueError(msg)
    if not isinstance(n_labels, int | np.integer) or n_labels < 0:
        msg = f"`n_labels` must be a non-negative integer, got {n_labels!r}."
        raise ValueError(msg)


@dataclass
class _Embedding:
    """The stored embedding to draw and the geometry it lives in."""

    key: str
    x_full: np.ndarray
    comps: tuple[int, int]
    geometry: str
    c: float
    r_ball: float
    ok: np.ndarray

    @property
    def xy(self) -> np.ndarray:
        """The two drawn components of every row."""
        return self.x_full[:, self.comps]


def _read_embedding(adata: Any, basis: str, components: Any, noun: str) -> _Embedding:
    """The embedding ``basis`` with its curvature and geometry; refuses one that cannot be drawn on a disk."""
    key = _entries.basis_key(adata, basis, needed_by="hp.pl.poincare")
    x_full = np.asarray(adata.varm[key], dtype=float)
    if x_full.ndim != 2 or x_full.shape[1] < 2:
        msg = f".varm[{key!r}] must be {noun}s x dim with dim >= 2 to draw a disk, got shape {x_full.shape}."
        raise ValueError(msg)
    comps = _check_components(components, x_full.shape[1])
    geometry, c = _entries.map_geometry(adata, key)  # of the step that wrote this map
    r_ball = 1.0 / np.sqrt(c)
    ok = np.isfinite(x_full).all(axis=1)
    if not ok.any():
        msg = f".varm[{key!r}] has no finite rows; re-run `hp.tl.train`."
        raise ValueError(msg)
    if (~ok).any():
        logger.info("hp.pl.poincare: %d %ss without an embedding are not drawn", int((~ok).sum()), noun)
    if geometry != "euclidean":
        norms = np.linalg.norm(x_full[ok], axis=1)
        if norms.max() >= r_ball:
            msg = (
                f".varm[{key!r}] has points outside the Poincaré ball of curvature {c} (largest norm {norms.max():.4g} "
                f">= {r_ball:.4g}); the stored curvature does not match the embedding. Re-run `hp.tl.train`."
            )
            raise ValueError(msg)
    return _Embedding(key=key, x_full=x_full, comps=comps, geometry=geometry, c=c, r_ball=r_ball, ok=ok)


def _label_genes(adata: Any, labels: Any, noun: str) -> list[str] | None:
    """The genes named by ``labels`` (``None`` for ``"top"`` or no labels); unknown names are refused."""
    if labels is None or labels == "top":
        return None
    label_genes = [labels] if isinstance(labels, str) else list(labels)
    unknown = [g for g in label_genes if g not in adata.var_names]
    if unknown:
        msg = f"labels {unknown[:5]} are not in var_names; pass {noun} names or labels='top'."
        raise KeyError(msg)
    return label_genes


def _perturbation_marks(adata: Any, comps: tuple[int, int]) -> tuple[np.ndarray, list[str]]:
    """The stored perturbation embeddings (drawn components) and names; perturbations without a node are left out."""
    pert_names, pert_emb, scorable = _entries.train_perturbation_embedding(
        adata, needed_by="hp.pl.poincare(perturbations=True)"
    )
    pert_emb = pert_emb[:, comps]
    if scorable.shape == (len(pert_names),) and not scorable.all():
        # a perturbation whose target is no graph node has no position of its own: not drawn
        logger.info("hp.pl.poincare: %d perturbations without a network node are not drawn", int((~scorable).sum()))
        pert_emb, pert_names = pert_emb[scorable], [n for n, k in zip(pert_names, scorable, strict=True) if k]
    return pert_emb, pert_names


def _titles(title: Any, n: int) -> list[Any]:
    """One title per panel (``None``: the default title)."""
    if isinstance(title, str) or title is None:
        return [title] * n
    titles = list(title)
    if len(titles) != n:
        msg = f"`title` has {len(titles)} entries but `color` has {n}; give one title per panel."
        raise ValueError(msg)
    return titles


@dataclass
class _Scene:
    """Everything the panels of one ``poincare`` call share: the points, where they are drawn, what is marked."""

    adata: Any
    noun: str
    emb: _Embedding
    in_net: np.ndarray
    apart: np.ndarray
    drawn: np.ndarray
    by_distance: bool
    edges: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    pert_emb: np.ndarray | None
    pert_names: list[str] | None
    isolated: str
    legend: bool
    grid: bool
    dist0: np.ndarray = field(default_factory=lambda: np.zeros(0))
    plot_xy: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    outer: float = 1.0
    lim: float = 1.0

    def place(self) -> None:
        """Display positions: the stored points, or radius ∝ hyperbolic distance (``radius="distance"``)."""
        emb, ok, xy, c = self.emb, self.emb.ok, self.emb.xy, self.emb.c
        hyperbolic = emb.geometry != "euclidean"
        self.dist0 = _ball.radius(np.where(ok[:, None], xy, 0.0), c=c) if hyperbolic else np.zeros(len(xy))
        if self.by_distance:
            extra = [] if self.pert_emb is None else [_ball.radius(self.pert_emb, c=c)]
            self.outer = outer_distance(np.concatenate([self.dist0[ok], *extra]))
            shown = to_distance_display(np.where(ok[:, None], xy, 0.0), c=c, outer=self.outer)
            self.plot_xy = np.where(ok[:, None], shown, np.nan)
            if self.pert_emb is not None:
                self.pert_emb = to_distance_display(self.pert_emb, c=c, outer=self.outer)
            rim = 1.0
        else:
            self.plot_xy = xy
            rim = emb.r_ball
        self.lim = 1.06 * rim if hyperbolic else 1.08 * float(np.abs(xy[ok]).max() or 1.0)


def _panels(n: int, ncols: int, ax: Axes | None, legend: bool) -> tuple[Any, list[Axes]]:
    """The figure and one axes per colour (a grid of ``ncols`` columns for several colours)."""
    if n > 1:
        nc = min(int(ncols), n)
        nr = int(np.ceil(n / nc))
        fig, axs = plt.subplots(nr, nc, figsize=(4.8 * nc, 5.0 * nr), layout="constrained", squeeze=False)
        axes = list(axs.ravel())
        for extra_ax in axes[n:]:
            extra_ax.remove()
        return fig, axes[:n]
    fig, one = new_axes(ax, (5.6, 5.6 if legend else 4.8))
    return fig, [one]


def _draw_network(a: Axes, scene: _Scene) -> list[Any]:
    """The disk, its distance rings and the network's edges as geodesics; their legend handles."""
    emb, handles = scene.emb, []
    if emb.geometry != "euclidean":
        if scene.by_distance:
            _draw_distance_disk(a, scene.outer, scene.grid)
        else:
            _draw_disk(a, emb.r_ball, emb.c, scene.grid)
        if scene.grid:
            handles.append(
                Line2D([], [], color="0.6", lw=0.8, ls=(0, (3, 3)), label="rings: hyperbolic distance d from centre")
            )
    if scene.edges is not None and len(scene.edges[2]):
        ei, ej, ew = scene.edges
        xy = emb.xy
        if emb.geometry != "euclidean":
            segs: Any = geodesic_segments(xy[ei], xy[ej], emb.r_ball)
            if scene.by_distance:
                segs = to_distance_display(segs, c=emb.c, outer=scene.outer)
        else:
            segs = np.stack([xy[ei], xy[ej]], axis=1)
        rgba = np.zeros((len(ew), 4))
        rgba[:, :3] = 0.35
        rgba[:, 3] = 0.15 + 0.45 * (ew / ew.max())
        a.add_collection(LineCollection(segs, colors=rgba, linewidths=0.5, zorder=1.5, label="_edges"))
        handles.append(Line2D([], [], color="0.35", lw=0.8, alpha=0.6, label=f"network edge ({len(ew)})"))
    return handles


def _draw_panel(
    a: Axes, fig: Figure, scene: _Scene, colour: _Colour, ttl: Any, size: float, scatter_kw: dict[str, Any],
    draw_kw: dict[str, Any],
) -> None:  # fmt: skip
    """One panel: disk and edges, the genes coloured by ``colour``, the marks, legend, axes and title."""
    adata, noun, ok, plot_xy, apart = scene.adata, scene.noun, scene.emb.ok, scene.plot_xy, scene.apart
    handles = _draw_network(a, scene)
    n_apart = int((ok & apart).sum())
    gene_handle = _draw_genes(a, fig, adata, colour, plot_xy, np.flatnonzero(scene.drawn), scatter_kw, noun=noun,
                              **draw_kw)  # fmt: skip
    if colour.kind != "categorical":
        handles.insert(0, gene_handle[0])
    if scene.isolated == "faint" and n_apart:
        far = np.flatnonzero(ok & apart)
        a.scatter(plot_xy[far, 0], plot_xy[far, 1], s=max(size * 0.6, 3.0), facecolors="none", edgecolors="0.72",
                  linewidths=0.5, zorder=1.8, gid="hp_not_in_network")  # fmt: skip
        handles.append(
            Line2D([], [], marker="o", ls="", mfc="none", mec="0.6", ms=4,
                   label=f"not in network ({n_apart}: no edge)")
        )  # fmt: skip
    if colour.highlight is not None and ok[colour.highlight]:
        h = colour.highlight
        a.scatter([plot_xy[h, 0]], [plot_xy[h, 1]], s=size * 4 + 30, facecolors="none", edgecolors="crimson",
                  linewidths=1.2, zorder=4)  # fmt: skip
        handles.append(Line2D([], [], marker="o", ls="", mfc="none", mec="crimson", ms=7,
                              label=f"{noun} {adata.var_names[h]}"))  # fmt: skip
    if scene.pert_emb is not None and scene.pert_names is not None:
        a.scatter(scene.pert_emb[:, 0], scene.pert_emb[:, 1], marker="D", s=28, c="crimson", edgecolors="white",
                  linewidths=0.6, zorder=4, label="perturbations")  # fmt: skip
        handles.append(Line2D([], [], marker="D", ls="", color="crimson", mec="white", ms=5,
                              label=f"perturbation ({len(scene.pert_names)}; at its target)"))  # fmt: skip
    legend = scene.legend
    if colour.kind == "categorical":  # one legend on the right: the categories, then the other marks
        extra_h = [Line2D([], [], ls="", label=" ")] + handles if legend and handles else []
        a.legend(handles=gene_handle + extra_h, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False,
                 fontsize=7.5, title=colour.label, title_fontsize=8, handlelength=1.6)  # fmt: skip
    elif legend and handles:
        a.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncols=2, frameon=False,
                 fontsize=7, handlelength=1.6, columnspacing=1.2)  # fmt: skip
    emb = scene.emb
    _style_axes(a, scene.lim, emb.geometry, emb.key, emb.comps, emb.x_full.shape[1])
    default_title = colour.title or f"{int(scene.drawn.sum())} {noun}s on the Poincaré disk"
    if scene.by_distance and ttl is None:
        default_title += "\n(plotted radius ∝ hyperbolic distance d from the centre)"
    a.set_title(ttl if ttl is not None else default_title, fontsize=10)


def _labelled_genes(
    scene: _Scene, colour: _Colour, labels: Any, n_labels: int, label_genes: list[str] | None, score: np.ndarray,
    hubs: np.ndarray,
) -> list[int]:  # fmt: skip
    """Indices of the genes labelled in a panel (``labels="top"``: by ``colour``, plus the hubs)."""
    if labels == "top" and n_labels > 0:
        genes_idx = list(_label_order(colour, score, scene.drawn, int(n_labels)))
        if colour.highlight is None:
            genes_idx += [int(h) for h in hubs if int(h) not in genes_idx]
        return genes_idx
    if label_genes is not None:
        idx = [int(scene.adata.var_names.get_loc(g)) for g in dict.fromkeys(label_genes)]
        return [i for i in idx if scene.emb.ok[i]]
    return []


def _label_job(scene: _Scene, genes_idx: list[int]) -> tuple[np.ndarray, list[str], set[int]] | None:
    """The label positions and texts of a panel (genes, then perturbations), and which are perturbations."""
    pts: list[Any] = []
    txt: list[str] = []
    pert_idx: set[int] = set()
    pnames = set(scene.pert_names) if scene.pert_names is not None else set()
    for i in genes_idx:
        if str(scene.adata.var_names[i]) not in pnames:  # the perturbation's own label names it once
            pts.append(scene.plot_xy[i])
            txt.append(str(scene.adata.var_names[i]))
    if scene.pert_emb is not None and scene.pert_names is not None:
        for p, nm in zip(scene.pert_emb, scene.pert_names, strict=True):
            pert_idx.add(len(pts))
            pts.append(p)
            txt.append(nm)
    return (np.asarray(pts), txt, pert_idx) if pts else None


def _hubs(dist0: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """The network genes nearest the centre: the nearest one and any within :data:`_HUB_BAND` of its distance."""
    idx = np.flatnonzero(candidates)
    if not idx.size:
        return idx
    d = dist0[idx]
    order = np.argsort(d, kind="stable")
    near = order[d[order] <= d[order[0]] + _HUB_BAND][:_MAX_HUBS]
    return idx[near]
