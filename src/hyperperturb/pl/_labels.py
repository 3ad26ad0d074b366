"""Text labels next to points without collisions: force-directed repulsion, then a greedy fix-up.

Works in display (pixel) coordinates after the axes layout is final:

1. every label starts just outside its point, on the side pointing away from the disk's centre;
2. **repulsion**: for a fixed number of steps, overlapping label boxes push each other apart (along the line
   between their centres, by half the overlap each), labels are pushed off drawn points, a weak spring pulls each
   label back towards its point, and boxes are kept inside the axes;
3. **fix-up**: a label that still overlaps another label or covers a point is moved to the nearest spot of a ring of
   candidate positions that is free of labels and points; failing that, to the nearest spot free of labels; if
   there is none it is left out (and counted in the log), so labels never overlap each other.

Labels moved away from their point get a thin leader line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes

from hyperperturb._utils import logger


def _overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise overlap widths and heights of boxes ``a`` (n, 4) and ``b`` (m, 4) given as x0, y0, x1, y1."""
    ox = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    oy = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return np.stack([np.clip(ox, 0, None), np.clip(oy, 0, None)], axis=-1)


def _boxes(centres: np.ndarray, wh: np.ndarray) -> np.ndarray:
    return np.column_stack([centres - wh / 2, centres + wh / 2])


def repel(
    anchors: np.ndarray,
    wh: np.ndarray,
    *,
    start: np.ndarray,
    obstacles: np.ndarray,
    bounds: tuple[float, float, float, float],
    n_iter: int = 400,
    spring: float = 0.01,
) -> np.ndarray:
    """Label centres (pixels) after ``n_iter`` repulsion steps; ``obstacles`` are boxes (k, 4) to stay off."""
    c = np.asarray(start, dtype=float).copy()
    n = len(c)
    x0, y0, x1, y1 = bounds
    for _ in range(n_iter):
        boxes = _boxes(c, wh)
        move = np.zeros_like(c)
        ov = _overlap(boxes, boxes)
        ov[np.arange(n), np.arange(n)] = 0
        hit = (ov[..., 0] > 0) & (ov[..., 1] > 0)
        if hit.any():
            d = c[:, None, :] - c[None, :, :]
            # push along the axis of smaller overlap (cheapest separation), half each
            push_x = np.where(ov[..., 0] <= ov[..., 1], np.sign(d[..., 0]) * ov[..., 0] / 2, 0.0)
            push_y = np.where(ov[..., 0] > ov[..., 1], np.sign(d[..., 1]) * ov[..., 1] / 2, 0.0)
            same = hit & (d[..., 0] == 0) & (d[..., 1] == 0)  # coincident: break the tie by index
            push_y = np.where(same, np.sign(np.arange(n)[:, None] - np.arange(n)[None, :]) * wh[:, None, 1] / 2, push_y)
            move[:, 0] += np.sum(np.where(hit, push_x, 0.0), axis=1)
            move[:, 1] += np.sum(np.where(hit, push_y, 0.0), axis=1)
        if len(obstacles):
            ovo = _overlap(boxes, obstacles)
            hito = (ovo[..., 0] > 0) & (ovo[..., 1] > 0)
            if hito.any():
                oc = (obstacles[:, :2] + obstacles[:, 2:]) / 2
                d = c[:, None, :] - oc[None, :, :]
                px = np.where(ovo[..., 0] <= ovo[..., 1], np.sign(d[..., 0]) * ovo[..., 0], 0.0)
                py = np.where(ovo[..., 0] > ovo[..., 1], np.sign(d[..., 1]) * ovo[..., 1], 0.0)
                move[:, 0] += 0.5 * np.sum(np.where(hito, px, 0.0), axis=1)
                move[:, 1] += 0.5 * np.sum(np.where(hito, py, 0.0), axis=1)
        move += spring * (anchors - c)
        if not hit.any() and np.abs(move).max() < 0.05:
            break
        c += np.clip(move, -8, 8)
        c[:, 0] = np.clip(c[:, 0], x0 + wh[:, 0] / 2, x1 - wh[:, 0] / 2)
        c[:, 1] = np.clip(c[:, 1], y0 + wh[:, 1] / 2, y1 - wh[:, 1] / 2)
    return c


def _free_spot(
    p: np.ndarray, wh: np.ndarray, taken: np.ndarray, bounds: tuple[float, float, float, float], step: float
) -> np.ndarray | None:
    """The nearest centre on rings around ``p`` whose box is inside ``bounds`` and overlaps none of ``taken``."""
    x0, y0, x1, y1 = bounds
    for k in range(1, 21):
        ang = np.linspace(0, 2 * np.pi, 8 + 4 * k, endpoint=False)
        cand = p + k * step * np.column_stack([np.cos(ang), np.sin(ang)]) * (wh / wh.max())
        box = _boxes(cand, np.broadcast_to(wh, cand.shape))
        inside = (box[:, 0] >= x0) & (box[:, 2] <= x1) & (box[:, 1] >= y0) & (box[:, 3] <= y1)
        if len(taken):
            ov = _overlap(box, taken)
            free = ~np.any((ov[..., 0] > 0) & (ov[..., 1] > 0), axis=1)
        else:
            free = np.ones(len(cand), bool)
        ok = np.flatnonzero(inside & free)
        if ok.size:
            return cand[ok[0]]
    return None


