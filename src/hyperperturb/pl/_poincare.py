"""``hp.pl.poincare``: genes on the Poincaré disk."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D
from scipy import sparse

from hyperperturb._utils import get_ledger, logger, resolve
from hyperperturb.get._embedding import _basis_key, _curvature, _geometry, _names, _perturbation_columns, _train_entry

from ._utils import DOC_MOD, DOC_RETURNS, DOC_SHOW_AX, check_bool, doc_params, finish, new_axes

#: Hyperbolic radii of the geodesic grid circles.
GRID_RADII = (1.0, 2.0, 3.0, 4.0)

_NA_COLOR = "#d3d3d3"


@dataclass
class _Colour:
    """A resolved ``color=`` key: what to draw and how to describe it."""

    kind: str  # "none" | "numeric" | "categorical"
    values: Any
    label: str
    highlight: int | None = None


def _categorical_palette(adata: Any, key: str, categories: Sequence[str], palette: Any) -> list[Any]:
    n = len(categories)
    if palette is None:
        stored = adata.uns.get(f"{key}_colors")
        if stored is not None and len(stored) >= n:
            return list(stored)[:n]
        base = plt.get_cmap("tab10" if n <= 10 else "tab20")
        return [mpl.colors.to_hex(base(i % base.N)) for i in range(n)]
    if isinstance(palette, Mapping):
        missing = [c for c in categories if c not in palette]
        if missing:
            msg = f"`palette` has no colour for categories {missing[:5]}; give a colour for every category."
            raise ValueError(msg)
        return [palette[c] for c in categories]
    if isinstance(palette, str):
        cmap = plt.get_cmap(palette)
        return [mpl.colors.to_hex(cmap(i / max(n - 1, 1))) for i in range(n)]
    palette = list(palette)
    if not palette:
        msg = "`palette` is empty; pass a list of colours, a dict category -> colour or a colormap name."
        raise ValueError(msg)
    return [palette[i % len(palette)] for i in range(n)]


def _policy_key(adata: Any, source: str) -> str | None:
    key = "hp_policy" if source == "predicted" else "hp_reward"
    return key if key in adata.varm else None


def _resolve_colour(adata: Any, key: str | None, x: np.ndarray, *, source: str, c: float, geometry: str) -> _Colour:
    """Turn ``color=`` into values: ``.var`` column, perturbation (policy column), target gene, or gene name."""
    if key is None:
        if "hp_value" in adata.var:
            return _Colour(
                "numeric", np.asarray(adata.var["hp_value"], dtype=float), "hp_value (predicted sensitivity)"
            )
        return _Colour("none", None, "")
    if not isinstance(key, str):
        msg = f"`color` must be a string or a list of strings, got {type(key).__name__}."
        raise TypeError(msg)
    if key in adata.var.columns:
        col = adata.var[key]
        if isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == object or col.dtype == bool:
            return _Colour("categorical", col.astype(str).astype("category"), key)
        label = "hp_value (predicted sensitivity)" if key == "hp_value" else key
        return _Colour("numeric", np.asarray(col, dtype=float), label)
    pkey = _policy_key(adata, source)
    if pkey is not None:
        cols = _perturbation_columns(adata, pkey)
        what = "policy" if source == "predicted" else "reward"
        if key in cols:
            j = cols.index(key)
            return _Colour("numeric", np.asarray(adata.varm[pkey][:, j], dtype=float), f"{what}: {key}")
        targets = get_ledger(adata).get("perturbations", {}).get("targets")
        pert_names = get_ledger(adata).get("perturbations", {}).get("names")
        if targets is not None and pert_names is not None:
            hits = [p for p, tg in zip(_names(pert_names), _names(targets), strict=False) if tg == key and p in cols]
            if hits:
                m = np.mean([np.asarray(adata.varm[pkey][:, cols.index(p)], dtype=float) for p in hits], axis=0)
                return _Colour("numeric", m, f"{what}: {key} ({len(hits)} perturbation{'s' * (len(hits) > 1)})")
    if key in adata.var_names:
        i = int(adata.var_names.get_loc(key))
        if geometry == "euclidean":
            d = np.linalg.norm(x - x[i], axis=1)
        else:
            d = _poincare_distance(x, x[i], c)
        return _Colour("numeric", d, f"distance to {key}", highlight=i)
    avail = list(adata.var.columns)
    if pkey is not None:
        avail += _perturbation_columns(adata, pkey)
    close = difflib.get_close_matches(key, avail + list(map(str, adata.var_names[:5000])), n=5)
    hint = f" Close matches: {close}." if close else ""
    msg = (
        f"color={key!r} is neither a .var column, a perturbation nor a gene name.{hint} Available .var columns and "
        f"perturbations: {avail[:40]}{' ...' if len(avail) > 40 else ''}."
    )
    raise KeyError(msg)


def _poincare_distance(x: np.ndarray, y: np.ndarray, c: float) -> np.ndarray:
    """Hyperbolic distance between rows of ``x`` and the point ``y`` (NumPy, clipped for stability)."""
    sq = np.sum((x - y) ** 2, axis=1)
    nx = np.clip(1 - c * np.sum(x**2, axis=1), 1e-15, None)
    ny = max(1 - c * float(np.sum(y**2)), 1e-15)
    arg = 1 + 2 * c * sq / (nx * ny)
    return np.arccosh(np.maximum(arg, 1.0)) / np.sqrt(c)


def geodesic_segments(u: np.ndarray, v: np.ndarray, radius: float, n: int = 24) -> np.ndarray:
    """Points along the geodesics of the Poincaré disk of boundary ``radius`` between rows of ``u`` and ``v``.

    A geodesic is the arc of the circle through ``u`` and ``v`` that meets the boundary at right angles (a straight
    segment when ``u``, ``v`` and the origin are collinear). Returns an array of shape ``(n_edges, n, 2)``.
    """
    u = np.asarray(u, dtype=float).reshape(-1, 2)
    v = np.asarray(v, dtype=float).reshape(-1, 2)
    t = np.linspace(0.0, 1.0, n)
    out = u[:, None, :] + (v - u)[:, None, :] * t[None, :, None]  # straight by default
    det = u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]
    scale = np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1)
    curved = np.abs(det) > 1e-6 * np.maximum(scale, 1e-12)
    if curved.any():
        uu, vv, dd = u[curved], v[curved], det[curved]
        bu = (np.sum(uu**2, axis=1) + radius**2) / 2
        bv = (np.sum(vv**2, axis=1) + radius**2) / 2
        # solve [uu; vv] o = [bu; bv] for the centre o of the orthogonal circle
        ox = (bu * vv[:, 1] - bv * uu[:, 1]) / dd
        oy = (uu[:, 0] * bv - vv[:, 0] * bu) / dd
        o = np.stack([ox, oy], axis=1)
        r = np.linalg.norm(uu - o, axis=1)
        a1 = np.arctan2(uu[:, 1] - oy, uu[:, 0] - ox)
        a2 = np.arctan2(vv[:, 1] - oy, vv[:, 0] - ox)
        delta = (a2 - a1 + np.pi) % (2 * np.pi) - np.pi  # the minor arc lies inside the disk
        ang = a1[:, None] + delta[:, None] * t[None, :]
        out[curved] = o[:, None, :] + r[:, None, None] * np.stack([np.cos(ang), np.sin(ang)], axis=2)
    return out


def _edges(adata: Any, ok: np.ndarray, max_edges: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The strongest ``max_edges`` undirected edges of ``.varp['hp_adjacency']`` between drawable genes."""
    if "hp_adjacency" not in adata.varp:
        msg = (
            "edges=True needs the gene network in .varp['hp_adjacency']; run `hp.pp.gene_network(adata, network)` "
            "first, or pass edges=False."
        )
        raise KeyError(msg)
    a = sparse.triu(sparse.csr_matrix(adata.varp["hp_adjacency"]), k=1).tocoo()
    keep = ok[a.row] & ok[a.col] & (a.data != 0) & np.isfinite(a.data)
    i, j, w = a.row[keep], a.col[keep], np.abs(a.data[keep])
    if len(w) > max_edges:
        top = np.argsort(-w, kind="stable")[:max_edges]
        i, j, w = i[top], j[top], w[top]
    return i, j, w


