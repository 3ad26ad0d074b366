"""Private metrics of :func:`hyperperturb.tl.evaluate`: rank/linear correlations, top-k recall, JS divergence.

Everything here works on small dense gene-level arrays (genes x perturbations); nothing touches cells.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

#: Metrics scored per held-out perturbation (one value per perturbation and split).
PER_PERTURBATION = ("spearman_excess", "pearson_excess", "spearman_raw", "topk_recall")
#: Metrics scored once per split (``perturbation == "all"``).
PER_SPLIT = ("js_policy", "spearman_value")
#: All metric names accepted by ``hp.tl.evaluate(metrics=...)``.
ALL_METRICS = PER_PERTURBATION + PER_SPLIT


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

    Returns
    -------
    ``(per_perturbation, per_split)``: arrays of one value per held-out perturbation, and scalars.
    """
    b = baseline[:, None] if excess else 0.0
    ex_p, ex_o = pred - b, obs - b
    n = obs.shape[1]
    per: dict[str, np.ndarray] = {}
    fns = {
        "spearman_excess": lambda j: spearman(ex_p[:, j], ex_o[:, j]),
        "pearson_excess": lambda j: pearson(ex_p[:, j], ex_o[:, j]),
        "spearman_raw": lambda j: spearman(pred[:, j], obs[:, j]),
        "topk_recall": lambda j: topk_recall(ex_p[:, j], ex_o[:, j], k),
    }
    for m in metrics:
        if m in fns:
            per[m] = np.asarray([fns[m](j) for j in range(n)], dtype=np.float64)
    split: dict[str, float] = {}
    if "js_policy" in metrics:
        pp = row_normalise(np.abs(pred) if pred_policy is None else pred_policy)
        po = row_normalise(np.abs(obs))
        split["js_policy"] = float(js_divergence_rows(pp, po).mean())
    if "spearman_value" in metrics:
        split["spearman_value"] = spearman(pred.mean(axis=1), obs.mean(axis=1))
    return per, split
