"""Private metrics of :func:`hyperperturb.tl.evaluate`: correlations, residual metric, retrieval, AUROC.

Also top-k recall, JS divergence and the Spearman-Brown correction.

Everything here works on small dense gene-level arrays (genes x perturbations); nothing touches cells.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

#: Metrics scored per held-out perturbation (one value per perturbation and split).
PER_PERTURBATION = (
    "spearman_excess",
    "pearson_excess",
    "spearman_raw",
    "topk_recall",
    "residual_pearson",
    "retrieval_rank",
    "retrieval_top1",
)
#: Metrics scored once per split (``perturbation == "all"``).
PER_SPLIT = ("js_policy", "spearman_value", "policy_auroc")
#: All metric names accepted by ``hp.tl.evaluate(metrics=...)``.
ALL_METRICS = PER_PERTURBATION + PER_SPLIT
#: Correlation metrics: the split-half ceiling reports them Spearman-Brown corrected.
CORRELATIONS = ("spearman_excess", "pearson_excess", "spearman_raw", "residual_pearson", "spearman_value")
#: Relative tolerance below which a predicted delta counts as constant ("no change" from the training mean).
FLAT_RTOL = 1e-9
#: Above this many (held-out x candidates x genes) products per scoring call, retrieval similarities are computed
#: in blocks of held-out perturbations against one centred candidate matrix instead of one copy per perturbation.
RETRIEVAL_BLOCKED = 2**26
#: Similarities per block of the blocked retrieval (held-out x candidates).
_RETRIEVAL_BLOCK = 2**22


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation; ``nan`` when either vector is constant (the caller decides what that means)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    xc = x - x.mean()
    yc = y - y.mean()
    den = np.sqrt((xc * xc).sum() * (yc * yc).sum())
    if not np.isfinite(den) or den <= 1e-300:
        return float("nan")
    return float(np.clip((xc * yc).sum() / den, -1.0, 1.0))


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties); ``nan`` when either vector is constant."""
    return pearson(stats.rankdata(x), stats.rankdata(y))


def topk_recall(pred: np.ndarray, obs: np.ndarray, k: int = 20) -> float:
    """Fraction of the ``k`` largest entries of ``obs`` that are among the ``k`` largest of ``pred``.

    Ties are broken by position (stable sort), so the result is deterministic. ``k`` is capped by the length.
    """
    pred = np.asarray(pred, dtype=np.float64)
    obs = np.asarray(obs, dtype=np.float64)
    k = int(min(k, obs.size))
    if k <= 0:
        return float("nan")
    top_obs = np.argsort(-obs, kind="stable")[:k]
    top_pred = np.argsort(-pred, kind="stable")[:k]
    return float(np.intersect1d(top_obs, top_pred).size / k)


def _is_flat(delta: np.ndarray, scale: float) -> bool:
    """Whether a predicted delta is constant up to floating-point noise (relative to ``scale``)."""
    spread = float(np.ptp(delta)) if delta.size else 0.0
    return spread <= FLAT_RTOL * max(scale, np.finfo(np.float64).tiny)


def residual_pearson(pred: np.ndarray, obs: np.ndarray, train_mean: np.ndarray, k: int = 20) -> float:
    r"""Systema-style residual metric: Pearson of predicted vs observed delta on the ``k`` most-deviating genes.

    With :math:`m` the mean profile of the training perturbations, :math:`\delta^{obs} = r^{obs} - m` and
    :math:`\delta^{pred} = r^{pred} - m`, the genes are the ``k`` largest :math:`|\delta^{obs}|` (stable order on
    ties) and the value is Pearson's :math:`r(\delta^{pred}_S, \delta^{obs}_S)`.

    A predicted delta that is constant on those genes (e.g. exactly the training mean: the ``mean`` baseline,
    or a readout shrunk all the way to it, up to a relative floating-point tolerance) carries no
    perturbation-specific information and scores exactly ``0.0``, not ``nan``. ``nan`` only when the *observed*
    delta is constant on the genes (nothing to predict). ``k`` is capped by the number of genes.
    """
    pred = np.asarray(pred, dtype=np.float64)
    obs = np.asarray(obs, dtype=np.float64)
    m = np.asarray(train_mean, dtype=np.float64)
    d_o = obs - m
    d_p = pred - m
    kk = int(min(k, d_o.size))
    top = np.argsort(-np.abs(d_o), kind="stable")[:kk]
    scale = float(max(np.abs(pred[top]).max(initial=0.0), np.abs(m[top]).max(initial=0.0)))
    if _is_flat(d_o[top], max(scale, np.abs(obs[top]).max(initial=0.0))):
        return float("nan")
    if _is_flat(d_p[top], scale):
        return 0.0
    return pearson(d_p[top], d_o[top])


