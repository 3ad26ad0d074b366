"""Private baselines of :func:`hyperperturb.tl.evaluate`: train-mean/median, linear PCA/ridge, rewiring, random embedding.

The predictors only ever receive the training columns of the reward matrix, so they cannot read held-out data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse

#: Baselines accepted by ``hp.tl.evaluate(baselines=...)``. ``ceiling`` is the split-half noise ceiling,
#: ``majority-vote`` the gene-agnostic reference of ``policy_auroc`` (it only has that metric).
BASELINES = ("mean", "median", "linear", "shuffled-network", "ceiling", "majority-vote")
#: Models accepted by ``hp.tl.evaluate(models=...)`` and the ``hp.tl.train`` geometry each uses.
MODELS = {
    "hyperperturb": "poincare",
    "hyperperturb-euclidean": "euclidean",
    "hyperperturb-head": "poincare",
    "hyperperturb-euclidean-head": "euclidean",
    "hyperperturb-random-embedding": "poincare",
}
#: The ``hp.tl.predict(method=...)`` of each model (``-head``: the policy/value heads only, no kernel readout).
PREDICT_METHOD = {name: ("head" if name.endswith("-head") else "auto") for name in MODELS}
#: Models whose stored positions are permuted before ``hp.tl.predict`` (the random-embedding floor).
RANDOM_EMBEDDING = ("hyperperturb-random-embedding",)
#: Arrays of ``.uns["hyperperturb"]["train"]`` permuted by the random-embedding floor (besides ``.varm[key_added]``).
PERMUTED_TRAIN_KEYS = ("extra_embedding", "perturbation_embedding")


def predict_median(R_train: np.ndarray, n_out: int) -> np.ndarray:
    """Every held-out perturbation gets the per-gene median of the training perturbations' reward profiles.

    The robust "typical perturbation": most perturbations of a screen do little and a few strong ones pull the
    mean, so the median is closer to a weak held-out perturbation. It carries no perturbation-specific
    information (the same profile for every held-out perturbation), which is why a model should beat it too.
    """
    m = np.median(np.asarray(R_train, dtype=np.float64), axis=1)
    return np.repeat(m[:, None], n_out, axis=1)


def predict_mean(R_train: np.ndarray, n_out: int) -> np.ndarray:
    """Every held-out perturbation gets the average reward profile of the training perturbations."""
    m = np.asarray(R_train, dtype=np.float64).mean(axis=1)
    return np.repeat(m[:, None], n_out, axis=1)


def gene_embedding(R_train: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` principal-component scores of the genes in the (row-centred) training reward matrix.

    Returns ``(G, rowmean)``: ``G`` is genes x k' with ``k' = min(k, rank)``; ``rowmean`` the per-gene mean.
    """
    Y = np.asarray(R_train, dtype=np.float64)
    rowmean = Y.mean(axis=1)
    Yc = Y - rowmean[:, None]
    Yc_cols = Yc - Yc.mean(axis=0, keepdims=True)  # prcomp centres the variables (perturbations)
    U, S, _ = np.linalg.svd(Yc_cols, full_matrices=False)
    tol = S.max(initial=0.0) * max(Yc.shape) * np.finfo(float).eps
    rank = int((tol < S).sum())
    kk = max(1, min(k, rank)) if rank else 1
    return U[:, :kk] * S[:kk], rowmean


