"""Drawing helpers of ``hp.pl.poincare``: colour keys, the disk and its grid, geodesic edges."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from scipy import sparse

from hyperperturb._utils import _ball
from hyperperturb._utils._entries import (
    network_graph,
    network_key,
    params,
    perturbation_columns,
    perturbation_names,
    perturbation_targets,
)
from hyperperturb._utils._validate import close_matches

#: Hyperbolic distances from the origin of the grid circles.
GRID_RADII = (1.0, 2.0, 3.0)


#: Units of rewards and their excess over the noise floor.
def _units(adata: Any) -> str:
    """What the reward measures, for colour-bar labels (follows ``hp.tl.rewards(statistic=...)``)."""
    stat = str(params(adata, "rewards").get("statistic", "mean_abs_lfc"))
    return "|mean shift| above noise floor" if stat == "mean_shift" else "mean |LFC| above noise floor"


def _value_label(adata: Any) -> str:
    return f"predicted sensitivity (hp_value)\n{_units(adata)}"


_NA_COLOR = "#d3d3d3"


@dataclass
class _Colour:
    """A resolved ``color=`` key: what to draw and how to describe it."""

    kind: str  # "none" | "numeric" | "categorical"
    values: Any
    label: str
    highlight: int | None = None
    title: str = ""  # what the panel shows, without repeating the colour-bar label


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


def _effect_columns(adata: Any, pkey: str, cols: list[int]) -> tuple[np.ndarray, str, str]:
    """Per gene, the effect size of the perturbation columns ``cols`` (averaged), its colour-bar label and kind.

    ``hp_reward`` (observed): the excess over the gene's noise floor, ``hp_reward - hp_reward_baseline`` (signed
    rewards: the signed mean LFC itself). ``hp_policy`` (predicted): the heads' predicted excess
    ``n_p * hp_value * hp_policy`` (the value is the gene's mean predicted excess, the policy its share per
    perturbation; the same formula as ``hp.tl.predict(kind="reward", method="head")`` minus the noise floor); without
    ``.var["hp_value"]`` the policy share itself.
    """
    mat = np.asarray(adata.varm[pkey], dtype=float)
    col = np.mean([mat[:, j] for j in cols], axis=0)
    if pkey == "hp_reward":
        signed = bool(params(adata, "rewards").get("signed", False))
        if signed:
            return col, "observed signed reward (mean LFC)", "observed"
        if "hp_reward_baseline" in adata.var:
            base = np.asarray(adata.var["hp_reward_baseline"], dtype=float)
            return col - base, f"observed excess\n{_units(adata)}", "observed excess"
        return col, "observed reward (mean |LFC|)", "observed"
    if "hp_value" in adata.var:
        value = np.asarray(adata.var["hp_value"], dtype=float)
        return mat.shape[1] * value * col, f"predicted excess\n{_units(adata)}", "predicted excess"
    return col, "share of the gene's predicted policy", "predicted policy share"


def _resolve_colour(adata: Any, key: str | None, x: np.ndarray, *, source: str, c: float, geometry: str) -> _Colour:
    """Turn ``color=`` into values: ``.var`` column, perturbation (effect size), target gene, or gene name."""
    if key is None:
        if "hp_value" in adata.var:
            return _Colour("numeric", np.asarray(adata.var["hp_value"], dtype=float), _value_label(adata))
        return _Colour("none", None, "")
    if not isinstance(key, str):
        msg = f"`color` must be a string or a list of strings, got {type(key).__name__}."
        raise TypeError(msg)
    if key in adata.var.columns:
        col = adata.var[key]
        if isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == object or col.dtype == bool:
            return _Colour("categorical", col.astype(str).astype("category"), key)
        label = _value_label(adata) if key == "hp_value" else key
        return _Colour("numeric", np.asarray(col, dtype=float), label)
    pkey = _policy_key(adata, source)
    if pkey is not None:
        cols = perturbation_columns(adata, pkey)
        if key in cols:
            vals, label, what = _effect_columns(adata, pkey, [cols.index(key)])
            return _Colour("numeric", vals, f"{label}", title=f"genes moved by perturbation {key} ({what})")
        if perturbation_names(adata):
            pairs = zip(perturbation_names(adata), perturbation_targets(adata), strict=False)
            hits = [p for p, tg in pairs if tg == key and p in cols]
            if hits:
                vals, label, what = _effect_columns(adata, pkey, [cols.index(p) for p in hits])
                n = len(hits)
                return _Colour(
                    "numeric",
                    vals,
                    f"mean {label}" if n > 1 else label,
                    title=f"genes moved by perturbing {key} ({what}{f', mean of {n} perturbations' if n > 1 else ''})",
                )
    if key in adata.var_names:
        i = int(adata.var_names.get_loc(key))
        if geometry == "euclidean":
            d = np.linalg.norm(x - x[i], axis=1)
        else:
            d = _ball.distance(x, x[i], c=c)
        return _Colour(
            "numeric", d, f"hyperbolic distance to {key}", highlight=i, title=f"gene {key}: distance to {key}"
        )
    avail = list(adata.var.columns)
    if pkey is not None:
        avail += perturbation_columns(adata, pkey)
    # a perturbation named after its target gene is both a column and a gene: suggest each name once
    close = close_matches(key, list(dict.fromkeys([*map(str, avail), *map(str, adata.var_names)])))
    hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
    msg = (
        f"color={key!r} is neither a .var column, a perturbation nor a gene name.{hint} Available .var columns and "
        f"perturbations: {avail[:40]}{' ...' if len(avail) > 40 else ''}."
    )
    raise KeyError(msg)


def _edges(adata: Any, ok: np.ndarray, max_edges: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The strongest ``max_edges`` undirected edges of the gene network (``.varp``) between drawable genes."""
    key = network_key(adata)
    if key not in adata.varp:
        msg = (
            f"edges=True needs the gene network in .varp[{key!r}]; run `hp.pp.gene_network(adata, network)` "
            "first, or pass edges=False."
        )
        raise KeyError(msg)
    a = sparse.triu(network_graph(adata), k=1).tocoo()
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