def retrieval(pred_delta: np.ndarray, candidates: np.ndarray, true_index: int, *, scale: float) -> tuple[float, float]:
    """Normalised rank and top-1 hit of the true profile among candidate profiles, by Pearson similarity.

    Parameters
    ----------
    pred_delta
        Predicted delta (genes,): prediction minus the training mean.
    candidates
        Observed deltas, genes x candidates; column ``true_index`` is the true one.
    true_index
        Column of the true profile.
    scale
        Magnitude of the predicted profile, for the constant-prediction tolerance.

    Returns
    -------
    ``(rank, top1)``: ``rank = (n_better + n_tied / 2) / (C - 1)`` with ``n_better`` the candidates strictly more
    similar than the true one and ``n_tied`` the others as similar (0 = best, 0.5 = chance, 1 = worst);
    ``top1 = 1 / (1 + n_tied)`` when no candidate is better, else 0 (expected accuracy under random tie-breaking).
    A constant prediction ties every candidate: rank 0.5 and top-1 ``1 / C``. Candidates with a constant observed
    delta rank last; ``nan`` when the true one is constant or there are fewer than 2 candidates.
    """
    C = candidates.shape[1]
    if C < 2:
        return float("nan"), float("nan")
    x = np.asarray(pred_delta, dtype=np.float64)
    if _is_flat(x, scale):
        sims = np.zeros(C)
    else:
        xc = x - x.mean()
        Y = np.asarray(candidates, dtype=np.float64)
        Yc = Y - Y.mean(axis=0, keepdims=True)
        den = np.sqrt((xc * xc).sum() * (Yc * Yc).sum(axis=0))
        with np.errstate(invalid="ignore", divide="ignore"):
            sims = np.where(den > 1e-300, (xc @ Yc) / den, np.nan)
        if not np.isfinite(sims[true_index]):
            return float("nan"), float("nan")
        sims = np.where(np.isfinite(sims), sims, -np.inf)
    return _rank_of(sims, true_index)


def _rank_of(sims: np.ndarray, true_index: int) -> tuple[float, float]:
    """``(rank, top1)`` of ``sims[true_index]`` among all similarities (see :func:`retrieval`)."""
    C = sims.size
    s_true = sims[true_index]
    others = np.delete(sims, true_index)
    n_better = int((others > s_true).sum())
    n_tied = int((others == s_true).sum())
    rank = (n_better + 0.5 * n_tied) / (C - 1)
    top1 = 1.0 / (1 + n_tied) if n_better == 0 else 0.0
    return float(rank), float(top1)


