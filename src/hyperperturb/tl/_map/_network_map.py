r"""The network-embedding stage: free ball points fitted to reconstruct a graph (NumPy + numba, private).

:func:`fit_network_map` is shared by :func:`hyperperturb.tl.embed_network` (public) and
:func:`hyperperturb.tl.train` (its starting positions). Method (Nickel & Kiela 2017):

1. Every node with at least one edge gets a free point :math:`z_i` of the unit ball, initialised uniformly in
   :math:`[-10^{-3}, 10^{-3}]^{dim}` (seeded).
2. Riemannian SGD over the directed edges, one edge at a time, minimising
   :math:`\ell(u, v) = d(u, v) + \log \sum_{x \in \{v\} \cup N(u)} e^{-d(u, x)}` with ``negatives`` random
   non-neighbours :math:`N(u)`; the Euclidean gradient is rescaled by :math:`(1-|z|^2)^2/4` and points are
   projected inside the ball. The first ``burn_in`` epochs run at ``learning_rate / 10``.
   Large graphs (issue 21 item 5): when ``epochs`` passes over all directed edges would exceed ``STEP_BUDGET``
   distance evaluations, the burn-in and main epochs use as many negatives as full passes would fit (at least
   ``min(negatives, SAMPLED_NEGATIVES)``) and, if that is not enough, a share of the edges per epoch, taken in turn
   from a shuffled order so that every edge is visited equally often (within one); every step is ``learning_rate``
   × edges / edges visited per epoch (at most ``MAX_LR_BOOST`` ×), so an edge's steps add up to those of ``epochs``
   full passes. The main epochs run in ``PLATEAU_CHECKS`` parts, each followed by the reconstruction MAP of a fixed
   sample of ``PLATEAU_NODES`` nodes; after ``PLATEAU_PATIENCE`` parts in a row without a gain of ``PLATEAU_GAIN``
   the step drops ``LR_DROP``-fold and the map of the best check so far is restored (at most ``LR_DROPS`` times;
   the next plateau ends the phase). At the first step only parts within ``PLATEAU_GAIN`` of the best or below the
   starting level count: maps of small trees dip between the two for a third of the run and then climb. The map of
   the best check is kept; the hierarchy phase runs at the last step, one drop lower if the last part brought no
   gain. Graphs within the budget are fitted exactly as before.
3. Hierarchy phase (``radial > 0``): up to ``HIERARCHY_EPOCHS`` more epochs that also pull each edge's head toward
   the radius (its hop distance from its component's centre + 1/2) × the map's median edge length (capped inside
   the rim), so the radius reads as depth. It is kept only if the reconstruction MAP drops by at most
   ``MAX_MAP_LOSS``; otherwise the map before it is returned (``hierarchy="reverted"``).
4. Nodes without any edge are not optimised (the loss never sees them). They are placed by expression
   similarity: at the Einstein midpoint of their ``k`` nearest connected nodes in node-feature space, pushed
   out to at least the median radius of connected nodes, and flagged ``in_network = False``.

Curvature ``c`` rescales the unit-ball solution by :math:`1/\sqrt{c}` (distances scale by :math:`1/\sqrt{c}`).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from hyperperturb._utils import _ball, as_rng

#: Defaults of the stage (see ``docs/training.md``); chosen on the synthetic hierarchy and a regulon network.
DEFAULTS: dict[str, Any] = {"epochs": None, "learning_rate": 0.1, "negatives": 50, "burn_in": 20, "radial": 0.1}
#: With ``epochs=None``: as many epochs as fit this many distance evaluations, clipped to ``EPOCH_RANGE``.
EPOCH_BUDGET = 3e7
EPOCH_RANGE = (100, 1000)
#: Most distance evaluations (edges visited x (negatives + 1)) of the burn-in and main epochs together: a graph whose
#: ``epochs`` full passes would need more is fitted with fewer negatives and a sample of its edges per epoch
#: (issue 21 item 5; see :func:`large_graph_settings`). ``float("inf")`` restores full passes on every graph.
STEP_BUDGET = 6e7
#: Fewest negatives per edge on such a graph (fewer than ``negatives`` only where full passes do not fit the budget).
SAMPLED_NEGATIVES = 10
#: Largest factor on ``learning_rate`` there (the factor is edges / edges visited per epoch).
MAX_LR_BOOST = 3.0
#: There the main epochs run in ``PLATEAU_CHECKS`` parts, each followed by the reconstruction MAP on ``PLATEAU_NODES``
#: fixed source nodes; after ``PLATEAU_PATIENCE`` parts in a row without a gain of ``PLATEAU_GAIN`` (at the first step:
#: not counting a dip that stays above the starting level) the step drops ``LR_DROP``-fold from the best map so far,
#: at most ``LR_DROPS`` times (the next plateau stops the phase). See :func:`_sampled_main`.
PLATEAU_CHECKS = 10
PLATEAU_NODES = 500
PLATEAU_GAIN = 0.002
PLATEAU_PATIENCE = 2
LR_DROP = 10.0
LR_DROPS = 2
#: Epochs of the final hierarchy phase.
HIERARCHY_EPOCHS = 50
#: Largest loss of reconstruction MAP accepted from the full (two-sided) hierarchy phase.
MAX_MAP_LOSS = 0.03
_N_PLACE = 5  # connected neighbours in feature space used to place an isolated node


def check_map_params(*, where: str = "", **kw: Any) -> None:
    """Validate the settings of the network-map stage (``hp.tl.embed_network`` and ``train(map_kwargs=...)``).

    Each error names the parameter at fault and its value. ``where`` prefixes the name (``"map_kwargs"``).
    """
    unknown = sorted(set(kw) - set(DEFAULTS) - {"dim", "curvature"})
    if unknown:
        msg = f"{where or 'the network map'} has unknown keys {unknown}; valid keys are {sorted(DEFAULTS)}."
        raise ValueError(msg)

    def name(k: str) -> str:
        return f"{where}[{k!r}]" if where else k

    for k, lo in (("dim", 2), ("negatives", 1), ("burn_in", 0)):
        v = kw.get(k, DEFAULTS.get(k, lo))
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < lo:
            msg = f"{name(k)} must be an integer >= {lo}, got {v!r}."
            raise ValueError(msg)
    ep = kw.get("epochs")
    if ep is not None and (isinstance(ep, bool) or not isinstance(ep, int | np.integer) or ep < 1):
        msg = f"{name('epochs')} must be None (automatic) or a positive integer, got {ep!r}."
        raise ValueError(msg)
    for k in ("curvature", "learning_rate"):
        v = kw.get(k, DEFAULTS.get(k, 1.0))
        if (
            isinstance(v, bool)
            or not isinstance(v, int | float | np.integer | np.floating)
            or not (np.isfinite(v) and v > 0)
        ):
            msg = f"{name(k)} must be a positive finite number, got {v!r}."
            raise ValueError(msg)
    v = kw.get("radial", DEFAULTS["radial"])
    if (
        isinstance(v, bool)
        or not isinstance(v, int | float | np.integer | np.floating)
        or not (np.isfinite(v) and v >= 0)
    ):
        msg = f"{name('radial')} must be a number >= 0, got {v!r}."
        raise ValueError(msg)


def _symmetric_binary(adj: sparse.spmatrix) -> sparse.csr_matrix:
    A = sparse.csr_matrix(adj, dtype=np.float64)
    A = ((A + A.T) > 0).astype(np.float64).tocsr()
    A.setdiag(0)
    A.eliminate_zeros()
    A.sort_indices()
    return A


def fit_network_map(
    adj: sparse.spmatrix,
    *,
    dim: int = 2,
    geometry: str = "poincare",
    curvature: float = 1.0,
    epochs: int | None = DEFAULTS["epochs"],
    learning_rate: float = DEFAULTS["learning_rate"],
    negatives: int = DEFAULTS["negatives"],
    burn_in: int = DEFAULTS["burn_in"],
    radial: float = DEFAULTS["radial"],
    seed: int = 0,
    features: np.ndarray | None = None,
) -> dict[str, Any]:
    """Fit free points of the ball (or of flat space) that reconstruct the graph ``adj``.

    Parameters
    ----------
    adj
        Square (n × n) adjacency; any non-zero entry is an edge (symmetrised, self loops dropped).
    dim
        Dimension of the map.
    geometry
        ``"poincare"`` or ``"euclidean"`` (the flat ablation: same loss and negatives, plain SGD).
    curvature
        Curvature ``c`` of the ball.
    epochs, learning_rate, negatives, burn_in
        Optimisation settings (see the module docstring).
    seed
        Seed of the initialisation, the edge order and the negatives.
    features
        ``n × f`` node features used to place nodes without edges (e.g. control-expression statistics); without
        them such nodes are spread at random directions.

    Returns
    -------
    ``{"embedding", "in_network", "loss", "centre", "n_edges", "wall_time"}``; ``embedding`` is ``n × dim`` and
    strictly inside the ball of curvature ``c`` for ``"poincare"``.
    """
    from ._sgd import sgd_epochs

    t0 = time.perf_counter()
    A = _symmetric_binary(adj)
    n = A.shape[0]
    hyperbolic = _ball.geometry(geometry, curvature).hyperbolic
    rng = as_rng(seed)
    deg = np.diff(A.indptr)
    in_net = deg > 0
    Z = rng.uniform(-1e-3, 1e-3, size=(n, int(dim)))
    coo = sparse.triu(A, k=1).tocoo()
    heads = np.concatenate([coo.row, coo.col]).astype(np.int64)
    tails = np.concatenate([coo.col, coo.row]).astype(np.int64)
    level = hierarchy_levels(A)
    frozen = np.zeros(n, dtype=np.bool_)
    if epochs is None:
        epochs = auto_epochs(heads.size, int(negatives))
    n_burn = min(int(burn_in), int(epochs))
    losses = []
    scale = float("nan")
    hierarchy = "off"
    if heads.size:
        run_seed = int(rng.integers(0, 2**31 - 1))
        k_neg, n_visit, boost = large_graph_settings(heads.size, int(negatives), int(epochs))
        sampled = boost > 0
        if sampled:
            learning_rate = float(learning_rate) * boost
        args = (heads, tails, A.indptr.astype(np.int64), A.indices.astype(np.int64), k_neg)
        visits = np.zeros(heads.size, dtype=np.int64)
        walk = (np.arange(heads.size), np.array([heads.size], dtype=np.int64))  # edge order of the sampled epochs

        def run(Zx: np.ndarray, lrs: np.ndarray, seed_x: int, radial_x: float = 0.0, target: Any = None) -> Any:
            # sampled epochs share one walk through the edges; full passes shuffle all edges afresh in each epoch
            order, cursor = walk if sampled else (np.arange(heads.size), np.array([heads.size], dtype=np.int64))
            tgt = np.full(n, -1.0) if target is None else target
            return sgd_epochs(
                Zx, *args, lrs, hyperbolic, seed_x, radial_x, tgt, frozen, False, n_visit, order, cursor, visits
            )

        if n_burn:
            losses.append(run(Z, np.full(n_burn, learning_rate / 10.0), run_seed))
        n_main = int(epochs) - n_burn
        if n_main and not sampled:
            losses.append(run(Z, np.full(n_main, float(learning_rate)), run_seed + 1))
        elif n_main:
            Z, learning_rate, n_main = _sampled_main(
                Z, A, run, learning_rate, n_main, hyperbolic, run_seed, rng, losses
            )
            epochs = n_burn + n_main
        if radial > 0 and n_main:
            # hierarchy phase: radius target = (level + 1/2) x the map's median edge length (deepest targets kept
            # well inside the rim); kept only if it costs at most MAX_MAP_LOSS of reconstruction MAP
            scale = _median_edge_length(Z, coo, hyperbolic)
            if hyperbolic:
                r_cap = 0.75 * float(_ball.radius(np.array([[_ball.MAX_NORM]]))[0])
                scale = min(scale, r_cap / (float(level.max()) + 0.5))
            target = np.where(level >= 0, (level + 0.5) * scale, -1.0)
            lrs = np.full(min(HIERARCHY_EPOCHS, max(n_main // 3, 1)), float(learning_rate))
            before = _reconstruction(Z, A, hyperbolic, rng)
            Zh = Z.copy()
            lh = run(Zh, lrs, run_seed + 2, float(radial), target)
            if _reconstruction(Zh, A, hyperbolic, rng) >= before - MAX_MAP_LOSS:
                Z = Zh
                losses.append(lh)
                hierarchy = "on"
            else:
                hierarchy = "reverted"
    loss = np.concatenate(losses) if losses else np.zeros(0)
    if not np.isfinite(Z).all():  # pragma: no cover - guarded by projection; kept as a last line of defence
        msg = "The network-embedding stage produced non-finite points; lower `learning_rate`."
        raise FloatingPointError(msg)
    if (~in_net).any():
        Z[~in_net] = _place_isolated(Z, in_net, features, hyperbolic=hyperbolic, rng=rng)
    if hyperbolic:
        Z = _ball.project(Z) / np.sqrt(curvature)
    return {
        "embedding": Z,
        "in_network": in_net,
        "level": level,
        "loss": loss,
        "edge_scale": scale,
        "hierarchy": hierarchy,
        "epochs": int(epochs),
        "n_edges": int(coo.nnz),
        "edge_visits": (int(visits.min()), int(visits.max())) if heads.size else (0, 0),
        "wall_time": float(time.perf_counter() - t0),
    }


def large_graph_settings(n_directed_edges: int, negatives: int, epochs: int) -> tuple[int, int, float]:
    """``(negatives, edges visited per epoch, step factor)`` of the burn-in and main epochs.

    Within :data:`STEP_BUDGET` (``epochs`` full passes with ``negatives`` each): ``(negatives, all edges, 0.0)``,
    the plain algorithm. Beyond it (issue 21 item 5): as many negatives as full passes would allow but not fewer than
    ``min(negatives, SAMPLED_NEGATIVES)``, as many edges per epoch as then fit the budget, and a step factor
    ``edges / edges visited per epoch`` (at most ``MAX_LR_BOOST``): the steps of an edge over the run add up to what
    ``epochs`` full passes would give it.
    """
    m = max(int(n_directed_edges), 0)
    ep = max(int(epochs), 1)
    if m == 0 or m * (int(negatives) + 1) * ep <= STEP_BUDGET:
        return int(negatives), m, 0.0
    k_fit = int(STEP_BUDGET // (m * ep)) - 1  # negatives with which full passes fit the budget
    k = max(min(int(negatives), k_fit), min(int(negatives), SAMPLED_NEGATIVES))
    n_visit = edges_per_epoch(m, k, ep)
    return k, n_visit, float(min(m / n_visit, MAX_LR_BOOST))


def _sampled_main(
    Z: np.ndarray,
    A: sparse.csr_matrix,
    run: Any,
    lr: float,
    n_main: int,
    hyperbolic: bool,
    run_seed: int,
    rng: np.random.Generator,
    losses: list,
) -> tuple[np.ndarray, float, int]:
    """Main epochs of a large graph: ``(map of the best check, step at the end, epochs run)``.

    ``run(Z, lrs, seed)`` runs epochs in place. The epochs run in parts of ``n_main / PLATEAU_CHECKS``; after each
    part the reconstruction MAP of a fixed sample of :data:`PLATEAU_NODES` nodes is measured. After
    :data:`PLATEAU_PATIENCE` parts in a row that count as a plateau the step drops :data:`LR_DROP`-fold and the map
    of the best check so far is restored (at most :data:`LR_DROPS` times; the next plateau ends the phase).

    - At the first step a part counts when its MAP is within :data:`PLATEAU_GAIN` of the best without gaining that
      much over the previous part, or below the MAP at the start of the main epochs (the co-expression graph's MAP
      falls at the boosted step and climbs after a drop). A part that gains :data:`PLATEAU_GAIN` over the previous
      one resets the count; a dip between the best and the start neither counts nor resets: maps of small trees
      dip like that for a third of the run before they climb well past it, and a drop in the dip stalls them
      (issue 21 item 5).
    - After a drop every part without a gain of :data:`PLATEAU_GAIN` over the best counts (at the lowered step the
      co-expression graph's MAP moves up and down by about that much).

    When the last part did not gain :data:`PLATEAU_GAIN` over the best, the step returned for the hierarchy phase is
    one drop lower (if a drop is left): that phase goes on fitting the map, and at the boosted step it cost CollecTRI
    0.014 of MAP where the MAP had peaked before the end; maps still rising at the end (the trees) keep the step.
    """
    probe = _probe_nodes(A, run_seed)
    part_len = max(n_main // PLATEAU_CHECKS, 1)
    best = start = prev = _reconstruction(Z, A, hyperbolic, rng, nodes=probe)
    Z_best = Z.copy()
    n_run = flat = drops = p = 0
    rising = True
    while n_run < n_main:
        k = min(part_len, n_main - n_run)
        losses.append(run(Z, np.full(k, lr), run_seed + 1 + 7919 * p))
        n_run += k
        p += 1
        now = _reconstruction(Z, A, hyperbolic, rng, nodes=probe)
        rising = now >= best + PLATEAU_GAIN
        if drops:  # a lowered step: every part without a gain over the best counts
            flat = 0 if rising else flat + 1
        elif now >= prev + PLATEAU_GAIN:
            flat = 0
        elif now >= best - PLATEAU_GAIN or now < start:
            flat += 1  # a plateau at the best level or a fall below the start; a dip between neither counts nor resets
        prev = now
        if now > best:
            best, Z_best = now, Z.copy()
        if flat >= PLATEAU_PATIENCE:
            if drops >= LR_DROPS:
                break
            drops, flat, lr = drops + 1, 0, lr / LR_DROP
            Z[:] = Z_best
            prev = best
            rising = True
    else:
        if not rising and drops < LR_DROPS:
            lr /= LR_DROP  # no gain at the end: the hierarchy phase runs at the next step down
    return Z_best, lr, n_run


def auto_epochs(n_directed_edges: int, negatives: int) -> int:
    """Default number of epochs: ``EPOCH_BUDGET`` distance evaluations, clipped to ``EPOCH_RANGE``."""
    per_epoch = max(int(n_directed_edges), 1) * (int(negatives) + 1)
    return int(np.clip(round(EPOCH_BUDGET / per_epoch), *EPOCH_RANGE))


def edges_per_epoch(n_directed_edges: int, negatives: int, epochs: int) -> int:
    """Directed edges visited per epoch: all, or as many as fit :data:`STEP_BUDGET` over ``epochs`` (at least one).

    All of them while ``epochs`` full passes need at most ``STEP_BUDGET`` distance evaluations.
    """
    m = max(int(n_directed_edges), 0)
    per_edge = int(negatives) + 1
    if m * per_edge * max(int(epochs), 1) <= STEP_BUDGET:
        return m
    return int(min(m, max(1, STEP_BUDGET // (per_edge * max(int(epochs), 1)))))


def _probe_nodes(A: sparse.csr_matrix, seed: int) -> np.ndarray:
    """The fixed sample of source nodes on which the plateau of the main phase is judged."""
    nodes = np.flatnonzero(np.diff(A.indptr) > 0)
    if nodes.size <= PLATEAU_NODES:
        return nodes
    return np.sort(np.random.default_rng(seed).choice(nodes, PLATEAU_NODES, replace=False))


def _reconstruction(
    Z: np.ndarray,
    A: sparse.csr_matrix,
    hyperbolic: bool,
    rng: np.random.Generator,
    *,
    nodes: np.ndarray | None = None,
) -> float:
    """Graph-reconstruction MAP of the connected nodes (on at most 1,000 random source nodes, or on ``nodes``)."""
    from ._precision import ap_row as _ap_row
    from ._sgd import rank_keys

    if nodes is not None:
        src = nodes
    else:
        nodes = np.flatnonzero(np.diff(A.indptr) > 0)
        src = nodes if nodes.size <= 1000 else np.sort(rng.choice(nodes, 1000, replace=False))
    if src.size == 0:
        return float("nan")
    D = rank_keys(Z, src.astype(np.int64), hyperbolic)  # ranks as the distances would
    aps = [_ap_row(D[k], A.indices[A.indptr[i] : A.indptr[i + 1]], int(i)) for k, i in enumerate(src)]
    return float(np.mean([a for a in aps if a is not None]))


def _median_edge_length(Z: np.ndarray, coo: sparse.coo_matrix, hyperbolic: bool) -> float:
    if hyperbolic:
        d = _ball.distance(Z[coo.row], Z[coo.col])
    else:
        d = np.linalg.norm(Z[coo.row] - Z[coo.col], axis=1)
    d = d[np.isfinite(d) & (d > 0)]
    return float(np.median(d)) if d.size else 1.0


def hierarchy_levels(A: sparse.csr_matrix, *, n_candidates: int = 32) -> np.ndarray:
    """Hop distance of every node from the centre of its connected component (``-1`` for nodes without edges).

    The centre of a component is its node of smallest eccentricity (ties: smallest mean hop distance), searched
    among the ``n_candidates`` highest-degree nodes of large components (exactly on components of up to
    ``n_candidates`` nodes). On a tree grown from a root this recovers the depth below the root.
    """
    n = A.shape[0]
    level = np.full(n, -1.0)
    deg = np.diff(A.indptr)
    n_comp, lab = csgraph.connected_components(A, directed=False)
    order = np.argsort(-deg, kind="stable")
    by_comp: dict[int, list[int]] = {}
    for i in order:  # highest-degree nodes first within each component
        if deg[i] == 0:
            continue
        lst = by_comp.setdefault(int(lab[i]), [])
        if len(lst) < n_candidates:
            lst.append(int(i))
    for cands in by_comp.values():
        H = csgraph.shortest_path(A, method="D", unweighted=True, directed=False, indices=cands)
        comp = np.isfinite(H[0])
        Hc = H[:, comp]
        score = Hc.max(1) * (n + 1) + Hc.mean(1)
        level[comp] = Hc[int(np.argmin(score))]
    return level


def _place_isolated(
    Z: np.ndarray, in_net: np.ndarray, features: np.ndarray | None, *, hyperbolic: bool, rng: np.random.Generator
) -> np.ndarray:
    """Positions of nodes without edges: near their expression neighbours, never nearer the centre than the median."""
    iso = np.flatnonzero(~in_net)
    con = np.flatnonzero(in_net)
    dim = Z.shape[1]
    norms = np.linalg.norm(Z[con], axis=1) if con.size else np.zeros(0)
    r_med = float(np.median(norms)) if con.size else 0.5
    r_med = min(max(r_med, 0.3 if hyperbolic else 1e-3), _ball.MAX_NORM if hyperbolic else np.inf)
    out = np.zeros((iso.size, dim))
    if con.size == 0 or features is None or features.shape[0] != Z.shape[0]:
        d = rng.normal(size=(iso.size, dim))
        return d / np.linalg.norm(d, axis=1, keepdims=True) * r_med
    F = np.nan_to_num(np.asarray(features, dtype=np.float64))
    k = min(_N_PLACE, con.size)
    # squared feature distances isolated x connected, in blocks (no n x n matrix)
    for s in range(0, iso.size, 2048):
        blk = iso[s : s + 2048]
        Dk = ((F[blk, None, :] - F[None, con, :]) ** 2).sum(-1)
        nn = np.argpartition(Dk, k - 1, axis=1)[:, :k] if k < con.size else np.tile(np.arange(con.size), (blk.size, 1))
        for r, row in enumerate(nn):
            pts = Z[con[row]]
            m = _ball.einstein_midpoint(pts) if hyperbolic else pts.mean(0)
            nm = float(np.linalg.norm(m))
            if nm < 1e-12:
                m = rng.normal(size=dim)
                nm = float(np.linalg.norm(m))
            out[s + r] = m / nm * max(nm, r_med)
    return out


def refined_embedding(net: Any, features: Any, adj: Any, base: np.ndarray) -> np.ndarray:
    """Float64 embedding written by training: the starting map ``base`` moved by the model's bounded tangent shift.

    ``z = base ⊕ exp0(t)`` in the ball (``base + t`` in flat space), computed in float64 so points near the rim keep
    their distances (the model itself runs in float32).
    """
    t = np.asarray(net.encode_shift(features, adj).numpy(), dtype=np.float64)
    base = np.asarray(base, dtype=np.float64)
    if net.manifold.name != "poincare":
        return base + t
    c = float(net.manifold.curvature)
    return _ball.project(_ball.mobius_add(base, _ball.expmap0(t, c=c), c=c), c=c)
