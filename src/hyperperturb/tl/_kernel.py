"""Private: the embedding-kernel transfer readout of ``hp.tl.train`` / ``hp.tl.predict`` (NumPy only).

The predicted excess profile of a perturbation ``p`` is a shrunken kernel average of the *training*
perturbations' observed excess profiles, in one of two forms:

* ``"mixture"`` (normalised weights, a fixed mixture with the mean)::

    Ê_p = (1 - λ) Σ_q w_pq E_q + λ Ē,   w_pq = softmax_q(-d(e_p, e_q) / τ);

* ``"adaptive"`` (Nadaraya–Watson with a prior pseudo-count ``κ`` on the mean: unnormalised weights, so a
  perturbation far from every training one falls back to ``Ē`` and a very close one takes its neighbour's profile)::

    A_p = (Σ_q w_pq E_q + κ Ē) / (Σ_q w_pq + κ),   w_pq = exp(-d(e_p, e_q) / τ),   Ê_p = (1 - λ) A_p + λ Ē,

with ``d`` the geodesic distance between perturbation embeddings (their target nodes' points of the ball) and
``Ē`` the mean training profile. The form, ``τ``, ``λ`` (and ``κ``) are chosen by leave-one-out cross-validation
over the training perturbations whose embedding is their target's (scorable ones); the adaptive form is fitted with
``λ = 0`` and is chosen only when it scores strictly better than the best mixture.
"""

from __future__ import annotations

import numpy as np

from hyperperturb._utils import _ball

#: Candidate bandwidths, as multiples of the median distance between training perturbation embeddings.
TAU_GRID = (0.05, 0.1, 0.2, 0.35, 0.5, 1.0, 2.0, 5.0)
#: Candidate shrinkage weights toward the mean training profile.
SHRINK_GRID = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)
#: Candidate prior pseudo-counts of the mean profile for the adaptive form (in units of a weight at distance 0).
KAPPA_GRID = (0.001, 0.01, 0.1, 1.0)
#: Readout forms, in the order they are scanned.
FORMS = ("mixture", "adaptive")
#: Largest leave-one-out set: above it, a seeded subsample of this many scorable training perturbations is left out
#: (genome-scale screens stay bounded; smaller screens use every scorable perturbation, unchanged).
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
    if geometry == "poincare":
        return _ball.pairwise_distance(X, Y, c=c)
    return _ball.euclidean_pairwise_distance(X, Y)


