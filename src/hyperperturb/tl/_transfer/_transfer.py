"""Private: the residual transfer readout of ``hp.tl.train`` / ``hp.tl.predict`` (NumPy/SciPy only).

A perturbation's predicted excess profile is a *prior* profile shared by all perturbations plus what its
neighbours' observed profiles say beyond that prior (a Nadaraya–Watson average of residuals with a pseudo-count)::

    Ê_p = m + Σ_q w_pq (E_q - m) / (Σ_q w_pq + κ),   w_pq = ρ_q^γ · exp(-d(p, q) / τ),

plus, optionally, an on-target term at the targeted gene's row. ``m`` is the
per-gene mean or median of the training profiles (most perturbations of a screen do little, and a few strong ones
pull the mean: the median is the robust "typical perturbation"); ``d`` is either the shortest-path (hop) distance
between the targets in the training graph or the geodesic distance between their embeddings; ``ρ_q`` is the
split-half reliability of source ``q`` (a reproducible profile is a better source than noise) and ``γ`` whether to
use it. The prior, the distance, ``τ`` (relative to the median distance), ``κ``, ``γ`` and the on-target term are
chosen by leave-one-out over the training perturbations, on the residual score (Pearson of predicted vs
observed delta from the leave-one-out mean on the left-out perturbation's top-20 genes): first the best readout
without transfer (prior and on-target term), then the best with transfer, which is kept only when its paired
gain over the former exceeds one standard error (:data:`TRANSFER_SE`; with few or noisy perturbations, or a
network whose neighbours do not respond alike, the prior wins). Held-out perturbations are never sources or
scored.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import shortest_path

from hyperperturb._utils import _ball

#: Prior profiles (per-gene statistics of the training profiles), in the order they are scanned. ``"midpoint"`` is
#: halfway between the mean and the median: the residual score (a correlation with the deviation from the mean) is
#: the same for every prior on the line from the mean to the median, so alone it ties with the median; scanned
#: before the median, a tie keeps it, and it ranks the genes of a profile nearly as the mean does (the mean ranks
#: the whole profile best, the median the genes a typical perturbation leaves alone).
PRIORS = ("mean", "midpoint", "median")
#: Distances between perturbation targets the transfer can use.
SOURCES = ("graph", "embedding")
#: Candidate bandwidths, as multiples of the median finite distance between left-out and training targets.
TAU_GRID = (0.25, 0.5, 1.0, 2.0, 4.0)
#: Candidate pseudo-counts of the prior (in units of a source weight at distance 0), scanned from the largest.
KAPPA_GRID = (10.0, 3.0, 1.0, 0.3, 0.1)
#: Exponents of the source reliability in the weights (0: not used).
GAMMA_GRID = (0.0, 1.0)
#: Genes per left-out perturbation in the residual score.
TOP_K = 20
#: The transfer is kept only when its leave-one-out gain over the best prior-only readout exceeds this many
#: standard errors of the paired per-perturbation differences (the one-standard-error rule: with few or noisy
#: left-out perturbations, the simpler readout wins).
TRANSFER_SE = 1.0
#: Elements of one gathered (left-out, top gene, source) block in the leave-one-out scan.
_BLOCK = 2**23
#: Graph sources per breadth-first block in :func:`graph_distances` (rows x nodes float64 kept below ~128 MiB).
_BFS_BLOCK = 2**24
#: Largest leave-one-out set: above it, a seeded subsample of this many training perturbations is left out
#: (genome-scale screens stay bounded; smaller screens use every training perturbation, unchanged).
MAX_LOO = 500
#: Seed of that subsample.
LOO_SEED = 0


def loo_subset(cv: np.ndarray, max_loo: int = MAX_LOO, seed: int = LOO_SEED) -> np.ndarray:
    """Boolean mask of the leave-one-out set: ``cv`` itself, or a seeded subsample of ``max_loo`` of its entries."""
    cv = np.asarray(cv, dtype=bool)
    idx = np.flatnonzero(cv)
    if idx.size <= max_loo:
        return cv.copy()
    keep = np.sort(np.random.default_rng(seed).choice(idx, size=int(max_loo), replace=False))
    out = np.zeros_like(cv)
    out[keep] = True
    return out


def pairwise_distance(X: np.ndarray, Y: np.ndarray, *, geometry: str, c: float = 1.0) -> np.ndarray:
    """Geodesic distances between the rows of ``X`` and ``Y`` (Poincaré ball of curvature ``c``, or Euclidean)."""
    return _ball.geometry(geometry, c).pairwise_distance(X, Y)


def prior_profile(E: np.ndarray, prior: str) -> np.ndarray:
    """Per-gene ``prior`` (``"mean"``, ``"midpoint"`` or ``"median"``) of the columns of ``E`` (genes × perturbations)."""
    if prior == "midpoint":
        return 0.5 * (np.median(E, axis=1) + E.mean(axis=1))
    if prior == "median":
        return np.median(E, axis=1)
    if prior == "mean":
        return E.mean(axis=1)
    msg = f"Unknown prior {prior!r}; expected one of {PRIORS}. Re-run `hp.tl.train`."
    raise ValueError(msg)


def loo_priors(E: np.ndarray, cols: np.ndarray, prior: str, *, exact_up_to: int = 500) -> np.ndarray:
    """Genes × ``len(cols)``: the prior of ``E`` without column ``cols[j]`` (leave-one-out).

    The mean is exact (and so the mean half of ``"midpoint"``). The median is exact (order statistics of the sorted rows) up to ``exact_up_to`` columns;
    above that, leaving one column out moves the median by at most one order statistic and the full median is
    used (genome-scale screens stay one sort-free pass).
    """
    E = np.asarray(E, dtype=np.float64)
    cols = np.asarray(cols, dtype=np.int64)
    n = E.shape[1]
    if prior == "mean":
        return (E.sum(axis=1, keepdims=True) - E[:, cols]) / max(n - 1, 1)
    if prior == "midpoint":
        return 0.5 * (loo_priors(E, cols, "mean") + loo_priors(E, cols, "median", exact_up_to=exact_up_to))
    if prior != "median":
        prior_profile(E, prior)  # raises the error
    if n < 2:
        return np.repeat(E.mean(axis=1, keepdims=True), cols.size, axis=1)
    if n > exact_up_to:  # row blocks: np.median copies what it partitions
        step = max(1, _BLOCK // max(n, 1))
        med = np.concatenate([np.median(E[lo : lo + step], axis=1) for lo in range(0, E.shape[0], step)])
        return np.repeat(med[:, None], cols.size, axis=1)
    order = np.argsort(E, axis=1, kind="stable")
    S = np.take_along_axis(E, order, axis=1)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(n)[None, :].repeat(E.shape[0], 0), axis=1)
    r = rank[:, cols]  # genes x cols: position of the removed value in its sorted row
    m = n - 1

    def kth(i: int) -> np.ndarray:  # i-th smallest of the row without the removed value
        return np.where(i < r, S[:, [i]], S[:, [min(i + 1, n - 1)]])

    if m % 2:
        return kth(m // 2)
    return 0.5 * (kth(m // 2 - 1) + kth(m // 2))


def graph_distances(A: sparse.spmatrix, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Hop distances between graph nodes: ``len(sources)`` × ``len(targets)`` (``inf``: unreachable or index -1)."""
    A = sparse.csr_matrix(A)
    sources = np.asarray(sources, dtype=np.int64)
    targets = np.asarray(targets, dtype=np.int64)
    out = np.full((sources.size, targets.size), np.inf)
    ok_s = np.flatnonzero(sources >= 0)
    ok_t = np.flatnonzero(targets >= 0)
    if not ok_s.size or not ok_t.size or A.nnz == 0:
        return out
    uniq, inv = np.unique(sources[ok_s], return_inverse=True)
    step = max(1, _BFS_BLOCK // max(A.shape[0], 1))
    rows = np.empty((uniq.size, ok_t.size))
    for i in range(0, uniq.size, step):
        D = shortest_path(A, method="D", directed=False, unweighted=True, indices=uniq[i : i + step])
        rows[i : i + step] = np.atleast_2d(D)[:, targets[ok_t]]
    out[np.ix_(ok_s, ok_t)] = rows[inv]
    return out


def median_distance(D: np.ndarray) -> float:
    """Median of the finite positive entries of ``D`` (1.0 if there are none)."""
    d = D[np.isfinite(D) & (D > 0)]
    return float(np.median(d)) if d.size else 1.0


def transfer_weights(D: np.ndarray, rel: np.ndarray | None, *, tau: float, gamma: float) -> np.ndarray:
    """``ρ_q^γ · exp(-D / τ)``, zero where ``D`` is not finite (rows × sources)."""
    D = np.asarray(D, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        W = np.where(np.isfinite(D), np.exp(-np.where(np.isfinite(D), D, 0.0) / max(float(tau), 1e-12)), 0.0)
    if rel is not None and gamma:
        W = W * np.clip(np.asarray(rel, dtype=np.float64), 0.0, 1.0)[None, :] ** float(gamma)
    return W


def transfer(E: np.ndarray, P0: np.ndarray, W: np.ndarray, kappa: float) -> np.ndarray:
    """``P0 + (E Wᵀ - P0 Σw) / (Σw + κ)``: genes × rows (``P0`` genes × rows, ``W`` rows × sources)."""
    ws = W.sum(axis=1)
    den = ws + max(float(kappa), 0.0)
    ok = den > 1e-300
    num = E @ W.T - P0 * ws[None, :]
    return P0 + np.where(ok[None, :], num / np.where(ok, den, 1.0)[None, :], 0.0)


def _topk(delta: np.ndarray, k: int) -> np.ndarray:
    """Per column, the rows of the ``k`` largest ``|delta|`` (columns × k)."""
    k = int(min(max(k, 2), delta.shape[0]))
    return np.argpartition(-np.abs(delta), k - 1, axis=0)[:k].T


def _pearson_rows(P: np.ndarray, O: np.ndarray) -> np.ndarray:
    """Row-wise Pearson of ``P`` vs ``O`` (columns × k); a flat prediction scores 0, a flat observation ``nan``."""
    Pc = P - P.mean(axis=1, keepdims=True)
    Oc = O - O.mean(axis=1, keepdims=True)
    sp = np.sqrt((Pc * Pc).sum(axis=1))
    so = np.sqrt((Oc * Oc).sum(axis=1))
    scale = 1.0 + np.abs(P).max(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (Pc * Oc).sum(axis=1) / (sp * so)
    r = np.where(sp > 1e-12 * scale, r, 0.0)
    return np.where(so > 0, r, np.nan)


def fit_transfer(
    E: np.ndarray,
    cv_idx: np.ndarray,
    *,
    distances: dict[str, np.ndarray],
    rel: np.ndarray | None,
    target_row: np.ndarray,
    propagation: dict[str, np.ndarray] | None = None,
    target_level: np.ndarray | None = None,
    k: int = TOP_K,
) -> dict[str, Any]:
    """Choose prior, distance, ``τ``, ``κ``, ``γ`` and the on-target term by leave-one-out over ``cv_idx``.

    Parameters
    ----------
    E
        Genes × training perturbations: observed excess profiles.
    cv_idx
        Training columns left out one at a time (all of them, or a seeded subsample of ``MAX_LOO``); a column
        whose distance row is all ``inf`` (no target node) is predicted by the prior under every candidate.
    distances
        ``{source: D}`` with ``D`` ``len(cv_idx)`` × training perturbations (``inf``: no path / no position);
        a column's distance to itself is ignored.
    rel
        Reliability in [0, 1] per training perturbation, or ``None`` (then ``γ`` is 0).
    target_row
        Gene row of each training perturbation's target, ``-1`` if it is not a measured gene.
    propagation
        ``{candidate: |x|}`` genes × ``len(cv_idx)``: the change each left-out column's target sends along the
        network (:func:`hyperperturb.tl._transfer._propagation.candidate_profiles`); the readout ``prior + β |x|`` (``β``
        fitted without the left-out column) competes with the transfer.
    target_level
        Control mean of each training perturbation's target gene (``nan`` where it has none): the on-target term
        may scale with it (``on_target_mode="scaled"``: a knock-out removes what the gene had).
    k
        Genes per left-out perturbation in the residual score.

    Returns
    -------
    ``form`` ("residual"), ``prior``, ``source`` ("none", "graph" or "embedding"), ``tau_rel``, ``tau`` (absolute),
    ``median_distance``, ``kappa``, ``gamma``, ``on_target`` (amplitude, 0 if not kept; with
    ``on_target_mode="scaled"`` the factor of the target's control mean), ``on_target_mode``, ``on_target_cv_gain``,
    ``n_on_target``, ``cv_score`` (mean leave-one-out residual score of the choice), ``prior_cv_score`` (the best
    choice without transfer), ``transfer_cv_gain`` (their difference), ``n_cv``; with ``source="propagation"``
    also ``prop_norm``, ``prop_alpha``, ``prop_beta``.
    """
    E = np.asarray(E, dtype=np.float64)
    cv_idx = np.asarray(cv_idx, dtype=np.int64)
    target_row = np.asarray(target_row, dtype=np.int64)
    n = E.shape[1]
    n_cv = cv_idx.size
    has = np.flatnonzero(target_row >= 0)
    base = {
        "form": "residual",
        "prior": "mean",
        "source": "none",
        "tau_rel": 1.0,
        "tau": 1.0,
        "median_distance": 1.0,
        "kappa": 0.0,
        "gamma": 0.0,
        "on_target": 0.0,
        "on_target_mode": "constant",
        "on_target_cv_gain": 0.0,
        "n_on_target": int(has.size),
        "cv_score": float("nan"),
        "prior_cv_score": float("nan"),
        "transfer_cv_gain": 0.0,
        "n_cv": int(n_cv),
        "shrinkage": 0.0,
        "prop_norm": "none",
        "prop_alpha": 0.0,
        "prop_beta": 0.0,
        "prop_shrink": float("inf"),
    }
    if n_cv < 3 or n < 3:
        return base
    O = E[:, cv_idx]
    M = loo_priors(E, cv_idx, "mean")  # the residual score's reference (what the evaluation subtracts)
    top = _topk(O - M, k)  # n_cv x k
    jj = np.arange(n_cv)[:, None]
    dO = (O - M)[top.T, jj.T].T  # n_cv x k observed deltas on the scored genes
    Mt = M[top.T, jj.T].T
    # on-target amplitude of each left-out column: the mean over the *other* perturbations with a measured target
    full = E.mean(axis=1)
    o = np.zeros(n)
    if has.size:
        t = target_row[has]
        o[has] = E[t, has] - (full[t] * n - E[t, has]) / (n - 1)
    lvl = np.full(n, np.nan) if target_level is None else np.asarray(target_level, dtype=np.float64)
    amps = {"constant": np.zeros(n_cv), "scaled": np.zeros(n_cv)}
    bump_pos = np.full(n_cv, -1)
    for j, q in enumerate(cv_idx):
        others = has[has != q]
        if target_row[q] >= 0 and others.size:
            amps["constant"][j] = float(o[others].mean())
            sc = others[np.isfinite(lvl[others])]
            den = float((lvl[sc] ** 2).sum())
            if np.isfinite(lvl[q]) and den > 0:
                amps["scaled"][j] = float((o[sc] * lvl[sc]).sum() / den) * lvl[q]
            hit = np.flatnonzero(top[j] == target_row[q])
            bump_pos[j] = int(hit[0]) if hit.size else -1
    bumped = np.flatnonzero(bump_pos >= 0)
    modes = ("constant", "scaled") if np.isfinite(lvl[has]).sum() >= 3 else ("constant",)

    def scores(Pt: np.ndarray) -> list[tuple[str | bool, np.ndarray]]:
        """Per left-out column: residual score without and with each on-target term (``Pt``: n_cv × k)."""
        out: list[tuple[str | bool, np.ndarray]] = [(False, _pearson_rows(Pt - Mt, dO))]
        for mode in modes:
            Pb = Pt.copy()
            Pb[bumped, bump_pos[bumped]] += amps[mode][bumped]
            out.append((mode, _pearson_rows(Pb - Mt, dO)))
        return out

    full_priors = {p: loo_priors(E, cv_idx, p) for p in PRIORS}  # genes x n_cv, each column without itself
    priors = {p: P[top.T, jj.T].T for p, P in full_priors.items()}
    # the best candidate without transfer and the best with it, each with its per-column scores
    groups: dict[str, dict[str, Any]] = {
        "prior": {"score": -np.inf, "cols": None, "kw": dict(base)},
        "transfer": {"score": -np.inf, "cols": None, "kw": None},
        "propagation": {"score": -np.inf, "cols": None, "kw": None},
    }

    def consider(group: str, cols: np.ndarray, on: str | bool, **kw: Any) -> None:
        score = float(np.nanmean(cols)) if np.isfinite(cols).any() else -np.inf
        g = groups[group]
        if np.isfinite(score) and score > g["score"] + 1e-9:  # strict: ties keep the simpler, earlier candidate
            mode = on if isinstance(on, str) else "constant"
            g.update(score=score, cols=cols, kw={**base, **kw, "on_target": 1.0 if on else 0.0, "on_target_mode": mode})

    for p in PRIORS:
        for on, s in scores(priors[p]):
            consider("prior", s, on, prior=p)
    gammas = GAMMA_GRID if rel is not None else (0.0,)
    for src in SOURCES:
        if src not in distances:
            continue
        D = np.array(distances[src], dtype=np.float64)
        D[np.arange(n_cv), cv_idx] = np.inf  # a perturbation never transfers to itself
        if not np.isfinite(D).any():
            continue
        med = median_distance(D)
        for gamma in gammas:
            for rel_tau in TAU_GRID[::-1]:  # widest first: ties keep the smoother kernel
                W = transfer_weights(D, rel, tau=rel_tau * med, gamma=gamma)
                ws = W.sum(axis=1)
                EWt = _gathered_product(E, W, top)  # n_cv x k: (E Wᵀ) on each column's scored genes
                for kappa in KAPPA_GRID:
                    den = (ws + kappa)[:, None]
                    for p in PRIORS:
                        Pt = priors[p] + (EWt - priors[p] * ws[:, None]) / den
                        for on, s in scores(Pt):
                            consider(
                                "transfer", s, on, prior=p, source=src, tau_rel=float(rel_tau),
                                tau=float(rel_tau * med), median_distance=med, kappa=float(kappa), gamma=float(gamma),
                            )  # fmt: skip
    from ._propagation import SHRINK_GRID, gene_gain, loo_gene_gain, parse_candidate

    for cand, X in (propagation or {}).items():
        X = np.asarray(X, dtype=np.float64)
        if not (np.isfinite(X).all() and (X > 0).any()):
            continue
        norm, alpha = parse_candidate(cand)
        Xt = X[top.T, jj.T].T
        for p in PRIORS:
            full_p = full_priors[p]
            for shrink in SHRINK_GRID:  # common gain first: ties keep the simpler readout
                beta = loo_gene_gain(O - full_p, X, shrink)  # each left-out column's gains, fitted without it
                Pt = priors[p] + beta[top.T, jj.T].T * Xt
                for on, s_ in scores(Pt):
                    consider("propagation", s_, on, prior=p, source="propagation", prop_norm=norm,
                             prop_alpha=alpha, prop_shrink=float(shrink))  # fmt: skip
    pg = groups["prior"]
    if not np.isfinite(pg["score"]):
        return base
    best, best_score, prior_best = pg["kw"], pg["score"], pg["score"]
    for name in ("transfer", "propagation"):  # each must beat the prior by one standard error; the better one wins
        g_ = groups[name]
        if g_["kw"] is not None and _beats(g_["cols"], pg["cols"]) and g_["score"] > best_score:
            best, best_score = g_["kw"], g_["score"]
    if best["source"] == "propagation":
        X = np.asarray(propagation[f"{best['prop_norm']}/{best['prop_alpha']:g}"], dtype=np.float64)  # type: ignore[index]
        best["prop_beta"] = gene_gain(O - full_priors[best["prior"]], X, best["prop_shrink"])
    if groups["propagation"]["kw"] is not None:  # the best propagation readout's score, kept or not
        best["propagation_cv_score"] = float(groups["propagation"]["score"])
    on = bool(best["on_target"])
    best["on_target"] = 0.0
    if on and has.size and best["on_target_mode"] == "scaled":
        sc = has[np.isfinite(lvl[has])]
        best["on_target"] = float((o[sc] * lvl[sc]).sum() / max(float((lvl[sc] ** 2).sum()), 1e-300))
    elif on and has.size:
        best["on_target"] = float(o[has].mean())
    if on:  # the gain of the on-target term at the chosen readout
        best["on_target_cv_gain"] = float(best_score - _score_without_bump(best, priors, E, distances, rel, cv_idx,
                                                                          top, Mt, dO, propagation))  # fmt: skip
    best["cv_score"] = float(best_score)
    best["prior_cv_score"] = float(prior_best)
    best["transfer_cv_gain"] = float(best_score - prior_best) if best["source"] != "none" else 0.0
    return best


def _beats(cols: np.ndarray, ref: np.ndarray, n_se: float = TRANSFER_SE) -> bool:
    """Whether ``cols`` beats ``ref`` by more than ``n_se`` standard errors of their paired differences."""
    diff = np.asarray(cols, dtype=np.float64) - np.asarray(ref, dtype=np.float64)
    diff = diff[np.isfinite(diff)]
    if diff.size < 3:
        return False
    gain = float(diff.mean())
    se = float(diff.std(ddof=1) / np.sqrt(diff.size))
    return gain > n_se * se and gain > 0


def _score_without_bump(best, priors, E, distances, rel, cv_idx, top, Mt, dO, propagation=None) -> float:
    """Leave-one-out residual score of the chosen readout without its on-target term."""
    P = priors[best["prior"]]
    if best["source"] == "propagation":
        from ._propagation import loo_gene_gain

        X = np.asarray(propagation[f"{best['prop_norm']}/{best['prop_alpha']:g}"], dtype=np.float64)
        beta = loo_gene_gain(E[:, cv_idx] - loo_priors(E, cv_idx, best["prior"]), X, best["prop_shrink"])
        jj = np.arange(cv_idx.size)[:, None]
        P = P + (beta * X)[top.T, jj.T].T
    elif best["source"] != "none":
        D = np.array(distances[best["source"]], dtype=np.float64)
        D[np.arange(cv_idx.size), cv_idx] = np.inf
        W = transfer_weights(D, rel, tau=best["tau"], gamma=best["gamma"])
        ws = W.sum(axis=1)
        P = P + (_gathered_product(E, W, top) - P * ws[:, None]) / (ws + best["kappa"])[:, None]
    return float(np.nanmean(_pearson_rows(P - Mt, dO)))


def _gathered_product(E: np.ndarray, W: np.ndarray, top: np.ndarray) -> np.ndarray:
    """``(E Wᵀ)[top[j], j]`` for every left-out column ``j`` without forming genes × left-out (blocked gather)."""
    n_cv, k = top.shape
    n = E.shape[1]
    out = np.empty((n_cv, k))
    step = max(1, _BLOCK // max(k * n, 1))
    for i in range(0, n_cv, step):
        sl = slice(i, min(i + step, n_cv))
        G = E[top[sl]]  # block x k x n
        out[sl] = np.einsum("jkn,jn->jk", G, W[sl])
    return out


def predict_transfer(
    E: np.ndarray,
    D: np.ndarray,
    *,
    prior: str,
    source: str,
    tau: float,
    kappa: float,
    gamma: float,
    rel: np.ndarray | None,
    exclude: np.ndarray | None = None,
) -> np.ndarray:
    """Predicted excess profiles (genes × rows of ``D``) from the training profiles ``E`` (genes × sources).

    ``D`` holds the distances of the chosen ``source`` (rows × training perturbations; ignored when ``source`` is
    ``"none"``); ``exclude[r]`` is the training column row ``r`` must not use (itself: its prior is then the
    leave-one-out prior and it is not its own source), or ``-1``.
    """
    E = np.asarray(E, dtype=np.float64)
    rows = D.shape[0]
    P0 = np.repeat(prior_profile(E, prior)[:, None], rows, axis=1)
    D = np.array(D, dtype=np.float64)
    if exclude is not None:
        exclude = np.asarray(exclude, dtype=np.int64)
        r = np.flatnonzero(exclude >= 0)
        if r.size:
            P0[:, r] = loo_priors(E, exclude[r], prior)
            D[r, exclude[r]] = np.inf
    if source == "none":
        return P0
    if source not in SOURCES:
        msg = f"Unknown transfer source {source!r}; expected 'none' or one of {SOURCES}. Re-run `hp.tl.train`."
        raise ValueError(msg)
    return transfer(E, P0, transfer_weights(D, rel, tau=tau, gamma=gamma), kappa)