def _check_components(components: Any, dim: int) -> tuple[int, int]:
    try:
        comps = tuple(int(k) for k in components)
    except (TypeError, ValueError):
        comps = ()
    if len(comps) != 2 or comps[0] == comps[1] or not all(0 <= k < dim for k in comps):
        msg = f"`components` must be two different axes in 0..{dim - 1} (the embedding has dim={dim}), got {components!r}."
        raise ValueError(msg)
    return comps


def _draw_disk(ax: Axes, radius: float, c: float, grid: bool) -> None:
    theta = np.linspace(0, 2 * np.pi, 361)
    if grid:
        last = -np.inf
        for d in GRID_RADII:
            r = np.tanh(np.sqrt(c) * d / 2) / np.sqrt(c)
            ax.plot(r * np.cos(theta), r * np.sin(theta), color="0.82", lw=0.6, ls=(0, (3, 3)), zorder=0.5)
            if r - last < 0.1 * radius:  # circles crowd towards the boundary: label only well-separated ones
                continue
            last = r
            ax.text(
                r * np.cos(np.deg2rad(98)),
                r * np.sin(np.deg2rad(98)),
                f"{d:g}",
                fontsize=6,
                color="0.55",
                ha="center",
                va="center",
                zorder=0.6,
                bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8},
            )
        for a in np.deg2rad(np.arange(0, 180, 45)):
            ax.plot(
                [-radius * np.cos(a), radius * np.cos(a)],
                [-radius * np.sin(a), radius * np.sin(a)],
                color="0.88",
                lw=0.5,
                zorder=0.5,
            )
    ax.plot(radius * np.cos(theta), radius * np.sin(theta), color="0.15", lw=1.0, zorder=1)