def _ring(ax: Axes, theta: np.ndarray, r: float, d: float, *, circle: bool, label: bool, colour: str) -> None:
    """One grid ring at plotted radius ``r`` (dashed circle) and its label ``d=...`` (hyperbolic distance)."""
    if circle:
        ax.plot(r * np.cos(theta), r * np.sin(theta), color="0.82", lw=0.6, ls=(0, (3, 3)), zorder=0.5)
    if label:
        ax.text(
            r * np.cos(np.deg2rad(98)), r * np.sin(np.deg2rad(98)), f"d={d:g}", fontsize=6, color=colour,
            ha="center", va="center", zorder=0.6, gid="hp_grid_label",
            bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8},
        )  # fmt: skip


def _draw_disk(ax: Axes, radius: float, c: float, grid: bool) -> None:
    theta = np.linspace(0, 2 * np.pi, 361)
    if grid:
        last = -np.inf
        for d in GRID_RADII:
            r = float(_ball.norm_at_radius(d, c=c))
            label = r - last >= 0.1 * radius  # circles crowd towards the boundary: label only well-separated ones
            _ring(ax, theta, r, d, circle=True, label=label, colour="0.55")
            last = r if label else last
        for a in np.deg2rad(np.arange(0, 180, 45)):
            ax.plot(
                [-radius * np.cos(a), radius * np.cos(a)],
                [-radius * np.sin(a), radius * np.sin(a)],
                color="0.88",
                lw=0.5,
                zorder=0.5,
            )
    ax.plot(radius * np.cos(theta), radius * np.sin(theta), color="0.15", lw=1.0, zorder=1)


def ring_step(outer: float) -> float:
    """Spacing of the grid rings of the distance display: 1, 2 or 5 × 10^k, at most 6 rings up to ``outer``."""
    for k in range(-2, 6):
        for m in (1.0, 2.0, 5.0):
            step = m * 10.0**k
            if outer / step <= 6 + 1e-9:
                return step
    return float(outer)


def outer_distance(d: np.ndarray) -> float:
    """Hyperbolic distance drawn at the rim of the distance display: the largest ``d``, rounded up to a ring."""
    fin = np.asarray(d, dtype=float)
    fin = fin[np.isfinite(fin)]
    top = float(fin.max()) if fin.size else 0.0
    if top <= 0:
        return 1.0
    step = ring_step(top)
    return float(np.ceil(top / step - 1e-9) * step)


def to_distance_display(p: np.ndarray, *, c: float, outer: float) -> np.ndarray:
    """Points of the disk (last axis 2) moved radially to plotted radius ``d / outer``.

    ``d`` is the hyperbolic distance from the origin, so the plot keeps each point's direction and shows distances
    from the centre to scale (the azimuthal equidistant view of the hyperbolic plane).
    """
    p = np.asarray(p, dtype=float)
    n = np.linalg.norm(p, axis=-1, keepdims=True)
    d = _ball.radius(p, c=c)[..., None]
    return np.where(n > 0, p / np.maximum(n, 1e-300), 0.0) * (d / outer)


def _draw_distance_disk(ax: Axes, outer: float, grid: bool) -> None:
    """Rim and rings of the distance display: plotted radius ``d / outer``, rings labelled in units of ``d``."""
    theta = np.linspace(0, 2 * np.pi, 361)
    step = ring_step(outer)
    if grid:
        rings = np.arange(step, outer + 1e-9, step)
        for d in rings:
            _ring(ax, theta, d / outer, d, circle=bool(d < outer - 1e-9), label=True, colour="0.45")
        for a in np.deg2rad(np.arange(0, 180, 45)):
            ax.plot([-np.cos(a), np.cos(a)], [-np.sin(a), np.sin(a)], color="0.88", lw=0.5, zorder=0.5)
    # the rim is the ring d = outer, not the boundary at infinity: drawn lighter than the raw disk's boundary
    ax.plot(np.cos(theta), np.sin(theta), color="0.45", lw=0.8, zorder=1)