def kernel_weights(D: np.ndarray, tau: float) -> np.ndarray:
    """Row-normalised ``exp(-D / tau)`` computed stably; rows of all-``inf`` distances become uniform."""
    D = np.asarray(D, dtype=np.float64)
    logits = -D / max(float(tau), 1e-12)
    logits = np.where(np.isfinite(logits), logits, -np.inf)
    m = logits.max(axis=1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    W = np.exp(logits - m)
    s = W.sum(axis=1, keepdims=True)
    uniform = np.full_like(W, 1.0 / max(W.shape[1], 1))
    return np.where(s > 0, W / np.where(s > 0, s, 1.0), uniform)


def adaptive_average(D: np.ndarray, E: np.ndarray, mean: np.ndarray, *, tau: float, kappa: float) -> np.ndarray:
    """Nadaraya–Watson average with a prior pseudo-count on ``mean`` (genes × rows of ``D``).

    ``D`` is rows × training perturbations (``inf`` or non-finite: weight 0), ``E`` genes × training perturbations,
    ``mean`` genes × rows (the prior profile of each row). Rows whose weights and ``kappa`` are all zero get ``mean``.
    """
    W = _adaptive_weights(D, tau)
    return _adaptive_combine(E @ W.T, W.sum(axis=1), mean, kappa)


def _adaptive_weights(D: np.ndarray, tau: float) -> np.ndarray:
    D = np.asarray(D, dtype=np.float64)
    logits = -D / max(float(tau), 1e-12)
    return np.where(np.isfinite(logits), np.exp(np.minimum(logits, 0.0)), 0.0)  # distances are >= 0: w in [0, 1]


def _adaptive_combine(EW: np.ndarray, wsum: np.ndarray, mean: np.ndarray, kappa: float) -> np.ndarray:
    """``(E Wᵀ + κ mean) / (Σ w + κ)`` from a precomputed ``E Wᵀ`` (one product per bandwidth, reused for every κ)."""
    kappa = max(float(kappa), 0.0)
    den = wsum + kappa  # rows
    num = EW + kappa * mean  # genes x rows
    ok = den > 1e-300
    return np.where(ok[None, :], num / np.where(ok, den, 1.0)[None, :], mean)


def _row_corr(P: np.ndarray, O: np.ndarray) -> np.ndarray:
    """Pearson correlation of matching columns (``nan`` where one is constant)."""
    Pc = P - P.mean(0)
    Oc = O - O.mean(0)
    den = np.sqrt((Pc * Pc).sum(0) * (Oc * Oc).sum(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (Pc * Oc).sum(0) / den
    return np.where(den > 1e-300, r, np.nan)


def fit_kernel(
    E: np.ndarray, emb: np.ndarray, cv: np.ndarray, *, geometry: str, c: float = 1.0, max_loo: int = MAX_LOO
) -> dict[str, float | int]:
    """Choose ``τ`` and ``λ`` by leave-one-out over the columns ``cv`` of the training excess matrix ``E``.

    Parameters
    ----------
    E
        Genes × training perturbations: observed excess profiles.
    emb
        Training perturbations × dim: their embeddings.
    cv
        Boolean per training perturbation: used as a left-out target (its embedding is its target node's). Above
        ``max_loo`` of them, a seeded subsample of ``max_loo`` is left out (:func:`loo_subset`) and only their rows
        of the distance matrix are formed (memory: ``max_loo`` × perturbations, never perturbations²).
    geometry, c
        Space of the embeddings.

    Returns
    -------
    ``{"form", "tau", "tau_rel", "shrinkage", "kappa", "cv_score", "n_cv", "median_distance"}``; ``form`` is
    ``"mixture"`` or ``"adaptive"`` (``kappa`` is 0 for the mixture, ``shrinkage`` 0 for the adaptive form);
    ``cv_score`` is the mean Pearson correlation between left-out predicted and observed excess profiles (``nan`` if
    nothing could be scored, then the form is the mixture with ``shrinkage`` 1: the mean profile).
    """
    E = np.asarray(E, dtype=np.float64)
    n = E.shape[1]
    idx = np.flatnonzero(loo_subset(cv, max_loo))
    if n <= max_loo:  # small screens: the median over all pairs, as before
        D = pairwise_distance(emb, emb, geometry=geometry, c=c)
        off = D[~np.eye(n, dtype=bool)]
        Dl = D[idx].copy()
    else:  # large screens: only the left-out rows (the median over their pairs)
        Dl = pairwise_distance(emb[idx], emb, geometry=geometry, c=c)
        off = Dl[np.arange(n)[None, :] != idx[:, None]]
    off = off[np.isfinite(off) & (off > 0)]
    med = float(np.median(off)) if off.size else 1.0
    best = {
        "form": "mixture",
        "tau": med,
        "tau_rel": 1.0,
        "shrinkage": 1.0,
        "kappa": 0.0,
        "cv_score": float("nan"),
        "n_cv": int(idx.size),
    }
    if idx.size < 1 or n < 3:
        return {**best, "median_distance": med}
    total = E.sum(axis=1, keepdims=True)
    O = E[:, idx]
    means = (total - O) / (n - 1)  # leave-one-out mean profiles
    Dl[np.arange(idx.size), idx] = np.inf  # a perturbation never predicts itself
    best_score = -np.inf
    for rel in TAU_GRID:
        K = kernel_weights(Dl, rel * med) @ E.T  # n_cv x genes
        for lam in SHRINK_GRID:
            P = (1.0 - lam) * K.T + lam * means
            r = _row_corr(P, O)
            if not np.isfinite(r).any():
                continue
            score = float(np.nanmean(r))
            # ties go to the smoother model (more shrinkage, wider kernel): grids are scanned in increasing order
            if score >= best_score - 1e-12:
                best_score = score
                best = {
                    "form": "mixture",
                    "tau": float(rel * med),
                    "tau_rel": float(rel),
                    "shrinkage": float(lam),
                    "kappa": 0.0,
                    "cv_score": score,
                    "n_cv": int(idx.size),
                }
    # the adaptive form must beat the best mixture strictly; among adaptive candidates, ties go to the smoother
    # (wider kernel, larger pseudo-count): grids are scanned in increasing order
    margin = 1e-12
    for rel in TAU_GRID:
        W = _adaptive_weights(Dl, rel * med)
        EW, wsum = E @ W.T, W.sum(axis=1)
        for kappa in KAPPA_GRID:
            P = _adaptive_combine(EW, wsum, means, kappa)
            r = _row_corr(P, O)
            if not np.isfinite(r).any():
                continue
            score = float(np.nanmean(r))
            if score > best_score + margin or (best["form"] == "adaptive" and score >= best_score - margin):
                best_score = score
                best = {
                    "form": "adaptive",
                    "tau": float(rel * med),
                    "tau_rel": float(rel),
                    "shrinkage": 0.0,
                    "kappa": float(kappa),
                    "cv_score": score,
                    "n_cv": int(idx.size),
                }
    return {**best, "median_distance": med}


def predict_kernel(
    E: np.ndarray,
    emb_train: np.ndarray,
    emb_new: np.ndarray,
    *,
    tau: float,
    shrinkage: float,
    geometry: str,
    c: float = 1.0,
    exclude: np.ndarray | None = None,
    form: str = "mixture",
    kappa: float = 0.0,
) -> np.ndarray:
    """Predicted excess profiles (genes × new) from training profiles ``E`` and the embeddings.

    ``exclude[k]`` is the training column that new perturbation ``k`` must not use (itself), or ``-1``. ``form`` and
    ``kappa`` select the readout (see the module docstring); ``"mixture"`` is the form of ledgers written before the
    adaptive form existed.
    """
    if form not in FORMS:
        msg = f"Unknown kernel readout form {form!r}; expected one of {FORMS}. Re-run `hp.tl.train`."
        raise ValueError(msg)
    E = np.asarray(E, dtype=np.float64)
    n = E.shape[1]
    D = pairwise_distance(emb_new, emb_train, geometry=geometry, c=c)
    D = np.where(np.isfinite(D), D, np.inf)
    mean = np.repeat(E.mean(axis=1, keepdims=True), len(emb_new), axis=1)
    if exclude is not None:
        exclude = np.asarray(exclude, dtype=np.int64)
        rows = np.flatnonzero(exclude >= 0)
        D[rows, exclude[rows]] = np.inf
        if n > 1:
            mean[:, rows] = (E.sum(axis=1, keepdims=True) - E[:, exclude[rows]]) / (n - 1)
    if form == "adaptive":
        K = adaptive_average(D, E, mean, tau=tau, kappa=kappa)
    else:
        K = E @ kernel_weights(D, tau).T
    return (1.0 - shrinkage) * K + shrinkage * mean


def residual_pearson_topk(P: np.ndarray, O: np.ndarray, mean: np.ndarray, k: int = 20) -> np.ndarray:
    """Per column: Pearson of predicted vs observed deltas from ``mean`` on the ``k`` genes of largest |observed delta|.

    Columns whose predicted delta is constant there score 0 (the mean profile itself scores 0 by construction).
    """
    dO = O - mean
    dP = P - mean
    k = int(min(max(k, 2), O.shape[0]))
    out = np.zeros(O.shape[1])
    for j in range(O.shape[1]):
        top = np.argpartition(-np.abs(dO[:, j]), k - 1)[:k]
        a, b = dP[top, j], dO[top, j]
        a, b = a - a.mean(), b - b.mean()
        den = np.sqrt((a * a).sum() * (b * b).sum())
        out[j] = float((a * b).sum() / den) if den > 1e-12 * (1 + np.abs(dP[top, j]).max()) else 0.0
    return out


def fit_on_target(
    E: np.ndarray,
    target_row: np.ndarray,
    P_loo: np.ndarray,
    means: np.ndarray,
    cv_idx: np.ndarray,
) -> dict[str, float]:
    """Choose the on-target term ("the targeted gene moves") by leave-one-out on the training perturbations.

    ``E`` genes × training perturbations (observed excess), ``target_row[q]`` the gene row of perturbation ``q``'s
    target (``-1`` if the target is not a measured gene), ``P_loo`` genes × ``len(cv_idx)`` the readout's leave-one-out
    predictions of the columns ``cv_idx`` and ``means`` their leave-one-out mean profiles. The amplitude is the mean
    of ``E[t_q, q] - mean_t`` over the *other* perturbations with a measured target; the term is kept only when it
    raises the leave-one-out residual score (:func:`residual_pearson_topk`).
    """
    target_row = np.asarray(target_row, dtype=np.int64)
    n = E.shape[1]
    has = np.flatnonzero(target_row >= 0)
    res = {"on_target": 0.0, "on_target_cv_gain": 0.0, "n_on_target": int(has.size)}
    if has.size < 3 or cv_idx.size < 3:
        return res
    full_mean = E.mean(axis=1)
    t = target_row[has]
    o = E[t, has] - (full_mean[t] * n - E[t, has]) / (n - 1)
    P_on = P_loo.copy()
    for j, q in enumerate(cv_idx):
        if target_row[q] < 0:
            continue
        others = o[has != q]
        P_on[target_row[q], j] += float(others.mean()) if others.size else 0.0
    base = float(np.mean(residual_pearson_topk(P_loo, E[:, cv_idx], means)))
    with_term = float(np.mean(residual_pearson_topk(P_on, E[:, cv_idx], means)))
    if with_term > base:
        res["on_target"] = float(o.mean())
        res["on_target_cv_gain"] = with_term - base
    return res
