"""numba kernel of the network-embedding stage: Riemannian SGD on the Nickel & Kiela loss (private).

One directed edge ``(u, v)`` at a time with ``K`` negatives ``n_1..n_K`` (random nodes that are not neighbours of
``u``), the loss is ``d(u, v) + log Σ_{x ∈ {v, n_k}} exp(-d(u, x))``. Its Euclidean gradient is rescaled by the
inverse metric ``(1 - |x|^2)^2 / 4`` of the unit Poincaré ball and applied at once (plain SGD for the flat
ablation); points are projected back inside the ball after each step. Single-threaded with numba's own seeded
generator, so a seed gives identical output on a machine. Compiled code is cached per user (see ``_utils/_cache.py``).
"""

from __future__ import annotations

import math

import numpy as np

from hyperperturb._utils._cache import njit  # on-disk cache in a per-user folder, never in the package

_EPS = 1e-5


@njit(nogil=True)
def _is_neighbour(indptr, indices, u, x):
    lo = indptr[u]
    hi = indptr[u + 1]
    while lo < hi:  # indices of a row are sorted
        mid = (lo + hi) // 2
        if indices[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo < indptr[u + 1] and indices[lo] == x


@njit(nogil=True)
def _step(Z, i, grad, w, lr, hyperbolic):
    """SGD step of row ``i`` along ``w * grad`` (Riemannian rescaling and projection in the ball)."""
    dim = Z.shape[1]
    scale = lr * w
    if hyperbolic:
        nn = 0.0
        for k in range(dim):
            nn += Z[i, k] * Z[i, k]
        scale *= (1.0 - nn) * (1.0 - nn) / 4.0
    nn = 0.0
    for k in range(dim):
        Z[i, k] -= scale * grad[k]
        nn += Z[i, k] * Z[i, k]
    if hyperbolic and nn >= (1.0 - _EPS) * (1.0 - _EPS):
        f = (1.0 - _EPS) / math.sqrt(nn)
        for k in range(dim):
            Z[i, k] *= f


@njit(nogil=True)
def _pull(Z, i, rate, target, hyperbolic, inward_only):
    """Move row ``i``'s distance from the origin ``r`` to ``r - rate (r - target)`` (direction unchanged)."""
    dim = Z.shape[1]
    nn = 0.0
    for k in range(dim):
        nn += Z[i, k] * Z[i, k]
    n = math.sqrt(nn)
    if n < 1e-12:
        return
    r = 2.0 * math.atanh(min(n, 1.0 - _EPS)) if hyperbolic else n
    if inward_only and r <= target:
        return
    r_new = max(r - rate * (r - target), 0.0)
    n_new = min(math.tanh(r_new / 2.0), 1.0 - _EPS) if hyperbolic else r_new
    f = n_new / n
    for k in range(dim):
        Z[i, k] *= f


@njit(nogil=True)
def sgd_epochs(
    Z,
    heads,
    tails,
    indptr,
    indices,
    n_negatives,
    lrs,
    hyperbolic,
    seed,
    radial,
    target_r,
    frozen,
    inward_only,
    n_visit,
    order,
    cursor,
    visits,
):  # pragma: no cover
    """Run ``len(lrs)`` epochs over the directed edges ``(heads, tails)``; returns the mean loss per epoch.

    The edges are visited in the order ``order`` (a permutation of the ``m`` edges, shuffled in place), ``n_visit``
    per epoch (all of them when ``n_visit`` is at least ``m``), from position ``cursor[0]`` on; the order is shuffled
    again only once all of it has been visited, and ``cursor[0]`` is left where the call stopped. Calls that share
    ``order`` and ``cursor`` therefore visit every edge ``floor(V / m)`` or ``ceil(V / m)`` times over ``V`` visits
    in all; with ``n_visit = m`` and ``cursor[0] = m``, every epoch is one freshly shuffled full pass.
    ``visits`` (int64, length ``m``, or length 0) counts the visits of each edge.

    ``radial > 0`` adds the hierarchy term ``radial / 2 · (r(u) - target_r[u])^2`` to each edge's loss, with ``r(u)``
    the distance of the head from the origin (its norm in the flat ablation); ``target_r < 0`` switches it off;
    ``inward_only``: a node already inside its target radius is left alone.
    Rows with ``frozen[i]`` never move (an anchor at the origin).
    """
    np.random.seed(seed)
    n, dim = Z.shape
    m = heads.shape[0]
    K = n_negatives
    losses = np.zeros(lrs.shape[0])
    cand = np.empty(K + 1, np.int64)
    dists = np.empty(K + 1)
    cu = np.empty(K + 1)  # dd/du = cu * (fu * u - x / a)
    fu = np.empty(K + 1)
    cx = np.empty(K + 1)  # dd/dx = cx * (fx * x - u / b)
    fx = np.empty(K + 1)
    bx = np.empty(K + 1)
    gu = np.empty(dim)
    gx = np.empty(dim)
    n_vis = min(max(n_visit, 0), m)
    ex = np.empty(K + 1)
    pos = min(max(cursor[0], 0), m)  # next position in the current order; all of it is visited before a reshuffle
    for ep in range(lrs.shape[0]):
        lr = lrs[ep]
        total = 0.0
        for _t in range(n_vis):
            if pos == m:
                np.random.shuffle(order)
                pos = 0
            e = order[pos]
            pos += 1
            if visits.shape[0]:
                visits[e] += 1
            u = heads[e]
            cand[0] = tails[e]
            # negatives: random nodes that are neither u nor its neighbours (a few retries on dense rows)
            for k in range(1, K + 1):
                x = np.random.randint(0, n)
                for _ in range(10):
                    if x != u and not _is_neighbour(indptr, indices, u, x):
                        break
                    x = np.random.randint(0, n)
                cand[k] = x
            uu = 0.0
            for j in range(dim):
                uu += Z[u, j] * Z[u, j]
            a = max(1.0 - uu, _EPS)
            mn = 1e300
            for k in range(K + 1):
                x = cand[k]
                xx = 0.0
                ux = 0.0
                sq = 0.0
                for j in range(dim):
                    zx = Z[x, j]
                    xx += zx * zx
                    ux += Z[u, j] * zx
                    diff = Z[u, j] - zx
                    sq += diff * diff
                if hyperbolic:
                    b = max(1.0 - xx, _EPS)
                    g = 1.0 + 2.0 * sq / (a * b)
                    d = math.acosh(g)
                    sroot = math.sqrt(max(g * g - 1.0, 1e-12))
                    cu[k] = 4.0 / (b * sroot)
                    fu[k] = (xx - 2.0 * ux + 1.0) / (a * a)
                    cx[k] = 4.0 / (a * sroot)
                    fx[k] = (uu - 2.0 * ux + 1.0) / (b * b)
                    bx[k] = b
                else:
                    d = math.sqrt(sq) + 1e-12
                    cu[k] = 1.0 / d
                dists[k] = d
                if d < mn:
                    mn = d
            se = 0.0
            for k in range(K + 1):
                ex[k] = math.exp(-(dists[k] - mn))
                se += ex[k]
            total += dists[0] - mn + math.log(se)
            # dL/dd_0 = 1 - p_0, dL/dd_k = -p_k; gradients of the candidates first (they use the old u)
            for j in range(dim):
                gu[j] = 0.0
            for k in range(K + 1):
                x = cand[k]
                p = ex[k] / se
                w = (1.0 - p) if k == 0 else -p
                if hyperbolic:
                    for j in range(dim):
                        gu[j] += w * cu[k] * (fu[k] * Z[u, j] - Z[x, j] / a)
                        gx[j] = cx[k] * (fx[k] * Z[x, j] - Z[u, j] / bx[k])
                else:
                    for j in range(dim):
                        diff = (Z[u, j] - Z[x, j]) * cu[k]
                        gu[j] += w * diff
                        gx[j] = -diff
                if not frozen[x]:
                    _step(Z, x, gx, w, lr, hyperbolic)
            if not frozen[u]:
                _step(Z, u, gu, 1.0, lr, hyperbolic)
                if radial > 0.0 and target_r[u] >= 0.0:
                    _pull(Z, u, min(lr * radial, 1.0), target_r[u], hyperbolic, inward_only)
        losses[ep] = total / max(n_vis, 1)
    cursor[0] = pos
    return losses


@njit(nogil=True)
def rank_keys(Z, src, hyperbolic):  # pragma: no cover
    """``len(src) × n`` keys that order all points by their distance from each point ``Z[src[k]]``.

    Squared distance in flat space; in the ball ``|x - y|² / ((1 - |x|²)(1 - |y|²))``, which the geodesic distance
    ``arccosh(1 + 2 key)`` increases with: the same ranking without the ``arccosh`` (and without n × n temporaries).
    """
    n, dim = Z.shape
    out = np.empty((src.shape[0], n))
    inv = np.ones(n)
    if hyperbolic:
        for j in range(n):
            nn = 0.0
            for k in range(dim):
                nn += Z[j, k] * Z[j, k]
            inv[j] = 1.0 / max(1.0 - nn, 1e-15)
    for r in range(src.shape[0]):
        i = src[r]
        for j in range(n):
            sq = 0.0
            for k in range(dim):
                diff = Z[i, k] - Z[j, k]
                sq += diff * diff
            out[r, j] = sq * inv[i] * inv[j]
    return out
