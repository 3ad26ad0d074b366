"""Private: distances, the leave-one-out subset and the kernel readouts of older ledgers (NumPy only).

The predicted excess profile of a perturbation ``p`` is a shrunken kernel average of the *training*
perturbations' observed excess profiles, in one of two forms:

* ``"mixture"`` (normalised weights, a fixed mixture with the mean)::

    Ê_p = (1 - λ) Σ_q w_pq E_q + λ Ē,   w_pq = softmax_q(-d(e_p, e_q) / τ);

* ``"adaptive"`` (Nadaraya–Watson with a prior pseudo-count ``κ`` on the mean: unnormalised weights, so a
  perturbation far from every training one falls back to ``Ē`` and a very close one takes its neighbour's profile)::

    A_p = (Σ_q w_pq E_q + κ Ē) / (Σ_q w_pq + κ),   w_pq = exp(-d(e_p, e_q) / τ),   Ê_p = (1 - λ) A_p + λ Ē,

with ``d`` the geodesic distance between perturbation embeddings (their target nodes' points of the ball) and
``Ē`` the mean training profile. These are the readouts of ledgers written before the residual transfer readout
(:func:`predict_kernel` keeps them readable); training now fits the residual transfer readout of
:mod:`hyperperturb.tl._transfer`, which uses the distance and leave-one-out helpers of this module.
"""

from __future__ import annotations

import numpy as np

from hyperperturb._utils import _ball

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
