"""Read-out of a fitted model: embedding (float64), policy, value, perturbation embedding and the kernel readout.

Shared by :func:`hyperperturb.tl.train` (after fitting) and :func:`hyperperturb.tl.predict`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hyperperturb._utils import _ball

from ._weights import weights_to_dict

#: (node, perturbation) pairs above which training uses node mini-batches and the readout works in row blocks.
BLOCK_PAIRS = 2**24


def head_reward(policy: np.ndarray, value: np.ndarray, baseline: np.ndarray, unit: float | np.ndarray) -> np.ndarray:
    """Reward of the heads: ``B[g] + unit · v_g · n_p · π_g(p)`` (noise floor + predicted excess)."""
    return baseline[:, None] + unit * value[:, None] * policy.shape[1] * policy


def reward_policy(reward: np.ndarray) -> np.ndarray:
    """Rows of a non-negative reward matrix normalised to sum to 1 (all-zero rows: uniform)."""
    r = np.clip(reward, 0.0, None)
    s = r.sum(1, keepdims=True)
    return np.where(s > 0, r / np.where(s > 0, s, 1.0), 1.0 / max(r.shape[1], 1))


def _blocked_readout(net, g, adj, trainable) -> dict[str, Any]:
    """Readout of a large screen in row blocks: float32 policy, no nodes × perturbations temporaries beyond one block."""
    import tensorflow as tf

    zt, h = net.encode(tf.constant(g.features), adj, training=False)
    emb_model = net.perturbation_embedding(zt)
    bias = net.pert_bias.numpy().astype(np.float64)
    factor = tf.convert_to_tensor(net.pert_factor) if net.rank else None
    held = bool((~trainable).any()) and net.head == "distance"
    if held:  # held-out perturbations were never fitted: mean bias of fitted ones, no factor
        bias[~trainable] = bias[trainable].mean()
        if net.rank:
            f = net.pert_factor.numpy().copy()
            f[~trainable] = 0.0
            factor = tf.constant(f, tf.float32)
    n_p = len(g.perturbations)
    step = max(1, BLOCK_PAIRS // max(n_p, 1))
    policy = np.empty((g.n_nodes, n_p), dtype=np.float32)
    for i in range(0, g.n_nodes, step):
        rows = tf.range(i, min(i + step, g.n_nodes))
        if held:
            logits = net.score(tf.gather(zt, rows), emb_model, tf.constant(bias, tf.float32), factor, rows)
        else:
            logits = net.policy_logits(zt, h, rows)
        policy[i : i + step] = tf.nn.softmax(logits, axis=-1).numpy()
    return {
        "embedding": zt,
        "emb_model": emb_model,
        "policy": policy,
        "value": net.value(zt).numpy().astype(np.float64),
        "bias": bias,
    }


def graph_arrays(net, g, *, trainable, targets, base) -> tuple[Any, ...]:
    """Read-out arrays of the graph model (``model="hyperperturb"``), in row blocks on large screens."""
    import tensorflow as tf

    from hyperperturb.nn._graph import normalized_adjacency

    n_p = len(g.perturbations)
    if g.n_nodes * n_p > BLOCK_PAIRS:
        adj = normalized_adjacency(g.adjacency)
        big = _blocked_readout(net, g, adj, trainable)
        z = big["embedding"].numpy().astype(np.float64)
        if net.refine is not None:
            from hyperperturb.tl._map._network_map import refined_embedding

            z = refined_embedding(net, tf.constant(g.features), adj, base)
        policy, value, bias = big["policy"], targets["units"] * big["value"], big["bias"]
        emb = big["emb_model"].numpy().astype(np.float64)
        on_node = g.target_node >= 0
        emb[on_node] = z[g.target_node[on_node]]
        scorable = on_node
    else:
        adj = normalized_adjacency(g.adjacency)
        out = net((tf.constant(g.features), adj), training=False)
        z = out["embedding"].numpy().astype(np.float64)
        if net.refine is not None:  # float64 readout of the refined network map (the model runs in float32)
            from hyperperturb.tl._map._network_map import refined_embedding

            z = refined_embedding(net, tf.constant(g.features), adj, base)
        policy = out["policy"].numpy().astype(np.float64)
        value = out["value"].numpy().astype(np.float64)
        emb_model = net.perturbation_embedding(out["embedding"])  # what the heads score with (float32)
        emb = emb_model.numpy().astype(np.float64)
        on_node = g.target_node >= 0
        emb[on_node] = z[g.target_node[on_node]]
        bias = net.pert_bias.numpy().astype(np.float64)
        scorable = g.target_node >= 0
        if (~trainable).any():  # held-out perturbations were never fitted: mean bias of fitted ones, no factor
            bias = bias.copy()
            bias[~trainable] = bias[trainable].mean()
            if net.head == "distance":
                factor = None
                if net.rank:
                    factor = net.pert_factor.numpy().copy()
                    factor[~trainable] = 0.0
                    factor = tf.constant(factor, tf.float32)
                logits = net.score(out["embedding"], emb_model, tf.constant(bias, tf.float32), factor)
                policy = tf.nn.softmax(logits, axis=-1).numpy().astype(np.float64)
        # heads predict the excess over the noise floor B: the policy is the heads' distribution of that excess,
        # the value the predicted mean excess in reward units (B is reported separately: .var["hp_reward_baseline"])
        value = targets["units"] * value
    return z, policy, value, emb, bias, scorable


def simple_arrays(net, g) -> tuple[Any, ...]:
    """Read-out arrays of the simple model (``model="simple"``): gene rows only, NaN on other nodes."""
    import tensorflow as tf

    n_p = len(g.perturbations)
    pred = net(tf.eye(n_p), training=False).numpy().T.astype(np.float64)  # genes x perts
    s = pred.sum(1, keepdims=True)
    policy_g = np.where(s > 0, pred / np.maximum(s, 1e-12), 1.0 / n_p)
    z = np.zeros((g.n_nodes, net.dim))
    z[: g.n_genes] = net.gene_embedding().numpy()
    policy = np.full((g.n_nodes, n_p), np.nan)
    policy[: g.n_genes] = policy_g
    value = np.full(g.n_nodes, np.nan)
    value[: g.n_genes] = pred.mean(1)
    emb = net.perturbation_embedding(tf.eye(n_p)).numpy().astype(np.float64)
    bias = np.zeros(n_p)
    scorable = np.zeros(n_p, dtype=bool)
    return z, policy, value, emb, bias, scorable


def readout(net, g, *, kind, trainable, history, targets, base=None) -> dict[str, Any]:
    """Plain arrays of a fitted model: embedding (float64), policy, value, perturbation embedding, kernel readout.

    Screens with more than :data:`BLOCK_PAIRS` (node, perturbation) pairs are read out in row blocks and their
    policy is float32 (half the memory of float64; its rows sum to 1 within 1e-6).
    """
    z, policy, value, emb, bias, scorable = kind.arrays(net, g, trainable=trainable, targets=targets, base=base)
    for name, arr in (("embedding", z), ("policy", policy), ("value", value)):
        if not np.isfinite(arr[: g.n_genes]).all():
            msg = f"hp.tl.train produced a non-finite {name}; lower `learning_rate` or use fewer epochs."
            raise FloatingPointError(msg)
    if net.manifold.name == "poincare":
        c = float(net.manifold.curvature)
        norms = np.linalg.norm(z, axis=1) * np.sqrt(c)
        if np.any(norms >= 1):
            msg = "hp.tl.train produced points on the ball boundary; lower `learning_rate`."
            raise FloatingPointError(msg)
    else:
        c = float("nan")
    hist = {k: np.asarray(v, dtype=np.float64) for k, v in history.items()}
    return {
        "z": z,
        "policy": policy,
        "value": value,
        "pert_emb": emb,
        "pert_bias": bias,
        "scorable": scorable,
        "curvature": c if np.isfinite(c) else 0.0,
        "geometry": net.manifold.name,
        "history": hist,
        "weights": weights_to_dict(net),
    }


def fit_kernel_readout(
    g,
    emb: np.ndarray,
    scorable: np.ndarray,
    trainable: np.ndarray,
    targets,
    *,
    geometry: str,
    curvature: float,
    reliability: np.ndarray | None,
    operator: Any = None,
    control_mean: np.ndarray | None = None,
) -> dict[str, Any]:
    """Leave-one-out choice of the residual transfer readout (training perturbations only).

    Prior, distance (graph hops or embedding geodesics), bandwidth, pseudo-count, reliability weighting and the
    on-target term are chosen together (:func:`~hyperperturb.tl._transfer._transfer.fit_transfer`), leaving out every
    training perturbation in turn (the transfer is kept only when it beats the prior by more than one standard
    error; so must the propagation of each left-out target's change along ``operator``, the signed node
    operator of :func:`~hyperperturb.tl._transfer._propagation.network_operator`). Screens with more than :data:`~hyperperturb.tl._transfer._transfer.MAX_LOO` training perturbations leave out a
    seeded subsample of that many; only left-out × training distance rows are formed, never a perturbations × perturbations × genes tensor.
    """
    from hyperperturb.tl._transfer._transfer import fit_transfer, graph_distances, loo_subset, pairwise_distance

    tr = np.flatnonzero(trainable)
    # E = R - B over the training columns (signed rewards: B = 0), formed in row blocks: one genes x perturbations
    # array, no column-gathered copy next to it (genome scale: 640 MB each)
    E = np.empty((g.n_genes, tr.size))
    B = np.asarray(targets["baseline"], dtype=np.float64)
    every = tr.size == g.reward.shape[1]
    step = max(1, (1 << 22) // max(tr.size, 1))
    for lo in range(0, g.n_genes, step):
        hi = min(lo + step, g.n_genes)
        np.subtract(g.reward[lo:hi] if every else g.reward[lo:hi][:, tr], B[lo:hi, None], out=E[lo:hi])
    geo = _ball.geometry(geometry, curvature)
    geometry, c = geo.name, geo.c
    # every training perturbation is left out in turn (a seeded subsample of MAX_LOO on large screens): the prior
    # and the on-target term are judged on all of them; the transfer only changes the scorable ones' predictions
    loo = loo_subset(np.ones(len(tr), dtype=bool))
    cv_idx = np.flatnonzero(loo)
    n_cv = int(scorable[tr].sum())
    tn = g.target_node[tr]
    target_row = np.where((tn >= 0) & (tn < g.n_genes), tn, -1)
    emb_tr = emb[tr]
    D_emb = pairwise_distance(emb_tr[cv_idx], emb_tr, geometry=geometry, c=c)
    D_emb[:, ~scorable[tr]] = np.inf  # a source without a target node has no meaningful position
    D_emb[~scorable[tr][cv_idx]] = np.inf  # nor a left-out perturbation without one (it gets the prior)
    distances = {"embedding": D_emb}
    if g.adjacency.nnz:
        distances["graph"] = graph_distances(g.adjacency, tn[cv_idx], tn)
    rel = None if reliability is None else np.asarray(reliability, dtype=np.float64)  # one per training column
    propagation = None
    if operator is not None and operator.nnz:
        from hyperperturb.tl._transfer._propagation import candidate_profiles

        cmean = None if control_mean is None else np.asarray(control_mean, dtype=np.float64).ravel()[: g.n_genes]
        propagation = candidate_profiles(operator, tn[cv_idx], g.n_genes, level=cmean)
    level: np.ndarray | None = None
    if control_mean is not None:  # the on-target term may scale with the target's control mean
        cm = np.asarray(control_mean, dtype=np.float64).ravel()
        level = np.where(target_row >= 0, cm[np.clip(target_row, 0, cm.size - 1)], np.nan)
    fit = fit_transfer(
        E, cv_idx, distances=distances, rel=rel, target_row=target_row, propagation=propagation, target_level=level
    )
    loo_excess: np.ndarray | None = None
    if cv_idx.size == len(tr) and len(tr) >= 3:  # every training perturbation was left out: its readout in-sample
        loo_excess = _loo_excess(E, fit, distances, rel, propagation, target_row, level)
    return {
        "available": bool(n_cv >= 3 and len(tr) >= 3),
        "perturbations": [g.perturbations[i] for i in tr],
        "geometry": geometry,
        "curvature": c,
        "reliability": rel if rel is not None else np.ones(len(tr)),
        "reliability_measured": rel is not None,
        **fit,
        "_loo_excess": loo_excess,  # not stored: train combines it with the observed profiles (in_sample_excess)
    }


def _loo_excess(E, fit, distances, rel, propagation, target_row, level) -> np.ndarray:
    """Genes × training perturbations: each one's profile as the chosen readout predicts it without its own data.

    The perturbation-specific parts (propagation gains, transfer weights, on-target amplitude) are fitted without
    the column; a prior that enters additively (prior only, or prior + propagation) is the per-gene prior of *all*
    columns: leaving a column out of a gene's mean (or median) moves it against that column's own value, which would
    rank a gene's perturbations backwards in the in-sample combination (most visibly with few perturbations).
    """
    from hyperperturb.tl._transfer._propagation import loo_gene_gain
    from hyperperturb.tl._transfer._transfer import loo_priors, predict_transfer, prior_profile

    n = E.shape[1]
    cols = np.arange(n)
    src = str(fit["source"])
    full = prior_profile(E, str(fit["prior"]))[:, None]
    if src == "propagation":
        X = np.asarray(propagation[f"{fit['prop_norm']}/{fit['prop_alpha']:g}"], dtype=np.float64)
        P0 = loo_priors(E, cols, str(fit["prior"]))
        P = full + loo_gene_gain(E - P0, X, float(fit["prop_shrink"])) * X
    elif src == "none":
        P = np.repeat(full, n, axis=1)
    else:
        D = distances.get(src, np.full((n, n), np.inf)) if src != "none" else np.full((n, n), np.inf)
        P = predict_transfer(
            E, D, prior=str(fit["prior"]), source=src, tau=float(fit["tau"]), kappa=float(fit["kappa"]),
            gamma=float(fit["gamma"]), rel=rel, exclude=cols,
        )  # fmt: skip
    amp = float(fit["on_target"])
    if amp:
        has = np.flatnonzero(target_row >= 0)
        scale = level[has] if fit["on_target_mode"] == "scaled" and level is not None else np.ones(has.size)
        P[target_row[has], has] += amp * np.nan_to_num(scale)
    return P


def in_sample_excess(E: np.ndarray, loo: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """Empirical-Bayes combination of the observed excess profiles with the readout's leave-one-out predictions.

    Per gene ``g``: ``Ẽ = (E τ_g² + Ê σ_g²) / (σ_g² + τ_g²)``, with ``σ_g² = B_g² π/2`` the sampling variance of
    a perturbation's shift (the noise floor ``B`` is the mean of the half-normal of that shift) and ``τ_g²`` the
    readout's leave-one-out error beyond that noise, ``mean_p (E - Ê)² - σ_g²`` (floored at a tiny value). A noisy
    gene leans on what the network and the other perturbations say; a gene the readout predicts badly keeps its
    own data.
    """
    sig2 = (np.asarray(baseline, dtype=np.float64) ** 2 * (np.pi / 2))[:, None]
    tau2 = np.maximum(((E - loo) ** 2).mean(axis=1, keepdims=True) - sig2, 1e-12)
    return (E * tau2 + loo * sig2) / (sig2 + tau2)