def _label_order(colour: _Colour, adata: Any, ok: np.ndarray, n_labels: int, radius_h: np.ndarray) -> np.ndarray:
    """Indices of the genes to label for ``labels="top"``: highest colour value, else hp_value, else innermost."""
    if colour.kind == "numeric" and colour.highlight is None:
        score = np.asarray(colour.values, dtype=float)
    elif "hp_value" in adata.var:
        score = np.asarray(adata.var["hp_value"], dtype=float)
    else:
        score = -radius_h
    score = np.where(ok & np.isfinite(score), score, -np.inf)
    order = np.argsort(-score, kind="stable")
    order = order[np.isfinite(score[order])][:n_labels]
    if colour.highlight is not None:  # colouring by distance to a gene: label that gene and its neighbours
        d = np.where(ok, np.asarray(colour.values, dtype=float), np.inf)
        order = np.argsort(d, kind="stable")[:n_labels]
    return order


def place_labels(
    ax: Axes,
    points: np.ndarray,
    texts: Sequence[str],
    *,
    obstacles: np.ndarray | None = None,
    fontsize: float = 7.0,
    **text_kw: Any,
) -> list:
    """Write ``texts`` next to ``points`` (data coordinates) with a greedy offset search that avoids overlaps.

    Each label tries offsets at growing distances in eight directions (pointing away from the origin first) and
    takes the first spot that overlaps neither an earlier label, a labelled point nor one of ``obstacles`` (other
    drawn points, data coordinates) and stays inside the axes; labels moved far from their point get a thin leader
    line. Call it after the axes limits are final.
    """
    fig = ax.figure
    fig.canvas.draw()  # fix the layout so that display coordinates are final
    renderer = fig.canvas.get_renderer()
    to_px = fig.dpi / 72.0
    pts = ax.transData.transform(np.asarray(points, dtype=float).reshape(-1, 2))
    ax_box = ax.get_window_extent(renderer)
    centre = ax.transData.transform((0.0, 0.0))
    pad = 1.5 * to_px
    r = 2.5 * to_px
    boxes = lambda q: np.column_stack([q[:, 0] - r, q[:, 1] - r, q[:, 0] + r, q[:, 1] + r])
    firm = boxes(pts)  # labelled points and placed labels: never covered if avoidable
    soft = (
        np.zeros((0, 4)) if obstacles is None else boxes(ax.transData.transform(np.asarray(obstacles).reshape(-1, 2)))
    )
    directions = [(1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1)]
    out = []
    for p, s in zip(pts, texts, strict=True):
        probe = ax.text(0, 0, s, fontsize=fontsize, **text_kw)
        bb = probe.get_window_extent(renderer)
        probe.remove()
        w, h = bb.width + 2 * pad, bb.height + 2 * pad
        outward = np.arctan2(p[1] - centre[1], p[0] - centre[0])
        dirs = sorted(directions, key=lambda d: abs(((np.arctan2(d[1], d[0]) - outward + np.pi) % (2 * np.pi)) - np.pi))
        best = None
        # first avoid everything, then only other labels (crowded regions), else overlap at the nearest spot
        for occupied in (np.vstack([firm, soft]), firm):
            for dist in (3, 7, 12, 18, 26, 36, 48):
                for dx, dy in dirs:
                    norm = np.hypot(dx, dy)
                    ox, oy = dx / norm * dist * to_px, dy / norm * dist * to_px
                    x0 = p[0] + ox - (w if dx < 0 else (w / 2 if dx == 0 else 0))
                    y0 = p[1] + oy - (h if dy < 0 else (h / 2 if dy == 0 else 0))
                    box = (x0, y0, x0 + w, y0 + h)
                    inside = box[0] >= ax_box.x0 and box[2] <= ax_box.x1 and box[1] >= ax_box.y0 and box[3] <= ax_box.y1
                    if not inside:
                        continue
                    o = occupied
                    if np.any((box[0] < o[:, 2]) & (o[:, 0] < box[2]) & (box[1] < o[:, 3]) & (o[:, 1] < box[3])):
                        continue
                    best = (ox, oy, dx, dy, dist, box)
                    break
                if best is not None:
                    break
            if best is not None:
                break
        if best is None:
            best = (3 * to_px, 3 * to_px, 1, 1, 3, (p[0], p[1], p[0] + w, p[1] + h))
        ox, oy, dx, dy, dist, box = best
        firm = np.vstack([firm, np.asarray(box)[None, :]])
        ha = "left" if dx > 0 else ("right" if dx < 0 else "center")
        va = "bottom" if dy > 0 else ("top" if dy < 0 else "center")
        arrow = {"arrowstyle": "-", "lw": 0.4, "color": "0.35", "shrinkA": 0, "shrinkB": 1} if dist >= 12 else None
        ann = ax.annotate(
            s,
            xy=ax.transData.inverted().transform(p),
            xytext=(ox / to_px, oy / to_px),
            textcoords="offset points",
            ha=ha,
            va=va,
            fontsize=fontsize,
            arrowprops=arrow,
            bbox={"boxstyle": "square,pad=0.05", "fc": "white", "ec": "none", "alpha": 0.6},
            zorder=5,
            **text_kw,
        )
        ann.set_in_layout(False)
        out.append(ann)
    return out