def place_labels(
    ax: Axes,
    points: np.ndarray,
    texts: Sequence[str],
    *,
    obstacles: np.ndarray | None = None,
    fontsize: float = 7.0,
    colors: Sequence[Any] | None = None,
    bold: Sequence[bool] | None = None,
    **text_kw: Any,
) -> list:
    """Write ``texts`` next to ``points`` (data coordinates) so that no two labels overlap.

    Call it after the axes limits are final. ``obstacles`` are other drawn points (data coordinates) that labels
    should not cover if there is room. Returns the :class:`~matplotlib.text.Annotation` objects, in the order of
    ``texts``, with ``None`` for labels that found no free spot (left out).
    """
    fig = ax.figure
    fig.canvas.draw()  # fix the layout so that display coordinates are final
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]  # Agg-based canvases have it; stubs miss it
    to_px = fig.dpi / 72.0
    pts = ax.transData.transform(np.asarray(points, dtype=float).reshape(-1, 2))
    n = len(pts)
    if n == 0:
        return []
    bb = ax.get_window_extent(renderer)
    bounds = (bb.x0, bb.y0, bb.x1, bb.y1)
    pad = 2.5 * to_px  # room between labels
    wh = np.zeros((n, 2))
    for k, s in enumerate(texts):
        probe = ax.text(0, 0, s, fontsize=fontsize, fontweight="bold" if bold is not None and bold[k] else None)
        e = probe.get_window_extent(renderer)
        probe.remove()
        wh[k] = (e.width + 2 * pad, e.height + 2 * pad)
    r = 2.5 * to_px
    dots = pts if obstacles is None else np.vstack([pts, ax.transData.transform(np.asarray(obstacles).reshape(-1, 2))])
    # only points a label can reach matter (keeps the repulsion fast with tens of thousands of genes)
    reach = float(np.linalg.norm(wh, axis=1).max()) + 130 * to_px  # the fix-up's farthest ring (20 x 6 pt)
    near = np.zeros(len(dots), bool)
    for lo in range(0, len(dots), 4096):
        d = np.linalg.norm(dots[lo : lo + 4096, None, :] - pts[None, :, :], axis=2)
        near[lo : lo + 4096] = d.min(axis=1) < reach
    dots = dots[near]
    dot_boxes = np.column_stack([dots - r, dots + r])
    centre = ax.transData.transform((0.0, 0.0))
    out_dir = pts - centre
    norm = np.linalg.norm(out_dir, axis=1, keepdims=True)
    out_dir = np.where(norm > 1e-9, out_dir / np.maximum(norm, 1e-9), np.array([[1.0, 0.0]]))
    start = pts + out_dir * (wh / 2 + 3 * to_px)
    # no room outside (points on the disk's rim near the axes' edge): start on the inner side instead
    x0, y0, x1, y1 = bounds
    outside = (
        (start[:, 0] - wh[:, 0] / 2 < x0)
        | (start[:, 0] + wh[:, 0] / 2 > x1)
        | (start[:, 1] - wh[:, 1] / 2 < y0)
        | (start[:, 1] + wh[:, 1] / 2 > y1)
    )
    start[outside] = pts[outside] - out_dir[outside] * (wh[outside] / 2 + 3 * to_px)
    c = repel(pts, wh, start=start, obstacles=dot_boxes, bounds=bounds)
    # fix-up: no two labels may overlap, whatever the repulsion left; a label covering a point moves where there is room
    placed = np.zeros((0, 4))
    keep = np.ones(n, bool)

    def _hits(box: np.ndarray, others: np.ndarray) -> bool:
        ov = _overlap(box, others)
        return bool(np.any((ov[..., 0] > 0) & (ov[..., 1] > 0)))

    for k in range(n):
        box = _boxes(c[k : k + 1], wh[k : k + 1])
        if _hits(box, placed) or _hits(box, dot_boxes):
            spot = _free_spot(pts[k], wh[k], np.vstack([placed, dot_boxes]), bounds, step=6 * to_px)
            if spot is None and _hits(box, placed):
                spot = _free_spot(pts[k], wh[k], placed, bounds, step=6 * to_px)
            elif spot is None:
                spot = c[k]  # no spot free of points: stays where the repulsion put it (no label overlap)
            if spot is None:
                keep[k] = False
                continue
            c[k] = spot
            box = _boxes(c[k : k + 1], wh[k : k + 1])
        placed = np.vstack([placed, box])
    if (~keep).any():
        logger.info("hp.pl: %d labels found no free spot and are left out", int((~keep).sum()))
    out: list = []
    inv = ax.transData.inverted()
    for k, s in enumerate(texts):
        if not keep[k]:
            out.append(None)
            continue
        dist = np.linalg.norm(c[k] - pts[k]) - np.linalg.norm(wh[k]) / 2
        arrow = {"arrowstyle": "-", "lw": 0.4, "color": "0.35", "shrinkA": 0, "shrinkB": 1.5}
        ann = ax.annotate(
            s,
            xy=tuple(inv.transform(pts[k])),
            xytext=tuple(inv.transform(c[k])),
            ha="center",
            va="center",
            fontsize=fontsize,
            color=None if colors is None else colors[k],
            fontweight="bold" if bold is not None and bold[k] else None,
            arrowprops=arrow if dist > 4 * to_px else None,
            bbox={"boxstyle": "square,pad=0.05", "fc": "white", "ec": "none", "alpha": 0.7},
            zorder=5,
            **text_kw,
        )
        ann.set_in_layout(False)
        out.append(ann)
    return out