def retrieval_blocked(
    pred: np.ndarray, obs: np.ndarray, train_mean: np.ndarray, candidates: np.ndarray, true_index: np.ndarray
) -> np.ndarray:
    """:func:`retrieval` for every held-out column at once (``n x 2``: rank, top-1), for large screens.

    The candidate matrix is centred once; similarities are computed for blocks of held-out perturbations
    (at most ``_RETRIEVAL_BLOCK`` of them x candidates at a time), and each one's own column is replaced by its
    observed delta, as :func:`retrieval` does with a copy per perturbation. Same formula; the floating-point
    summation order of the dot products may differ from :func:`retrieval` (by ~1e-16 relative).
    """
    m_ = np.asarray(train_mean, dtype=np.float64)
    n = obs.shape[1]
    C = candidates.shape[1]
    out = np.full((n, 2), np.nan)
    if C < 2:
        return out
    Y = np.asarray(candidates, dtype=np.float64) - m_[:, None]
    Yc = Y - Y.mean(axis=0, keepdims=True)
    ny = (Yc * Yc).sum(axis=0)
    step = max(1, _RETRIEVAL_BLOCK // C)
    for lo in range(0, n, step):
        js = np.arange(lo, min(lo + step, n))
        X = np.asarray(pred[:, js], dtype=np.float64) - m_[:, None]
        Xc = X - X.mean(axis=0, keepdims=True)
        nx = (Xc * Xc).sum(axis=0)
        T = np.asarray(obs[:, js], dtype=np.float64) - m_[:, None]
        Tc = T - T.mean(axis=0, keepdims=True)
        nt = (Tc * Tc).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            den = np.sqrt(nx[:, None] * ny[None, :])
            sims = np.where(den > 1e-300, (Xc.T @ Yc) / den, np.nan)
            den_t = np.sqrt(nx * nt)
            s_t = np.where(den_t > 1e-300, (Xc * Tc).sum(axis=0) / den_t, np.nan)
        for q, j in enumerate(js):
            ti = int(true_index[j])
            scale = float(max(np.abs(pred[:, j]).max(initial=0.0), np.abs(m_).max(initial=0.0)))
            if _is_flat(X[:, q], scale):
                row = np.zeros(C)
            else:
                row = sims[q].copy()
                row[ti] = s_t[q]
                if not np.isfinite(row[ti]):
                    continue
                row = np.where(np.isfinite(row), row, -np.inf)
            out[j] = _rank_of(row, ti)
    return out


def auroc_rows(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """AUROC per row of ``scores`` for the boolean ``labels`` (Mann-Whitney U with average ranks for ties).

    A constant score row gives exactly 0.5; rows whose labels are all true or all false give ``nan``.
    """
    S = np.asarray(scores, dtype=np.float64)
    Y = np.asarray(labels, dtype=bool)
    if S.shape != Y.shape:
        msg = f"scores {S.shape} and labels {Y.shape} must have the same shape."
        raise ValueError(msg)
    if S.shape[1] == 0:
        return np.full(S.shape[0], np.nan)
    ranks = stats.rankdata(S, axis=1)
    n_pos = Y.sum(axis=1).astype(np.float64)
    n_neg = Y.shape[1] - n_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((ranks * Y).sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    auc[(n_pos == 0) | (n_neg == 0)] = np.nan
    return auc


def majority_vote_scores(labels: np.ndarray) -> np.ndarray:
    """Gene-agnostic ranking: for gene g, perturbation p scores the number of *other* genes that p moves."""
    Y = np.asarray(labels, dtype=np.float64)
    return Y.sum(axis=0, keepdims=True) - Y


def spearman_brown(r: np.ndarray | float) -> np.ndarray | float:
    """Spearman-Brown prophecy for doubling the cells: ``2r / (1 + r)`` for ``r > 0``; other values unchanged.

    The correction assumes a positive reliability; a negative split-half correlation is reported as measured.
    """
    a = np.asarray(r, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(a > 0, 2.0 * a / (1.0 + a), a)
    return float(out) if out.ndim == 0 else out


def row_normalise(M: np.ndarray) -> np.ndarray:
    """Rows of a non-negative matrix scaled to sum to 1; all-zero rows become uniform."""
    M = np.clip(np.asarray(M, dtype=np.float64), 0.0, None)
    s = M.sum(axis=1, keepdims=True)
    out = np.full_like(M, 1.0 / max(M.shape[1], 1))
    ok = s[:, 0] > 0
    out[ok] = M[ok] / s[ok]
    return out


def js_divergence_rows(P: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence (natural log, in ``[0, ln 2]``) between matching rows of two distributions."""
    P = np.asarray(P, dtype=np.float64)
    Q = np.asarray(Q, dtype=np.float64)
    M = 0.5 * (P + Q)

    def _kl(A: np.ndarray, B: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(A > 0, A * (np.log(A) - np.log(np.where(B > 0, B, 1.0))), 0.0)
        return t.sum(axis=1)

    return np.clip(0.5 * _kl(P, M) + 0.5 * _kl(Q, M), 0.0, np.log(2.0))


def score_split(
    pred: np.ndarray,
    obs: np.ndarray,
    baseline: np.ndarray,
    *,
    excess: bool,
    metrics: tuple[str, ...],
    k: int = 20,
    pred_policy: np.ndarray | None = None,
    train_mean: np.ndarray | None = None,
    candidates: np.ndarray | None = None,
    true_index: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Score a predicted reward block against the observed one.

    Parameters
    ----------
    pred, obs
        Genes x held-out perturbations: predicted and observed rewards.
    baseline
        Per-gene noise floor ``B[g]`` subtracted to get the excess (ignored when ``excess`` is false: the rewards are
        signed and already perturbation specific).
    excess
        Whether ``R - B`` is the perturbation-specific part.
    metrics
        Names to compute.
    k
        Size of the top-k sets.
    pred_policy
        Predicted policy restricted to the held-out columns (renormalised below); defaults to ``pred``.
    train_mean
        Mean reward profile of the split's training perturbations (``residual_pearson``, ``retrieval_*``).
    candidates
        Observed rewards of the retrieval candidates (genes x C); for held-out column ``j`` the candidate
        ``true_index[j]`` is replaced by ``obs[:, j]`` (identical for a model; the other half for the ceiling).
    true_index
        Column of ``candidates`` holding each held-out perturbation.

    Returns
    -------
    ``(per_perturbation, per_split)``: arrays of one value per held-out perturbation, and scalars.
    """
    b = baseline[:, None] if excess else 0.0
    ex_p, ex_o = pred - b, obs - b
    mag_p, mag_o = (ex_p, ex_o) if excess else (np.abs(ex_p), np.abs(ex_o))
    n = obs.shape[1]
    per: dict[str, np.ndarray] = {}
    fns = {
        "spearman_excess": lambda j: spearman(ex_p[:, j], ex_o[:, j]),
        "pearson_excess": lambda j: pearson(ex_p[:, j], ex_o[:, j]),
        "spearman_raw": lambda j: spearman(pred[:, j], obs[:, j]),
        # signed rewards: the genes moved most either way (as the policy and policy_auroc rank them)
        "topk_recall": lambda j: topk_recall(mag_p[:, j], mag_o[:, j], k),
    }
    for m in metrics:
        if m in fns:
            per[m] = np.asarray([fns[m](j) for j in range(n)], dtype=np.float64)
    needs_mean = {"residual_pearson", "retrieval_rank", "retrieval_top1"} & set(metrics)
    if needs_mean and train_mean is None:
        msg = f"{sorted(needs_mean)} need `train_mean` (mean profile of the training perturbations)."
        raise ValueError(msg)
    if "residual_pearson" in metrics:
        assert train_mean is not None  # checked above
        per["residual_pearson"] = np.asarray(
            [residual_pearson(pred[:, j], obs[:, j], train_mean, k) for j in range(n)], dtype=np.float64
        )
    if {"retrieval_rank", "retrieval_top1"} & set(metrics):
        if candidates is None or true_index is None:
            msg = "retrieval metrics need `candidates` and `true_index`."
            raise ValueError(msg)
        m_ = np.asarray(train_mean, dtype=np.float64)
        if n * candidates.shape[1] * candidates.shape[0] > RETRIEVAL_BLOCKED:
            rr = retrieval_blocked(pred, obs, m_, candidates, np.asarray(true_index))
        else:  # small screens: one candidate copy per perturbation (the reference computation)
            cand = np.asarray(candidates, dtype=np.float64) - m_[:, None]
            rr = np.empty((n, 2))
            for j in range(n):
                cj = cand.copy()
                cj[:, int(true_index[j])] = obs[:, j] - m_
                scale = float(max(np.abs(pred[:, j]).max(initial=0.0), np.abs(m_).max(initial=0.0)))
                rr[j] = retrieval(pred[:, j] - m_, cj, int(true_index[j]), scale=scale)
        if "retrieval_rank" in metrics:
            per["retrieval_rank"] = rr[:, 0]
        if "retrieval_top1" in metrics:
            per["retrieval_top1"] = rr[:, 1]
    split: dict[str, float] = {}
    if "js_policy" in metrics:
        # both sides as the policy is built: the excess over the noise floor (clipped at 0), or |R| when signed
        pos_p = np.clip(ex_p, 0.0, None) if excess else np.abs(pred)
        pos_o = np.clip(ex_o, 0.0, None) if excess else np.abs(obs)
        pp = row_normalise(pos_p if pred_policy is None else pred_policy)
        po = row_normalise(pos_o)
        split["js_policy"] = float(js_divergence_rows(pp, po).mean())
    if "spearman_value" in metrics:
        split["spearman_value"] = spearman(pred.mean(axis=1), obs.mean(axis=1))
    return per, split