@doc_params(show_ax=DOC_SHOW_AX, returns=DOC_RETURNS, mod=DOC_MOD)
def poincare(
    data: Any,
    color: str | Sequence[str] | None = None,
    *,
    basis: str = "X_poincare",
    components: Sequence[int] = (0, 1),
    labels: Literal["top"] | Sequence[str] | None = None,
    n_labels: int = 10,
    edges: bool = False,
    max_edges: int = 2000,
    perturbations: bool = False,
    grid: bool = True,
    source: Literal["predicted", "observed"] = "predicted",
    palette: Any = None,
    cmap: str | mpl.colors.Colormap = "viridis",
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

    Draws the gene embedding learned by :func:`hyperperturb.tl.train` in the disk model of hyperbolic space: the
    boundary circle (radius :math:`1/\sqrt{c}`), a geodesic grid, genes as points coloured by a gene annotation, the
    predicted sensitivity or a perturbation's policy column, and optionally the gene network as geodesic arcs and
    the perturbation embeddings. Genes near the boundary are specific (few perturbations move them, strongly);
    genes near the centre are general.

    Parameters
    ----------
    data
        AnnData or MuData after :func:`hyperperturb.tl.train`.
    color
        What colours the genes (``None``: ``.var["hp_value"]`` if present). One of

        * a ``.var`` column: categorical (legend) or numeric (colourbar), e.g. ``"hp_value"``;
        * a perturbation name (a column of ``.varm["hp_policy"]``): each gene is coloured by the probability the
          model gives that perturbation for the gene, i.e. how strongly perturbing it moves the gene
          (``source="observed"`` uses the measured ``.varm["hp_reward"]`` instead);
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
    labels
        ``"top"``: label the ``n_labels`` genes with the highest colour value (with ``hp_value`` for categorical
        colours; the nearest genes when colouring by distance to a gene); a list of gene names labels those genes.
    n_labels
        Number of labels for ``labels="top"``.
    edges
        Draw the gene network ``.varp["hp_adjacency"]`` as geodesic arcs (thin, translucent).
    max_edges
        Draw at most this many edges, the strongest by weight.
    perturbations
        Overlay the perturbation embeddings (``.uns["hyperperturb"]["train"]["perturbation_embedding"]``) as
        diamonds with their names.
    grid
        Draw circles of equal hyperbolic distance 1, 2, 3, 4 from the origin (Euclidean radius
        :math:`\tanh(\sqrt{c}\,d/2)/\sqrt{c}`) and diameters.
    source
        Colour by ``"predicted"`` policy columns (``hp_policy``) or ``"observed"`` rewards (``hp_reward``) when
        ``color`` names a perturbation.
    palette
        Colours of categories: a list, a dict category → colour, or a colormap name. Defaults to
        ``.uns[f"<key>_colors"]`` if present, else tab10/tab20.
    cmap
        Colormap of numeric colours.
    vmin, vmax
        Limits of the colour scale of numeric colours.
    size
        Marker size (points²); default scales with the number of genes.
    title
        Panel title(s); default: the colour key.
    ncols
        Panels per row when ``color`` is a list.
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
    for name, val in (("edges", edges), ("perturbations", perturbations), ("grid", grid), ("return_fig", return_fig)):
        check_bool(name, val)
    if source not in ("predicted", "observed"):
        msg = f"`source` must be 'predicted' or 'observed', got {source!r}."
        raise ValueError(msg)
    if not isinstance(n_labels, int | np.integer) or n_labels < 0:
        msg = f"`n_labels` must be a non-negative integer, got {n_labels!r}."
        raise ValueError(msg)
    t = resolve(data, mod=mod)
    adata = t.adata
    key = _basis_key(adata, basis, needed_by="hp.pl.poincare")
    x_full = np.asarray(adata.varm[key], dtype=float)
    if x_full.ndim != 2 or x_full.shape[1] < 2:
        msg = f".varm[{key!r}] must be genes x dim with dim >= 2 to draw a disk, got shape {x_full.shape}."
        raise ValueError(msg)
    comps = _check_components(components, x_full.shape[1])
    geometry = _geometry(adata)
    c = _curvature(adata)
    radius = 1.0 / np.sqrt(c)
    ok = np.isfinite(x_full).all(axis=1)
    if not ok.any():
        msg = f".varm[{key!r}] has no finite rows; re-run `hp.tl.train`."
        raise ValueError(msg)
    if (~ok).any():
        logger.info("hp.pl.poincare: %d genes without an embedding are not drawn", int((~ok).sum()))
    xy = x_full[:, comps]
    if geometry != "euclidean":
        norms = np.linalg.norm(x_full[ok], axis=1)
        if norms.max() >= radius:
            msg = (
                f".varm[{key!r}] has points outside the Poincaré ball of curvature {c} (largest norm {norms.max():.4g} "
                f">= {radius:.4g}); the stored curvature does not match the embedding. Re-run `hp.tl.train`."
            )
            raise ValueError(msg)
    colours_in = list(color) if isinstance(color, list | tuple) else [color]
    if not colours_in:
        msg = "`color` is an empty list; pass a key, a list of keys or None."
        raise ValueError(msg)
    x_safe = np.where(ok[:, None], x_full, 0.0)
    colours = [_resolve_colour(adata, k, x_safe, source=source, c=c, geometry=geometry) for k in colours_in]
    if labels is None or labels == "top":
        label_genes = None
    else:
        label_genes = [labels] if isinstance(labels, str) else list(labels)
        unknown = [g for g in label_genes if g not in adata.var_names]
        if unknown:
            msg = f"labels {unknown[:5]} are not in var_names; pass gene names or labels='top'."
            raise KeyError(msg)
    if edges:
        ei, ej, ew = _edges(adata, ok, max_edges)
    if perturbations:
        entry = _train_entry(adata, needed_by="hp.pl.poincare(perturbations=True)")
        pert_emb = entry.get("perturbation_embedding")
        pert_names = entry.get("perturbations")
        if pert_emb is None or pert_names is None:
            msg = "The training entry has no perturbation_embedding; re-run `hp.tl.train` or pass perturbations=False."
            raise KeyError(msg)
        pert_emb = np.asarray(pert_emb, dtype=float).reshape(len(_names(pert_names)), -1)[:, comps]
        pert_names = _names(pert_names)
    if isinstance(title, str) or title is None:
        titles = [title] * len(colours)
    else:
        titles = list(title)
        if len(titles) != len(colours):
            msg = f"`title` has {len(titles)} entries but `color` has {len(colours)}; give one title per panel."
            raise ValueError(msg)
    multi = len(colours) > 1
    if multi and ax is not None:
        msg = "`ax` cannot be used with a list of colours; draw each colour into its own axes instead."
        raise ValueError(msg)

    # ---- drawing -------------------------------------------------------------------------------------------------
    n_ok = int(ok.sum())
    if size is None:
        size = float(np.clip(4000.0 / n_ok, 4.0, 60.0))
    if multi:
        nc = max(1, min(int(ncols), len(colours)))
        nr = int(np.ceil(len(colours) / nc))
        fig, axs = plt.subplots(nr, nc, figsize=(4.6 * nc, 4.1 * nr), layout="constrained", squeeze=False)
        axes = list(axs.ravel())
        for extra_ax in axes[len(colours) :]:
            extra_ax.remove()
        axes = axes[: len(colours)]
    else:
        fig, one = new_axes(ax, (5.4, 4.6))
        axes = [one]
    lim = 1.06 * radius if geometry != "euclidean" else 1.08 * float(np.abs(xy[ok]).max() or 1.0)
    label_jobs = []
    if geometry != "euclidean":
        radius_h = np.where(
            ok,
            2.0 / np.sqrt(c) * np.arctanh(np.clip(np.sqrt(c) * np.linalg.norm(x_safe, axis=1), 0, 1 - 1e-12)),
            np.inf,
        )
    else:
        radius_h = np.where(ok, np.linalg.norm(x_safe, axis=1), np.inf)
    for a, colour, ttl in zip(axes, colours, titles, strict=True):
        if geometry != "euclidean":
            _draw_disk(a, radius, c, grid)
        if edges and len(ew):
            if geometry != "euclidean":
                segs = geodesic_segments(xy[ei], xy[ej], radius)
            else:
                segs = np.stack([xy[ei], xy[ej]], axis=1)
            alpha = 0.15 + 0.45 * (ew / ew.max())
            rgba = np.zeros((len(ew), 4))
            rgba[:, :3] = 0.35
            rgba[:, 3] = alpha
            a.add_collection(LineCollection(segs, colors=rgba, linewidths=0.5, zorder=1.5, label="_edges"))
        idx = np.flatnonzero(ok)
        scatter_kw = {"s": size, "linewidths": 0, "zorder": 2, "rasterized": n_ok > 5000}
        scatter_kw.update(kwargs)
        if colour.kind == "none":
            a.scatter(xy[idx, 0], xy[idx, 1], c="#4c72b0", **scatter_kw)
        elif colour.kind == "categorical":
            cat = colour.values
            cats = list(cat.cat.categories)
            pal = _categorical_palette(adata, colour.label, cats, palette)
            codes = np.asarray(cat.cat.codes)[idx]
            cols = np.array([mpl.colors.to_rgba(pal[k]) if k >= 0 else mpl.colors.to_rgba(_NA_COLOR) for k in codes])
            a.scatter(xy[idx, 0], xy[idx, 1], c=cols, **scatter_kw)
            handles = [
                Line2D([], [], marker="o", ls="", color=pal[k], markersize=6, label=str(cn))
                for k, cn in enumerate(cats)
            ]
            a.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=8)
        else:
            vals = np.asarray(colour.values, dtype=float)[idx]
            fin = np.isfinite(vals)
            if (~fin).any():
                na_kw = dict(scatter_kw)
                na_kw["zorder"] = 1.9
                a.scatter(xy[idx[~fin], 0], xy[idx[~fin], 1], c=_NA_COLOR, **na_kw)
            order = np.argsort(vals[fin], kind="stable")  # high values on top
            sel = idx[fin][order]
            sc_ = a.scatter(xy[sel, 0], xy[sel, 1], c=vals[fin][order], cmap=cmap, vmin=vmin, vmax=vmax, **scatter_kw)
            cb = fig.colorbar(sc_, ax=a, shrink=0.75, pad=0.02, aspect=25)
            cb.set_label(colour.label, fontsize=9)
            cb.ax.tick_params(labelsize=8)
            cb.outline.set_linewidth(0.5)
        if colour.highlight is not None and ok[colour.highlight]:
            h = colour.highlight
            a.scatter(
                [xy[h, 0]],
                [xy[h, 1]],
                s=size * 4 + 30,
                facecolors="none",
                edgecolors="crimson",
                linewidths=1.2,
                zorder=4,
            )
        if perturbations:
            a.scatter(
                pert_emb[:, 0],
                pert_emb[:, 1],
                marker="D",
                s=28,
                c="crimson",
                edgecolors="white",
                linewidths=0.6,
                zorder=4,
                label="perturbations",
            )
        a.set_xlim(-lim, lim)
        a.set_ylim(-lim, lim)
        a.set_aspect("equal", adjustable="box")
        a.set_xticks([])
        a.set_yticks([])
        for spine in a.spines.values():
            spine.set_visible(False)
        if geometry == "euclidean":
            for spine in a.spines.values():
                spine.set_visible(True)
                spine.set_linewidth(0.5)
        a.set_xlabel(f"{key}[{comps[0]}]" if x_full.shape[1] > 2 else "", fontsize=8)
        a.set_ylabel(f"{key}[{comps[1]}]" if x_full.shape[1] > 2 else "", fontsize=8)
        a.set_title(ttl if ttl is not None else (colour.label or key), fontsize=10)
        pts, txt, pert_idx = [], [], set()
        if labels == "top" and n_labels > 0:
            for i in _label_order(colour, adata, ok, int(n_labels), radius_h):
                pts.append(xy[i])
                txt.append(str(adata.var_names[i]))
        elif label_genes is not None:
            for g in label_genes:
                i = int(adata.var_names.get_loc(g))
                if ok[i]:
                    pts.append(xy[i])
                    txt.append(g)
        if perturbations:
            for p, nm in zip(pert_emb, pert_names, strict=True):
                pert_idx.add(len(pts))
                pts.append(p)
                txt.append(nm)
        if pts:
            label_jobs.append((a, np.asarray(pts), txt, pert_idx))
    for a, pts, txt, pert_idx in label_jobs:
        anns = place_labels(a, pts, txt, obstacles=xy[ok])
        for k in pert_idx:
            anns[k].set_color("crimson")
            anns[k].set_fontweight("bold")
    return finish(fig, axes if multi else axes[0], ax_given=ax is not None, show=show, return_fig=return_fig)