def fit_linear(
    R_train: np.ndarray, train_target_idx: np.ndarray, *, k: int = 10, ridge: float = 0.1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit ``Y - rowmean ~ G W P^T`` (Ahlmann-Eltze et al.'s linear model) on the training perturbations.

    ``P`` holds the rows of ``G`` at each training perturbation's target gene; perturbations whose target is not
    a measured gene (index ``-1``) inform ``G`` and ``rowmean`` but not ``W``.

    Returns
    -------
    ``(G, W, rowmean)``.
    """
    G, rowmean = gene_embedding(R_train, k)
    Yc = np.asarray(R_train, dtype=np.float64) - rowmean[:, None]
    ok = np.asarray(train_target_idx) >= 0
    kk = G.shape[1]
    if not ok.any():
        return G, np.zeros((kk, kk)), rowmean
    P = G[train_target_idx[ok]]  # n_train_ok x k
    lhs = np.linalg.solve(G.T @ G + ridge * np.eye(kk), G.T @ Yc[:, ok])  # k x n
    W = np.linalg.solve(P.T @ P + ridge * np.eye(kk), (lhs @ P).T).T  # (k x k): lhs P (P'P + lI)^-1
    return G, W, rowmean


def predict_linear(
    R_train: np.ndarray,
    train_target_idx: np.ndarray,
    out_target_idx: np.ndarray,
    *,
    k: int = 10,
    ridge: float = 0.1,
    fit: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Linear-model predictions for perturbations of the genes ``out_target_idx`` (``-1``: unmeasured -> mean).

    ``fit``: the result of :func:`fit_linear` on the same ``R_train`` and ``train_target_idx`` (reused: the SVD of
    a genes x perturbations matrix is the costly part on large screens).
    """
    G, W, rowmean = fit if fit is not None else fit_linear(R_train, np.asarray(train_target_idx), k=k, ridge=ridge)
    out_target_idx = np.asarray(out_target_idx)
    pred = np.repeat(rowmean[:, None], out_target_idx.size, axis=1)
    ok = out_target_idx >= 0
    if ok.any():
        pred[:, ok] += G @ W @ G[out_target_idx[ok]].T
    return pred


def rewire(
    n_nodes: int,
    i: np.ndarray,
    j: np.ndarray,
    w: np.ndarray,
    *,
    rng: np.random.Generator,
    n_swaps_per_edge: int = 10,
    directed: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Degree-preserving randomisation by double-edge swaps (``a-b, c-d -> a-d, c-b``); weights travel with edges.

    Swaps that would create a self loop or a duplicate edge are rejected. Each undirected edge is given once.
    ``directed``: edges are ``i -> j`` and swaps keep every node's out- and in-degree (``a->b, c->d -> a->d,
    c->b``, never reversed).
    """
    key = (lambda a, b: (a, b)) if directed else (lambda a, b: (min(a, b), max(a, b)))
    i = np.asarray(i, dtype=np.int64).copy()
    j = np.asarray(j, dtype=np.int64).copy()
    m = i.size
    if m < 2:
        return i, j, np.asarray(w, dtype=np.float64).copy()
    present = {key(a, b) for a, b in zip(i.tolist(), j.tolist(), strict=True)}
    n_try = n_swaps_per_edge * m
    e1 = rng.integers(0, m, n_try)
    e2 = rng.integers(0, m, n_try)
    flip = (rng.random(n_try) < 0.5) & (not directed)
    for x, y, f in zip(e1.tolist(), e2.tolist(), flip.tolist(), strict=True):
        if x == y:
            continue
        a, b = i[x], j[x]
        c, d = (j[y], i[y]) if f else (i[y], j[y])
        if a == d or c == b or a == c or b == d:
            continue
        n1, n2 = key(a, d), key(c, b)
        if n1 in present or n2 in present:
            continue
        present.discard(key(a, b))
        present.discard(key(c, d))
        present.add(n1)
        present.add(n2)
        i[x], j[x] = a, d
        i[y], j[y] = c, b
    return i, j, np.asarray(w, dtype=np.float64).copy()


def shuffled_network_copy(adata: Any, *, seed: int) -> Any:
    """A copy of ``adata`` whose graph (the gene network in ``.varp`` + extra-node edges) is rewired, degrees kept."""
    from hyperperturb._utils import _entries, get_ledger

    new = adata.copy()
    n_var = new.n_vars
    net_key = _entries.network_key(new)
    A = sparse.triu(sparse.csr_matrix(new.varp[net_key]), k=1).tocoo()
    led = dict(get_ledger(new))
    net = dict(led.get("network", {}))
    ex = _entries.network_extra_edges(new)
    xi, xj = ex["i"].astype(np.int64), ex["j"].astype(np.int64)
    xw = ex["weight"].astype(np.float64)
    extra_nodes = np.asarray(_entries.network_extra_nodes(new), dtype=str)
    i = np.concatenate([A.row, xi])
    j = np.concatenate([A.col, xj])
    w = np.concatenate([A.data, xw])
    ni, nj, nw = rewire(n_var + extra_nodes.size, i, j, w, rng=np.random.default_rng(seed))
    inner = (ni < n_var) & (nj < n_var)
    M = sparse.coo_matrix((nw[inner], (ni[inner], nj[inner])), shape=(n_var, n_var))
    new.varp[net_key] = (M + M.T).tocsr()
    if extra_nodes.size:
        net["extra_edges"] = {"i": ni[~inner], "j": nj[~inner], "weight": nw[~inner]}
    # the directed, signed edge list the propagation readout reads is rewired too (in- and out-degrees kept, signs
    # travel with the edges); an undirected sign matrix belongs to the old edges and is dropped
    dkey, skey = _entries.decode(net.get("directed_key")), _entries.decode(net.get("sign_key"))
    if isinstance(dkey, str) and dkey in new.varp:
        D = sparse.coo_matrix(new.varp[dkey])
        di, dj, dw = rewire(n_var, D.row, D.col, D.data, rng=np.random.default_rng(seed + 1), directed=True)
        new.varp[dkey] = sparse.csr_matrix((dw, (di, dj)), shape=(n_var, n_var), dtype=np.float32)
    if isinstance(skey, str) and skey in new.varp:
        del new.varp[skey]
        net["sign_key"] = "None"
    led["network"] = net
    new.uns["hyperperturb"] = led
    return new


def permute_embedding(adata: Any, *, seed: int) -> list[str]:
    """Random-embedding floor: replace the stored positions of a trained model by a seeded row permutation of themselves.

    Permutes, in place and each independently, the rows of the trained embedding (``.varm["X_poincare"]``, or the
    key recorded by an older training) and of the arrays ``extra_embedding`` and ``perturbation_embedding`` of
    ``.uns["hyperperturb"]["train"]``: the same set of points (so the same radii), assigned to random nodes. Keys
    that are missing or empty are skipped. Returns the permuted keys (``"varm:<key>"``, ``"train:<key>"``).
    """
    from hyperperturb._utils import _entries

    rng = np.random.default_rng(seed)
    if not _entries.has_step(adata, "train"):
        msg = "The random-embedding floor needs a trained model (.uns['hyperperturb']['train']); none was found."
        raise KeyError(msg)
    entry = _entries.entry(adata, "train")
    key = _entries.map_key(adata, "train")
    done: list[str] = []
    if isinstance(key, str) and key in adata.varm:
        Z = np.asarray(adata.varm[key])
        if Z.ndim == 2 and Z.shape[0] > 1:
            adata.varm[key] = Z[rng.permutation(Z.shape[0])].copy()
            done.append(f"varm:{key}")
    for k in PERMUTED_TRAIN_KEYS:
        if k not in entry:
            continue
        arr = np.asarray(entry[k])
        if arr.ndim >= 1 and arr.shape[0] > 1:
            entry[k] = arr[rng.permutation(arr.shape[0])].copy()
            done.append(f"train:{k}")
    if not done:
        msg = (
            f"The random-embedding floor found no stored positions to permute (.varm[{key!r}], "
            f"train[{list(PERMUTED_TRAIN_KEYS)}]); the model's ledger layout is not recognised."
        )
        raise KeyError(msg)
    return done
